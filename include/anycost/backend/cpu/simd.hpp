// 256-bit vectors for the CPU kernels, and the run-time choice of instruction set.
//
// Kernels are written once with GCC/Clang vector extensions (vec<T>: 8 floats or 4 doubles) and run through
// simd::dispatch(isa, body): the body is inlined into one copy compiled for AVX2+FMA and one compiled for
// the translation unit's own flags, and the copy to run is picked at run time. A consumer therefore gets
// AVX2 kernels without building with -mavx2, and the same source still runs on any x86-64 (or other) CPU.
// The body receives a tag (Avx2 or Generic) for the rare spot that wants an instruction the vector
// extensions cannot spell (a broadcast straight from memory).
//
// Rules for kernel bodies: take the ISA from active_isa() in the calling thread and call dispatch() inside
// each parallel chunk (an OpenMP region is not inlined into the AVX2 copy); helpers are always inlined and
// return vectors through references, never by value (see load()).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__) || defined(__i386__)
#define ANYCOST_SIMD_X86 1
#else
#define ANYCOST_SIMD_X86 0
#endif

#include "anycost/config.hpp"

#define ANYCOST_ALWAYS_INLINE __attribute__((always_inline)) inline
// For lambdas that must end up inside the ISA-specific copy of a kernel ([&](auto i) ANYCOST_LAMBDA_INLINE {...}).
#define ANYCOST_LAMBDA_INLINE __attribute__((always_inline))

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu::simd {

enum class Isa { generic, avx2 };

// Best instruction set of this CPU. ANYCOST_CPU_ISA=generic in the environment forces the portable copy
// (for comparisons and for testing the fallback).
inline Isa active_isa() {
  static const Isa isa = [] {
#if ANYCOST_SIMD_X86
    const char* env = std::getenv("ANYCOST_CPU_ISA");
    if (env && std::strcmp(env, "generic") == 0) return Isa::generic;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
    return Isa::generic;
  }();
  return isa;
}
inline const char* isa_name(Isa isa) { return isa == Isa::avx2 ? "avx2+fma" : "generic"; }
inline const char* active_isa_name() { return isa_name(active_isa()); }

struct Generic {};
struct Avx2 {};

namespace detail {
template <class F, class Tag>
ANYCOST_ALWAYS_INLINE void call_body(const F& f, Tag tag) {
  if constexpr (std::is_invocable_v<const F&, Tag>)
    f(tag);
  else
    f();
}
#if ANYCOST_SIMD_X86
template <class F>
__attribute__((target("avx2,fma"), flatten)) void run_avx2(const F& f) {
  call_body(f, Avx2{});
}
#endif
template <class F>
__attribute__((flatten)) void run_generic(const F& f) {
  call_body(f, Generic{});
}
}  // namespace detail

// Runs body() (or body(tag)) compiled for `isa`; everything the body calls is inlined into that copy.
template <class F>
void dispatch(Isa isa, const F& body) {
#if ANYCOST_SIMD_X86
  if (isa == Isa::avx2) {
    detail::run_avx2(body);
    return;
  }
#endif
  (void)isa;
  detail::run_generic(body);
}

template <class T>
struct VecOf {
  typedef T type __attribute__((vector_size(32)));
};
template <class T>
using vec = typename VecOf<T>::type;
template <class T>
inline constexpr int lanes = static_cast<int>(32 / sizeof(T));

// Helpers write through references: a vector returned by value from a call that GCC has not inlined yet
// trips -Wpsabi ("AVX vector return without AVX enabled changes the ABI") at the outermost caller.
template <class T>
ANYCOST_ALWAYS_INLINE void load(vec<T>& v, const T* p) {
  std::memcpy(&v, p, sizeof v);
}
template <class T>
ANYCOST_ALWAYS_INLINE void store(T* p, const vec<T>& v) {
  std::memcpy(p, &v, sizeof v);
}

namespace detail {
template <class T>
struct MaskOf {
  using Int = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
  typedef Int type __attribute__((vector_size(32)));
};
}  // namespace detail

// v = *p in every lane. (The portable spelling compiles to a load and a register broadcast; kernels where
// that matters have an AVX2 variant with a broadcast load.)
template <class T>
ANYCOST_ALWAYS_INLINE void broadcast(vec<T>& v, const T* p) {
#if defined(__clang__)
  v = vec<T>{} + *p;  // clang has no __builtin_shuffle (the fuzz build, tests/fuzz, uses clang)
#else
  vec<T> t{};
  t[0] = *p;
  v = __builtin_shuffle(t, typename detail::MaskOf<T>::type{});
#endif
}

inline std::int64_t round_up(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

}  // namespace backend::cpu::simd
ANYCOST_NAMESPACE_END
