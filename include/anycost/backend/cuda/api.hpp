// Host-side declarations of every CUDA kernel entry point, over plain-data views. Definitions live in
// backend/cuda/kernels/*.cuh, compiled by nvcc only through backend/cuda/units/*.cu, which the CMake helper
// anycost_enable_cuda(<target>) adds to a program. In a CPU-only build each entry is an inline stub that
// throws NotCompiledError, so layer code calls them unconditionally behind one device switch per op.
#pragma once

#include <cstdint>

#include "anycost/backend/params.hpp"
#include "anycost/core/cuda_hooks.hpp"
#include "anycost/expr/program.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

using cuda_hooks::StridedRef;

#if defined(ANYCOST_WITH_CUDA)
#define ANYCOST_CUDA_ENTRY(signature) signature;
#else
#define ANYCOST_CUDA_ENTRY(signature) \
  [[noreturn]] inline signature { cuda_hooks::not_compiled(); }
#endif

// Fused elementwise expression: out[i] = program(leaves[0][i], ...); leaves are broadcast to out's shape.
ANYCOST_CUDA_ENTRY(void eval_program(const expr::Program& program, const StridedRef* leaves, int n_leaves,
                                     const StridedRef& out))

// out (keepdim form: extent 1 on reduced dims) = sum of in over those dims.
ANYCOST_CUDA_ENTRY(void sum_keepdim(const StridedRef& in, const StridedRef& out))

// Batched row-major GEMM with element strides between batch entries (cuBLAS strided-batched):
// C_i = alpha * op(A_i) op(B_i) + beta * C_i. dtype float32 or float64.
ANYCOST_CUDA_ENTRY(void gemm_strided_batched(DType dtype, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                                             std::int64_t k, double alpha, const void* a, std::int64_t lda,
                                             std::int64_t stride_a, const void* b, std::int64_t ldb,
                                             std::int64_t stride_b, double beta, void* c, std::int64_t ldc,
                                             std::int64_t stride_c, std::int64_t batch))

// Convolutions with the same contracts as backend/cpu/conv2d.hpp (x, z, y, out, dw contiguous; weights with
// contiguous rows).
ANYCOST_CUDA_ENTRY(void conv2d(const StridedRef& x, const StridedRef& w, const StridedRef& y,
                               const backend::Conv2dParams& p))
ANYCOST_CUDA_ENTRY(void conv_transpose2d(const StridedRef& z, const StridedRef& w, const StridedRef& out,
                                         const backend::Conv2dParams& p))
ANYCOST_CUDA_ENTRY(void conv2d_weight_grad(const StridedRef& x, const StridedRef& gy, const StridedRef& dw,
                                           const backend::Conv2dParams& p))

// upfirdn2d with the contract of backend/cpu/upfirdn2d.hpp.
ANYCOST_CUDA_ENTRY(void upfirdn2d(const StridedRef& x, const StridedRef& k, const StridedRef& out,
                                  const backend::UpFirDnParams& p))

// out (contiguous) element i = Philox normal/uniform (key, first_block, i): bit-identical to the CPU.
ANYCOST_CUDA_ENTRY(void fill_random(const StridedRef& out, std::uint64_t key, std::uint64_t first_block, bool normal))

#undef ANYCOST_CUDA_ENTRY

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
