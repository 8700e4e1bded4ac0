// Expression nodes for fused elementwise work: what to compute, not how or where.
//
// An expression is a tree of Leaf (a tensor handle held by value, so an expression can never dangle),
// Const (a run-time scalar), Unary and Binary nodes, plus the compile-time constants Zero and One used by
// symbolic differentiation. Leaves are numbered by their position in a left-to-right walk. A tree may
// instead have placeholder leaves Arg<I> (no handle: the I-th tensor passed to evaluate_into, whatever the
// leaf's position; expr/evaluate.hpp). Nothing here evaluates: expr/eval_cpu.hpp and expr/lower.hpp do, and
// autograd/fused_node.hpp records it in a graph.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace expr {

template <class H>
struct Leaf {
  H h;
};
// Placeholder for the I-th tensor of an evaluate_into call (the index is part of the type, so binding is
// checked at compile time).
template <int I>
struct Arg {
  static_assert(I >= 0, "expr::Arg: the index must be >= 0");
  static constexpr int index = I;
};
struct Const {
  double v;
};
template <class F, class A>
struct Unary {
  F f;
  A a;
};
template <class F, class A, class B>
struct Binary {
  F f;
  A a;
  B b;
};
struct Zero {};
struct One {};

// ---- traits ------------------------------------------------------------------------------------------
template <class T>
struct is_expr : std::false_type {};
template <class H>
struct is_expr<Leaf<H>> : std::true_type {};
template <int I>
struct is_expr<Arg<I>> : std::true_type {};
template <>
struct is_expr<Const> : std::true_type {};
template <class F, class A>
struct is_expr<Unary<F, A>> : std::true_type {};
template <class F, class A, class B>
struct is_expr<Binary<F, A, B>> : std::true_type {};
template <>
struct is_expr<Zero> : std::true_type {};
template <>
struct is_expr<One> : std::true_type {};
template <class T>
inline constexpr bool is_expr_v = is_expr<std::remove_cvref_t<T>>::value;

template <class E>
inline constexpr bool is_leaf_v = false;
template <class H>
inline constexpr bool is_leaf_v<Leaf<H>> = true;
template <int I>
inline constexpr bool is_leaf_v<Arg<I>> = true;

template <class E>
struct leaf_count : std::integral_constant<int, is_leaf_v<E> ? 1 : 0> {};
template <class F, class A>
struct leaf_count<Unary<F, A>> : leaf_count<A> {};
template <class F, class A, class B>
struct leaf_count<Binary<F, A, B>> : std::integral_constant<int, leaf_count<A>::value + leaf_count<B>::value> {};
template <class E>
inline constexpr int leaf_count_v = leaf_count<E>::value;

template <class E>
struct depth : std::integral_constant<int, 1> {};
template <class F, class A>
struct depth<Unary<F, A>> : std::integral_constant<int, 1 + depth<A>::value> {};
template <class F, class A, class B>
struct depth<Binary<F, A, B>>
    : std::integral_constant<int, 1 + (depth<A>::value > depth<B>::value ? depth<A>::value : depth<B>::value)> {};

// The placeholder index of each leaf, in position order (-1 for a leaf with a handle).
template <class E>
constexpr std::array<int, leaf_count_v<E>> arg_indices() {
  std::array<int, leaf_count_v<E>> out{};
  if constexpr (requires { E::index; }) {
    out[0] = E::index;
  } else if constexpr (is_leaf_v<E>) {
    out[0] = -1;
  } else if constexpr (requires(E e) { e.b; }) {
    using A = decltype(E::a);
    const auto a = arg_indices<A>();
    const auto b = arg_indices<decltype(E::b)>();
    for (int k = 0; k < leaf_count_v<A>; ++k) out[k] = a[k];
    for (int k = 0; k < leaf_count_v<decltype(E::b)>; ++k) out[leaf_count_v<A> + k] = b[k];
  } else if constexpr (requires(E e) { e.a; }) {
    return arg_indices<decltype(E::a)>();
  }
  return out;
}

// Fusion depth is capped so that a runaway expression shows up as a compile error, not a compile hang.
inline constexpr int max_fusion_depth = 24;

// Calls f(leaf) for every leaf, in position order.
template <class E, class F>
void for_each_leaf(const E& e, F&& f) {
  if constexpr (leaf_count_v<E> == 0) {
    return;
  } else if constexpr (is_leaf_v<E>) {
    f(e);
  } else if constexpr (requires { e.b; }) {
    for_each_leaf(e.a, f);
    for_each_leaf(e.b, f);
  } else {
    for_each_leaf(e.a, f);
  }
}

// The same tree with every leaf handle replaced by g(handle) (used to swap handles for saved copies).
template <class E, class G>
auto map_leaves(const E& e, G&& g) {
  if constexpr (requires { e.h; }) {
    return Leaf<std::remove_cvref_t<decltype(g(e.h))>>{g(e.h)};
  } else if constexpr (requires { e.b; }) {
    auto a = map_leaves(e.a, g);
    auto b = map_leaves(e.b, g);
    return Binary<std::remove_cvref_t<decltype(e.f)>, decltype(a), decltype(b)>{e.f, std::move(a), std::move(b)};
  } else if constexpr (requires { e.a; }) {
    auto a = map_leaves(e.a, g);
    return Unary<std::remove_cvref_t<decltype(e.f)>, decltype(a)>{e.f, std::move(a)};
  } else {
    return e;
  }
}

}  // namespace expr
ANYCOST_NAMESPACE_END
