// The generic launch used by most kernels: a grid-stride loop calling a plain-data functor once per element.
// Functors are named structs (no lambdas), checked to be trivially copyable, and passed as __grid_constant__
// so that taking their address in device code does not copy them to local memory.
#pragma once

#include <cstdint>
#include <type_traits>

#include "anycost/backend/cuda/kernels/context.cuh"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda::detail {

inline constexpr int block_threads = 256;

template <class Op>
__global__ void __launch_bounds__(block_threads) for_each_kernel(const __grid_constant__ Op op, std::int64_t n) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) op(i);
}

// Runs op(i) for i in [0, n) on ctx's device and stream.
template <class Op>
void launch_for_each(const LaunchContext& ctx, const Op& op, std::int64_t n) {
  static_assert(std::is_trivially_copyable_v<Op>, "kernel arguments must be plain data");
  if (n <= 0) return;
  for_each_kernel<Op><<<ctx.blocks(n, block_threads), block_threads, 0, ctx.stream()>>>(op, n);
  check_launch(ctx, kernel_name<Op>());
}

// The element count of a view that must be contiguous (throws ValueError naming `op` otherwise).
inline std::int64_t contiguous_numel(const StridedRef& r, const char* op) {
  std::int64_t n = 1, expected = 1;
  bool contiguous = true;
  for (int d = r.rank - 1; d >= 0; --d) {
    n *= r.shape[d];
    if (r.shape[d] != 1 && r.strides[d] != expected) contiguous = false;
    expected *= r.shape[d];
  }
  ANYCOST_CHECK(contiguous, ValueError, op, ": expects contiguous tensors");
  return n;
}

}  // namespace backend::cuda::detail
ANYCOST_NAMESPACE_END
