// The Anycost generator written on LibTorch ops (the C++ torch API), as the side-by-side reference of
// generator_bench.cpp. It holds copies of an anycost Generator's tensors (same weights, same noise buffers)
// and runs any sub-network in one of two formulations:
//   Formulation::reference    per-sample modulated weights and a grouped convolution over the batch, a
//                             transposed convolution then a depthwise 4x4 blur (the official PyTorch code)
//   Formulation::activations  modulate the input channels, convolve with the shared weights, scale each
//                             output channel by its demodulation factor (StyleGAN2-ADA's non-fused path)
// Each op runs as LibTorch runs it (oneDNN convolutions, separate elementwise kernels).
// Its parameters require grad, so train_step_bench.cpp trains it (synthesize() takes W+ and per-sample noise, as
// the training steps do); generator_bench.cpp runs it under torch::NoGradGuard.
#pragma once

#if defined(ANYCOST_BENCH_WITH_TORCH)

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <anycost/models.hpp>

#include "models/torch_state.hpp"

namespace anycost::bench {

class TorchGenerator {
 public:
  enum class Formulation { reference, activations };

  // The parameters (not the buffers: noise maps, blur kernels) require grad, so the same object serves
  // inference (under torch::NoGradGuard) and training (train_step_bench.cpp).
  explicit TorchGenerator(const models::Generator& g)
      : style_dim_(g.style_dim()), n_style_(g.n_style()), n_mlp_(g.config().n_mlp), lr_mlp_(g.config().lr_mlp),
        table_(g.channel_table()) {
    copy_state_to_torch(g, p_, params_);
    blur_ = p_.at("convs.0.conv.blur.kernel").view({1, 1, 4, 4});
  }

  // Trainable tensors in the state_dict order (for torch::optim).
  const std::vector<torch::Tensor>& parameters() const { return params_; }
  std::int64_t n_style() const { return n_style_; }

  // The mapping network: z [B, style_dim] -> w [B, style_dim].
  torch::Tensor map(const torch::Tensor& z) const {
    torch::Tensor w = z * torch::rsqrt(z.pow(2).mean(-1, true) + 1e-8);
    for (int i = 1; i <= n_mlp_; ++i) {
      const std::string k = "style." + std::to_string(i);
      const double scale = lr_mlp_ / std::sqrt(static_cast<double>(style_dim_));
      w = torch::addmm(p_.at(k + ".bias") * lr_mlp_, w, p_.at(k + ".weight").t(), 1.0, scale);
      w = torch::leaky_relu(w, 0.2) * std::sqrt(2.0);
    }
    return w;
  }

  // Images [B, 3, r, r] for z [B, style_dim] at the sub-network cfg (fixed noise).
  torch::Tensor generate(const torch::Tensor& z, const models::SubnetConfig& cfg, Formulation f) const {
    const torch::Tensor w = map(z);
    return synthesize(w.unsqueeze(1).expand({w.size(0), n_style_, style_dim_}), cfg, f).back();
  }

  // W+ [B, n_style, style_dim] -> the RGB outputs at 4, 8, ..., cfg.resolution() (the last is the image).
  // noise: one map [B or 1, 1, s, s] per layer, or empty for the fixed noise buffers.
  std::vector<torch::Tensor> synthesize(const torch::Tensor& wplus, const models::SubnetConfig& cfg, Formulation f,
                                        const std::vector<torch::Tensor>& noise = {}) const {
    auto row = [&](int i) { return wplus.select(1, i); };
    auto noise_at = [&](int l) { return noise.empty() ? p_.at("noises.noise_" + std::to_string(l)) : noise[l]; };
    const std::int64_t b = wplus.size(0);
    torch::Tensor h = p_.at("input.input").slice(1, 0, cfg.channels(0)).expand({b, cfg.channels(0), 4, 4});
    h = styled_conv("conv1", h, row(0), cfg.channels(1), noise_at(0), false, f);
    std::vector<torch::Tensor> rgbs{to_rgb("to_rgb1", h, row(1), torch::Tensor(), f)};
    for (int blk = 0, r = 8; r <= cfg.resolution(); ++blk, r *= 2) {
      h = styled_conv("convs." + std::to_string(2 * blk), h, row(2 * blk + 1), cfg.channels(2 * blk + 2),
                      noise_at(2 * blk + 1), true, f);
      h = styled_conv("convs." + std::to_string(2 * blk + 1), h, row(2 * blk + 2), cfg.channels(2 * blk + 3),
                      noise_at(2 * blk + 2), false, f);
      rgbs.push_back(to_rgb("to_rgbs." + std::to_string(blk), h, row(2 * blk + 3), rgbs.back(), f));
    }
    return rgbs;
  }

 private:
  // Modulated conv of layer `name` (".conv." below it) on x, output channels k.
  torch::Tensor modconv(const std::string& name, const torch::Tensor& x, const torch::Tensor& w, std::int64_t k,
                        bool demod, bool up, Formulation f, torch::Tensor* demod_out) const {
    const torch::Tensor& weight = p_.at(name + ".weight");  // [1, Cout, Cin, K, K]
    const std::int64_t b = x.size(0), cin = x.size(1), h = x.size(2), wd = x.size(3), ks = weight.size(3);
    const double scale = 1.0 / std::sqrt(static_cast<double>(weight.size(2) * ks * ks));
    const double mod_scale = 1.0 / std::sqrt(static_cast<double>(style_dim_));
    torch::Tensor s = torch::addmm(p_.at(name + ".modulation.bias").slice(0, 0, cin), w,
                                   p_.at(name + ".modulation.weight").slice(0, 0, cin).t(), 1.0, mod_scale);
    torch::Tensor ws = weight[0].slice(0, 0, k).slice(1, 0, cin);  // [k, cin, K, K]
    torch::Tensor out;
    if (f == Formulation::reference) {
      torch::Tensor wm = ws.unsqueeze(0) * (s * scale).view({b, 1, cin, 1, 1});
      if (demod) wm = wm * torch::rsqrt(wm.pow(2).sum({2, 3, 4}, true) + 1e-8);
      const torch::Tensor xg = x.reshape({1, b * cin, h, wd});
      if (up) {
        torch::Tensor wt = wm.transpose(1, 2).reshape({b * cin, k, ks, ks});
        out = torch::conv_transpose2d(xg, wt, {}, 2, 0, 0, b).view({b, k, 2 * h + 1, 2 * wd + 1});
        out = torch::conv2d(out, blur_.expand({k, 1, 4, 4}), {}, 1, 1, 1, k);
      } else {
        out = torch::conv2d(xg, wm.reshape({b * k, cin, ks, ks}), {}, 1, ks / 2, 1, b).view({b, k, h, wd});
      }
    } else {
      const torch::Tensor xs = x * (s * scale).view({b, cin, 1, 1});
      if (up) {
        out = torch::conv_transpose2d(xs, ws.transpose(0, 1), {}, 2);
        out = torch::conv2d(out, blur_.expand({k, 1, 4, 4}), {}, 1, 1, 1, k);
      } else {
        out = torch::conv2d(xs, ws, {}, 1, ks / 2);
      }
      if (demod) {
        const torch::Tensor wsq = ws.pow(2).sum({2, 3});  // [k, cin]
        *demod_out = torch::rsqrt(torch::mm(s.pow(2) * (scale * scale), wsq.t()) + 1e-8).view({b, k, 1, 1});
      }
    }
    return out;
  }

  torch::Tensor styled_conv(const std::string& name, const torch::Tensor& x, const torch::Tensor& w, std::int64_t k,
                            const torch::Tensor& noise, bool up, Formulation f) const {
    torch::Tensor d;
    torch::Tensor out = modconv(name + ".conv", x, w, k, true, up, f, &d);
    if (d.defined()) out = out * d;
    out = out + p_.at(name + ".noise.weight") * noise;
    out = out + p_.at(name + ".activate.bias").slice(0, 0, k).view({1, k, 1, 1});
    return torch::leaky_relu(out, 0.2) * std::sqrt(2.0);
  }

  torch::Tensor to_rgb(const std::string& name, const torch::Tensor& x, const torch::Tensor& w,
                       const torch::Tensor& skip, Formulation f) const {
    torch::Tensor out = modconv(name + ".conv", x, w, 3, false, false, f, nullptr) + p_.at(name + ".bias");
    if (skip.defined())
      out = out + torch::conv_transpose2d(skip, blur_.expand({3, 1, 4, 4}), {}, 2, 1, 0, 3);
    return out;
  }

  std::int64_t style_dim_;
  std::int64_t n_style_;
  int n_mlp_;
  double lr_mlp_;
  models::ChannelTable table_;
  std::map<std::string, torch::Tensor> p_;
  std::vector<torch::Tensor> params_;
  torch::Tensor blur_;  // [1, 1, 4, 4], sums to 4
};

}  // namespace anycost::bench

#endif  // ANYCOST_BENCH_WITH_TORCH
