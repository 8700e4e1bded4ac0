// CPU matrix multiply over strided (row-major, leading-dimension) operands, so transposed and prefix-sliced
// weights need no copy. Eigen by default; with ANYCOST_USE_BLAS (set by the CMake option when a BLAS is
// found) single and double precision go to the system BLAS (OpenBLAS on Debian).
//
// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, all row-major with leading dims lda, ldb, ldc.
#pragma once

#include <cstdint>
#include <type_traits>

#include <Eigen/Core>

#include "anycost/core/parallel.hpp"

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
