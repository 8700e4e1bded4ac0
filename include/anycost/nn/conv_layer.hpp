// ConvLayer: the convolution block of the StyleGAN2 residual discriminator (Karras et al. 2020,
// Fig. 7b; the official models/ops.py ConvLayer), with the optional architecture conditioning of
// Anycost GAN (Lin et al. 2021, Sec. 3.3).
//
// ConvLayer(in, out, k, downsample, activate, arch_dim) is, in this order (the state names are the indices of
// the reference nn.Sequential):
//   [blur]       downsample only: blur with pads (p+1)/2, p/2, p = (4 - 2) + (k - 1)   ("<i>.kernel", a buffer)
//   conv         EqualConv2d, stride 2 / padding 0 when downsampling, else stride 1 / padding k/2, no bias
//   [modulate]   arch_dim > 0: AdaptiveModulate(out, arch_dim)            ("<i>.weight_mapping.*", ...)
//   [activate]   FusedLeakyReLU(out): sqrt(2) * lrelu(x + bias, 0.2)      ("<i>.bias")
// The equalised-lr scale, the modulation and the bias + activation run as one fused elementwise expression.
#pragma once

#include <cmath>
#include <optional>
#include <string>

#include "anycost/nn/adaptive_modulate.hpp"
#include "anycost/nn/blur.hpp"
#include "anycost/nn/equal_conv2d.hpp"
#include "anycost/nn/noise_injection.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

class ConvLayer {
 public:
  ConvLayer() = default;
  ConvLayer(std::int64_t in_channels, std::int64_t out_channels, int kernel, bool downsample, bool activate,
            std::int64_t arch_dim, Init init, DType dtype = DType::float32)
      : downsample_(downsample) {
    ANYCOST_CHECK(arch_dim >= 0, ValueError, "ConvLayer: arch_dim must be >= 0, got ", arch_dim);
    if (downsample) {
      blur_kernel = make_blur_kernel(1.0, {1, 3, 3, 1}, dtype);
      const int p = 2 + (kernel - 1);
      pad0_ = (p + 1) / 2;
      pad1_ = p / 2;
    }
    conv = EqualConv2d(in_channels, out_channels, kernel, downsample ? 2 : 1, downsample ? 0 : kernel / 2, false, init,
                       dtype);
    if (arch_dim > 0) modulate = AdaptiveModulate(out_channels, arch_dim, init, dtype);
    if (activate) act = FusedLeakyReLU(out_channels, init, dtype);
  }

  bool downsamples() const { return downsample_; }
  bool modulated() const { return modulate.has_value(); }
  bool activated() const { return act.has_value(); }
  std::int64_t out_channels() const { return conv.out_channels(); }

  // x [B, in, H, W] -> [B, out, H', W'] (H' = H/2 when downsampling); `arch` is required iff modulated().
  Var forward(const Var& x, const Var& arch = {}) const {
    ANYCOST_CHECK(x.dim() == 4, ShapeError, "ConvLayer: input ", x.shape(), " is not [B, C, H, W]");
    ANYCOST_CHECK(modulated() || !arch.defined(), ValueError,
                  "ConvLayer: an architecture code was given to a layer without modulation");
    const Var in = downsample_ ? blur(x, blur_kernel, pad0_, pad1_) : x;
    const Var y = conv.forward_unscaled(in);
    const double s = conv.scale();
    const double gain = std::sqrt(2.0);
    if (modulated()) {
      const FilmParams f = modulate->params(arch);
      if (!activated()) return y * (f.scale * s) + f.shift;
      return lrelu(y * (f.scale * s) + f.shift + act->bias_view(out_channels(), 4), 0.2) * gain;
    }
    if (!activated()) return y * s;
    return lrelu(y * s + act->bias_view(out_channels(), 4), 0.2) * gain;
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }

  Tensor blur_kernel;  // [4, 4], sum 1 (downsampling layers only)
  EqualConv2d conv;
  std::optional<AdaptiveModulate> modulate;
  std::optional<FusedLeakyReLU> act;

 private:
  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    int i = 0;
    if (self.downsample_) fn(join_name(prefix, std::to_string(i++) + ".kernel"), self.blur_kernel);
    self.conv.visit_state(fn, join_name(prefix, std::to_string(i++)));
    if (self.modulate) self.modulate->visit_state(fn, join_name(prefix, std::to_string(i++)));
    if (self.act) self.act->visit_state(fn, join_name(prefix, std::to_string(i++)));
  }

  bool downsample_ = false;
  int pad0_ = 0, pad1_ = 0;
};

}  // namespace nn
ANYCOST_NAMESPACE_END
