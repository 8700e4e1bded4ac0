// The closed set of elementwise ops, each defined once, in one table: name, opcode, scalar value and partial
// derivatives. Everything else about an op is generated from these rows:
//   backend/program.hpp    the opcodes and the interpreter of the generic CUDA kernel,
//   expr/functors.hpp      the functor types of expression trees (and their bytecode instruction),
//   expr/derivative.hpp    the local partials used by symbolic differentiation,
//   ops/elementwise.hpp    the public functions of the unary ops without parameters.
// (expr/eval_cpu.hpp adds hand-written vector forms for the ops GCC's vector extensions can spell.)
//
// Rows, by signature:
//   ANYCOST_UNARY_OPS(X)    X(Functor, name, value, partial)
//   ANYCOST_UNARY1_OPS(X)   X(Functor, name, parameter, value, partial)
//   ANYCOST_UNARY2_OPS(X)   X(Functor, name, parameter0, parameter1, value, partial)
//   ANYCOST_BINARY_OPS(X)   X(Functor, name, value, partial wrt a, partial wrt b)
// `value` is an expression of scalar type T in the operand x (unary) or a, b (binary), with the parameters
// (doubles) in scope. A `partial` is text for expr/derivative.hpp only: an expression tree in the operand
// expressions a, b and the functor f, written with the ops of this table again, so that derivatives of
// derivatives exist (create_graph). Nothing here includes expr/: the backend expands only the other columns.
#pragma once

#include <cmath>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace math {
// One spelling of each math function for float and double, on host and device.
ANYCOST_HOST_DEVICE float exp(float x) { return ::expf(x); }
ANYCOST_HOST_DEVICE double exp(double x) { return ::exp(x); }
ANYCOST_HOST_DEVICE float log(float x) { return ::logf(x); }
ANYCOST_HOST_DEVICE double log(double x) { return ::log(x); }
ANYCOST_HOST_DEVICE float log1p(float x) { return ::log1pf(x); }
ANYCOST_HOST_DEVICE double log1p(double x) { return ::log1p(x); }
ANYCOST_HOST_DEVICE float sqrt(float x) { return ::sqrtf(x); }
ANYCOST_HOST_DEVICE double sqrt(double x) { return ::sqrt(x); }
ANYCOST_HOST_DEVICE float tanh(float x) { return ::tanhf(x); }
ANYCOST_HOST_DEVICE double tanh(double x) { return ::tanh(x); }
ANYCOST_HOST_DEVICE float pow(float x, float p) { return ::powf(x, p); }
ANYCOST_HOST_DEVICE double pow(double x, double p) { return ::pow(x, p); }
ANYCOST_HOST_DEVICE float abs(float x) { return ::fabsf(x); }
ANYCOST_HOST_DEVICE double abs(double x) { return ::fabs(x); }
}  // namespace math
ANYCOST_NAMESPACE_END

// `name` is also the public function (ops/elementwise.hpp): neg(x) is -x.
// softplus is log(1 + e^x) written without overflow.
#define ANYCOST_UNARY_OPS(X)                                                                                  \
  X(Neg, neg, -x, Const{-1.0})                                                                                \
  X(Exp, exp, math::exp(x), sunary(Exp{}, a))                                                                 \
  X(Log, log, math::log(x), sunary(Recip{}, a))                                                               \
  X(Sqrt, sqrt, math::sqrt(x), smul(Const{0.5}, sunary(Rsqrt{}, a)))                                          \
  X(Rsqrt, rsqrt, T(1) / math::sqrt(x), smul(Const{-0.5}, sbinary<Div>(sunary(Rsqrt{}, a), a)))               \
  X(Square, square, x * x, smul(Const{2.0}, a))                                                               \
  X(Recip, reciprocal, T(1) / x, sunary(Neg{}, sunary(Square{}, sunary(Recip{}, a))))                         \
  X(Abs, abs, math::abs(x), sunary(Sign{}, a))                                                                \
  X(Sign, sign, x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)), Zero{})                                          \
  X(Sigmoid, sigmoid, T(1) / (T(1) + math::exp(-x)),                                                          \
    smul(sunary(Sigmoid{}, a), sbinary<Sub>(Const{1.0}, sunary(Sigmoid{}, a))))                               \
  X(Softplus, softplus, (x > T(0) ? x : T(0)) + math::log1p(math::exp(-math::abs(x))), sunary(Sigmoid{}, a))  \
  X(Tanh, tanh, math::tanh(x), sbinary<Sub>(Const{1.0}, sunary(Square{}, sunary(Tanh{}, a))))

// Leaky ReLU: the derivative at 0 is the slope (as PyTorch and the reference CUDA kernel).
#define ANYCOST_UNARY1_OPS(X)                                                                                 \
  X(LeakyRelu, lrelu, slope, x > T(0) ? x : x * T(slope), sunary(LeakyReluGrad{f.slope}, a))                  \
  X(LeakyReluGrad, lrelu_grad, slope, x > T(0) ? T(1) : T(slope), Zero{})                                     \
  X(PowScalar, pow_scalar, p, math::pow(x, T(p)), smul(Const{f.p}, sunary(PowScalar{f.p - 1}, a)))

// InRange is 1 inside [lo, hi] (inclusive, as PyTorch's clamp backward), else 0.
#define ANYCOST_UNARY2_OPS(X)                                                                                 \
  X(Clamp, clamp, lo, hi, x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x), sunary(InRange{f.lo, f.hi}, a))        \
  X(InRange, in_range, lo, hi, x >= T(lo) && x <= T(hi) ? T(1) : T(0), Zero{})

#define ANYCOST_BINARY_OPS(X)                                                                                 \
  X(Add, add, a + b, One{}, One{})                                                                            \
  X(Sub, sub, a - b, One{}, Const{-1.0})                                                                      \
  X(Mul, mul, a * b, b, a)                                                                                    \
  X(Div, div, a / b, sunary(Recip{}, b), sunary(Neg{}, sbinary<Div>(a, sunary(Square{}, b))))
