// ModulatedConv2d: StyleGAN2's style-modulated convolution (Karras et al. 2020, Sec. 2.2, Eqs. 1-3), with
// anycost's run-time slicing (Lin et al. 2021, Sec. 3, adaptive-channel training: a sub-network runs the
// first channels of every layer).
//
// Kind (compile time): ModulatedConv2d<Kernel{k}, Resample::none|up, Demod::on|off>. Sizes (run time): the
// full widths are the parameter shapes; a call uses the first C_in input channels (C_in = x.size(1)) and
// the first k output channels (OutChannels{k}).
//
// Parameters and buffers (reference state_dict names, relative to the layer):
//   weight             [1, C_out, C_in, k, k] ~ N(0, 1), scaled at run time by c = 1/sqrt(C_in_full k^2)
//   modulation.*       EqualLinear(style_dim -> C_in_full, bias_init 1): the per-channel styles s
//   blur.kernel        [4, 4] = outer([1,3,3,1])/64 * 4   (Resample::up only)
//
// Forward for x [B, C_in, H, W] and style w [B, style_dim]:
//   s = modulation(w)[:, :C_in];  W' = c * weight[:k, :C_in] * s;  demod: W'' = W' / sqrt(sum W'^2 + 1e-8)
//   none: y = conv2d(x, W'', padding k/2)                       -> [B, k, H, W]
//   up:   y = blur(conv_transpose2d(x, W'', stride 2), pads 1)  -> [B, k, 2H, 2W]
// computed either by building per-sample weights (ModulationPath::weights, the reference's grouped
// convolution) or by modulating the activations instead (ModulationPath::activations: x * c*s, a shared
// convolution, then a per-(sample, channel) demodulation factor d). forward_parts() returns that factor
// separately so that StyledConv can fold it into its fused epilogue; forward() applies it.
//
// Slices are prefix views of the full parameters (weight_slice shares storage); their gradients flow into
// the full parameter through the view's backward. Every step is differentiable to second order.
//
// Inference constants (PreparedWeights, made by prepare()): the activation path needs, per call, the
// squared weight summed over the taps [C_out, C_in] and, for the up-conv, the weight in the transposed
// convolution's [C_in, C_out, K, K] layout. Both depend on the weight alone and cost a pass over it, which
// at low resolution outweighs the convolution. A caller that runs a frozen layer many times (the CLI, the
// studio) computes them once and passes them in: an explicit immutable value, not a cache inside the layer.
// They are prefix-sliced like the weight, and used only while no gradient is recorded for the weight and it
// still holds the values they were computed from (same storage, offset and version: changes made through
// the Tensor API bump the version); otherwise the layer recomputes them, so stale constants never change a
// result.
#pragma once

#include <cmath>
#include <memory>
#include <string>

#include "anycost/autograd/grad_mode.hpp"
#include "anycost/nn/blur.hpp"
#include "anycost/nn/equal_linear.hpp"
#include "anycost/nn/module.hpp"
#include "anycost/nn/subnet.hpp"
#include "anycost/ops/conv2d.hpp"
#include "anycost/ops/reduce.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

// Spatial kernel size of a convolution (a structural type, usable as a template argument: Kernel{3}).
struct Kernel {
  int size;
};
enum class Resample : std::uint8_t { none, up };
enum class Demod : std::uint8_t { off, on };

// The result of a modulated convolution before demodulation is applied: y * demod is the layer output.
// `demod` is [B, k, 1, 1], or undefined when it is already folded into y (the weights path, or Demod::off).
struct ModulatedOutput {
  Var y;
  Var demod;
};

// Weight-derived constants of one modulated convolution (see above). Undefined tensors when not prepared.
struct PreparedWeights {
  Tensor weight_sq;  // [C_out, C_in]: sum over the taps of weight^2 (Demod::on)
  Tensor weight_t;   // [C_in, C_out, K, K] contiguous (Resample::up)
  std::weak_ptr<Storage> storage;    // identity and version of the weight they came from (weak: a freed
                                     // weight's address reused by a new one never matches)
  std::int64_t offset = 0;
  std::uint64_t version = 0;
};

template <Kernel K, Resample R, Demod D>
class ModulatedConv2d {
  static_assert(K.size >= 1 && K.size % 2 == 1, "ModulatedConv2d: the kernel size must be odd");

 public:
  static constexpr int kernel_size = K.size;
  static constexpr Resample resample = R;
  static constexpr Demod demodulate = D;

  ModulatedConv2d() = default;
  ModulatedConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t style_dim, Init init,
                  DType dtype = DType::float32)
      : modulation(style_dim, in_channels, init, 1.0, 1.0, dtype) {
    ANYCOST_CHECK(in_channels >= 1 && out_channels >= 1, ValueError, "ModulatedConv2d: channels must be >= 1, got ",
                  in_channels, " -> ", out_channels);
    weight = init.normal({1, out_channels, in_channels, K.size, K.size}, dtype);
    if constexpr (R == Resample::up) blur_kernel = make_blur_kernel(4.0, {1, 3, 3, 1}, dtype);
  }

  std::int64_t in_channels() const { return weight.size(2); }
  std::int64_t out_channels() const { return weight.size(1); }
  std::int64_t style_dim() const { return modulation.in_features(); }
  // c = 1/sqrt(C_in_full * k^2): the equalised-lr scale, always from the full fan-in.
  double scale() const { return 1.0 / std::sqrt(static_cast<double>(in_channels() * K.size * K.size)); }

  // weight[:k, :c_in] as a [k, c_in, K, K] view of the full parameter (no copy).
  Var weight_slice(std::int64_t k, std::int64_t c_in) const {
    Var w = reshape(weight, Shape{out_channels(), in_channels(), K.size, K.size});
    if (k < out_channels()) w = narrow(w, 0, 0, k);
    if (c_in < in_channels()) w = narrow(w, 1, 0, c_in);
    return w;
  }

  // The path ModulationPath::automatic takes for this call: the one that touches fewer numbers besides the
  // convolution itself. Per-sample weights cost B*k*C_in*K^2 per elementwise pass (modulate, square-sum,
  // demodulate, and the transposed copy of an up-conv); modulating the input costs B*C_in*H*W plus a small
  // demodulation matmul, plus a pass over the weight for its squares (and the up-conv's transposed copy)
  // unless they are prepared.
  static ModulationPath choose_path(std::int64_t batch, std::int64_t c_in, std::int64_t k, std::int64_t h,
                                    std::int64_t w, bool prepared = false) {
    const std::int64_t taps = static_cast<std::int64_t>(K.size) * K.size;
    const std::int64_t passes = (D == Demod::on ? 3 : 2) + (R == Resample::up ? 1 : 0);
    const std::int64_t weights_cost = passes * batch * k * c_in * taps;
    std::int64_t activations_cost = batch * c_in * h * w;
    if constexpr (D == Demod::on) activations_cost += batch * k * c_in + (prepared ? 0 : 2 * k * c_in * taps);
    if constexpr (R == Resample::up) activations_cost += prepared ? 0 : k * c_in * taps;
    return activations_cost <= weights_cost ? ModulationPath::activations : ModulationPath::weights;
  }

  // The inference constants of the current weight values (computed without recording a graph).
  PreparedWeights prepare() const {
    NoGradGuard no_grad;
    PreparedWeights p;
    const Var w4 = weight_slice(out_channels(), in_channels());
    if constexpr (D == Demod::on) p.weight_sq = sum(square(w4), {2, 3}).data();
    if constexpr (R == Resample::up) p.weight_t = w4.data().permute(Dims{1, 0, 2, 3}).contiguous();
    p.storage = weight.data().storage();
    p.offset = weight.data().offset();
    p.version = weight.data().version();
    return p;
  }

  // Whether `p` may stand in for the weight in this call (see the header comment).
  bool can_use(const PreparedWeights* p) const {
    if (!p || (GradMode::is_enabled() && weight.requires_grad())) return false;
    const Tensor& w = weight.data();
    if (p->storage.lock() != w.storage() || p->offset != w.offset() || p->version != w.version()) return false;
    if constexpr (D == Demod::on)
      if (!(p->weight_sq.defined() && p->weight_sq.shape() == Shape{out_channels(), in_channels()})) return false;
    if constexpr (R == Resample::up)
      if (!(p->weight_t.defined() && p->weight_t.shape() == Shape{in_channels(), out_channels(), K.size, K.size}))
        return false;
    return true;
  }

  // y and the demodulation factor separately (see ModulatedOutput).
  ModulatedOutput forward_parts(const Var& x, const Var& style, OutChannels out,
                                ModulationPath path = ModulationPath::automatic,
                                const PreparedWeights* prepared = nullptr) const {
    check_inputs(x, style, out);
    const std::int64_t b = x.size(0), c_in = x.size(1), h = x.size(2), w = x.size(3), k = out.value;
    const PreparedWeights* pw = can_use(prepared) ? prepared : nullptr;
    if (path == ModulationPath::automatic) path = choose_path(b, c_in, k, h, w, pw != nullptr);
    const Var s = modulation.forward_rows(style, c_in);  // [B, C_in]
    const Var wv = weight_slice(k, c_in);                 // [k, C_in, K, K]
    return path == ModulationPath::weights ? forward_weights(x, s, wv) : forward_activations(x, s, wv, pw);
  }

  // x [B, C_in, H, W], style [B, style_dim] -> [B, k, H', W'] (H' = H, or 2H with Resample::up).
  Var forward(const Var& x, const Var& style, OutChannels out, ModulationPath path = ModulationPath::automatic,
              const PreparedWeights* prepared = nullptr) const {
    ModulatedOutput r = forward_parts(x, style, out, path, prepared);
    return r.demod.defined() ? Var(r.y * r.demod) : r.y;
  }
  Var forward(const Var& x, const Var& style, ModulationPath path = ModulationPath::automatic) const {
    return forward(x, style, OutChannels{out_channels()}, path);
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }

  Var weight;                                // [1, C_out, C_in, K, K]
  EqualLinear<Activation::linear> modulation;  // style_dim -> C_in, bias_init 1
  Tensor blur_kernel;                        // [4, 4], Resample::up only

 private:
  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    fn(join_name(prefix, "weight"), self.weight);
    self.modulation.visit_state(fn, join_name(prefix, "modulation"));
    if constexpr (R == Resample::up) fn(join_name(prefix, "blur.kernel"), self.blur_kernel);
  }

  void check_inputs(const Var& x, const Var& style, OutChannels out) const {
    ANYCOST_CHECK(weight.defined(), ValueError, "ModulatedConv2d: layer is not initialised");
    ANYCOST_CHECK(x.dim() == 4, ShapeError, "ModulatedConv2d: input must be [B, C, H, W], got ", x.shape());
    ANYCOST_CHECK(x.size(1) >= 1 && x.size(1) <= in_channels(), ShapeError, "ModulatedConv2d: input ", x.shape(),
                  " has ", x.size(1), " channels, the layer takes at most ", in_channels());
    ANYCOST_CHECK(style.dim() == 2 && style.size(0) == x.size(0) && style.size(1) == style_dim(), ShapeError,
                  "ModulatedConv2d: style ", style.shape(), " does not match [", x.size(0), ", ", style_dim(),
                  "] for input ", x.shape());
    ANYCOST_CHECK(out.value >= 1 && out.value <= out_channels(), ShapeError, "ModulatedConv2d: ", out.value,
                  " output channels requested, the layer has ", out_channels());
    ANYCOST_CHECK(x.dtype() == weight.dtype(), ShapeError, "ModulatedConv2d: input is ", x.dtype(),
                  ", parameters are ", weight.dtype());
    check_device(x, weight, "ModulatedConv2d");
    check_device(style, weight, "ModulatedConv2d", "style");
  }

  static Conv2dParams conv_params(int groups) { return {1, 1, K.size / 2, K.size / 2, groups}; }

  // The reference path: per-sample weights, the batch folded into the channels of one grouped convolution.
  ModulatedOutput forward_weights(const Var& x, const Var& s, const Var& wv) const {
    const std::int64_t b = x.size(0), c_in = x.size(1), h = x.size(2), w = x.size(3), k = wv.size(0);
    Var sb = reshape(s, Shape{b, 1, c_in, 1, 1});
    Var wm = wv * sb * scale();  // [B, k, C_in, K, K]
    if constexpr (D == Demod::on) wm = wm * rsqrt(sum(square(wm), {2, 3, 4}, true) + 1e-8);
    const int groups = static_cast<int>(b);
    const Var xg = reshape(contiguous(x), Shape{1, b * c_in, h, w});
    if constexpr (R == Resample::none) {
      Var y = conv2d(xg, reshape(wm, Shape{b * k, c_in, K.size, K.size}), conv_params(groups));
      return {reshape(y, Shape{b, k, h, w}), Var()};
    } else {
      // conv_transpose2d takes weights as [in, out, K, K]: swap the channel axes (no spatial flip).
      Var wt = reshape(contiguous(transpose(wm, 1, 2)), Shape{b * c_in, k, K.size, K.size});
      const Var y = up_conv_blur(xg, wt, groups, blur_kernel);
      return {reshape(y, Shape{b, k, y.size(2), y.size(3)}), Var()};
    }
  }

  // The activation path: x * c*s, one convolution with the shared weight slice, demodulation factors from
  // sum_i (sum_kk W[o,i]^2) (c s_i)^2, returned separately.
  ModulatedOutput forward_activations(const Var& x, const Var& s, const Var& wv, const PreparedWeights* pw) const {
    const std::int64_t b = x.size(0), c_in = x.size(1), k = wv.size(0);
    const Var xs = x * reshape(s * scale(), Shape{b, c_in, 1, 1});
    Var y;
    if constexpr (R == Resample::none) {
      y = conv2d(xs, wv, conv_params(1));
    } else {
      const Var wt = pw ? Var(pw->weight_t.narrow(0, 0, c_in).narrow(1, 0, k)) : permute(wv, Dims{1, 0, 2, 3});
      y = up_conv_blur(xs, wt, 1, blur_kernel);
    }
    Var d;
    if constexpr (D == Demod::on) {
      const Var wsq = pw ? Var(pw->weight_sq.narrow(0, 0, k).narrow(1, 0, c_in)) : sum(square(wv), {2, 3});
      const double c2 = scale() * scale();
      d = reshape(rsqrt(matmul(square(s) * c2, transpose(wsq, 0, 1)) + 1e-8), Shape{b, k, 1, 1});
    }
    return {y, d};
  }
};

}  // namespace nn
ANYCOST_NAMESPACE_END
