// Recording a fused elementwise expression: one output, one loop forward, one node in the graph.
//
// The node keeps the expression itself (its leaves are the saved inputs). Its backward for leaf K is the
// expression grad * d(expr)/d(leaf K) (expr/derivative.hpp), evaluated as one more fused loop and reduced
// to the leaf's shape with sum_to. Under create_graph that gradient expression is recorded as a fused node
// of "order 1"; the backward of an order-1 node under create_graph is recorded op by op. This bounds the
// set of node types the compiler instantiates while keeping first- and second-order passes fused.
#pragma once

#include <array>
#include <memory>
#include <utility>

#include "anycost/autograd/broadcast.hpp"
#include "anycost/autograd/node.hpp"
#include "anycost/expr/derivative.hpp"
#include "anycost/expr/evaluate.hpp"

ANYCOST_NAMESPACE_BEGIN

namespace detail {
template <class E>
std::array<const Var*, expr::leaf_count_v<E>> leaf_ptrs(const E& e) {
  std::array<const Var*, expr::leaf_count_v<E>> out{};
  int k = 0;
  expr::for_each_leaf(e, [&](const auto& leaf) { out[k++] = &leaf.h; });
  return out;
}
}  // namespace detail

// Evaluates e into a new tensor on the leaves' device, without recording anything.
template <class E>
Tensor evaluate_tensor(const E& e) {
  constexpr int L = expr::leaf_count_v<E>;
  static_assert(L >= 1, "an elementwise expression needs at least one tensor operand");
  static_assert(expr::depth<E>::value <= expr::max_fusion_depth, "fused expression too deep");
  const auto leaves = detail::leaf_ptrs(e);
  const Var& first = *leaves[0];
  ANYCOST_CHECK(first.defined(), ValueError, "elementwise expression: operand 0 is undefined");
  Shape shape = first.shape();
  for (int k = 1; k < L; ++k) {
    const Var& v = *leaves[k];
    ANYCOST_CHECK(v.defined(), ValueError, "elementwise expression: operand ", k, " is undefined");
    ANYCOST_CHECK(v.dtype() == first.dtype(), ShapeError, "elementwise expression: operand ", k, " is ", v.dtype(),
                  " but operand 0 is ", first.dtype());
    ANYCOST_CHECK(v.device() == first.device(), DeviceError, "elementwise expression: operand ", k, " is on ",
                  v.device(), " but operand 0 is on ", first.device());
    shape = broadcast_shapes(shape, v.shape(), "elementwise expression");
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  std::array<Tensor, L> expanded;
  for (int k = 0; k < L; ++k) {
    const Tensor& t = leaves[k]->data();
    expanded[k] = t.shape() == shape ? t : t.expand(shape);
  }
  expr::evaluate_into(out, e, expanded);
  return out;
}

template <int Order, class E>
Var materialize(const E& e);

template <class E>
Var materialize_unfused(const E& e);

template <class E, int Order>
class FusedNode final : public Node {
  static constexpr int L = expr::leaf_count_v<E>;

 public:
  explicit FusedNode(const E& e) : expr_(e) {
    int k = 0;
    expr::for_each_leaf(expr_, [&](const auto& leaf) { versions_[k++] = leaf.h.data().version(); });
  }

  std::vector<Var> apply(std::vector<Var>& grads) override {
    ANYCOST_CHECK(!released, AutogradError,
                  "FusedElementwise: saved tensors were freed by an earlier backward pass; pass retain_graph=true "
                  "to backward through the graph twice");
    int k = 0;
    expr::for_each_leaf(expr_, [&](const auto& leaf) {
      ANYCOST_CHECK(leaf.h.data().version() == versions_[k], AutogradError,
                    "FusedElementwise: operand ", k, " was modified in place after it was saved for backward");
      ++k;
    });
    std::vector<Var> out(L);
    [&]<int... K>(std::integer_sequence<int, K...>) {
      (grad_for<K>(grads[0], out), ...);
    }(std::make_integer_sequence<int, L>{});
    return out;
  }
  const char* name() const override { return "FusedElementwise"; }
  void release_saved() override {
    expr_ = expr::map_leaves(expr_, [](const Var&) { return Var(); });
  }

 private:
  template <int K>
  void grad_for(const Var& g, std::vector<Var>& out) {
    if (!next_edges[K].valid()) return;
    auto d = expr::derivative<K>(expr_);
    if constexpr (!expr::is_zero_v<decltype(d)>) {
      auto ge = expr::smul(expr::Leaf<Var>{g}, d);
      Var r;
      if constexpr (requires { ge.h; }) {
        r = ge.h;  // d = 1: the gradient passes through unchanged
      } else if (GradMode::is_enabled()) {
        if constexpr (Order == 0)
          r = materialize<1>(ge);
        else
          r = materialize_unfused(ge);
      } else {
        r = Var(evaluate_tensor(ge));
      }
      out[K] = sum_to(r, detail::leaf_ptrs(expr_)[K]->shape());
    }
  }

  E expr_;
  std::array<std::uint64_t, L> versions_{};
};

// Evaluates e and, when recording, attaches one FusedNode for the whole expression.
template <int Order, class E>
Var materialize(const E& e) {
  if constexpr (requires { e.h; }) {
    return e.h;
  } else {
    Tensor out = evaluate_tensor(e);
    const auto leaves = detail::leaf_ptrs(e);
    bool rg = false;
    if (GradMode::is_enabled())
      for (const Var* v : leaves) rg = rg || v->requires_grad();
    if (!rg) return Var(std::move(out));
    auto node = std::make_shared<FusedNode<E, Order>>(e);
    node->next_edges.reserve(leaves.size());
    for (const Var* v : leaves) node->next_edges.push_back(gradient_edge(*v));
    return Var::from_node(std::move(out), std::move(node), 0);
  }
}

namespace detail {
template <class E>
auto unfused_child(const E& e) {
  if constexpr (expr::leaf_count_v<E> == 0)
    return e;
  else
    return expr::Leaf<Var>{materialize_unfused(e)};
}
}  // namespace detail

// Records e one operation at a time (each a one-level fused node): the route for gradients of gradients.
template <class E>
Var materialize_unfused(const E& e) {
  if constexpr (requires { e.h; }) {
    return e.h;
  } else if constexpr (requires { e.b; }) {
    auto a = detail::unfused_child(e.a);
    auto b = detail::unfused_child(e.b);
    return materialize<0>(expr::Binary<std::remove_cvref_t<decltype(e.f)>, decltype(a), decltype(b)>{e.f, a, b});
  } else {
    auto a = detail::unfused_child(e.a);
    return materialize<0>(expr::Unary<std::remove_cvref_t<decltype(e.f)>, decltype(a)>{e.f, a});
  }
}

// ADL hook used by Var's converting constructor.
template <class E>
Var materialize_expression(const E& e) {
  return materialize<0>(e);
}

ANYCOST_NAMESPACE_END
