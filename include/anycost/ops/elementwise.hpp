// Elementwise arithmetic on Vars. Operators and functions build expression trees (nothing runs yet); the
// tree runs as one fused loop when it becomes a Var (assignment, or passing it where a Var is expected):
//
//   Var y = lrelu(a * b + c, 0.2) * std::sqrt(2.0);   // one loop forward, one per input backward
//
// Operands broadcast with NumPy rules. Operators are constrained to anycost's own types (no ADL surprises
// for foreign types), and expression types never appear in the library's public signatures.
#pragma once

#include <concepts>
#include <type_traits>

#include "anycost/autograd/fused_node.hpp"
#include "anycost/backend/elementwise_ops.hpp"
#include "anycost/expr/expr.hpp"
#include "anycost/expr/functors.hpp"

ANYCOST_NAMESPACE_BEGIN

template <class T>
concept Operand = std::same_as<std::remove_cvref_t<T>, Var> || expr::is_expr_v<T>;
template <class T>
concept ScalarOperand = std::is_arithmetic_v<std::remove_cvref_t<T>>;

namespace detail {
inline expr::Leaf<Var> as_expr(const Var& v) { return {v}; }
template <class E>
  requires expr::is_expr_v<E>
const E& as_expr(const E& e) {
  return e;
}
template <ScalarOperand S>
expr::Const as_expr(S s) {
  return {static_cast<double>(s)};
}
template <class F, class A, class B>
auto binary(const A& a, const B& b) {
  using EA = std::remove_cvref_t<decltype(as_expr(a))>;
  using EB = std::remove_cvref_t<decltype(as_expr(b))>;
  return expr::Binary<F, EA, EB>{{}, as_expr(a), as_expr(b)};
}
template <class F, class A>
auto unary(const F& f, const A& a) {
  using EA = std::remove_cvref_t<decltype(as_expr(a))>;
  return expr::Unary<F, EA>{f, as_expr(a)};
}
}  // namespace detail

template <class A, class B>
concept BinaryOperands = (Operand<A> && Operand<B>) || (Operand<A> && ScalarOperand<B>) ||
                         (ScalarOperand<A> && Operand<B>);

#define ANYCOST_BINARY_OPERATOR(sym, F)                                 \
  template <class A, class B>                                           \
    requires BinaryOperands<A, B>                                       \
  [[nodiscard]] auto operator sym(const A& a, const B& b) {             \
    return detail::binary<expr::F>(a, b);                               \
  }
ANYCOST_BINARY_OPERATOR(+, Add)
ANYCOST_BINARY_OPERATOR(-, Sub)
ANYCOST_BINARY_OPERATOR(*, Mul)
ANYCOST_BINARY_OPERATOR(/, Div)
#undef ANYCOST_BINARY_OPERATOR

// exp, log, sqrt, rsqrt, square, reciprocal, abs, sign, sigmoid, softplus, tanh (and neg): the unary ops of the
// op table without parameters (backend/elementwise_ops.hpp).
#define ANYCOST_UNARY_FUNCTION(F, name, value, partial) \
  template <Operand A>                                  \
  [[nodiscard]] auto name(const A& a) {                 \
    return detail::unary(expr::F{}, a);                 \
  }
ANYCOST_UNARY_OPS(ANYCOST_UNARY_FUNCTION)
#undef ANYCOST_UNARY_FUNCTION

template <Operand A>
[[nodiscard]] auto operator-(const A& a) {
  return neg(a);
}

// Leaky ReLU with the given negative slope (0.2 throughout StyleGAN2).
template <Operand A>
[[nodiscard]] auto lrelu(const A& a, double slope = 0.2) {
  return detail::unary(expr::LeakyRelu{slope}, a);
}
template <Operand A>
[[nodiscard]] auto relu(const A& a) {
  return detail::unary(expr::LeakyRelu{0.0}, a);
}
template <Operand A>
[[nodiscard]] auto clamp(const A& a, double lo, double hi) {
  return detail::unary(expr::Clamp{lo, hi}, a);
}
template <Operand A>
[[nodiscard]] auto pow(const A& a, double p) {
  return detail::unary(expr::PowScalar{p}, a);
}

// Evaluates an operand now (a Var passes through unchanged).
template <Operand A>
Var eval(const A& a) {
  if constexpr (std::same_as<std::remove_cvref_t<A>, Var>)
    return a;
  else
    return Var(a);
}

ANYCOST_NAMESPACE_END
