// Adam (Kingma & Ba), with PyTorch's update rule, as StyleGAN2 and Anycost GAN train with it.
//
// Per parameter p with gradient g, at its step t (counting from 1):
//   g <- g + weight_decay * p                         (L2 penalty in the gradient; off by default)
//   m <- beta1 * m + (1 - beta1) * g                  (state "exp_avg")
//   v <- beta2 * v + (1 - beta2) * g^2                (state "exp_avg_sq")
//   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Each line runs as one fused elementwise pass written in place.
//
// Lazy regularisation (StyleGAN2): when a regulariser (R1, path length) takes its own optimiser step every
// k main steps, the main optimiser's settings are corrected so that the pair behaves like one optimiser
// updated every step: with c = k / (k + 1),
//   lr <- lr * c,   beta1 <- beta1^c,   beta2 <- beta2^c.
// AdamOptions::lazy_regularized(k) returns the corrected options. Anycost GAN's reference training does not
// apply it (its lr is 0.002 with betas (0, 0.99) as given).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "anycost/expr/evaluate.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/optim/optimizer.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;

  // The StyleGAN2 settings: lr 0.002, betas (0, 0.99), eps 1e-8.
  static AdamOptions stylegan2() { return {0.002, 0.0, 0.99, 1e-8, 0.0}; }

  // The settings corrected for a regulariser applied every `interval` steps (see the header comment).
  AdamOptions lazy_regularized(int interval) const {
    ANYCOST_CHECK(interval >= 1, ValueError, "AdamOptions::lazy_regularized: interval must be >= 1, got ", interval);
    const double c = static_cast<double>(interval) / (interval + 1.0);
    AdamOptions o = *this;
    o.lr = lr * c;
    o.beta1 = std::pow(beta1, c);
    o.beta2 = std::pow(beta2, c);
    return o;
  }
};

class Adam final : public Optimizer {
 public:
  Adam(NamedParameters params, AdamOptions options = {})
      : Optimizer(std::move(params), "Adam", {"exp_avg", "exp_avg_sq"}) {
    set_options(options);
  }
  Adam(const std::vector<Var>& params, AdamOptions options = {}) : Adam(name_by_position(params), options) {}

  const AdamOptions& options() const { return opt_; }
  void set_options(const AdamOptions& o) {
    check_finite_nonneg(o.lr, "Adam", "lr");
    check_finite_nonneg(o.eps, "Adam", "eps");
    check_finite_nonneg(o.weight_decay, "Adam", "weight_decay");
    ANYCOST_CHECK(o.beta1 >= 0 && o.beta1 < 1, ValueError, "Adam: beta1 must be in [0, 1), got ", o.beta1);
    ANYCOST_CHECK(o.beta2 >= 0 && o.beta2 < 1, ValueError, "Adam: beta2 must be in [0, 1), got ", o.beta2);
    opt_ = o;
  }
  void set_lr(double lr) {
    AdamOptions o = opt_;
    o.lr = lr;
    set_options(o);
  }

 private:
  void update(const Tensor& p, const Tensor& g, ParamState& s) override {
    const Tensor& m = s.buffers[0];
    const Tensor& v = s.buffers[1];
    const double b1 = opt_.beta1, b2 = opt_.beta2, wd = opt_.weight_decay;
    if (wd == 0) {
      expr::evaluate_into(m, [&](auto M, auto G) { return b1 * M + (1 - b1) * G; }, m, g);
      expr::evaluate_into(v, [&](auto V, auto G) { return b2 * V + (1 - b2) * square(G); }, v, g);
    } else {
      expr::evaluate_into(m, [&](auto M, auto G, auto P) { return b1 * M + (1 - b1) * (G + wd * P); }, m, g, p);
      expr::evaluate_into(v, [&](auto V, auto G, auto P) { return b2 * V + (1 - b2) * square(G + wd * P); }, v, g, p);
    }
    const double t = static_cast<double>(s.step);
    const double step_size = opt_.lr / (1 - std::pow(b1, t));
    const double bc2_sqrt = std::sqrt(1 - std::pow(b2, t));
    const double eps = opt_.eps;
    expr::evaluate_into(
        p, [&](auto P, auto M, auto V) { return P - step_size * (M / (sqrt(V) / bc2_sqrt + eps)); }, p, m, v);
  }

  AdamOptions opt_;
};

}  // namespace optim
ANYCOST_NAMESPACE_END
