// Lowering of an expression tree into a postfix program (backend/program.hpp): plain data that the generic
// CUDA kernel interprets per element. Leaves become Op::leaf in position order.
#pragma once

#include <cstdint>
#include <type_traits>

#include "anycost/backend/program.hpp"
#include "anycost/core/error.hpp"
#include "anycost/expr/expr.hpp"
#include "anycost/expr/functors.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace expr {

namespace detail {
inline void emit(backend::Program& p, backend::Instr i) {
  ANYCOST_CHECK(p.size < backend::Program::max_instrs, ValueError, "fused expression too long for the CUDA program (",
                backend::Program::max_instrs, " instructions)");
  p.code[p.size++] = i;
}
template <class E>
void lower_into(const E& e, backend::Program& p) {
  using backend::Op;
  if constexpr (is_leaf_v<E>) {
    ANYCOST_CHECK(p.leaves < backend::Program::max_leaves, ValueError, "fused expression has more than ",
                  backend::Program::max_leaves, " leaves");
    emit(p, {Op::leaf, static_cast<std::int8_t>(p.leaves++), 0, 0});
  } else if constexpr (std::is_same_v<E, Const>) {
    emit(p, {Op::constant, 0, e.v, 0});
  } else if constexpr (std::is_same_v<E, One>) {
    emit(p, {Op::constant, 0, 1.0, 0});
  } else if constexpr (std::is_same_v<E, Zero>) {
    emit(p, {Op::constant, 0, 0.0, 0});
  } else {
    lower_into(e.a, p);
    if constexpr (requires { e.b; }) lower_into(e.b, p);
    emit(p, e.f.instr());
  }
}
}  // namespace detail

// Stack slots the postfix program of E needs (left operand first): a left-deep chain needs two however long.
template <class E>
struct stack_need : std::integral_constant<int, 1> {};
template <class F, class A>
struct stack_need<Unary<F, A>> : stack_need<A> {};
template <class F, class A, class B>
struct stack_need<Binary<F, A, B>>
    : std::integral_constant<int, (stack_need<A>::value > 1 + stack_need<B>::value ? stack_need<A>::value
                                                                                    : 1 + stack_need<B>::value)> {};

// Instructions the postfix program of E has (one per node).
template <class E>
struct instr_count : std::integral_constant<int, 1> {};
template <class F, class A>
struct instr_count<Unary<F, A>> : std::integral_constant<int, 1 + instr_count<A>::value> {};
template <class F, class A, class B>
struct instr_count<Binary<F, A, B>> : std::integral_constant<int, 1 + instr_count<A>::value + instr_count<B>::value> {};

// Whether E lowers into one program; a larger tree (derivatives of deep chains grow quadratically) is run in
// parts (expr/evaluate.hpp).
template <class E>
inline constexpr bool fits_program_v = instr_count<E>::value <= backend::Program::max_instrs &&
                                       leaf_count_v<E> <= backend::Program::max_leaves &&
                                       stack_need<E>::value <= backend::Program::max_stack;

template <class E>
backend::Program lower(const E& e) {
  static_assert(stack_need<E>::value <= backend::Program::max_stack,
                "expression needs too deep a stack for the CUDA program");
  backend::Program p;
  detail::lower_into(e, p);
  return p;
}

}  // namespace expr
ANYCOST_NAMESPACE_END
