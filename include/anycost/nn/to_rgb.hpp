// ToRGB (the "skip" output architecture of StyleGAN2, Karras et al. 2020, Sec. 4.1 and Fig. 7b): a 1x1 modulated
// convolution to 3 channels without demodulation, a bias, and the upsampled running image ("skip") of the previous
// resolution added on top. The kind is in the type: ToRGB<Skip::none> (to_rgb1, at 4x4) and ToRGB<Skip::upsample>
// (to_rgbs.b).
//
// State names (relative): bias [1, 3, 1, 1], upsample.kernel [4, 4] (Skip::upsample only), conv.weight,
// conv.modulation.{weight,bias}.
//
// forward(x, w, skip) = conv(x, w) + bias + upsample2x(skip). The input width is whatever x carries (a
// sub-network slices only the input side of a ToRGB); the output is always 3 channels. The scale of the 1x1
// conv uses the full input width, which matters here since nothing demodulates it.
#pragma once

#include <string>

#include "anycost/nn/blur.hpp"
#include "anycost/nn/modulated_conv2d.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

enum class Skip : std::uint8_t { none, upsample };

template <Skip S>
class ToRGB {
 public:
  using Conv = ModulatedConv2d<Kernel{1}, Resample::none, Demod::off>;

  ToRGB() = default;
  ToRGB(std::int64_t in_channels, std::int64_t style_dim, Init init, DType dtype = DType::float32)
      : conv(in_channels, 3, style_dim, init, dtype), bias(init.constant({1, 3, 1, 1}, 0.0, dtype)) {
    if constexpr (S == Skip::upsample) upsample_kernel = make_blur_kernel(4.0, {1, 3, 3, 1}, dtype);
  }

  std::int64_t in_channels() const { return conv.in_channels(); }

  // x [B, C, H, W] -> [B, 3, H, W]; skip [B, 3, H/2, W/2] (Skip::upsample; may be undefined for none).
  Var forward(const Var& x, const Var& style, const Var& skip = {},
              ModulationPath path = ModulationPath::automatic) const {
    const Var y = conv.forward(x, style, OutChannels{3}, path);
    if constexpr (S == Skip::none) {
      ANYCOST_CHECK(!skip.defined(), ValueError, "ToRGB<Skip::none>: this layer has no skip input");
      return y + bias;
    } else {
      if (!skip.defined()) return y + bias;
      check_device(skip, bias, "ToRGB", "skip image");
      ANYCOST_CHECK(skip.dim() == 4 && skip.size(0) == y.size(0) && skip.size(1) == 3 &&
                        2 * skip.size(2) == y.size(2) && 2 * skip.size(3) == y.size(3),
                    ShapeError, "ToRGB: skip image ", skip.shape(), " is not the half-resolution image for ",
                    y.shape());
      return y + bias + upsample2x(skip, upsample_kernel);
    }
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }

  Conv conv;
  Var bias;                // [1, 3, 1, 1]
  Tensor upsample_kernel;  // [4, 4], Skip::upsample only

 private:
  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    fn(join_name(prefix, "bias"), self.bias);
    if constexpr (S == Skip::upsample) fn(join_name(prefix, "upsample.kernel"), self.upsample_kernel);
    self.conv.visit_state(fn, join_name(prefix, "conv"));
  }
};

}  // namespace nn
ANYCOST_NAMESPACE_END
