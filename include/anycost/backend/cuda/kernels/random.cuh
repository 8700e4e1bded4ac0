// Philox fills on CUDA (random_plan.hpp), bit-identical to the CPU fill. These units must not be compiled with
// --use_fast_math (IEEE division and square root are part of that guarantee; core/rng.hpp keeps nvcc's default
// fma contraction out of the arithmetic).
// nvcc only: included by units/random.cu.
#pragma once

#include <cstdint>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/cuda/kernels/launch.cuh"
#include "anycost/backend/cuda/random_plan.hpp"

#if defined(__CUDACC__) && defined(__USE_FAST_MATH__)
#error "anycost's CUDA units must not be compiled with --use_fast_math (Philox normals must match the CPU bit for bit)"
#endif

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

namespace detail {
template <class T>
struct PhiloxFillOp {
  PhiloxFillArgs<T> a;
  __device__ void operator()(std::int64_t b) const { philox_fill_at(a, b); }
};
}  // namespace detail

void fill_random(const StridedRef& out, std::uint64_t key, std::uint64_t first_block, bool normal) {
  const std::int64_t n = detail::contiguous_numel(out, "fill_random");
  if (n == 0) return;
  const detail::LaunchContext ctx(out.data);
  dispatch_dtype(out.dtype, [&](auto z) {
    using T = decltype(z);
    const PhiloxFillArgs<T> a{static_cast<T*>(out.data), n, key, first_block, normal};
    detail::launch_for_each(ctx, detail::PhiloxFillOp<T>{a}, a.blocks());
  });
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
