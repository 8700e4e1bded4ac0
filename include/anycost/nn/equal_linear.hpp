// EqualLinear: a fully connected layer with the equalised learning rate StyleGAN2 uses (Karras et al. 2018,
// Sec. 4.1).
//
// Stored: weight [out, in] ~ N(0, 1) / lr_mul, bias [out] = bias_init. At run time the effective weight is
// weight * lr_mul / sqrt(in) and the effective bias is bias * lr_mul (the scale uses the full fan-in,
// always). With Activation::lrelu the layer computes sqrt(2) * lrelu(x W_eff^T + b_eff, 0.2), the bias added
// before the activation (FusedLeakyReLU). The matmul runs on the stored weight and the scalar scale is
// folded into the one fused elementwise epilogue, so no scaled copy of the weight is ever made.
//
// forward_rows(x, k) computes only the first k outputs: the modulation layers of an anycost sub-network need
// only the styles of the channels they actually receive (the reference computes all and truncates; the
// numbers are the same).
#pragma once

#include <cmath>
#include <string>

#include "anycost/nn/module.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/linalg.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

enum class Activation : std::uint8_t { linear, lrelu };

template <Activation Act>
class EqualLinear {
 public:
  EqualLinear() = default;
  EqualLinear(std::int64_t in_features, std::int64_t out_features, Init init, double bias_init = 0.0,
              double lr_mul = 1.0, DType dtype = DType::float32)
      : lr_mul_(lr_mul) {
    ANYCOST_CHECK(in_features >= 1 && out_features >= 1, ValueError, "EqualLinear: features must be >= 1, got ",
                  in_features, " -> ", out_features);
    ANYCOST_CHECK(lr_mul > 0 && std::isfinite(lr_mul), ValueError, "EqualLinear: lr_mul must be > 0, got ", lr_mul);
    weight = init.normal({out_features, in_features}, dtype, lr_mul);
    bias = init.constant({out_features}, bias_init, dtype);
  }

  std::int64_t in_features() const { return weight.size(1); }
  std::int64_t out_features() const { return weight.size(0); }
  double lr_mul() const { return lr_mul_; }
  // lr_mul / sqrt(in_features): the run-time weight scale.
  double scale() const { return lr_mul_ / std::sqrt(static_cast<double>(in_features())); }

  // x [..., in] -> [..., out].
  Var forward(const Var& x) const { return forward_rows(x, out_features()); }

  // x [..., in] -> [..., k]: the first k outputs only.
  Var forward_rows(const Var& x, std::int64_t k) const {
    ANYCOST_CHECK(x.dim() >= 1 && x.size(-1) == in_features(), ShapeError, "EqualLinear: input ", x.shape(),
                  " does not end in ", in_features(), " features");
    ANYCOST_CHECK(k >= 1 && k <= out_features(), ShapeError, "EqualLinear: asked for ", k, " of ", out_features(),
                  " outputs");
    check_device(x, weight, "EqualLinear");
    const Var w = k == out_features() ? weight : narrow(weight, 0, 0, k);
    const Var b = k == out_features() ? bias : narrow(bias, 0, 0, k);
    Shape flat_shape{-1, in_features()};
    Var flat = x.dim() == 2 ? x : reshape(contiguous(x), flat_shape);
    Var mm = matmul(flat, transpose(w, 0, 1));
    Var y;
    if constexpr (Act == Activation::lrelu)
      y = lrelu(mm * scale() + b * lr_mul_, 0.2) * std::sqrt(2.0);
    else
      y = mm * scale() + b * lr_mul_;
    if (x.dim() == 2) return y;
    Shape out_shape = x.shape();
    out_shape[out_shape.size() - 1] = k;
    return reshape(y, out_shape);
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    fn(join_name(prefix, "weight"), weight);
    fn(join_name(prefix, "bias"), bias);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    fn(join_name(prefix, "weight"), weight);
    fn(join_name(prefix, "bias"), bias);
  }

  Var weight;  // [out, in], stored / lr_mul
  Var bias;    // [out]

 private:
  double lr_mul_ = 1.0;
};

}  // namespace nn
ANYCOST_NAMESPACE_END
