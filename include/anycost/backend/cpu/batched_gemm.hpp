// A packed, register-blocked GEMM for sets of medium-sized products: the alpha² channel-mixing products of
// a Winograd convolution, or the per-tap products of a convolution read in place. All products of a set
// run in one parallel region, split over (product, row block, column block) work items; each item runs on
// one thread, so a set never mixes the library's thread pool with a BLAS library's own.
//
// A product is C = Σ_t A_t·B_t (+ C when accumulating) over one or more terms: a convolution expressed as
// a sum over kernel taps needs no im2col copy. A and B are general strided views (element (i, j) at
// p[i·rs + j·cs]), so transposed and sliced operands cost only a different packing order; C is row-major.
//
// The register block depends on the instruction set (GemmBlock): 6 rows × 2 vectors of 256 bits for AVX2 and
// the portable copy, 8 rows × 3 vectors of 512 bits for AVX-512, whose 32 registers hold 24 accumulators.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "anycost/backend/cpu/scratch.hpp"
#include "anycost/backend/cpu/simd.hpp"
#include "anycost/core/parallel.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
// nvcc's front end parses this header in a .cu consumer (host code, compiled by g++ after it): it does not know
// `#pragma GCC unroll` (warning 1675) but passes the pragma on, so g++ builds the same loops in every unit.
#if defined(__NVCC__)
#pragma nv_diagnostic push
#pragma nv_diag_suppress 1675
#endif

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

template <class T>
struct StridedMatrix {
  const T* p;
  std::int64_t rs, cs;  // row and column strides, in elements
};

// One term A[m×k]·B[k×n] of a product.
template <class T>
struct GemmTerm {
  StridedMatrix<T> a, b;
  std::int64_t k;
};

template <class T>
struct GemmProduct {
  std::int64_t m, n;
  const GemmTerm<T>* terms;
  int n_terms;
  T* c;
  std::int64_t ldc;
  bool accumulate;
};

namespace detail {
// Register block: MR rows × NV vectors of Bytes bytes, per copy of the kernel (simd.hpp's tags). 6 × 16 floats
// (6 × 8 doubles) keeps 12 accumulators in the 16 AVX2 registers with room for the B row and the broadcast A
// value; AVX-512's 32 registers take 8 × 48 floats (24 accumulators, 3 B vectors, A broadcast from memory).
// 8 rows also divide the channel counts that make up M in a convolution (multiples of 8 or 16).
template <class Tag>
struct GemmBlock {
  static constexpr int mr = 6, nv = 2, bytes = 32;
};
template <>
struct GemmBlock<simd::Avx512> {
  static constexpr int mr = 8, nv = 3, bytes = 64;
};
template <class Tag, class T>
inline constexpr int gemm_nr = GemmBlock<Tag>::nv * GemmBlock<Tag>::bytes / static_cast<int>(sizeof(T));
inline constexpr int gemm_mr_max = 8;
// gemm_nc is a multiple of every block's NR (16, 32 and 48 floats; 8, 16 and 24 doubles).
inline constexpr std::int64_t gemm_kc = 384, gemm_nc = 192;

// Ã[k][i] = A(i0 + i, k0 + k) for i < MR (rows past m read as zero).
template <int MR, class T>
ANYCOST_ALWAYS_INLINE void pack_a(const StridedMatrix<T>& a, std::int64_t i0, std::int64_t m, std::int64_t k0,
                                  std::int64_t kc, T* dst) {
  constexpr int mr = MR;
  const std::int64_t rows = std::min<std::int64_t>(mr, m - i0);
  if (a.rs == 1) {  // a transposed A (the up-convolution's Wᵀ): the rows of one k are contiguous
    for (std::int64_t k = 0; k < kc; ++k) {
      const T* src = a.p + i0 + (k0 + k) * a.cs;
      T* d = dst + k * mr;
      if (rows == mr) {
#pragma GCC unroll 8
        for (int i = 0; i < mr; ++i) d[i] = src[i];
      } else {
        for (std::int64_t i = 0; i < rows; ++i) d[i] = src[i];
        for (std::int64_t i = rows; i < mr; ++i) d[i] = T(0);
      }
    }
    return;
  }
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* src = a.p + (i0 + i) * a.rs + k0 * a.cs;
    if (a.cs == 1)
      for (std::int64_t k = 0; k < kc; ++k) dst[k * mr + i] = src[k];
    else
      for (std::int64_t k = 0; k < kc; ++k) dst[k * mr + i] = src[k * a.cs];
  }
  for (std::int64_t i = rows; i < mr; ++i)
    for (std::int64_t k = 0; k < kc; ++k) dst[k * mr + i] = T(0);
}

// dst[t·ld + i] = column i's element t, for the eight 8-float columns src[i·cs ... i·cs + 7]: an 8×8 transpose
// in registers (unpack, then pairs, then halves).
ANYCOST_ALWAYS_INLINE void transpose8x8(const float* src, std::int64_t cs, float* dst, std::int64_t ld) {
  using V = simd::vec<float>;
  V r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) simd::load(r[i], src + i * cs);
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4)
    for (int h = 0; h < 2; ++h) {
      u[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      u[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int i = 0; i < 4; ++i) {
    const V lo = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    const V hi = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    simd::store(dst + i * ld, lo);
    simd::store(dst + (i + 4) * ld, hi);
  }
}

// B̃[panel][k][j] = B(k0 + k, j0 + panel·NR + j) for the nc columns from j0 (columns past n read as zero).
template <int NR, class T>
ANYCOST_ALWAYS_INLINE void pack_b(const StridedMatrix<T>& b, std::int64_t k0, std::int64_t kc, std::int64_t j0,
                                  std::int64_t nc, std::int64_t n, T* dst) {
  constexpr int L = simd::lanes<T>, nr = NR;
  static_assert(NR % L == 0, "a B panel is whole 256-bit vectors");
  for (std::int64_t jp = 0; jp < nc; jp += nr) {
    T* panel = dst + jp * kc;
    const std::int64_t cols = std::min<std::int64_t>(nr, n - j0 - jp);
    if (b.cs == 1) {
      for (std::int64_t k = 0; k < kc; ++k) {
        const T* src = b.p + (k0 + k) * b.rs + j0 + jp;
        if (cols == nr) {
          for (int j = 0; j < NR / L; ++j) {
            simd::vec<T> v;
            simd::load(v, src + j * L);
            simd::store(panel + k * nr + j * L, v);
          }
        } else {  // the last panel of a row
          std::copy_n(src, cols, panel + k * nr);
          std::fill(panel + k * nr + cols, panel + (k + 1) * nr, T(0));
        }
      }
      continue;
    }
    if (b.rs == 1) {
      // Bᵀ stored (the weight gradients): each column is contiguous along k. Reading a cache line of every
      // column per step keeps the reads sequential; walking k across columns instead reads one element of
      // NR lines whose stride (often a multiple of 4 KiB) maps them all to the same L1 set.
      constexpr std::int64_t kb = 64 / sizeof(T);
      std::int64_t kk = 0;
      if constexpr (std::is_same_v<T, float>) {
        // Floats, columns in groups of 8 (a last panel too: Winograd weight gradients have 32 or 64 columns):
        // 8×8 blocks transposed in registers, in the same line-by-line order; padding columns are zeroed.
        if (cols % 8 == 0)
          for (; kk + kb <= kc; kk += kb) {
            for (std::int64_t j = 0; j < cols; j += 8) {
              const T* src = b.p + k0 + kk + (j0 + jp + j) * b.cs;
              if (kk + 4 * kb < kc)
                for (int i = 0; i < 8; ++i) __builtin_prefetch(src + i * b.cs + 4 * kb);
              transpose8x8(src, b.cs, panel + kk * nr + j, nr);
              transpose8x8(src + 8, b.cs, panel + (kk + 8) * nr + j, nr);
            }
            if (cols < nr)
              for (std::int64_t k = kk; k < kk + kb; ++k) std::fill(panel + k * nr + cols, panel + (k + 1) * nr, T(0));
          }
      }
      for (; kk < kc; kk += kb) {
        const std::int64_t k1 = std::min(kc, kk + kb);
        for (std::int64_t j = 0; j < cols; ++j) {
          const T* src = b.p + k0 + (j0 + jp + j) * b.cs;
          // NR streams are more than the hardware prefetcher follows: ask for each column's later lines.
          if (kk + 4 * kb < kc) __builtin_prefetch(src + kk + 4 * kb);
          for (std::int64_t k = kk; k < k1; ++k) panel[k * nr + j] = src[k];
        }
        for (std::int64_t k = kk; k < k1; ++k) std::fill(panel + k * nr + cols, panel + (k + 1) * nr, T(0));
      }
      continue;
    }
    for (std::int64_t k = 0; k < kc; ++k) {
      const T* src = b.p + (k0 + k) * b.rs + (j0 + jp) * b.cs;
      for (std::int64_t j = 0; j < cols; ++j) panel[k * nr + j] = src[j * b.cs];
      for (std::int64_t j = cols; j < nr; ++j) panel[k * nr + j] = T(0);
    }
  }
}

// C(MR × NR block) (+)= A·B over kc, A(i, k) at a[i·ars + k·aks] and B(k, j) at b[k·bks + j] (packed panels,
// or rows read in place); rows ≥ mr and columns ≥ nr are not written.
template <class T>
ANYCOST_ALWAYS_INLINE void micro_kernel(std::int64_t kc, const T* a, std::int64_t ars, std::int64_t aks, const T* b,
                                        std::int64_t bks, T* c, std::int64_t ldc, int mr, int nr, bool accumulate) {
  using V = simd::vec<T>;
  constexpr int MR = GemmBlock<simd::Generic>::mr, NV = GemmBlock<simd::Generic>::nv, L = simd::lanes<T>,
                NR = NV * L;
  V acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = V{};
  const T* arow[MR];
  for (int i = 0; i < MR; ++i) arow[i] = a + i * ars;
  for (std::int64_t k = 0; k < kc; ++k) {
    V bv[NV];
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) simd::load(bv[j], b + k * bks + j * L);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      V av;
      simd::broadcast(av, arow[i] + k * aks);
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j) acc[i][j] += av * bv[j];
    }
  }
  if (mr == MR && nr == NR) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j) {
        T* p = c + i * ldc + j * L;
        if (accumulate) {
          V old;
          simd::load(old, p);
          acc[i][j] += old;
        }
        simd::store(p, acc[i][j]);
      }
    return;
  }
  alignas(64) T tile[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) simd::store(&tile[i][j * L], acc[i][j]);
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
}

#if ANYCOST_SIMD_X86
// The same register block for AVX2: a broadcast straight from memory (an intrinsic, so this copy cannot be
// shared with the portable one) keeps the FMA pipes free; the portable broadcast costs two more
// shuffle-pipe uops per row, about 40% of the kernel's speed.
template <class T>
__attribute__((target("avx2,fma"))) inline void micro_kernel_avx2(std::int64_t kc, const T* a, std::int64_t ars,
                                                                  std::int64_t aks, const T* b, std::int64_t bks,
                                                                  T* c, std::int64_t ldc, int mr, int nr,
                                                                  bool accumulate) {
  using V = simd::vec<T>;
  constexpr int MR = GemmBlock<simd::Avx2>::mr, L = simd::lanes<T>, NR = GemmBlock<simd::Avx2>::nv * L;
  static_assert(MR == 6 && NR == gemm_nr<simd::Avx2, T>, "the AVX2 kernel is written out for a 6 x 2-vector block");
  // Named accumulators: an array of them is kept in memory by GCC once this function is inlined.
  V c00{}, c01{}, c10{}, c11{}, c20{}, c21{}, c30{}, c31{}, c40{}, c41{}, c50{}, c51{};
  const T *a0 = a, *a1 = a + ars, *a2 = a + 2 * ars, *a3 = a + 3 * ars, *a4 = a + 4 * ars, *a5 = a + 5 * ars;
  for (std::int64_t k = 0; k < kc; ++k, b += bks) {
    V b0, b1, av;
    std::memcpy(&b0, b, sizeof(V));
    std::memcpy(&b1, b + L, sizeof(V));
    const std::int64_t o = k * aks;
#define ANYCOST_GEMM_ROW(row)                                                                                 \
  if constexpr (sizeof(T) == 4)                                                                               \
    av = __builtin_bit_cast(V, _mm256_broadcast_ss(reinterpret_cast<const float*>(a##row + o)));             \
  else                                                                                                        \
    av = __builtin_bit_cast(V, _mm256_broadcast_sd(reinterpret_cast<const double*>(a##row + o)));            \
  c##row##0 += av * b0;                                                                                       \
  c##row##1 += av * b1;
    ANYCOST_GEMM_ROW(0)
    ANYCOST_GEMM_ROW(1)
    ANYCOST_GEMM_ROW(2)
    ANYCOST_GEMM_ROW(3)
    ANYCOST_GEMM_ROW(4)
    ANYCOST_GEMM_ROW(5)
#undef ANYCOST_GEMM_ROW
  }
  // Accumulators are copied out (taking their addresses would keep them in memory inside the loop).
  alignas(64) T tile[MR][NR];
  std::memcpy(&tile[0][0], &c00, sizeof(V));
  std::memcpy(&tile[0][L], &c01, sizeof(V));
  std::memcpy(&tile[1][0], &c10, sizeof(V));
  std::memcpy(&tile[1][L], &c11, sizeof(V));
  std::memcpy(&tile[2][0], &c20, sizeof(V));
  std::memcpy(&tile[2][L], &c21, sizeof(V));
  std::memcpy(&tile[3][0], &c30, sizeof(V));
  std::memcpy(&tile[3][L], &c31, sizeof(V));
  std::memcpy(&tile[4][0], &c40, sizeof(V));
  std::memcpy(&tile[4][L], &c41, sizeof(V));
  std::memcpy(&tile[5][0], &c50, sizeof(V));
  std::memcpy(&tile[5][L], &c51, sizeof(V));
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; j += L) {
        T* p = c + i * ldc + j;
        V v, old;
        std::memcpy(&v, &tile[i][j], sizeof(V));
        if (accumulate) {
          std::memcpy(&old, p, sizeof(V));
          v += old;
        }
        std::memcpy(p, &v, sizeof(V));
      }
    return;
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
}

// The AVX-512 block: 8 rows × 3 vectors of 512 bits, A broadcast from memory into the FMA (GCC folds the
// broadcast into the instruction's embedded-broadcast operand), so 11 loads feed 24 FMAs per step of k.
template <class T>
__attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) inline void micro_kernel_avx512(
    std::int64_t kc, const T* a, std::int64_t ars, std::int64_t aks, const T* b, std::int64_t bks, T* c,
    std::int64_t ldc, int mr, int nr, bool accumulate) {
  using V = simd::vec_of<T, 64>;
  constexpr int MR = GemmBlock<simd::Avx512>::mr, L = static_cast<int>(64 / sizeof(T)), NR = 3 * L;
  static_assert(MR == 8 && NR == gemm_nr<simd::Avx512, T>, "the AVX-512 kernel is written out for 8 x 3 vectors");
  // Named accumulators, as in the AVX2 kernel.
  V c00{}, c01{}, c02{}, c10{}, c11{}, c12{}, c20{}, c21{}, c22{}, c30{}, c31{}, c32{};
  V c40{}, c41{}, c42{}, c50{}, c51{}, c52{}, c60{}, c61{}, c62{}, c70{}, c71{}, c72{};
  const T *a0 = a, *a1 = a + ars, *a2 = a + 2 * ars, *a3 = a + 3 * ars;
  const T *a4 = a + 4 * ars, *a5 = a + 5 * ars, *a6 = a + 6 * ars, *a7 = a + 7 * ars;
  for (std::int64_t k = 0; k < kc; ++k, b += bks) {
    V b0, b1, b2, av;
    std::memcpy(&b0, b, sizeof(V));
    std::memcpy(&b1, b + L, sizeof(V));
    std::memcpy(&b2, b + 2 * L, sizeof(V));
    const std::int64_t o = k * aks;
#define ANYCOST_GEMM_ROW(row)                                                                                 \
  if constexpr (sizeof(T) == 4)                                                                               \
    av = __builtin_bit_cast(V, _mm512_set1_ps(*reinterpret_cast<const float*>(a##row + o)));                  \
  else                                                                                                        \
    av = __builtin_bit_cast(V, _mm512_set1_pd(*reinterpret_cast<const double*>(a##row + o)));                 \
  c##row##0 += av * b0;                                                                                       \
  c##row##1 += av * b1;                                                                                       \
  c##row##2 += av * b2;
    ANYCOST_GEMM_ROW(0)
    ANYCOST_GEMM_ROW(1)
    ANYCOST_GEMM_ROW(2)
    ANYCOST_GEMM_ROW(3)
    ANYCOST_GEMM_ROW(4)
    ANYCOST_GEMM_ROW(5)
    ANYCOST_GEMM_ROW(6)
    ANYCOST_GEMM_ROW(7)
#undef ANYCOST_GEMM_ROW
  }
  alignas(64) T tile[MR][NR];
#define ANYCOST_GEMM_OUT(row)                                                                                 \
  std::memcpy(&tile[row][0], &c##row##0, sizeof(V));                                                          \
  std::memcpy(&tile[row][L], &c##row##1, sizeof(V));                                                          \
  std::memcpy(&tile[row][2 * L], &c##row##2, sizeof(V));
  ANYCOST_GEMM_OUT(0)
  ANYCOST_GEMM_OUT(1)
  ANYCOST_GEMM_OUT(2)
  ANYCOST_GEMM_OUT(3)
  ANYCOST_GEMM_OUT(4)
  ANYCOST_GEMM_OUT(5)
  ANYCOST_GEMM_OUT(6)
  ANYCOST_GEMM_OUT(7)
#undef ANYCOST_GEMM_OUT
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; j += L) {
        T* p = c + i * ldc + j;
        V v, old;
        std::memcpy(&v, &tile[i][j], sizeof(V));
        if (accumulate) {
          std::memcpy(&old, p, sizeof(V));
          v += old;
        }
        std::memcpy(p, &v, sizeof(V));
      }
    return;
  }
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
}
#endif

struct GemmItem {
  int product;
  std::int64_t i0, i1, j0, j1;
};

// Whether B's rows can be read in place, without packing: they must be unit-stride and cache-line aligned
// (a load that splits a line costs two), the panel short enough (kc rows) to stay in L1 while the row
// blocks reuse it, and its rows must not fall into the same few L1 sets (a row stride that is a multiple of
// 1 KiB puts every row's first line into 4 of L1's 64 sets). Packing costs a read and a write of B per column
// block; in place, the micro-kernel reads B where the producer (Winograd's input transform) left it.
template <class T>
bool b_in_place(const StridedMatrix<T>& b, std::int64_t kc) {
  const std::int64_t row_bytes = b.rs * static_cast<std::int64_t>(sizeof(T));
  return b.cs == 1 && kc <= 128 && reinterpret_cast<std::uintptr_t>(b.p) % 64 == 0 && row_bytes % 64 == 0 &&
         row_bytes % 1024 != 0;
}

// Rows [i0, i1) × columns [j0, j1) of one product.
template <class Tag, class T>
ANYCOST_ALWAYS_INLINE void run_item(Tag, const GemmProduct<T>& g, const GemmItem& it, T* pa, T* pb) {
  constexpr int MR = GemmBlock<Tag>::mr, NR = gemm_nr<Tag, T>;
  const std::int64_t ncur = it.j1 - it.j0;
  bool first = true;
  for (int t = 0; t < g.n_terms; ++t) {
    const GemmTerm<T>& term = g.terms[t];
    for (std::int64_t k0 = 0; k0 < term.k; k0 += gemm_kc) {
      const std::int64_t kc = std::min(gemm_kc, term.k - k0);
      const bool acc = g.accumulate || !first;
      first = false;
      // In place, only a last partial panel is packed (the kernel reads whole panels).
      const bool b_direct = b_in_place(term.b, kc);
      const std::int64_t full = b_direct ? ncur / NR * NR : 0;
      if (full < ncur) pack_b<NR>(term.b, k0, kc, it.j0 + full, simd::round_up(ncur - full, NR), g.n, pb);
      for (std::int64_t i0 = it.i0; i0 < it.i1; i0 += MR) {
        const int mr = static_cast<int>(std::min<std::int64_t>(MR, it.i1 - i0));
        // Full panels of a row-major A are read in place: each element is used once per column block.
        const bool direct = term.a.cs == 1 && i0 + MR <= g.m;
        const T* a = direct ? term.a.p + i0 * term.a.rs + k0 : pa;
        if (!direct) pack_a<MR>(term.a, i0, g.m, k0, kc, pa);
        for (std::int64_t jp = 0; jp < ncur; jp += NR) {
          T* cp = g.c + i0 * g.ldc + it.j0 + jp;
          const int nr = static_cast<int>(std::min<std::int64_t>(NR, ncur - jp));
          const std::int64_t ars = direct ? term.a.rs : 1, aks = direct ? 1 : MR;
          const bool b_row = jp < full;
          const T* b = b_row ? term.b.p + k0 * term.b.rs + it.j0 + jp : pb + (jp - full) * kc;
          const std::int64_t bks = b_row ? term.b.rs : NR;
#if ANYCOST_SIMD_X86
          if constexpr (std::is_same_v<Tag, simd::Avx512>) {
            micro_kernel_avx512(kc, a, ars, aks, b, bks, cp, g.ldc, mr, nr, acc);
            continue;
          } else if constexpr (std::is_same_v<Tag, simd::Avx2>) {
            micro_kernel_avx2(kc, a, ars, aks, b, bks, cp, g.ldc, mr, nr, acc);
            continue;
          }
#endif
          micro_kernel(kc, a, ars, aks, b, bks, cp, g.ldc, mr, nr, acc);
        }
      }
    }
  }
  if (first && !g.accumulate)  // no terms: C = 0
    for (std::int64_t i = it.i0; i < it.i1; ++i) std::fill_n(g.c + i * g.ldc + it.j0, ncur, T(0));
}
}  // namespace detail

// Computes every product of the set.
template <class T>
void gemm_products(const GemmProduct<T>* products, int count, simd::Isa isa) {
  const bool wide = isa == simd::Isa::avx512;
  const int MR = wide ? detail::GemmBlock<simd::Avx512>::mr : detail::GemmBlock<simd::Avx2>::mr;
  const int NR = wide ? detail::gemm_nr<simd::Avx512, T> : detail::gemm_nr<simd::Avx2, T>;
  // Column blocks first (B is packed once per block); rows are split further only when there are too few
  // items to keep every thread busy.
  std::vector<detail::GemmItem> items;
  double flops = 0;
  std::int64_t col_items = 0;
  for (int p = 0; p < count; ++p) {
    col_items += (products[p].n + detail::gemm_nc - 1) / detail::gemm_nc;
    std::int64_t k = 0;
    for (int t = 0; t < products[p].n_terms; ++t) k += products[p].terms[t].k;
    flops += 2.0 * static_cast<double>(products[p].m) * static_cast<double>(products[p].n) * static_cast<double>(k);
  }
  const int threads = get_num_threads();
  const std::int64_t row_split = col_items >= 4 * threads ? 1 : (4 * threads + col_items - 1) / std::max<std::int64_t>(col_items, 1);
  for (int p = 0; p < count; ++p) {
    const GemmProduct<T>& g = products[p];
    if (g.m <= 0 || g.n <= 0) continue;
    const std::int64_t mb = simd::round_up(std::max<std::int64_t>(1, (g.m + row_split - 1) / row_split), MR);
    const std::int64_t nb = std::min<std::int64_t>(detail::gemm_nc, simd::round_up(g.n, NR));
    for (std::int64_t i0 = 0; i0 < g.m; i0 += mb)
      for (std::int64_t j0 = 0; j0 < g.n; j0 += nb)
        items.push_back({p, i0, std::min(g.m, i0 + mb), j0, std::min(g.n, j0 + nb)});
  }
  if (items.empty()) return;
  // Below about 1 MFLOP per item a second thread costs more than it saves.
  const std::int64_t n_items = static_cast<std::int64_t>(items.size());
  const std::int64_t grain = std::max<std::int64_t>(1, static_cast<std::int64_t>(1e6 / (flops / n_items + 1)));
  parallel_for(n_items, grain, [&](std::int64_t w0, std::int64_t w1) {
    T* pa = scratch<T>(Scratch::gemm_a, detail::gemm_kc * detail::gemm_mr_max);
    T* pb = scratch<T>(Scratch::gemm_b, detail::gemm_kc * detail::gemm_nc);
    simd::dispatch_wide(isa, [&](auto tag) {
      for (std::int64_t w = w0; w < w1; ++w) detail::run_item(tag, products[items[w].product], items[w], pa, pb);
    });
  });
}

// count products C[b] (+)= A[b]·B[b], the operands of product b at p + b·(batch stride).
template <class T>
void batched_gemm(int count, std::int64_t m, std::int64_t n, std::int64_t k, StridedMatrix<T> a, std::int64_t a_bs,
                  StridedMatrix<T> b, std::int64_t b_bs, T* c, std::int64_t ldc, std::int64_t c_bs, bool accumulate,
                  simd::Isa isa) {
  std::vector<GemmTerm<T>> terms(count);
  std::vector<GemmProduct<T>> products(count);
  for (int i = 0; i < count; ++i) {
    terms[i] = {{a.p + i * a_bs, a.rs, a.cs}, {b.p + i * b_bs, b.rs, b.cs}, k};
    products[i] = {m, n, &terms[i], 1, c + i * c_bs, ldc, accumulate};
  }
  gemm_products(products.data(), count, isa);
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END

#pragma GCC diagnostic pop
#if defined(__NVCC__)
#pragma nv_diagnostic pop
#endif
