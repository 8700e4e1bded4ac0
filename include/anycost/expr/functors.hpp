// The closed set of elementwise functions an expression may contain. Each functor is a plain struct (usable
// on host and device) with an opcode, so the same tree can be compiled into a fused C++ loop on the CPU or
// lowered into a program for the generic CUDA kernel (expr/program.hpp).
#pragma once

#include <cmath>
#include <cstdint>

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

namespace expr {

enum class Op : std::uint8_t {
  leaf,
  constant,
  neg,
  exp,
  log,
  sqrt,
  rsqrt,
  square,
  recip,
  abs,
  sign,
  sigmoid,
  softplus,
  tanh,
  lrelu,
  lrelu_grad,
  clamp,
  in_range,
  pow_scalar,
  add,
  sub,
  mul,
  div,
};

#define ANYCOST_UNARY_FUNCTOR(Name, op_code, body)                   \
  struct Name {                                                      \
    static constexpr Op code = Op::op_code;                          \
    template <class T>                                               \
    ANYCOST_HOST_DEVICE T operator()(T x) const {                    \
      body                                                           \
    }                                                                \
  };

ANYCOST_UNARY_FUNCTOR(Neg, neg, return -x;)
ANYCOST_UNARY_FUNCTOR(Exp, exp, return math::exp(x);)
ANYCOST_UNARY_FUNCTOR(Log, log, return math::log(x);)
ANYCOST_UNARY_FUNCTOR(Sqrt, sqrt, return math::sqrt(x);)
ANYCOST_UNARY_FUNCTOR(Rsqrt, rsqrt, return T(1) / math::sqrt(x);)
ANYCOST_UNARY_FUNCTOR(Square, square, return x * x;)
ANYCOST_UNARY_FUNCTOR(Recip, recip, return T(1) / x;)
ANYCOST_UNARY_FUNCTOR(Abs, abs, return math::abs(x);)
ANYCOST_UNARY_FUNCTOR(Sign, sign, return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));)
ANYCOST_UNARY_FUNCTOR(Sigmoid, sigmoid, return T(1) / (T(1) + math::exp(-x));)
// log(1 + e^x) without overflow.
ANYCOST_UNARY_FUNCTOR(Softplus, softplus, return (x > T(0) ? x : T(0)) + math::log1p(math::exp(-math::abs(x)));)
ANYCOST_UNARY_FUNCTOR(Tanh, tanh, return math::tanh(x);)
#undef ANYCOST_UNARY_FUNCTOR

// Leaky ReLU; the derivative at 0 is the slope (as in PyTorch and the reference CUDA kernel).
struct LeakyRelu {
  static constexpr Op code = Op::lrelu;
  double slope;
  template <class T>
  ANYCOST_HOST_DEVICE T operator()(T x) const {
    return x > T(0) ? x : x * T(slope);
  }
};
struct LeakyReluGrad {
  static constexpr Op code = Op::lrelu_grad;
  double slope;
  template <class T>
  ANYCOST_HOST_DEVICE T operator()(T x) const {
    return x > T(0) ? T(1) : T(slope);
  }
};
struct Clamp {
  static constexpr Op code = Op::clamp;
  double lo, hi;
  template <class T>
  ANYCOST_HOST_DEVICE T operator()(T x) const {
    return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x);
  }
};
// 1 inside [lo, hi] (inclusive, as PyTorch's clamp backward), else 0.
struct InRange {
  static constexpr Op code = Op::in_range;
  double lo, hi;
  template <class T>
  ANYCOST_HOST_DEVICE T operator()(T x) const {
    return x >= T(lo) && x <= T(hi) ? T(1) : T(0);
  }
};
struct PowScalar {
  static constexpr Op code = Op::pow_scalar;
  double p;
  template <class T>
  ANYCOST_HOST_DEVICE T operator()(T x) const {
    return math::pow(x, T(p));
  }
};

struct Add {
  static constexpr Op code = Op::add;
  template <class T>
  ANYCOST_HOST_DEVICE T operator()(T a, T b) const {
    return a + b;
  }
};
struct Sub {
  static constexpr Op code = Op::sub;
  template <class T>
  ANYCOST_HOST_DEVICE T operator()(T a, T b) const {
    return a - b;
  }
};
struct Mul {
  static constexpr Op code = Op::mul;
  template <class T>
  ANYCOST_HOST_DEVICE T operator()(T a, T b) const {
    return a * b;
  }
};
struct Div {
  static constexpr Op code = Op::div;
  template <class T>
  ANYCOST_HOST_DEVICE T operator()(T a, T b) const {
    return a / b;
  }
};

// Functor parameters in a fixed-size form (for programs and kernels).
template <class F>
ANYCOST_HOST_DEVICE void functor_params(const F& f, double& p0, double& p1) {
  p0 = p1 = 0;
  if constexpr (requires { f.slope; }) p0 = f.slope;
  if constexpr (requires { f.lo; }) {
    p0 = f.lo;
    p1 = f.hi;
  }
  if constexpr (requires { f.p; }) p0 = f.p;
}

}  // namespace expr
ANYCOST_NAMESPACE_END
