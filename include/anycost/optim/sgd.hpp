// Stochastic gradient descent with momentum, with PyTorch's update rule.
//
// Per parameter p with gradient g, at its step t (counting from 1):
//   g <- g + weight_decay * p
//   b <- g                                  at t = 1 (state "momentum_buffer")
//   b <- momentum * b + (1 - dampening) * g  after
//   d <- g + momentum * b  (nesterov)  or  d <- b
//   p <- p - lr * d
// With momentum 0 this is plain SGD (the buffer stays unused and is kept only so that state is uniform).
#pragma once

#include <vector>

#include "anycost/expr/evaluate.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/optim/optimizer.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace optim {

struct SgdOptions {
  double lr = 1e-2;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class Sgd final : public Optimizer {
 public:
  Sgd(NamedParameters params, SgdOptions options = {})
      : Optimizer(std::move(params), "SGD", {"momentum_buffer"}) {
    set_options(options);
  }
  Sgd(const std::vector<Var>& params, SgdOptions options = {}) : Sgd(name_by_position(params), options) {}

  const SgdOptions& options() const { return opt_; }
  void set_options(const SgdOptions& o) {
    check_finite_nonneg(o.lr, "SGD", "lr");
    check_finite_nonneg(o.momentum, "SGD", "momentum");
    check_finite_nonneg(o.weight_decay, "SGD", "weight_decay");
    ANYCOST_CHECK(o.dampening >= 0 && o.dampening <= 1, ValueError, "SGD: dampening must be in [0, 1], got ",
                  o.dampening);
    ANYCOST_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), ValueError,
                  "SGD: nesterov momentum needs momentum > 0 and dampening 0 (got momentum ", o.momentum,
                  ", dampening ", o.dampening, ")");
    opt_ = o;
  }
  void set_lr(double lr) {
    SgdOptions o = opt_;
    o.lr = lr;
    set_options(o);
  }

 private:
  void update(const Tensor& p, const Tensor& g, ParamState& s) override {
    const double lr = opt_.lr, mu = opt_.momentum, wd = opt_.weight_decay;
    if (mu == 0) {
      if (wd == 0)
        expr::evaluate_into(p, [&](auto P, auto G) { return P - lr * G; }, p, g);
      else
        expr::evaluate_into(p, [&](auto P, auto G) { return P - lr * (G + wd * P); }, p, g);
      return;
    }
    const Tensor& b = s.buffers[0];
    // The first step copies the gradient into the buffer: b = 0 * b + 1 * g.
    const double keep = s.step == 1 ? 0.0 : mu, take = s.step == 1 ? 1.0 : 1 - opt_.dampening;
    expr::evaluate_into(b, [&](auto B, auto G, auto P) { return keep * B + take * (G + wd * P); }, b, g, p);
    if (opt_.nesterov)
      expr::evaluate_into(p, [&](auto P, auto G, auto B) { return P - lr * ((G + wd * P) + mu * B); }, p, g, b);
    else
      expr::evaluate_into(p, [&](auto P, auto B) { return P - lr * B; }, p, b);
  }

  SgdOptions opt_;
};

}  // namespace optim
ANYCOST_NAMESPACE_END
