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

// ---- local partials ----------------------------------------------------------------------------------
template <class A> auto partial(const Neg&, const A&) { return Const{-1.0}; }
template <class A> auto partial(const Exp& f, const A& a) { return sunary(f, a); }
template <class A> auto partial(const Log&, const A& a) { return sunary(Recip{}, a); }
template <class A> auto partial(const Sqrt&, const A& a) { return smul(Const{0.5}, sunary(Rsqrt{}, a)); }
template <class A>
auto partial(const Rsqrt&, const A& a) {
  return smul(Const{-0.5}, Binary<Div, Unary<Rsqrt, A>, A>{{}, sunary(Rsqrt{}, a), a});
}
template <class A> auto partial(const Square&, const A& a) { return smul(Const{2.0}, a); }
template <class A> auto partial(const Recip&, const A& a) { return sunary(Neg{}, sunary(Square{}, sunary(Recip{}, a))); }
template <class A> auto partial(const Abs&, const A& a) { return sunary(Sign{}, a); }
template <class A> auto partial(const Sign&, const A&) { return Zero{}; }
template <class A>
auto partial(const Sigmoid& f, const A& a) {
  return smul(sunary(f, a), Binary<Sub, Const, Unary<Sigmoid, A>>{{}, Const{1.0}, sunary(f, a)});
}
template <class A> auto partial(const Softplus&, const A& a) { return sunary(Sigmoid{}, a); }
template <class A>
auto partial(const Tanh& f, const A& a) {
  return Binary<Sub, Const, Unary<Square, Unary<Tanh, A>>>{{}, Const{1.0}, sunary(Square{}, sunary(f, a))};
}
template <class A> auto partial(const LeakyRelu& f, const A& a) { return sunary(LeakyReluGrad{f.slope}, a); }
template <class A> auto partial(const LeakyReluGrad&, const A&) { return Zero{}; }
template <class A> auto partial(const Clamp& f, const A& a) { return sunary(InRange{f.lo, f.hi}, a); }
template <class A> auto partial(const InRange&, const A&) { return Zero{}; }
template <class A> auto partial(const PowScalar& f, const A& a) { return smul(Const{f.p}, sunary(PowScalar{f.p - 1}, a)); }

// Binary partials: index 0 is d/da, index 1 is d/db.
template <int I, class A, class B> auto partial(const Add&, const A&, const B&) { return One{}; }
template <int I, class A, class B>
auto partial(const Sub&, const A&, const B&) {
  if constexpr (I == 0) return One{};
  else return Const{-1.0};
}
template <int I, class A, class B>
auto partial(const Mul&, const A& a, const B& b) {
  if constexpr (I == 0) return b;
  else return a;
}
template <int I, class A, class B>
auto partial(const Div&, const A& a, const B& b) {
  if constexpr (I == 0) return sunary(Recip{}, b);
  else return sunary(Neg{}, Binary<Div, A, Unary<Square, B>>{{}, a, sunary(Square{}, b)});
}

// ---- chain rule --------------------------------------------------------------------------------------
template <int K, class E>
auto derivative(const E& e) {
  static_assert(K >= 0 && K < leaf_count_v<E>, "derivative: leaf index out of range");
  if constexpr (requires { e.h; }) {
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
