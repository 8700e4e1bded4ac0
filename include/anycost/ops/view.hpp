// Shape operations on Vars. All but contiguous() and cat() are views: no data moves, and the backward of a
// view writes the gradient into the matching region of the input's gradient. This is how a prefix slice of
// a parameter (an anycost sub-network's weight) sends its gradient into the full parameter.
#pragma once

#include <memory>
#include <vector>

#include "anycost/autograd/broadcast.hpp"
#include "anycost/autograd/node.hpp"

ANYCOST_NAMESPACE_BEGIN

Var narrow(const Var& x, int dim, std::int64_t start, std::int64_t length);
Var reshape(const Var& x, const Shape& shape);
Var permute(const Var& x, const Dims& order);

namespace detail {
// Copies when a view is impossible (gradients may arrive as broadcast views).
inline Var reshape_any(const Var& g, const Shape& shape);
}  // namespace detail

// ---- narrow and its adjoint ---------------------------------------------------------------------------
// Zeros of `full` shape with g written into [start, start+len) along dim.
Var narrow_scatter(const Var& g, const Shape& full, int dim, std::int64_t start);

// A first-order pass does not call apply(): it carries the slice's gradient on as a region of the input's
// gradient (slice_of_input, autograd/engine.hpp), so a sliced weight's gradient lands in the prefix of its
// grad without a full-size zero tensor. Under create_graph the scatter below is recorded instead.
class NarrowBackward final : public Node {
 public:
  NarrowBackward(Shape s, int d, std::int64_t st) : slice{s, d, st} {}
  std::vector<Var> apply(std::vector<Var>& g) override {
    return {narrow_scatter(g[0], slice.input_shape, slice.dim, slice.start)};
  }
  const char* name() const override { return "NarrowBackward"; }
  const Slice* slice_of_input() const override { return &slice; }
  Slice slice;
};

class NarrowScatterBackward final : public Node {
 public:
  NarrowScatterBackward(int d, std::int64_t st, std::int64_t len) : dim(d), start(st), length(len) {}
  std::vector<Var> apply(std::vector<Var>& g) override { return {narrow(g[0], dim, start, length)}; }
  const char* name() const override { return "NarrowScatterBackward"; }
  int dim;
  std::int64_t start, length;
};

// View of x restricted to [start, start + length) along dim.
inline Var narrow(const Var& x, int dim, std::int64_t start, std::int64_t length) {
  Tensor out = x.data().narrow(dim, start, length);
  if (!any_requires_grad({&x})) return Var(out);
  const int d = normalize_dim(dim, x.dim(), "narrow");
  return record(out, std::make_shared<NarrowBackward>(x.shape(), d, start), {&x});
}

inline Var narrow_scatter(const Var& g, const Shape& full, int dim, std::int64_t start) {
  Tensor out = Tensor::zeros(full, g.dtype(), g.device());
  out.narrow(dim, start, g.size(dim)).copy_(g.data());
  if (!any_requires_grad({&g})) return Var(out);
  return record(out, std::make_shared<NarrowScatterBackward>(dim, start, g.size(dim)), {&g});
}

// ---- reshape -------------------------------------------------------------------------------------------
class ReshapeBackward final : public Node {
 public:
  explicit ReshapeBackward(Shape s) : input_shape(s) {}
  std::vector<Var> apply(std::vector<Var>& g) override { return {detail::reshape_any(g[0], input_shape)}; }
  const char* name() const override { return "ReshapeBackward"; }
  Shape input_shape;
};

// View with a new shape (one extent may be -1); throws when the layout needs a copy (use contiguous()).
inline Var reshape(const Var& x, const Shape& shape) {
  Tensor out = x.data().reshape(shape);
  if (!any_requires_grad({&x})) return Var(out);
  return record(out, std::make_shared<ReshapeBackward>(x.shape()), {&x});
}
inline Var flatten(const Var& x) { return reshape(x, Shape{x.numel()}); }

// ---- permute -------------------------------------------------------------------------------------------
class PermuteBackward final : public Node {
 public:
  explicit PermuteBackward(Dims inv) : inverse(inv) {}
  std::vector<Var> apply(std::vector<Var>& g) override { return {permute(g[0], inverse)}; }
  const char* name() const override { return "PermuteBackward"; }
  Dims inverse;
};

inline Var permute(const Var& x, const Dims& order) {
  Tensor out = x.data().permute(order);
  if (!any_requires_grad({&x})) return Var(out);
  Dims inv = Dims::filled(order.size(), 0);
  for (int i = 0; i < order.size(); ++i) inv[normalize_dim(static_cast<int>(order[i]), x.dim(), "permute")] = i;
  return record(out, std::make_shared<PermuteBackward>(inv), {&x});
}
inline Var transpose(const Var& x, int a, int b) {
  Dims order = Dims::filled(x.dim(), 0);
  for (int i = 0; i < x.dim(); ++i) order[i] = i;
  std::swap(order[normalize_dim(a, x.dim(), "transpose")], order[normalize_dim(b, x.dim(), "transpose")]);
  return permute(x, order);
}

inline Var unsqueeze(const Var& x, int dim) {
  Shape s = x.shape();
  s.insert(normalize_dim(dim, x.dim() + 1, "unsqueeze"), 1);
  return reshape(x, s);
}
inline Var squeeze(const Var& x, int dim) {
  const int d = normalize_dim(dim, x.dim(), "squeeze");
  ANYCOST_CHECK(x.size(d) == 1, ShapeError, "squeeze: dim ", d, " of shape ", x.shape(), " is not 1");
  Shape s = x.shape();
  s.erase(d);
  return reshape(x, s);
}
inline Var select(const Var& x, int dim, std::int64_t index) {
  const int d = normalize_dim(dim, x.dim(), "select");
  ANYCOST_CHECK(index >= 0 && index < x.size(d), ShapeError, "select: index ", index, " outside dim ", d,
                " of extent ", x.size(d), " (shape ", x.shape(), ")");
  return squeeze(narrow(x, d, index, 1), d);
}

// ---- contiguous ----------------------------------------------------------------------------------------
class ContiguousBackward final : public Node {
 public:
  std::vector<Var> apply(std::vector<Var>& g) override { return {g[0]}; }
  const char* name() const override { return "ContiguousBackward"; }
};

// A contiguous copy when x is not contiguous (x itself otherwise).
inline Var contiguous(const Var& x) {
  if (x.data().is_contiguous()) return x;
  Tensor out = x.data().contiguous();
  if (!any_requires_grad({&x})) return Var(out);
  return record(out, std::make_shared<ContiguousBackward>(), {&x});
}

namespace detail {
inline Var reshape_any(const Var& g, const Shape& shape) {
  if (g.data().is_contiguous()) return reshape(g, shape);
  return reshape(contiguous(g), shape);
}
}  // namespace detail

// ---- cat -----------------------------------------------------------------------------------------------
class CatBackward final : public Node {
 public:
  CatBackward(int d, std::vector<std::int64_t> s) : dim(d), sizes(std::move(s)) {}
  std::vector<Var> apply(std::vector<Var>& g) override {
    std::vector<Var> out;
    std::int64_t at = 0;
    for (auto s : sizes) {
      out.push_back(narrow(g[0], dim, at, s));
      at += s;
    }
    return out;
  }
  const char* name() const override { return "CatBackward"; }
  int dim;
  std::vector<std::int64_t> sizes;
};

// Concatenation along dim; every other extent must agree.
inline Var cat(const std::vector<Var>& xs, int dim) {
  ANYCOST_CHECK(!xs.empty(), ValueError, "cat: no inputs");
  const int d = normalize_dim(dim, xs[0].dim(), "cat");
  Shape shape = xs[0].shape();
  shape[d] = 0;
  std::vector<std::int64_t> sizes;
  bool rg = false;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Var& x = xs[i];
    ANYCOST_CHECK(x.dim() == shape.size(), ShapeError, "cat: input ", i, " has shape ", x.shape(),
                  ", expected rank ", shape.size());
    for (int k = 0; k < shape.size(); ++k)
      ANYCOST_CHECK(k == d || x.size(k) == shape[k], ShapeError, "cat: input ", i, " has shape ", x.shape(),
                    ", incompatible with ", xs[0].shape(), " along dim ", d);
    ANYCOST_CHECK(x.dtype() == xs[0].dtype(), ShapeError, "cat: input ", i, " has dtype ", x.dtype(),
                  " but input 0 has dtype ", xs[0].dtype());
    ANYCOST_CHECK(x.device() == xs[0].device(), DeviceError, "cat: input ", i, " is on ", x.device(),
                  " but input 0 is on ", xs[0].device());
    shape[d] += x.size(d);
    sizes.push_back(x.size(d));
    rg = rg || x.requires_grad();
  }
  Tensor out = Tensor::empty(shape, xs[0].dtype(), xs[0].device());
  std::int64_t at = 0;
  for (const Var& x : xs) {
    out.narrow(d, at, x.size(d)).copy_(x.data());
    at += x.size(d);
  }
  if (!rg || !GradMode::is_enabled()) return Var(out);
  auto n = std::make_shared<CatBackward>(d, sizes);
  for (const Var& x : xs) n->next_edges.push_back(gradient_edge(x));
  return Var::from_node(out, std::move(n), 0);
}

ANYCOST_NAMESPACE_END
