// upfirdn2d on CUDA: one thread per output element, the kernel read in place (it is tiny and cached).
// nvcc only: included by units/upfirdn2d.cu.
#pragma once

#include <cstdint>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/cuda/kernels/launch.cuh"
#include "anycost/backend/cuda/upfirdn2d_plan.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

namespace detail {
template <class T>
struct UpFirDnOp {
  UpFirDnArgs<T> a;
  __device__ void operator()(std::int64_t e) const { upfirdn2d_at(a, e); }
};
}  // namespace detail

void upfirdn2d(const StridedRef& x, const StridedRef& k, const StridedRef& out, const UpFirDnParams& p) {
  ANYCOST_CHECK(x.rank == 4 && k.rank == 2 && out.rank == 4 && x.dtype == k.dtype && x.dtype == out.dtype, ShapeError,
                "upfirdn2d: expects NCHW input and output and a 2-D kernel of one dtype");
  ANYCOST_CHECK(p.up >= 1 && p.down >= 1, ValueError, "upfirdn2d: up and down must be >= 1");
  const detail::LaunchContext ctx(out.data);
  dispatch_dtype(x.dtype, [&](auto z) {
    using T = decltype(z);
    const UpFirDnArgs<T> a{static_cast<const T*>(x.data), static_cast<const T*>(k.data), static_cast<T*>(out.data),
                           x.shape[0] * x.shape[1], x.shape[2], x.shape[3], out.shape[2], out.shape[3],
                           static_cast<int>(k.shape[0]), static_cast<int>(k.shape[1]), p};
    detail::launch_for_each(ctx, detail::UpFirDnOp<T>{a}, a.size());
  });
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
