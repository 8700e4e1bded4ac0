// Var: a tensor value with autograd history. A cheap handle (one shared pointer), so expressions and graph
// nodes store it by value. Leaves are created with requires_grad; results of recorded operations carry the
// node that produced them (grad_fn). The graph is owned by its outputs: dropping the last Var of a
// computation frees its graph.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "anycost/core/tensor.hpp"
#include "anycost/expr/expr.hpp"

ANYCOST_NAMESPACE_BEGIN

class Node;
struct VarImpl;

namespace detail {
// Releases a shared node without recursing down a long chain of predecessors (deep graphs would otherwise
// overflow the stack in the destructors).
void release_node(std::shared_ptr<Node>& p);
}  // namespace detail

class Var {
 public:
  Var() = default;
  // A leaf holding t (no copy). Implicit, so tensors can be passed where Vars are expected.
  Var(Tensor t, bool requires_grad = false);
  // Materialises a fused expression (one loop, one graph node). Found by ADL in autograd/fused_node.hpp.
  template <class E>
    requires(expr::is_expr_v<E>)
  Var(const E& e) : Var(materialize_expression(e)) {}

  // The result of a recorded operation: output `output_nr` of node fn.
  static Var from_node(Tensor t, std::shared_ptr<Node> fn, std::uint32_t output_nr = 0);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& data() const;
  const Shape& shape() const { return data().shape(); }
  std::int64_t size(int d) const { return data().size(d); }
  int dim() const { return data().dim(); }
  std::int64_t numel() const { return data().numel(); }
  DType dtype() const { return data().dtype(); }
  Device device() const { return data().device(); }
  double item() const { return data().item(); }

  bool requires_grad() const;
  bool is_leaf() const;
  // Leaves only: whether gradients are accumulated into grad().
  Var& set_requires_grad(bool r);
  const std::shared_ptr<Node>& grad_fn() const;
  std::uint32_t output_nr() const;
  // Accumulated gradient of a leaf (undefined until a backward pass reaches it).
  const Var& grad() const;
  void set_grad(const Var& g) const;
  void zero_grad() const;
  // Same value, no history.
  Var detach() const { return Var(data()); }

  VarImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<VarImpl>& shared_impl() const { return impl_; }
  friend bool same(const Var& a, const Var& b) { return a.impl_ == b.impl_; }

 private:
  std::shared_ptr<VarImpl> impl_;
};

struct VarImpl {
  Tensor data;
  std::shared_ptr<Node> grad_fn;
  std::uint32_t output_nr = 0;
  bool requires_grad = false;
  Var grad;
  // A leaf (a parameter) is shared by every thread that records graphs over it: its accumulator is created
  // once and its grad accumulated under this lock (autograd/node.hpp gradient_edge, autograd/engine.hpp).
  // The accumulator points back weakly, so the two do not keep each other alive.
  std::shared_ptr<Node> grad_accumulator;
  std::mutex leaf_mutex;
  ~VarImpl() { detail::release_node(grad_fn); }
};

inline Var::Var(Tensor t, bool requires_grad) : impl_(std::make_shared<VarImpl>()) {
  impl_->data = std::move(t);
  impl_->requires_grad = requires_grad;
}
inline Var Var::from_node(Tensor t, std::shared_ptr<Node> fn, std::uint32_t output_nr) {
  Var v(std::move(t));
  v.impl_->grad_fn = std::move(fn);
  v.impl_->output_nr = output_nr;
  return v;
}
inline const Tensor& Var::data() const {
  ANYCOST_CHECK(impl_, ValueError, "Var: access to an undefined variable");
  return impl_->data;
}
inline bool Var::requires_grad() const { return impl_ && (impl_->requires_grad || impl_->grad_fn); }
inline bool Var::is_leaf() const { return !impl_ || !impl_->grad_fn; }
inline Var& Var::set_requires_grad(bool r) {
  ANYCOST_CHECK(is_leaf(), ValueError, "set_requires_grad: only leaves can change requires_grad; use detach()");
  data();
  impl_->requires_grad = r;
  return *this;
}
inline const std::shared_ptr<Node>& Var::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return impl_ ? impl_->grad_fn : none;
}
inline std::uint32_t Var::output_nr() const { return impl_ ? impl_->output_nr : 0; }
inline const Var& Var::grad() const {
  static const Var none;
  return impl_ ? impl_->grad : none;
}
inline void Var::set_grad(const Var& g) const {
  data();
  if (g.defined())
    ANYCOST_CHECK(g.shape() == shape(), ShapeError, "set_grad: gradient shape ", g.shape(),
                  " differs from variable shape ", shape());
  impl_->grad = g;
}
inline void Var::zero_grad() const {
  if (impl_) impl_->grad = Var();
}

ANYCOST_NAMESPACE_END
