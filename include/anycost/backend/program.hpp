// A fused elementwise expression as plain data: a postfix program that one pre-compiled CUDA kernel
// interprets per element, so that any expression, including ones written in g++ translation units, runs
// fused on the GPU without nvcc compiling the user's code. expr/lower.hpp lowers expression trees into it;
// the ops and their values come from the table of backend/elementwise_ops.hpp.
#pragma once

#include <cstdint>

#include "anycost/backend/elementwise_ops.hpp"
#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend {

#define ANYCOST_OPCODE_UNARY(F, name, value, partial) name,
#define ANYCOST_OPCODE_UNARY1(F, name, q, value, partial) name,
#define ANYCOST_OPCODE_UNARY2(F, name, q0, q1, value, partial) name,
#define ANYCOST_OPCODE_BINARY(F, name, value, partial_a, partial_b) name,
enum class Op : std::uint8_t {
  leaf,      // push leaf `Instr::leaf`
  constant,  // push p0
  ANYCOST_UNARY_OPS(ANYCOST_OPCODE_UNARY)
  ANYCOST_UNARY1_OPS(ANYCOST_OPCODE_UNARY1)
  ANYCOST_UNARY2_OPS(ANYCOST_OPCODE_UNARY2)
  ANYCOST_BINARY_OPS(ANYCOST_OPCODE_BINARY)
};
#undef ANYCOST_OPCODE_UNARY
#undef ANYCOST_OPCODE_UNARY1
#undef ANYCOST_OPCODE_UNARY2
#undef ANYCOST_OPCODE_BINARY

struct Instr {
  Op op;
  std::int8_t leaf;  // leaf index for Op::leaf
  double p0, p1;     // constant value or op parameters
};

struct Program {
  static constexpr int max_instrs = 64;
  static constexpr int max_stack = 16;
  static constexpr int max_leaves = 16;
  int size = 0;
  int leaves = 0;
  Instr code[max_instrs];
};

// Interprets program p at one element: the device kernel's inner loop (also run on the host in tests).
template <class T, class LeafRead>
ANYCOST_HOST_DEVICE T run_program(const Program& p, LeafRead&& read) {
  T stack[Program::max_stack];
  int sp = 0;
  for (int pc = 0; pc < p.size; ++pc) {
    const Instr& in = p.code[pc];
    T& top = stack[sp > 0 ? sp - 1 : 0];
#define ANYCOST_RUN_UNARY(F, name, value, partial) \
  case Op::name: {                                 \
    const T x = top;                               \
    top = value;                                   \
    break;                                         \
  }
#define ANYCOST_RUN_UNARY1(F, name, q, value, partial) \
  case Op::name: {                                     \
    const T x = top;                                   \
    const double q = in.p0;                            \
    top = value;                                       \
    break;                                             \
  }
#define ANYCOST_RUN_UNARY2(F, name, q0, q1, value, partial) \
  case Op::name: {                                          \
    const T x = top;                                        \
    const double q0 = in.p0, q1 = in.p1;                    \
    top = value;                                            \
    break;                                                  \
  }
#define ANYCOST_RUN_BINARY(F, name, value, partial_a, partial_b) \
  case Op::name: {                                               \
    --sp;                                                        \
    const T a = stack[sp - 1], b = stack[sp];                    \
    stack[sp - 1] = value;                                       \
    break;                                                       \
  }
    switch (in.op) {
      case Op::leaf: stack[sp++] = read(in.leaf); break;
      case Op::constant: stack[sp++] = static_cast<T>(in.p0); break;
      ANYCOST_UNARY_OPS(ANYCOST_RUN_UNARY)
      ANYCOST_UNARY1_OPS(ANYCOST_RUN_UNARY1)
      ANYCOST_UNARY2_OPS(ANYCOST_RUN_UNARY2)
      ANYCOST_BINARY_OPS(ANYCOST_RUN_BINARY)
    }
#undef ANYCOST_RUN_UNARY
#undef ANYCOST_RUN_UNARY1
#undef ANYCOST_RUN_UNARY2
#undef ANYCOST_RUN_BINARY
  }
  return stack[0];
}

}  // namespace backend
ANYCOST_NAMESPACE_END
