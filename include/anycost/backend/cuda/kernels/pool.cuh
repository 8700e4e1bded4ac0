// Max pooling on CUDA: one thread per output (forward, gather) or per input element (the backward scatter,
// written as a gather over the covering windows, so it needs no atomics and sums in the CPU's order).
// nvcc only: included by units/pool.cu.
#pragma once

#include <cstdint>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/cuda/kernels/launch.cuh"
#include "anycost/backend/cuda/pool_plan.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

namespace detail {
template <class T>
struct MaxPoolOp {
  MaxPoolArgs<T> a;
  __device__ void operator()(std::int64_t e) const { max_pool2d_at(a, e); }
};
template <class T>
struct MaxPoolScatterOp {
  MaxPoolScatterArgs<T> a;
  __device__ void operator()(std::int64_t e) const { max_pool2d_scatter_at(a, e); }
};
template <class T>
struct MaxPoolGatherOp {
  MaxPoolGatherArgs<T> a;
  __device__ void operator()(std::int64_t e) const { max_pool2d_gather_at(a, e); }
};

// The pooled-side and input-side views must be contiguous, of one dtype, and hold the geometry's element counts.
inline void check_pool_operands(const StridedRef& in, const StridedRef& pooled, const Pool2dGeometry& g,
                                const char* op) {
  ANYCOST_CHECK(in.dtype == pooled.dtype, ShapeError, op, ": input and output differ in dtype");
  ANYCOST_CHECK(contiguous_numel(in, op) == g.planes * g.h * g.w &&
                    contiguous_numel(pooled, op) == g.planes * g.ho * g.wo,
                ShapeError, op, ": tensor sizes do not match the pooling geometry");
  ANYCOST_CHECK(g.kernel >= 1 && g.stride >= 1 && g.pad >= 0 && 2 * g.pad <= g.kernel, ValueError, op,
                ": bad pooling geometry");
}
}  // namespace detail

void max_pool2d(const StridedRef& x, const StridedRef& out, std::int64_t* index, const Pool2dGeometry& g) {
  detail::check_pool_operands(x, out, g, "max_pool2d");
  const detail::LaunchContext ctx(out.data);
  dispatch_dtype(x.dtype, [&](auto z) {
    using T = decltype(z);
    const MaxPoolArgs<T> a{static_cast<const T*>(x.data), static_cast<T*>(out.data), index, g};
    detail::launch_for_each(ctx, detail::MaxPoolOp<T>{a}, a.size());
  });
}

void max_pool2d_scatter(const StridedRef& grad_out, const StridedRef& grad_in, const std::int64_t* index,
                        const Pool2dGeometry& g) {
  detail::check_pool_operands(grad_in, grad_out, g, "max_pool2d_scatter");
  const detail::LaunchContext ctx(grad_in.data);
  dispatch_dtype(grad_out.dtype, [&](auto z) {
    using T = decltype(z);
    const MaxPoolScatterArgs<T> a{static_cast<const T*>(grad_out.data), static_cast<T*>(grad_in.data), index, g};
    detail::launch_for_each(ctx, detail::MaxPoolScatterOp<T>{a}, a.size());
  });
}

void max_pool2d_gather(const StridedRef& in, const StridedRef& out, const std::int64_t* index,
                       const Pool2dGeometry& g) {
  detail::check_pool_operands(in, out, g, "max_pool2d_gather");
  const detail::LaunchContext ctx(out.data);
  dispatch_dtype(in.dtype, [&](auto z) {
    using T = decltype(z);
    const MaxPoolGatherArgs<T> a{static_cast<const T*>(in.data), static_cast<T*>(out.data), index, g};
    detail::launch_for_each(ctx, detail::MaxPoolGatherOp<T>{a}, a.size());
  });
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
