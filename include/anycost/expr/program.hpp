// Lowering of an expression tree into a postfix program: plain data that one pre-compiled CUDA kernel
// interprets per element. Any expression, including ones written in g++ translation units, therefore runs
// fused on the GPU without nvcc compiling the user's code.
#pragma once

#include <cstdint>

#include "anycost/core/error.hpp"
#include "anycost/expr/expr.hpp"
#include "anycost/expr/functors.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace expr {

struct Instr {
  Op op;
  std::int8_t leaf;  // leaf index for Op::leaf
  double p0, p1;     // constant value or functor parameters
};

struct Program {
  static constexpr int max_instrs = 64;
  static constexpr int max_stack = 16;
  static constexpr int max_leaves = 16;
  int size = 0;
  int leaves = 0;
  Instr code[max_instrs];
};

namespace detail {
inline void emit(Program& p, Instr i) {
  ANYCOST_CHECK(p.size < Program::max_instrs, ValueError, "fused expression too long for the CUDA program (",
                Program::max_instrs, " instructions)");
  p.code[p.size++] = i;
}
template <class E>
void lower_into(const E& e, Program& p) {
  if constexpr (requires { e.h; }) {
    ANYCOST_CHECK(p.leaves < Program::max_leaves, ValueError, "fused expression has more than ",
                  Program::max_leaves, " leaves");
    emit(p, Instr{Op::leaf, static_cast<std::int8_t>(p.leaves++), 0, 0});
  } else if constexpr (std::is_same_v<E, Const>) {
    emit(p, Instr{Op::constant, 0, e.v, 0});
  } else if constexpr (std::is_same_v<E, One>) {
    emit(p, Instr{Op::constant, 0, 1.0, 0});
  } else if constexpr (std::is_same_v<E, Zero>) {
    emit(p, Instr{Op::constant, 0, 0.0, 0});
  } else {
    lower_into(e.a, p);
    if constexpr (requires { e.b; }) lower_into(e.b, p);
    Instr i{std::remove_cvref_t<decltype(e.f)>::code, 0, 0, 0};
    functor_params(e.f, i.p0, i.p1);
    emit(p, i);
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

template <class E>
Program lower(const E& e) {
  static_assert(stack_need<E>::value <= Program::max_stack, "expression needs too deep a stack for the CUDA program");
  Program p;
  detail::lower_into(e, p);
  return p;
}

// Interprets program p at one element: the device kernel's inner loop (also run on the host in tests).
template <class T, class LeafRead>
ANYCOST_HOST_DEVICE T run_program(const Program& p, LeafRead&& read) {
  T stack[Program::max_stack];
  int sp = 0;
  for (int pc = 0; pc < p.size; ++pc) {
    const Instr& in = p.code[pc];
    T& top = stack[sp > 0 ? sp - 1 : 0];
    switch (in.op) {
      case Op::leaf: stack[sp++] = read(in.leaf); break;
      case Op::constant: stack[sp++] = static_cast<T>(in.p0); break;
      case Op::neg: top = Neg{}(top); break;
      case Op::exp: top = Exp{}(top); break;
      case Op::log: top = Log{}(top); break;
      case Op::sqrt: top = Sqrt{}(top); break;
      case Op::rsqrt: top = Rsqrt{}(top); break;
      case Op::square: top = Square{}(top); break;
      case Op::recip: top = Recip{}(top); break;
      case Op::abs: top = Abs{}(top); break;
      case Op::sign: top = Sign{}(top); break;
      case Op::sigmoid: top = Sigmoid{}(top); break;
      case Op::softplus: top = Softplus{}(top); break;
      case Op::tanh: top = Tanh{}(top); break;
      case Op::lrelu: top = LeakyRelu{in.p0}(top); break;
      case Op::lrelu_grad: top = LeakyReluGrad{in.p0}(top); break;
      case Op::clamp: top = Clamp{in.p0, in.p1}(top); break;
      case Op::in_range: top = InRange{in.p0, in.p1}(top); break;
      case Op::pow_scalar: top = PowScalar{in.p0}(top); break;
      case Op::add: --sp; stack[sp - 1] = Add{}(stack[sp - 1], stack[sp]); break;
      case Op::sub: --sp; stack[sp - 1] = Sub{}(stack[sp - 1], stack[sp]); break;
      case Op::mul: --sp; stack[sp - 1] = Mul{}(stack[sp - 1], stack[sp]); break;
      case Op::div: --sp; stack[sp - 1] = Div{}(stack[sp - 1], stack[sp]); break;
    }
  }
  return stack[0];
}

}  // namespace expr
ANYCOST_NAMESPACE_END
