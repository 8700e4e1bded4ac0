// Keepdim sums (the reduction under sum_to, sum and mean), accumulated in double like the CPU reference.
// Short sums, or sums whose adjacent outputs read adjacent inputs, use a thread per output; long sums use a
// block per output (CUB block reduction), split over several blocks when there are few outputs, with a second
// deterministic pass over the partial sums. No atomics: results do not depend on scheduling.
// nvcc only: included by units/reduce.cu.
#pragma once

#include <cstdint>

#include <cub/block/block_reduce.cuh>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/cuda/kernels/launch.cuh"
#include "anycost/backend/cuda/strided_plan.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

namespace detail {
template <class T>
struct SumPerThreadOp {
  ReducePlan plan;
  const T* in;
  T* out;
  __device__ void operator()(std::int64_t o) const {
    std::int64_t in_off, out_off;
    plan.kept_offsets(o, in_off, out_off);
    out[out_off] = static_cast<T>(sum_reduced(plan, in, in_off, 0, plan.n_red, 1));
  }
};

// Block (o, s) sums reduced elements [s*chunk, min((s+1)*chunk, n_red)) of output o. With one split it writes
// the output, otherwise partial[o * splits + s].
template <class T>
__global__ void __launch_bounds__(block_threads)
    sum_blocks_kernel(const __grid_constant__ ReducePlan plan, const T* in, T* out, double* partial,
                      std::int64_t splits, std::int64_t chunk) {
  using BlockReduce = cub::BlockReduce<double, block_threads>;
  __shared__ typename BlockReduce::TempStorage temp;
  for (std::int64_t task = blockIdx.x; task < plan.n_out * splits; task += gridDim.x) {
    const std::int64_t o = task / splits, s = task - o * splits;
    std::int64_t in_off, out_off;
    plan.kept_offsets(o, in_off, out_off);
    const std::int64_t j0 = s * chunk, j1 = j0 + chunk < plan.n_red ? j0 + chunk : plan.n_red;
    const double total = BlockReduce(temp).Sum(sum_reduced(plan, in, in_off, j0 + threadIdx.x, j1, block_threads));
    if (threadIdx.x == 0) {
      if (splits == 1)
        out[out_off] = static_cast<T>(total);
      else
        partial[task] = total;
    }
    __syncthreads();  // temp is reused by the next task
  }
}

template <class T>
struct FinishSplitsOp {
  ReducePlan plan;
  const double* partial;
  std::int64_t splits;
  T* out;
  __device__ void operator()(std::int64_t o) const {
    std::int64_t in_off, out_off;
    plan.kept_offsets(o, in_off, out_off);
    double acc = 0;
    for (std::int64_t s = 0; s < splits; ++s) acc += partial[o * splits + s];
    out[out_off] = static_cast<T>(acc);
  }
};

template <class T>
void sum_keepdim_typed(const LaunchContext& ctx, const ReducePlan& plan, const T* in, T* out) {
  const ReduceSchedule s = schedule_reduce(plan, static_cast<std::int64_t>(sm_count(ctx.device())) * 8);
  if (s.kind == ReduceSchedule::Kind::thread_per_output) {
    launch_for_each(ctx, SumPerThreadOp<T>{plan, in, out}, plan.n_out);
    return;
  }
  const std::int64_t tasks = plan.n_out * s.splits;
  const std::int64_t max_blocks = static_cast<std::int64_t>(sm_count(ctx.device())) * 32;
  const unsigned blocks = static_cast<unsigned>(tasks < max_blocks ? tasks : max_blocks);
  const DeviceBuffer<double> partial(ctx.device(), s.splits > 1 ? tasks : 0);
  sum_blocks_kernel<T><<<blocks, block_threads, 0, ctx.stream()>>>(plan, in, out, partial.get(), s.splits, s.chunk);
  check_launch(ctx, "sum_blocks_kernel");
  if (s.splits > 1)
    launch_for_each(ctx, FinishSplitsOp<T>{plan, partial.get(), s.splits, out}, plan.n_out);
}
}  // namespace detail

void sum_keepdim(const StridedRef& in, const StridedRef& out) {
  ANYCOST_CHECK(in.dtype == out.dtype, ShapeError, "sum_keepdim: input is ", in.dtype, ", output is ", out.dtype);
  const ReducePlan plan = make_reduce_plan(in, out);
  if (plan.n_out == 0) return;  // (n_red == 0 takes the thread-per-output path and writes zeros)
  const detail::LaunchContext ctx(out.data);
  dispatch_dtype(in.dtype, [&](auto z) {
    using T = decltype(z);
    detail::sum_keepdim_typed<T>(ctx, plan, static_cast<const T*>(in.data), static_cast<T*>(out.data));
  });
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
