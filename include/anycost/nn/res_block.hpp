// ResBlock: the residual block of the StyleGAN2 discriminator (Karras et al. 2020, Fig. 7b; the official
// models/ops.py ResBlock), optionally conditioned on the generator architecture (Lin et al. 2021, Sec. 3.3):
//
//   conv1 = ConvLayer(in, in, 3), conv2 = ConvLayer(in, out, 3, downsample),
//   skip  = ConvLayer(in, out, 1, downsample, no activation)
//   out   = (conv2(conv1(x)) + skip(x)) / sqrt(2)                 [B, in, H, H] -> [B, out, H/2, H/2]
//
// With arch_dim > 0 all three layers carry an AdaptiveModulate after their convolution.
#pragma once

#include <cmath>
#include <string>

#include "anycost/nn/conv_layer.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

class ResBlock {
 public:
  ResBlock() = default;
  ResBlock(std::int64_t in_channels, std::int64_t out_channels, std::int64_t arch_dim, Init init,
           DType dtype = DType::float32)
      : conv1(in_channels, in_channels, 3, false, true, arch_dim, init, dtype),
        conv2(in_channels, out_channels, 3, true, true, arch_dim, init, dtype),
        skip(in_channels, out_channels, 1, true, false, arch_dim, init, dtype) {}

  bool modulated() const { return conv1.modulated(); }
  std::int64_t in_channels() const { return conv1.conv.in_channels(); }
  std::int64_t out_channels() const { return conv2.out_channels(); }

  // x [B, in, H, W] -> [B, out, H/2, W/2].
  Var forward(const Var& x, const Var& arch = {}) const {
    ANYCOST_CHECK(x.dim() == 4 && x.size(1) == in_channels() && x.size(2) >= 2 && x.size(2) % 2 == 0 &&
                      x.size(3) == x.size(2),
                  ShapeError, "ResBlock: input ", x.shape(), " is not [B, ", in_channels(), ", H, H] with even H");
    const Var main = conv2.forward(conv1.forward(x, arch), arch);
    return (main + skip.forward(x, arch)) * (1.0 / std::sqrt(2.0));
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }

  ConvLayer conv1, conv2, skip;

 private:
  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    self.conv1.visit_state(fn, join_name(prefix, "conv1"));
    self.conv2.visit_state(fn, join_name(prefix, "conv2"));
    self.skip.visit_state(fn, join_name(prefix, "skip"));
  }
};

}  // namespace nn
ANYCOST_NAMESPACE_END
