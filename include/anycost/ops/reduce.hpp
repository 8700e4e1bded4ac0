// Sums and means over dims. Built on sum_to (autograd/broadcast.hpp), whose backward is a broadcast view,
// so reductions are differentiable to any order.
#pragma once

#include <vector>

#include "anycost/autograd/broadcast.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN

namespace detail {
inline Shape reduced_keepdim_shape(const Shape& s, const std::vector<int>& dims, const char* op) {
  Shape keep = s;
  for (int d : dims) keep[normalize_dim(d, s.size(), op)] = 1;
  return keep;
}
inline Shape drop_dims(const Shape& s, const std::vector<int>& dims, const char* op) {
  std::vector<bool> drop(s.size(), false);
  for (int d : dims) drop[normalize_dim(d, s.size(), op)] = true;
  Shape out;
  for (int i = 0; i < s.size(); ++i)
    if (!drop[i]) out.push_back(s[i]);
  return out;
}
}  // namespace detail

// Sum over `dims` (all dims when empty). keepdim keeps reduced dims with extent 1.
inline Var sum(const Var& x, const std::vector<int>& dims = {}, bool keepdim = false) {
  std::vector<int> ds = dims;
  if (ds.empty())
    for (int i = 0; i < x.dim(); ++i) ds.push_back(i);
  Var s = sum_to(x, detail::reduced_keepdim_shape(x.shape(), ds, "sum"));
  return keepdim ? s : reshape(s, detail::drop_dims(x.shape(), ds, "sum"));
}

inline Var mean(const Var& x, const std::vector<int>& dims = {}, bool keepdim = false) {
  std::int64_t count = 1;
  if (dims.empty())
    count = x.numel();
  else
    for (int d : dims) count *= x.size(d);
  ANYCOST_CHECK(count > 0, ShapeError, "mean: reducing an empty extent of shape ", x.shape());
  return Var(sum(x, dims, keepdim) * (1.0 / static_cast<double>(count)));
}

ANYCOST_NAMESPACE_END
