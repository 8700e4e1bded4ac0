// Whole-buffer primitives on Thrust (CUDA's own library, in the toolkit): the device fill behind Tensor::full /
// ones (the backward seed included) and the reverse copy that flips upfirdn2d's FIR kernel for its backward.
// Thrust's kernels for these are as fast as hand-written grid-stride loops (one read and/or one write per
// element), so none is written here. `par_nosync` queues the work on the calling thread's current stream without
// the synchronisation Thrust otherwise adds at the end of an algorithm.
//
// Kept hand-written, with the reason (benchmarks/cuda/ops_cuda_bench.cpp times them on the GPU check):
// - sums (kernels/reduce.cuh): keepdim sums over any strided set of dims, accumulated in double in the CPU's
//   order and split deterministically; CUB's segmented reductions need contiguous segments and would first
//   need a permuting copy. They already use CUB's block reduction for the per-block part.
// - strided copies with dtype conversion (runtime.cuh): a collapsed strided plan with 32-bit indices where they
//   fit; contiguous same-dtype copies already go to cudaMemcpyAsync.
// - channel sorting by importance (models/channel_sort.hpp): a stable host sort of one norm per channel (at most
//   512 per layer), done once per model; a device sort would add two transfers to save microseconds.
// nvcc only: included by units/sequence.cu.
#pragma once

#include <cstdint>

#include <thrust/execution_policy.h>
#include <thrust/fill.h>
#include <thrust/reverse.h>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/cuda/kernels/launch.cuh"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

namespace detail {
inline auto on_stream(const LaunchContext& ctx) { return thrust::cuda::par_nosync.on(ctx.stream()); }

}  // namespace detail

void reverse_copy(const StridedRef& in, const StridedRef& out) {
  const std::int64_t n = detail::contiguous_numel(in, "reverse_copy");
  ANYCOST_CHECK(in.dtype == out.dtype && detail::contiguous_numel(out, "reverse_copy") == n, ShapeError,
                "reverse_copy: input and output differ in dtype or size");
  if (n == 0) return;
  const detail::LaunchContext ctx(out.data);
  dispatch_dtype(in.dtype, [&](auto z) {
    using T = decltype(z);
    const T* src = static_cast<const T*>(in.data);
    thrust::reverse_copy(detail::on_stream(ctx), src, src + n, static_cast<T*>(out.data));
  });
  detail::check_launch(ctx, "thrust::reverse_copy");
}

}  // namespace backend::cuda

namespace cuda_hooks {
void fill(void* dst, DType dtype, std::int64_t n, double value) {
  if (n <= 0) return;
  const backend::cuda::detail::LaunchContext ctx(dst);
  dispatch_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    thrust::fill_n(backend::cuda::detail::on_stream(ctx), static_cast<T*>(dst), n, static_cast<T>(value));
  });
  backend::cuda::detail::check_launch(ctx, "thrust::fill_n");
}
}  // namespace cuda_hooks
ANYCOST_NAMESPACE_END
