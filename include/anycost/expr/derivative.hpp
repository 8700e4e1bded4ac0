// Symbolic differentiation of expression trees at compile time.
//
// derivative<K>(e) is the expression for d e / d (leaf K). Only one child of a node contains leaf K, so the
// result is the product of the local partials along the path from the root to that leaf: its size grows
// linearly with depth, never doubling. Partials reuse the forward sub-expressions (recomputed inside the
// gradient loop rather than stored), and every partial is itself built from differentiable functors, so the
// derivative of a derivative exists: that is what create_graph needs for R1 and path-length penalties.
#pragma once

#include <type_traits>

#include "anycost/expr/expr.hpp"
#include "anycost/expr/functors.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace expr {

template <class T>
inline constexpr bool is_zero_v = std::is_same_v<std::remove_cvref_t<T>, Zero>;
template <class T>
inline constexpr bool is_one_v = std::is_same_v<std::remove_cvref_t<T>, One>;

// ---- builders that fold Zero and One -----------------------------------------------------------------
template <class A, class B>
auto smul(const A& a, const B& b) {
  if constexpr (is_zero_v<A> || is_zero_v<B>) return Zero{};
  else if constexpr (is_one_v<A>) return b;
  else if constexpr (is_one_v<B>) return a;
  else return Binary<Mul, A, B>{{}, a, b};
}
template <class F, class A>
auto sunary(const F& f, const A& a) {
  return Unary<F, A>{f, a};
}
template <class F, class A, class B>
auto sbinary(const A& a, const B& b) {
  return Binary<F, A, B>{{}, a, b};
}

// ---- local partials, from the op table (backend/elementwise_ops.hpp) ---------------------------------
// partial(f, a) is d f(a) / d a; partial<I>(f, a, b) is d f(a, b) / d a (I = 0) or d b (I = 1).
#define ANYCOST_PARTIAL_UNARY(F, name, value, d)                           \
  template <class A>                                                       \
  auto partial([[maybe_unused]] const F& f, [[maybe_unused]] const A& a) { \
    return d;                                                              \
  }
#define ANYCOST_PARTIAL_UNARY1(F, name, q, value, d) ANYCOST_PARTIAL_UNARY(F, name, value, d)
#define ANYCOST_PARTIAL_UNARY2(F, name, q0, q1, value, d) ANYCOST_PARTIAL_UNARY(F, name, value, d)
#define ANYCOST_PARTIAL_BINARY(F, name, value, da, db)                               \
  template <int I, class A, class B>                                                 \
  auto partial(const F&, [[maybe_unused]] const A& a, [[maybe_unused]] const B& b) { \
    if constexpr (I == 0)                                                            \
      return da;                                                                     \
    else                                                                             \
      return db;                                                                     \
  }
ANYCOST_UNARY_OPS(ANYCOST_PARTIAL_UNARY)
ANYCOST_UNARY1_OPS(ANYCOST_PARTIAL_UNARY1)
ANYCOST_UNARY2_OPS(ANYCOST_PARTIAL_UNARY2)
ANYCOST_BINARY_OPS(ANYCOST_PARTIAL_BINARY)
#undef ANYCOST_PARTIAL_UNARY
#undef ANYCOST_PARTIAL_UNARY1
#undef ANYCOST_PARTIAL_UNARY2
#undef ANYCOST_PARTIAL_BINARY

// ---- chain rule --------------------------------------------------------------------------------------
template <int K, class E>
auto derivative(const E& e) {
  static_assert(K >= 0 && K < leaf_count_v<E>, "derivative: leaf index out of range");
  if constexpr (is_leaf_v<E>) {
    return One{};
  } else if constexpr (requires { e.b; }) {
    constexpr int na = leaf_count_v<std::remove_cvref_t<decltype(e.a)>>;
    if constexpr (K < na) return smul(partial<0>(e.f, e.a, e.b), derivative<K>(e.a));
    else return smul(partial<1>(e.f, e.a, e.b), derivative<K - na>(e.b));
  } else {
    return smul(partial(e.f, e.a), derivative<K>(e.a));
  }
}

}  // namespace expr
ANYCOST_NAMESPACE_END
