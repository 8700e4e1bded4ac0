// EqualConv2d: a 2-D convolution with the equalised learning rate of StyleGAN2 (Karras et al. 2018, Sec. 4.1;
// the official models/ops.py EqualConv2d), used by the discriminator.
//
// Stored: weight [out, in, k, k] ~ N(0, 1), optional bias [out] = 0. At run time the effective weight is
// weight / sqrt(in * k * k) (the full fan-in, always). The scalar scale is applied to the convolution's
// output, which is the same linear map without a scaled copy of the weight.
//
// An input with fewer channels than `in` uses the first ones (weight[:, :C]), as the reference does.
#pragma once

#include <cmath>
#include <string>

#include "anycost/nn/module.hpp"
#include "anycost/ops/conv2d.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

class EqualConv2d {
 public:
  EqualConv2d() = default;
  EqualConv2d(std::int64_t in_channels, std::int64_t out_channels, int kernel, int stride, int padding, bool bias,
              Init init, DType dtype = DType::float32)
      : stride_(stride), padding_(padding) {
    ANYCOST_CHECK(in_channels >= 1 && out_channels >= 1 && kernel >= 1, ValueError,
                  "EqualConv2d: channels and kernel must be >= 1, got ", in_channels, " -> ", out_channels,
                  ", kernel ", kernel);
    ANYCOST_CHECK(stride >= 1 && padding >= 0, ValueError, "EqualConv2d: stride ", stride, " / padding ", padding,
                  " out of range");
    weight = init.normal({out_channels, in_channels, kernel, kernel}, dtype);
    if (bias) this->bias = init.constant({out_channels}, 0.0, dtype);
  }

  std::int64_t in_channels() const { return weight.size(1); }
  std::int64_t out_channels() const { return weight.size(0); }
  int kernel() const { return static_cast<int>(weight.size(2)); }
  int stride() const { return stride_; }
  int padding() const { return padding_; }
  double scale() const { return 1.0 / std::sqrt(static_cast<double>(in_channels() * kernel() * kernel())); }

  // The convolution without the scale and bias (for layers that fuse both into their epilogue).
  Var forward_unscaled(const Var& x) const {
    ANYCOST_CHECK(x.dim() == 4 && x.size(1) >= 1 && x.size(1) <= in_channels(), ShapeError, "EqualConv2d: input ",
                  x.shape(), " is not [B, C <= ", in_channels(), ", H, W]");
    check_device(x, weight, "EqualConv2d");
    const Var w = x.size(1) == in_channels() ? weight : narrow(weight, 1, 0, x.size(1));
    return conv2d(x, w, Conv2dParams{stride_, stride_, padding_, padding_, 1});
  }

  // x [B, C, H, W] -> conv(x, weight * scale) + bias.
  Var forward(const Var& x) const {
    const Var y = forward_unscaled(x);
    if (!bias.defined()) return y * scale();
    return y * scale() + reshape(bias, {1, out_channels(), 1, 1});
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    fn(join_name(prefix, "weight"), weight);
    if (bias.defined()) fn(join_name(prefix, "bias"), bias);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    fn(join_name(prefix, "weight"), weight);
    if (bias.defined()) fn(join_name(prefix, "bias"), bias);
  }

  Var weight;  // [out, in, k, k]
  Var bias;    // [out] or undefined

 private:
  int stride_ = 1;
  int padding_ = 0;
};

}  // namespace nn
ANYCOST_NAMESPACE_END
