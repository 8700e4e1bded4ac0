// Minibatch standard deviation (Karras et al. 2018, Sec. 3; as the official models/anycost_gan.py
// Discriminator.forward computes it, with one feature group):
//
//   G = min(B, group_size); sample b belongs to slot m = b mod (B / G) (the batch viewed as [G, B/G]);
//   per slot: s_m = mean over C, H, W of sqrt(population variance over the G members + 1e-8);
//   out = cat([x, s broadcast to [B, 1, H, W]], dim 1)   -> [B, C + 1, H, W]
//
// Written in differentiable ops (reshape, mean, square, sqrt, expand, cat), so gradients of any order flow
// through it (R1's double backward). B must be divisible by G (ShapeError otherwise).
#pragma once

#include "anycost/autograd/broadcast.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

inline Var minibatch_stddev(const Var& x, std::int64_t group_size = 4) {
  ANYCOST_CHECK(x.dim() == 4, ShapeError, "minibatch_stddev: input ", x.shape(), " is not [B, C, H, W]");
  ANYCOST_CHECK(group_size >= 1, ValueError, "minibatch_stddev: group size must be >= 1, got ", group_size);
  const std::int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const std::int64_t g = b < group_size ? b : group_size;
  ANYCOST_CHECK(g >= 1 && b % g == 0, ShapeError, "minibatch_stddev: batch ", b,
                " is not divisible by the group size ", g, " (min(batch, ", group_size, "))");
  const std::int64_t m = b / g;
  const Var y = reshape(contiguous(x), {g, m, c, h, w});
  const Var centred = y - mean(y, {0}, true);
  const Var sd = sqrt(mean(Var(square(centred)), {0}) + 1e-8);    // [m, c, h, w]
  const Var s = reshape(mean(sd, {1, 2, 3}), {1, m, 1, 1, 1});     // [1, m, 1, 1, 1]
  const Var map = reshape(contiguous(expand(s, {g, m, 1, h, w})), {b, 1, h, w});
  return cat({x, map}, 1);
}

}  // namespace nn
ANYCOST_NAMESPACE_END
