// CPU matrix multiply over strided (row-major, leading-dimension) operands, so transposed and prefix-sliced
// weights need no copy. Plain products (alpha 1, beta 0 or 1) run on the packed GEMM of batched_gemm.hpp (up to
// four rows: gemv.hpp, B read in place), whose kernels are picked for this CPU at run time; with
// ANYCOST_USE_BLAS (set by the CMake option when a BLAS is found) products above 64 MFLOP go to the system BLAS
// (OpenBLAS on Debian) instead. Small products stay ours whatever the build: a BLAS call's fixed cost dominates
// them, and Debian's OpenBLAS 0.3.21 falls back to its SSE3 kernels on CPUs it does not know. Other alpha/beta
// go to the BLAS, or Eigen without one.
//
// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, all row-major with leading dims lda, ldb, ldc.
#pragma once

#include <cstdint>
#include <type_traits>

#include <Eigen/Core>

#include "anycost/backend/cpu/batched_gemm.hpp"
#include "anycost/backend/cpu/gemv.hpp"
#include "anycost/backend/cpu/simd.hpp"

#if defined(ANYCOST_USE_BLAS)
extern "C" {
void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc);
void dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc);
}
#endif

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  if (m == 0 || n == 0) return;
  const bool plain = alpha == T(1) && (beta == T(0) || beta == T(1));
#if defined(ANYCOST_USE_BLAS)
  const bool ours = plain && 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) < 64e6;
#else
  const bool ours = plain;
#endif
  if (ours) {
    // A [m, k] is stored [k, m] when transposed, likewise B: a transpose only swaps the strides.
    const StridedMatrix<T> sa = trans_a ? StridedMatrix<T>{a, 1, lda} : StridedMatrix<T>{a, lda, 1};
    const StridedMatrix<T> sb = trans_b ? StridedMatrix<T>{b, 1, ldb} : StridedMatrix<T>{b, ldb, 1};
    if (m <= gemv_max_rows) {
      gemm_few_rows(m, n, k, sa, sb, c, ldc, beta == T(1), simd::active_isa());
      return;
    }
    const GemmTerm<T> term{sa, sb, k};
    const GemmProduct<T> product{m, n, &term, 1, c, ldc, beta == T(1)};
    gemm_products(&product, 1, simd::active_isa());
    return;
  }
#if defined(ANYCOST_USE_BLAS)
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  const int M = static_cast<int>(n), N = static_cast<int>(m), K = static_cast<int>(k);
  const int LDA = static_cast<int>(ldb), LDB = static_cast<int>(lda), LDC = static_cast<int>(ldc);
  const char ta = trans_b ? 'T' : 'N', tb = trans_a ? 'T' : 'N';
  if (k == 0) {
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  if constexpr (std::is_same_v<T, float>)
    sgemm_(&ta, &tb, &M, &N, &K, &alpha, b, &LDA, a, &LDB, &beta, c, &LDC);
  else
    dgemm_(&ta, &tb, &M, &N, &K, &alpha, b, &LDA, a, &LDB, &beta, c, &LDC);
#else
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  Eigen::Map<Mat, Eigen::Unaligned, Stride> C(c, m, n, Stride(ldc));
  auto run = [&](const auto& A, const auto& B) {
    if (beta == T(0))
      C.noalias() = alpha * (A * B);
    else {
      if (beta != T(1)) C *= beta;
      C.noalias() += alpha * (A * B);
    }
  };
  // A stored row-major as [m,k] (no transpose) or [k,m] (transpose), likewise B.
  Eigen::Map<const Mat, Eigen::Unaligned, Stride> A(a, trans_a ? k : m, trans_a ? m : k, Stride(lda));
  Eigen::Map<const Mat, Eigen::Unaligned, Stride> B(b, trans_b ? n : k, trans_b ? k : n, Stride(ldb));
  if (!trans_a && !trans_b) run(A, B);
  else if (trans_a && !trans_b) run(A.transpose(), B);
  else if (!trans_a && trans_b) run(A, B.transpose());
  else run(A.transpose(), B.transpose());
#endif
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END
