// Products with a few rows, C[m, n] (+)= A[m, k]·B[k, n] for m ≤ 4: a batch-1 linear layer (the style affines,
// the mapping network). Every element of B is used at most m times, so packing it into GEMM panels would cost
// more than the product; B is read in place instead, by rows (B row-major: C rows accumulate a·B[p, :]) or by
// columns (B stored transposed, as a linear layer's weight is: one dot product per element of C).
// A and B are strided views as in batched_gemm.hpp; C is row-major.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "anycost/backend/cpu/batched_gemm.hpp"
#include "anycost/backend/cpu/simd.hpp"
#include "anycost/core/parallel.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

inline constexpr std::int64_t gemv_max_rows = 4;

namespace detail {
// Σ_p x[p]·y[p] over contiguous x and y.
template <class T>
ANYCOST_ALWAYS_INLINE T dot(const T* x, const T* y, std::int64_t k) {
  using V = simd::vec<T>;
  constexpr int L = simd::lanes<T>;
  V s0{}, s1{};
  std::int64_t p = 0;
  for (; p + 2 * L <= k; p += 2 * L) {
    V x0, y0, x1, y1;
    simd::load(x0, x + p);
    simd::load(y0, y + p);
    simd::load(x1, x + p + L);
    simd::load(y1, y + p + L);
    s0 += x0 * y0;
    s1 += x1 * y1;
  }
  s0 += s1;
  T s = T(0);
  for (int l = 0; l < L; ++l) s += s0[l];
  for (; p < k; ++p) s += x[p] * y[p];
  return s;
}
}  // namespace detail

// C (+)= A·B for m ≤ gemv_max_rows rows of A.
template <class T>
void gemm_few_rows(std::int64_t m, std::int64_t n, std::int64_t k, StridedMatrix<T> a, StridedMatrix<T> b, T* c,
                   std::int64_t ldc, bool accumulate, simd::Isa isa) {
  // A's rows, contiguous (a few k-vectors).
  std::vector<T> rows(static_cast<std::size_t>(m * k));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t p = 0; p < k; ++p) rows[static_cast<std::size_t>(i * k + p)] = a.p[i * a.rs + p * a.cs];
  const bool by_columns = b.rs == 1 && b.cs != 1;
  // At least 32 K multiply-adds (128 KiB of B) per chunk. B is usually read from memory (a batch-1 layer's
  // weight), so the product is bandwidth-bound and a second thread pays from about there.
  const std::int64_t grain = std::max<std::int64_t>(by_columns ? 1 : 64, (std::int64_t{1} << 15) / std::max<std::int64_t>(1, m * k));
  parallel_for(n, grain, [&](std::int64_t j0, std::int64_t j1) {
    simd::dispatch(isa, [&] {
      for (std::int64_t i = 0; i < m; ++i) {
        const T* ar = rows.data() + i * k;
        T* ci = c + i * ldc;
        if (by_columns) {
          for (std::int64_t j = j0; j < j1; ++j) ci[j] = (accumulate ? ci[j] : T(0)) + detail::dot(ar, b.p + j * b.cs, k);
          continue;
        }
        if (!accumulate) std::fill(ci + j0, ci + j1, T(0));
        for (std::int64_t p = 0; p < k; ++p) {
          const T ap = ar[p];
          const T* bp = b.p + p * b.rs;
          if (b.cs == 1)
            for (std::int64_t j = j0; j < j1; ++j) ci[j] += ap * bp[j];
          else
            for (std::int64_t j = j0; j < j1; ++j) ci[j] += ap * bp[j * b.cs];
        }
      }
    });
  });
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END

#pragma GCC diagnostic pop
