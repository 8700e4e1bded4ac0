// The R1 gradient penalty (Mescheder et al. 2018, Eq. 9; the official utils/losses.py d_r1_loss):
//
//   r1(x, D) = mean over the batch of sum over C, H, W of (d/dx sum_b D(x)_b)^2
//
// The input gradient is taken with create_graph, so the penalty is differentiable: its backward is a
// double backward through D into D's parameters (what the lazy R1 step, gamma/2 * every * r1, minimises).
// `d` is any callable Var(const Var& images), e.g. [&](const Var& x) { return disc.forward(x, code); }.
// If real_images does not require grad, a leaf that does is made from its data (the caller's tensor is not
// changed); if it does, it is used as is and the penalty also depends on what produced it.
#pragma once

#include <utility>

#include "anycost/autograd/engine.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/reduce.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace losses {

template <class DForward>
Var r1(const Var& real_images, DForward&& d) {
  ANYCOST_CHECK(real_images.defined() && real_images.dim() >= 2 && real_images.size(0) >= 1, ShapeError,
                "r1: real images must be [B, ...] with B >= 1, got ",
                real_images.defined() ? real_images.shape() : Shape{});
  const Var x = real_images.requires_grad() ? real_images : Var(real_images.data(), true);
  const Var logits = std::forward<DForward>(d)(x);
  const Var g = grad({sum(logits)}, {x}, {}, GradOptions{.create_graph = true})[0];
  std::vector<int> dims;
  for (int i = 1; i < g.dim(); ++i) dims.push_back(i);
  return mean(sum(Var(square(g)), dims));
}

}  // namespace losses
ANYCOST_NAMESPACE_END
