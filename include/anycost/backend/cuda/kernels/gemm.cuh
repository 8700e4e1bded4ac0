// Row-major strided-batched GEMM on cuBLAS. cuBLAS is column-major: a row-major C[m,n] = op(A) op(B) is the
// column-major C^T[n,m] = op(B)^T op(A)^T, so the operands are swapped and no data moves. FP32 stays FP32 (the
// handle's default math mode, no TF32), so results match the CPU reference to FP32 rounding.
// nvcc only: included by units/gemm.cu.
#pragma once

#include <cstdint>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/cuda/kernels/context.cuh"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

void gemm_strided_batched(DType dtype, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                          double alpha, const void* a, std::int64_t lda, std::int64_t stride_a, const void* b,
                          std::int64_t ldb, std::int64_t stride_b, double beta, void* c, std::int64_t ldc,
                          std::int64_t stride_c, std::int64_t batch) {
  ANYCOST_CHECK(m >= 0 && n >= 0 && k >= 0 && batch >= 0, ValueError, "gemm: negative size (m ", m, ", n ", n,
                ", k ", k, ", batch ", batch, ")");
  if (m == 0 || n == 0 || batch == 0) return;
  ANYCOST_CHECK(ldc >= n && lda >= (trans_a ? m : k) && ldb >= (trans_b ? k : n), ValueError,
                "gemm: leading dimensions (", lda, ", ", ldb, ", ", ldc, ") too small for m ", m, ", n ", n, ", k ", k);
  const detail::LaunchContext ctx(c);
  const detail::BlasLease blas(ctx);
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  // cuBLAS wants leading dims >= 1 even for degenerate operands.
  const std::int64_t la = lda > 0 ? lda : 1, lb = ldb > 0 ? ldb : 1;
  if (dtype == DType::float32) {
    const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
    ANYCOST_CUBLAS_CHECK(cublasSgemmStridedBatched_64(blas.get(), op_b, op_a, n, m, k, &al, static_cast<const float*>(b),
                                                      lb, stride_b, static_cast<const float*>(a), la, stride_a, &be,
                                                      static_cast<float*>(c), ldc, stride_c, batch));
  } else {
    ANYCOST_CUBLAS_CHECK(cublasDgemmStridedBatched_64(blas.get(), op_b, op_a, n, m, k, &alpha,
                                                      static_cast<const double*>(b), lb, stride_b,
                                                      static_cast<const double*>(a), la, stride_a, &beta,
                                                      static_cast<double*>(c), ldc, stride_c, batch));
  }
  detail::check_launch(ctx, dtype == DType::float32 ? "cublasSgemmStridedBatched_64" : "cublasDgemmStridedBatched_64");
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
