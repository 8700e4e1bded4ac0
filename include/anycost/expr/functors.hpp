// The functor types of expression trees, one per row of the op table (backend/elementwise_ops.hpp): a plain
// struct holding the op's parameters, its scalar value as operator(), and the bytecode instruction it lowers
// to (backend/program.hpp), so the same tree compiles into a fused C++ loop on the CPU or runs in the
// generic CUDA kernel.
#pragma once

#include "anycost/backend/elementwise_ops.hpp"
#include "anycost/backend/program.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace expr {

#define ANYCOST_FUNCTOR_UNARY(F, name, value, partial)                    \
  struct F {                                                              \
    template <class T>                                                    \
    ANYCOST_HOST_DEVICE T operator()(T x) const {                         \
      return value;                                                       \
    }                                                                     \
    backend::Instr instr() const { return {backend::Op::name, 0, 0, 0}; } \
  };
#define ANYCOST_FUNCTOR_UNARY1(F, name, q, value, partial)                \
  struct F {                                                              \
    double q;                                                             \
    template <class T>                                                    \
    ANYCOST_HOST_DEVICE T operator()(T x) const {                         \
      return value;                                                       \
    }                                                                     \
    backend::Instr instr() const { return {backend::Op::name, 0, q, 0}; } \
  };
#define ANYCOST_FUNCTOR_UNARY2(F, name, q0, q1, value, partial)             \
  struct F {                                                                \
    double q0, q1;                                                          \
    template <class T>                                                      \
    ANYCOST_HOST_DEVICE T operator()(T x) const {                           \
      return value;                                                         \
    }                                                                       \
    backend::Instr instr() const { return {backend::Op::name, 0, q0, q1}; } \
  };
#define ANYCOST_FUNCTOR_BINARY(F, name, value, partial_a, partial_b)      \
  struct F {                                                              \
    template <class T>                                                    \
    ANYCOST_HOST_DEVICE T operator()(T a, T b) const {                    \
      return value;                                                       \
    }                                                                     \
    backend::Instr instr() const { return {backend::Op::name, 0, 0, 0}; } \
  };
ANYCOST_UNARY_OPS(ANYCOST_FUNCTOR_UNARY)
ANYCOST_UNARY1_OPS(ANYCOST_FUNCTOR_UNARY1)
ANYCOST_UNARY2_OPS(ANYCOST_FUNCTOR_UNARY2)
ANYCOST_BINARY_OPS(ANYCOST_FUNCTOR_BINARY)
#undef ANYCOST_FUNCTOR_UNARY
#undef ANYCOST_FUNCTOR_UNARY1
#undef ANYCOST_FUNCTOR_UNARY2
#undef ANYCOST_FUNCTOR_BINARY

}  // namespace expr
ANYCOST_NAMESPACE_END
