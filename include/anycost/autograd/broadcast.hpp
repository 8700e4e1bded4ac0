// The two operations that broadcasting needs in both directions, each the other's backward:
// expand (a stride-0 view) and sum_to (a reduction back to the pre-broadcast shape). They sit in autograd
// because fused elementwise nodes reduce their gradients with sum_to.
#pragma once

#include <memory>

#include "anycost/autograd/node.hpp"
#include "anycost/backend/cpu/reduce.hpp"
#include "anycost/backend/cuda/api.hpp"

ANYCOST_NAMESPACE_BEGIN

namespace detail {
// Sum of t over the dims where keep_shape (same rank) is 1 and t is not; result in keepdim form.
inline Tensor sum_keepdim(const Tensor& t, const Shape& keep_shape) {
  Tensor out = Tensor::empty(keep_shape, t.dtype(), t.device());
  if (out.numel() == 0) return out;
  if (t.numel() == 0) {
    out.zero_();
    return out;
  }
  if (t.device().is_cpu())
    dispatch_dtype(t.dtype(), [&](auto z) { backend::cpu::sum_keepdim<decltype(z)>(t, out); });
  else
    backend::cuda::sum_keepdim(t.strided_ref(), out.strided_ref());
  return out;
}

// The keepdim form of `target` against a tensor of shape `from` (leading dims padded with 1), checking that
// target is a broadcast-reduction of from.
inline Shape keepdim_shape(const Shape& from, const Shape& target, const char* op) {
  ANYCOST_CHECK(target.size() <= from.size(), ShapeError, op, ": cannot reduce shape ", from, " to ", target);
  Shape keep = Dims::filled(from.size(), 1);
  const int lead = from.size() - target.size();
  for (int i = 0; i < target.size(); ++i) {
    ANYCOST_CHECK(target[i] == from[lead + i] || target[i] == 1, ShapeError, op, ": cannot reduce shape ", from,
                  " to ", target);
    keep[lead + i] = target[i];
  }
  return keep;
}
}  // namespace detail

Var sum_to(const Var& x, const Shape& target);

class ExpandBackward final : public Node {
 public:
  explicit ExpandBackward(Shape s) : input_shape(s) {}
  std::vector<Var> apply(std::vector<Var>& g) override { return {sum_to(g[0], input_shape)}; }
  const char* name() const override { return "ExpandBackward"; }
  Shape input_shape;
};

// Broadcast view of x to `target` (NumPy rules); no copy.
inline Var expand(const Var& x, const Shape& target) {
  if (x.shape() == target) return x;
  Tensor out = x.data().expand(target);
  if (!any_requires_grad({&x})) return Var(out);
  return record(out, std::make_shared<ExpandBackward>(x.shape()), {&x});
}

class SumToBackward final : public Node {
 public:
  explicit SumToBackward(Shape s) : input_shape(s) {}
  std::vector<Var> apply(std::vector<Var>& g) override { return {expand(g[0], input_shape)}; }
  const char* name() const override { return "SumToBackward"; }
  Shape input_shape;
};

// Sums x over its broadcast dims so that the result has shape `target` (the inverse of expand).
inline Var sum_to(const Var& x, const Shape& target) {
  if (x.shape() == target) return x;
  const Shape keep = detail::keepdim_shape(x.shape(), target, "sum_to");
  Tensor out = detail::sum_keepdim(x.data(), keep).reshape(target);
  if (!any_requires_grad({&x})) return Var(out);
  return record(out, std::make_shared<SumToBackward>(x.shape()), {&x});
}

ANYCOST_NAMESPACE_END
