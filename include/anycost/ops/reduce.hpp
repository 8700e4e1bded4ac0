// Sums and means over dims. Built on sum_to (autograd/broadcast.hpp), whose backward is a broadcast view,
// so reductions are differentiable to any order.
#pragma once

#include <vector>

#include "anycost/autograd/broadcast.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN

namespace detail {
// The reduction dims normalised to [0, rank), all dims when `dims` is empty; a dim listed twice is an error
// (it would be reduced once but counted twice by mean).
inline std::vector<int> reduction_dims(const Shape& s, const std::vector<int>& dims, const char* op) {
  std::vector<int> out;
  if (dims.empty()) {
    for (int i = 0; i < s.size(); ++i) out.push_back(i);
    return out;
  }
  std::vector<bool> seen(s.size(), false);
  for (int d : dims) {
    const int n = normalize_dim(d, s.size(), op);
    ANYCOST_CHECK(!seen[n], ShapeError, op, ": dim ", d, " repeated in the reduction dims of a tensor of shape ", s);
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}
inline Shape reduced_keepdim_shape(const Shape& s, const std::vector<int>& dims) {
  Shape keep = s;
  for (int d : dims) keep[d] = 1;
  return keep;
}
inline Shape drop_dims(const Shape& s, const std::vector<int>& dims) {
  std::vector<bool> drop(s.size(), false);
  for (int d : dims) drop[d] = true;
  Shape out;
  for (int i = 0; i < s.size(); ++i)
    if (!drop[i]) out.push_back(s[i]);
  return out;
}
}  // namespace detail

// Sum over `dims` (all dims when empty). keepdim keeps reduced dims with extent 1.
inline Var sum(const Var& x, const std::vector<int>& dims = {}, bool keepdim = false) {
  const std::vector<int> ds = detail::reduction_dims(x.shape(), dims, "sum");
  Var s = sum_to(x, detail::reduced_keepdim_shape(x.shape(), ds));
  return keepdim ? s : reshape(s, detail::drop_dims(x.shape(), ds));
}

inline Var mean(const Var& x, const std::vector<int>& dims = {}, bool keepdim = false) {
  const std::vector<int> ds = detail::reduction_dims(x.shape(), dims, "mean");
  std::int64_t count = 1;
  for (int d : ds) count *= x.size(d);
  ANYCOST_CHECK(count > 0, ShapeError, "mean: reducing an empty extent of shape ", x.shape());
  return Var(sum(x, ds, keepdim) * (1.0 / static_cast<double>(count)));
}

ANYCOST_NAMESPACE_END
