// Conv2d: a plain 2-D convolution (torch.nn.Conv2d: square kernel, no equalised learning rate), as the
// ResNet trunk of the projection encoder (models/encoder.hpp) uses it: weight [out, in, k, k], an optional
// bias [out], stride and zero padding.
//
// The random initialisation is torchvision's for ResNets: kaiming normal, fan-out mode, gain sqrt(2)
// (std = sqrt(2 / (out * k * k))); the bias starts at 0.
#pragma once

#include <cmath>
#include <string>

#include "anycost/nn/module.hpp"
#include "anycost/ops/conv2d.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

class Conv2d {
 public:
  Conv2d() = default;
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, int kernel, int stride, int padding, bool bias, Init init,
         DType dtype = DType::float32)
      : stride_(stride), padding_(padding) {
    ANYCOST_CHECK(in_channels >= 1 && out_channels >= 1 && kernel >= 1 && stride >= 1 && padding >= 0, ValueError,
                  "Conv2d: bad geometry ", in_channels, " -> ", out_channels, " channels, kernel ", kernel, ", stride ",
                  stride, ", padding ", padding);
    const double fan_out = static_cast<double>(out_channels) * kernel * kernel;
    weight = init.normal({out_channels, in_channels, kernel, kernel}, dtype, std::sqrt(fan_out / 2.0));
    if (bias) this->bias = init.constant({out_channels}, 0.0, dtype);
  }

  std::int64_t in_channels() const { return weight.size(1); }
  std::int64_t out_channels() const { return weight.size(0); }
  int kernel() const { return static_cast<int>(weight.size(2)); }
  int stride() const { return stride_; }
  int padding() const { return padding_; }

  // x [N, in, H, W] -> [N, out, (H + 2p - k) / s + 1, (W + 2p - k) / s + 1].
  Var forward(const Var& x) const {
    ANYCOST_CHECK(weight.defined(), ValueError, "Conv2d: not initialised");
    ANYCOST_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_channels(), ShapeError, "Conv2d: input ",
                  x.defined() ? x.shape() : Shape{}, " is not [N, ", in_channels(), ", H, W]");
    check_device(x, weight, "Conv2d");
    const Var y = conv2d(x, weight, Conv2dParams{stride_, stride_, padding_, padding_, 1});
    if (!bias.defined()) return y;
    return y + reshape(bias, {1, out_channels(), 1, 1});
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
