// LPIPS, the learned perceptual image patch similarity of Zhang et al. (CVPR 2018), version 0.1 as the lpips
// package computes it (lpips/lpips.py, LPIPS.forward with lpips=True, spatial=False, normalize=False):
//
//   x' = (x - shift) / scale                       per RGB channel (ScalingLayer), x in [-1, 1]
//   f_l = trunk features after slice l (l = 1..5)  AlexNet or VGG16 (losses/lpips_net.hpp)
//   f^_l = f_l / (sqrt(sum_c f_l^2) + 1e-10)       unit length along channels (lpips.normalize_tensor)
//   d(a, b) = sum_l mean_hw( w_l · (f^_l(a) - f^_l(b))^2 )   w_l: 1x1 conv, one output, no bias (lin<l-1>)
//
// Parameters are named as the lpips state_dict: "net.slice<s>.<i>.weight|bias", "lin<k>.model.1.weight"
// [1, C, 1, 1], buffers "scaling_layer.shift|scale" [1, 3, 1, 1]. They never require grad (the metric is
// frozen), but gradients flow to both inputs. Lpips::load reads one safetensors file written by
// tools/convert_lpips.py (the package's head file + torchvision's backbone) and infers the trunk from
// net.slice1.0.weight ([64, 3, 11, 11]: AlexNet, [64, 3, 3, 3]: VGG16).
//
// The random initialisation (tests) draws from an Rng(seed) in state_dict order, uniform in [-b, b) with
// b = sqrt(6 / fan_in) for conv weights, [-0.1, 0.1) for biases and [0, 0.1) for the heads: each value is
// lo + (hi - lo) u in double, rounded to float32, u the anycost Philox uniform (ops/random.hpp: rand), one
// draw per tensor, so a script can rebuild the same numbers (tools/golden/make_lpips_goldens.py).
#pragma once

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "anycost/io/safetensors.hpp"
#include "anycost/losses/lpips_net.hpp"
#include "anycost/nn/module.hpp"
#include "anycost/ops/conv2d.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/pool.hpp"
#include "anycost/ops/random.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace losses {

class Lpips {
 public:
  // Random weights from Rng(seed) (see the top of this file), float32 on the CPU.
  Lpips(LpipsNet net, std::uint64_t seed) : Lpips(net) {
    Rng rng(seed);
    auto uniform = [&](Var& v, double lo, double hi) {
      Tensor u = rand(v.shape(), rng, DType::float64);
      double* p = u.data<double>();
      for (std::int64_t i = 0; i < u.numel(); ++i) p[i] = lo + (hi - lo) * p[i];
      v = Var(u.to(DType::float32));
    };
    for (Conv& c : convs_) {
      const double b = std::sqrt(6.0 / static_cast<double>(c.weight.size(1) * c.weight.size(2) * c.weight.size(3)));
      uniform(c.weight, -b, b);
      uniform(c.bias, -0.1, 0.1);
    }
    for (Var& l : lins_) uniform(l, 0.0, 0.1);
  }

  // Loads a converted lpips checkpoint (tools/convert_lpips.py) onto the CPU.
  static Lpips load(const std::filesystem::path& path) {
    const io::SafetensorsFile f = io::load_safetensors(path);
    const std::string source = "LPIPS checkpoint '" + path.string() + "'";
    const auto it = f.tensors.find("net.slice1.0.weight");
    ANYCOST_CHECK(it != f.tensors.end(), FormatError, source,
                  ": not an LPIPS checkpoint: no tensor 'net.slice1.0.weight' (convert it with tools/convert_lpips.py)");
    const Shape s0 = it->second.shape();
    ANYCOST_CHECK(s0.size() == 4 && s0[0] == 64 && s0[1] == 3 && s0[2] == s0[3] && (s0[2] == 11 || s0[2] == 3),
                  FormatError, source, ": 'net.slice1.0.weight' has shape ", s0,
                  ", expected [64, 3, 11, 11] (AlexNet) or [64, 3, 3, 3] (VGG16)");
    Lpips m(s0[2] == 11 ? LpipsNet::alex : LpipsNet::vgg);
    std::set<std::string> used;
    std::vector<std::string> missing;
    m.visit_state([&](const std::string& name, auto& x) {
      const auto t = f.tensors.find(name);
      if (t == f.tensors.end()) {
        if (name.rfind("scaling_layer.", 0) != 0) missing.push_back(name);  // constants: regenerated
        return;
      }
      used.insert(name);
      ANYCOST_CHECK(t->second.shape() == x.shape(), ShapeError, source, ": tensor '", name, "' has shape ",
                    t->second.shape(), ", the ", lpips_net_name(m.net()), " LPIPS needs ", x.shape());
      ANYCOST_CHECK(t->second.dtype() == DType::float32, FormatError, source, ": tensor '", name, "' is ",
                    t->second.dtype(), ", expected float32");
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>)
        x = Var(t->second);
      else
        x = t->second;
    });
    ANYCOST_CHECK(missing.empty(), FormatError, source, ": missing ", missing.size(), " tensor(s) of the ",
                  lpips_net_name(m.net()), " LPIPS, first '", missing.empty() ? "" : missing.front(), "'");
    for (const auto& kv : f.tensors)
      ANYCOST_CHECK(used.count(kv.first), FormatError, source, ": unexpected tensor '", kv.first, "' for the ",
                    lpips_net_name(m.net()), " LPIPS");
    return m;
  }

  LpipsNet net() const { return net_; }
  DType dtype() const { return lins_.front().dtype(); }
  Device device() const { return lins_.front().device(); }
  // Moves the weights and constants to `device` (explicit copies; forward then takes images on that device).
  void to(Device device) { nn::to_device(*this, device); }

  // a, b [B, 3, H, W] in [-1, 1] (not clamped here) -> [B] distances. Differentiable in a and b.
  Var forward(const Var& a, const Var& b) const {
    ANYCOST_CHECK(a.defined() && b.defined() && a.dim() == 4 && a.shape() == b.shape() && a.size(1) == 3, ShapeError,
                  "Lpips: expects two [B, 3, H, W] images of one shape, got ", a.defined() ? a.shape() : Shape{},
                  " and ", b.defined() ? b.shape() : Shape{});
    ANYCOST_CHECK(a.dtype() == dtype() && b.dtype() == dtype(), ShapeError, "Lpips: images are ", a.dtype(), " and ",
                  b.dtype(), ", the network is ", dtype());
    nn::check_device(a, lins_.front(), "Lpips", "first image");
    nn::check_device(b, lins_.front(), "Lpips", "second image");
    const std::int64_t n = a.size(0);
    // Both images go through the trunk as one batch.
    Var h = (cat({a, b}, 0) - Var(shift_)) / Var(scale_);
    std::vector<Var> taps;
    std::size_t ci = 0;
    for (const LpipsStep& s : steps_) {
      if (!s.conv) {
        ANYCOST_CHECK(h.size(2) >= s.kernel && h.size(3) >= s.kernel, ShapeError, "Lpips: image ", a.shape(),
                      " is too small for the ", lpips_net_name(net_), " trunk (features ", h.shape(),
                      " before the pooling at features.", s.index, ")");
        h = max_pool2d(h, s.kernel, s.stride, 0);
        continue;
      }
      const Conv& c = convs_[ci++];
      Conv2dParams p;
      p.stride_h = p.stride_w = s.stride;
      p.pad_h = p.pad_w = s.pad;
      ANYCOST_CHECK(h.size(2) + 2 * s.pad >= s.kernel && h.size(3) + 2 * s.pad >= s.kernel, ShapeError, "Lpips: image ",
                    a.shape(), " is too small for the ", lpips_net_name(net_), " trunk (features ", h.shape(),
                    " at features.", s.index, ")");
      h = relu(conv2d(h, c.weight, p) + reshape(c.bias, Shape{1, s.out, 1, 1}));
      if (s.tap) taps.push_back(h);
    }
    Var total;
    for (std::size_t l = 0; l < taps.size(); ++l) {
      const Var& f = taps[l];
      Var unit = f / (sqrt(sum(square(f), {1}, true)) + 1e-10);
      Var d = square(narrow(unit, 0, 0, n) - narrow(unit, 0, n, n));
      Var per = mean(conv2d(d, lins_[l]), {1, 2, 3});
      total = total.defined() ? Var(total + per) : per;
    }
    return total;
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }

 private:
  struct Conv {
    std::string name;  // "net.slice<s>.<index>"
    Var weight, bias;
  };

  // Allocated, unfilled parameters and the ScalingLayer constants.
  explicit Lpips(LpipsNet net) : net_(net), steps_(lpips_steps(net)) {
    for (const LpipsStep& s : steps_)
      if (s.conv)
        convs_.push_back({"net.slice" + std::to_string(s.slice) + "." + std::to_string(s.index),
                          Var(Tensor::zeros({s.out, s.in, s.kernel, s.kernel}, DType::float32)),
                          Var(Tensor::zeros({s.out}, DType::float32))});
    for (int c : lpips_tap_channels(net)) lins_.emplace_back(Tensor::zeros({1, c, 1, 1}, DType::float32));
    // lpips/lpips.py, ScalingLayer: the ImageNet statistics mapped to the [-1, 1] input range.
    shift_ = Tensor::from_vector(std::vector<double>{-0.030, -0.088, -0.188}, Shape{1, 3, 1, 1}).to(DType::float32);
    scale_ = Tensor::from_vector(std::vector<double>{0.458, 0.448, 0.450}, Shape{1, 3, 1, 1}).to(DType::float32);
  }

  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    fn(nn::join_name(prefix, "scaling_layer.shift"), self.shift_);
    fn(nn::join_name(prefix, "scaling_layer.scale"), self.scale_);
    for (auto& c : self.convs_) {
      fn(nn::join_name(prefix, c.name + ".weight"), c.weight);
      fn(nn::join_name(prefix, c.name + ".bias"), c.bias);
    }
    for (std::size_t l = 0; l < self.lins_.size(); ++l)
      fn(nn::join_name(prefix, "lin" + std::to_string(l) + ".model.1.weight"), self.lins_[l]);
  }

  LpipsNet net_;
  std::vector<LpipsStep> steps_;
  std::vector<Conv> convs_;
  std::vector<Var> lins_;
  Tensor shift_, scale_;
};

}  // namespace losses
ANYCOST_NAMESPACE_END
