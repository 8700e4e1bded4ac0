// CPU evaluator: runs an expression as one loop over the output, with no temporary per op.
//
// Leaves arrive as views already broadcast to the output shape. Dims are collapsed; each innermost row runs
// a single loop when every operand is unit-stride, otherwise in blocks where broadcast leaves are splatted
// once per row and strided leaves are gathered, so the loop body still reads unit-stride buffers.
//
// The loop evaluates a lowered copy of the expression (cpu_form): leaves become empty slots, constants and
// functor parameters are converted to T once, and the expression is evaluated on whole vectors (8 floats
// or 4 doubles, backend/cpu/simd.hpp), with selects as blends. Plain scalar code would not vectorise: GCC
// keeps -ftrapping-math on and will not if-convert the selects of lrelu or clamp. Functors without a vector
// form (exp, log, tanh, ...) run lane by lane through their scalar form, so every value is the one the
// scalar functor gives. Each parallel chunk runs the AVX2 copy of the loop when the CPU has it.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>

#include "anycost/backend/cpu/simd.hpp"
#include "anycost/core/parallel.hpp"
#include "anycost/core/strided_loop.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/expr/expr.hpp"
#include "anycost/expr/functors.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

ANYCOST_NAMESPACE_BEGIN
namespace expr {
namespace detail {

template <class T>
using cpu_vec = backend::cpu::simd::vec<T>;

// Stands in for a leaf handle in the lowered copy of the expression.
struct LeafSlot {};
template <class T>
struct ConstT {
  T v;
};

// Functors as the CPU loop runs them: scalar() for tails, vec() for whole vectors. The default runs the
// functor itself, lane by lane in vec(). The specialisations below add the vector forms of the ops that GCC's
// vector extensions can spell, with parameters converted to T once; their scalar() is still the functor (the
// value of the op table, backend/elementwise_ops.hpp), so both forms give the same values.
template <class T, class F>
struct CpuFn {
  F f;
  T scalar(T x) const { return f(x); }
  T scalar(T a, T b) const { return f(a, b); }
  // (Lanes go into a zeroed vector: GCC reads lane stores into an uninitialised one as uses.)
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& x, cpu_vec<T>& out) const {
    cpu_vec<T> r{};
    for (int l = 0; l < backend::cpu::simd::lanes<T>; ++l) r[l] = f(x[l]);
    out = r;
  }
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& a, const cpu_vec<T>& b, cpu_vec<T>& out) const {
    cpu_vec<T> r{};
    for (int l = 0; l < backend::cpu::simd::lanes<T>; ++l) r[l] = f(a[l], b[l]);
    out = r;
  }
};

#define ANYCOST_CPU_BINARY(F, op)                                                                        \
  template <class T>                                                                                     \
  struct CpuFn<T, F> {                                                                                   \
    T scalar(T a, T b) const { return F{}(a, b); }                                                       \
    ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& a, const cpu_vec<T>& b, cpu_vec<T>& out) const {    \
      out = a op b;                                                                                      \
    }                                                                                                    \
  };
ANYCOST_CPU_BINARY(Add, +)
ANYCOST_CPU_BINARY(Sub, -)
ANYCOST_CPU_BINARY(Mul, *)
ANYCOST_CPU_BINARY(Div, /)
#undef ANYCOST_CPU_BINARY

template <class T>
struct CpuFn<T, Neg> {
  T scalar(T x) const { return Neg{}(x); }
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& x, cpu_vec<T>& out) const { out = -x; }
};
template <class T>
struct CpuFn<T, Square> {
  T scalar(T x) const { return Square{}(x); }
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& x, cpu_vec<T>& out) const { out = x * x; }
};
template <class T>
struct CpuFn<T, Recip> {
  T scalar(T x) const { return Recip{}(x); }
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& x, cpu_vec<T>& out) const { out = T(1) / x; }
};
template <class T>
struct CpuFn<T, LeakyRelu> {
  T slope;
  T scalar(T x) const { return LeakyRelu{slope}(x); }
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& x, cpu_vec<T>& out) const {
    const cpu_vec<T> neg = x * slope;
    out = x > T(0) ? x : neg;
  }
};
template <class T>
struct CpuFn<T, LeakyReluGrad> {
  T slope;
  T scalar(T x) const { return LeakyReluGrad{slope}(x); }
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& x, cpu_vec<T>& out) const {
    const cpu_vec<T> one = cpu_vec<T>{} + T(1), s = cpu_vec<T>{} + slope;
    out = x > T(0) ? one : s;
  }
};
template <class T>
struct CpuFn<T, Clamp> {
  T lo, hi;
  T scalar(T x) const { return Clamp{lo, hi}(x); }
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& x, cpu_vec<T>& out) const {
    const cpu_vec<T> l = cpu_vec<T>{} + lo, h = cpu_vec<T>{} + hi;
    const cpu_vec<T> below_hi = x > h ? h : x;
    out = x < l ? l : below_hi;
  }
};
template <class T>
struct CpuFn<T, InRange> {
  T lo, hi;
  T scalar(T x) const { return InRange{lo, hi}(x); }
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& x, cpu_vec<T>& out) const {
    const cpu_vec<T> one = cpu_vec<T>{} + T(1), zero{};
    out = ((x >= lo) & (x <= hi)) ? one : zero;
  }
};
template <class T>
struct CpuFn<T, Sign> {
  T scalar(T x) const { return Sign{}(x); }
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& x, cpu_vec<T>& out) const {
    const cpu_vec<T> one = cpu_vec<T>{} + T(1), zero{};
    const cpu_vec<T> pos = x > T(0) ? one : zero, neg = x < T(0) ? one : zero;
    out = pos - neg;
  }
};
template <class T>
struct CpuFn<T, PowScalar> {
  T p;
  T scalar(T x) const { return PowScalar{p}(x); }
  ANYCOST_ALWAYS_INLINE void vec(const cpu_vec<T>& x, cpu_vec<T>& out) const {
    cpu_vec<T> r{};
    for (int l = 0; l < backend::cpu::simd::lanes<T>; ++l) r[l] = scalar(x[l]);
    out = r;
  }
};

template <class T, class F>
CpuFn<T, F> cpu_fn(const F& f) {
  if constexpr (std::is_same_v<F, LeakyRelu> || std::is_same_v<F, LeakyReluGrad>)
    return {static_cast<T>(f.slope)};
  else if constexpr (std::is_same_v<F, Clamp> || std::is_same_v<F, InRange>)
    return {static_cast<T>(f.lo), static_cast<T>(f.hi)};
  else if constexpr (std::is_same_v<F, PowScalar>)
    return {static_cast<T>(f.p)};
  else if constexpr (requires { CpuFn<T, F>{f}; })
    return {f};
  else
    return {};
}

// The lowered copy of e: plain data, no handles.
template <class T, class E>
auto cpu_form(const E& e) {
  if constexpr (is_leaf_v<E>) {
    return LeafSlot{};
  } else if constexpr (std::is_same_v<E, Const>) {
    return ConstT<T>{static_cast<T>(e.v)};
  } else if constexpr (std::is_same_v<E, Zero>) {
    return ConstT<T>{T(0)};
  } else if constexpr (std::is_same_v<E, One>) {
    return ConstT<T>{T(1)};
  } else if constexpr (requires { e.b; }) {
    auto f = cpu_fn<T>(e.f);
    auto a = cpu_form<T>(e.a);
    auto b = cpu_form<T>(e.b);
    return Binary<decltype(f), decltype(a), decltype(b)>{f, a, b};
  } else {
    auto f = cpu_fn<T>(e.f);
    auto a = cpu_form<T>(e.a);
    return Unary<decltype(f), decltype(a)>{f, a};
  }
}

template <class E>
inline constexpr int slots_v = 0;
template <>
inline constexpr int slots_v<LeafSlot> = 1;
template <class F, class A>
inline constexpr int slots_v<Unary<F, A>> = slots_v<A>;
template <class F, class A, class B>
inline constexpr int slots_v<Binary<F, A, B>> = slots_v<A> + slots_v<B>;

// Value of the lowered expression e at position j, leaf K+i reading ptr[K+i][j]: one element ...
template <int K, class T, class E>
ANYCOST_ALWAYS_INLINE T ev(const E& e, const T* const* ptr, std::int64_t j) {
  if constexpr (std::is_same_v<E, LeafSlot>) {
    return ptr[K][j];
  } else if constexpr (std::is_same_v<E, ConstT<T>>) {
    return e.v;
  } else if constexpr (requires { e.b; }) {
    return e.f.scalar(ev<K, T>(e.a, ptr, j), ev<K + slots_v<std::remove_cvref_t<decltype(e.a)>>, T>(e.b, ptr, j));
  } else {
    return e.f.scalar(ev<K, T>(e.a, ptr, j));
  }
}
// ... or one vector of elements [j, j + lanes).
template <int K, class T, class E>
ANYCOST_ALWAYS_INLINE void ev_vec(const E& e, const T* const* ptr, std::int64_t j, cpu_vec<T>& out) {
  if constexpr (std::is_same_v<E, LeafSlot>) {
    backend::cpu::simd::load(out, ptr[K] + j);
  } else if constexpr (std::is_same_v<E, ConstT<T>>) {
    out = cpu_vec<T>{} + e.v;
  } else if constexpr (requires { e.b; }) {
    cpu_vec<T> a, b;
    ev_vec<K, T>(e.a, ptr, j, a);
    ev_vec<K + slots_v<std::remove_cvref_t<decltype(e.a)>>, T>(e.b, ptr, j, b);
    e.f.vec(a, b, out);
  } else {
    cpu_vec<T> a;
    ev_vec<K, T>(e.a, ptr, j, a);
    e.f.vec(a, out);
  }
}

// o[j] = e(leaves at q + j) for j < n, all unit-stride.
template <class T, class E>
ANYCOST_ALWAYS_INLINE void eval_unit(const E& e, T* o, const T* const* q, std::int64_t n) {
  constexpr int lanes = backend::cpu::simd::lanes<T>;
  std::int64_t j = 0;
  for (; j + lanes <= n; j += lanes) {
    cpu_vec<T> v;
    ev_vec<0, T>(e, q, j, v);
    backend::cpu::simd::store(o + j, v);
  }
  for (; j < n; ++j) o[j] = ev<0, T>(e, q, j);
}

// One row of n elements: out[j·st[0]] = e(leaf k at p[k] + j·st[k+1]).
template <class T, class E, std::size_t L>
ANYCOST_ALWAYS_INLINE void eval_row(const E& e, T* o, const T* const* p, std::int64_t n, const std::int64_t* st) {
  constexpr std::int64_t block = 256;
  bool unit = st[0] == 1;
  for (std::size_t k = 0; k < L; ++k) unit = unit && st[k + 1] == 1;
  if (unit) {
    eval_unit(e, o, p, n);
    return;
  }
  alignas(64) T buf[L + 1][block];
  const T* q[L];
  for (std::size_t k = 0; k < L; ++k) {
    if (st[k + 1] == 0) {
      std::fill_n(buf[k], std::min(n, block), *p[k]);
      q[k] = buf[k];
    }
  }
  for (std::int64_t j0 = 0; j0 < n; j0 += block) {
    const std::int64_t len = std::min(block, n - j0);
    for (std::size_t k = 0; k < L; ++k) {
      const std::int64_t s = st[k + 1];
      if (s == 1) {
        q[k] = p[k] + j0;
      } else if (s != 0) {
        for (std::int64_t j = 0; j < len; ++j) buf[k][j] = p[k][(j0 + j) * s];
        q[k] = buf[k];
      }
    }
    if (st[0] == 1) {
      eval_unit(e, o + j0, q, len);
    } else {
      eval_unit(e, buf[L], q, len);
      for (std::int64_t j = 0; j < len; ++j) o[(j0 + j) * st[0]] = buf[L][j];
    }
  }
}
}  // namespace detail

template <class T, class E, std::size_t L>
void eval_cpu(const Tensor& out, const E& e, const std::array<Tensor, L>& leaves) {
  static_assert(L >= 1, "an expression needs at least one leaf");
  std::array<Strides, L + 1> strides;
  strides[0] = out.strides();
  std::array<const T*, L> base;
  for (std::size_t k = 0; k < L; ++k) {
    strides[k + 1] = leaves[k].strides();
    base[k] = static_cast<const T*>(leaves[k].raw_data());
  }
  T* obase = static_cast<T*>(out.raw_data());
  const auto lowered = detail::cpu_form<T>(e);
  if (out.numel() == 1) {  // scalars (losses, per-op autodiff): skip the loop set-up
    *obase = detail::ev<0, T>(lowered, base.data(), 0);
    return;
  }
  const CollapsedLoop<static_cast<int>(L + 1)> loop(out.shape(), strides);
  const std::int64_t inner = loop.inner(), rows = loop.rows();
  const auto st = loop.inner_strides();
  const backend::cpu::simd::Isa isa = backend::cpu::simd::active_isa();
  constexpr std::int64_t grain = 16384;  // elements per thread before a second one is woken
  parallel_for(rows, std::max<std::int64_t>(1, grain / std::max<std::int64_t>(inner, 1)),
               [&](std::int64_t r0, std::int64_t r1) {
                 backend::cpu::simd::dispatch(isa, [&] {
                   const auto body = lowered;  // a local of the ISA copy, so its fields stay in registers
                   for (std::int64_t r = r0; r < r1; ++r) {
                     const auto off = loop.row_offsets(r);
                     const T* p[L];
                     for (std::size_t k = 0; k < L; ++k) p[k] = base[k] + off[k + 1];
                     detail::eval_row<T, std::remove_cvref_t<decltype(body)>, L>(body, obase + off[0], p, inner,
                                                                                 st.data());
                   }
                 });
               });
}

}  // namespace expr
ANYCOST_NAMESPACE_END

#pragma GCC diagnostic pop
