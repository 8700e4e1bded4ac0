// SIMD vectors for the CPU kernels (256-bit; 512-bit where a kernel is written for AVX-512), and the run-time
// choice of instruction set.
//
// Kernels are written once with GCC/Clang vector extensions (vec<T>: 8 floats or 4 doubles) and run through
// simd::dispatch(isa, body): the body is inlined into one copy compiled for AVX2+FMA and one compiled for
// the translation unit's own flags, and the copy to run is picked at run time. A consumer therefore gets
// AVX2 kernels without building with -mavx2, and the same source still runs on any x86-64 (or other) CPU.
// The body receives a tag (Avx2, Generic, or Avx512 from dispatch_wide) for the rare spot that wants an
// instruction the vector extensions cannot spell (a broadcast straight from memory).
//
// AVX-512 (Isa::avx512: AVX-512 F, VL and DQ) pays only where a kernel is written for 512-bit vectors and
// 32 registers: dispatch() runs the AVX2 copy of a body on such a CPU (a third copy of every 256-bit body
// would cost compile time and gain nothing), and dispatch_wide() adds a copy compiled for AVX-512, whose
// tag (Avx512) the body uses to pick its vector width and register block (vec_of<T, 64>).
// Today that is the packed GEMM (batched_gemm.hpp), which carries the bulk of a convolution's work.
//
// Rules for kernel bodies: take the ISA from active_isa() in the calling thread and call dispatch() inside
// each parallel chunk (a chunk's body is not inlined into the AVX2 copy); helpers are always inlined and
// return vectors through references, never by value (see load()).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

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

enum class Isa { generic, avx2, avx512 };

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2+fma";
    case Isa::generic: break;
  }
  return "generic";
}

// Whether this CPU (and its operating system, which must save the wider registers) runs the copies built
// for `isa`.
inline bool cpu_supports(Isa isa) {
#if ANYCOST_SIMD_X86
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == Isa::avx2) return avx2;
  if (isa == Isa::avx512)
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
#endif
  return isa == Isa::generic;
}

// Every instruction set this CPU runs, the portable copy first: what the kernel tests loop over.
inline std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512})
    if (cpu_supports(isa)) out.push_back(isa);
  return out;
}

// Best instruction set of this CPU. ANYCOST_CPU_ISA=avx2 or =generic in the environment caps it (for
// comparisons and for testing the lower paths; a level the CPU lacks, or an unknown name, changes nothing).
inline Isa active_isa() {
  static const Isa isa = [] {
    Isa best = Isa::generic;
    for (Isa i : supported_isas()) best = i;
    const char* env = std::getenv("ANYCOST_CPU_ISA");
    if (env)
      for (Isa cap : {Isa::generic, Isa::avx2, Isa::avx512})
        if (std::strcmp(env, isa_name(cap)) == 0 || (cap == Isa::avx2 && std::strcmp(env, "avx2") == 0))
          best = std::min(best, cap);
    return best;
  }();
  return isa;
}
inline const char* active_isa_name() { return isa_name(active_isa()); }

struct Generic {};
struct Avx2 {};
struct Avx512 {};

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
template <class F>
__attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"), flatten)) void run_avx512(const F& f) {
  call_body(f, Avx512{});
}
#endif
template <class F>
__attribute__((flatten)) void run_generic(const F& f) {
  call_body(f, Generic{});
}
}  // namespace detail

// Runs body() (or body(tag)) compiled for `isa`; everything the body calls is inlined into that copy. An
// AVX-512 CPU runs the AVX2 copy (see the top of this file).
template <class F>
void dispatch(Isa isa, const F& body) {
#if ANYCOST_SIMD_X86
  if (isa == Isa::avx2 || isa == Isa::avx512) {
    detail::run_avx2(body);
    return;
  }
#endif
  (void)isa;
  detail::run_generic(body);
}

// As dispatch(), plus a copy compiled for AVX-512 (tag Avx512), for bodies written for 512-bit vectors.
template <class F>
void dispatch_wide(Isa isa, const F& body) {
#if ANYCOST_SIMD_X86
  if (isa == Isa::avx512) {
    detail::run_avx512(body);
    return;
  }
#endif
  dispatch(isa, body);
}

template <class T, int Bytes = 32>
struct VecOf {
  typedef T type __attribute__((vector_size(Bytes)));
};
template <class T>
using vec = typename VecOf<T>::type;
template <class T>
inline constexpr int lanes = static_cast<int>(32 / sizeof(T));
// Vectors of another width (64 bytes: AVX-512); only inside a copy compiled for it.
template <class T, int Bytes>
using vec_of = typename VecOf<T, Bytes>::type;
// The vector width of a dispatch_wide() copy, and the lanes of the widest one: buffers that every copy
// shares round their rows up to wide_lanes.
template <class Tag>
inline constexpr int vec_bytes = std::is_same_v<Tag, Avx512> ? 64 : 32;
template <class T>
inline constexpr int wide_lanes = static_cast<int>(64 / sizeof(T));

// Helpers write through references: a vector returned by value from a call that GCC has not inlined yet
// trips -Wpsabi ("AVX vector return without AVX enabled changes the ABI") at the outermost caller.
// (Any vector width: V is vec<T> or vec_of<T, Bytes>.)
template <class V, class T>
ANYCOST_ALWAYS_INLINE void load(V& v, const T* p) {
  static_assert(sizeof(V) % sizeof(T) == 0);
  std::memcpy(&v, p, sizeof v);
}
template <class T, class V>
ANYCOST_ALWAYS_INLINE void store(T* p, const V& v) {
  static_assert(sizeof(V) % sizeof(T) == 0);
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
