// The three convolutions on CUDA: the drivers of conv_plan.hpp run with im2col / col2im / permute kernels and
// cuBLAS GEMMs. Column buffers come from the device allocator and are capped (conv_column_budget_bytes), so a
// large batch is processed in chunks of images. nvcc only: included by units/conv2d.cu.
#pragma once

#include <cstdint>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/cuda/conv_plan.hpp"
#include "anycost/backend/cuda/kernels/launch.cuh"
#include "anycost/backend/cuda/strided_plan.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

namespace detail {
inline constexpr std::int64_t conv_column_budget_bytes = std::int64_t{256} << 20;

template <class T>
struct Im2colOp {
  Im2colArgs<T> a;
  __device__ void operator()(std::int64_t e) const { im2col_at(a, e); }
};
template <class T>
struct Col2imOp {
  Col2imArgs<T> a;
  __device__ void operator()(std::int64_t e) const { col2im_at(a, e); }
};
// dst[r][i][q] = src[i][r][q]
template <class T>
struct PermuteOp {
  const T* src;
  T* dst;
  std::int64_t nb, rows, p;
  __device__ void operator()(std::int64_t e) const {
    const std::int64_t q = e % p, t = e / p, i = t % nb, r = t / nb;
    dst[e] = src[(i * rows + r) * p + q];
  }
};

class CudaConvExec {
 public:
  explicit CudaConvExec(const LaunchContext& ctx) : ctx_(ctx) {}
  template <class T>
  DeviceBuffer<T> alloc(std::int64_t count) {
    return DeviceBuffer<T>(ctx_.device(), count);
  }
  template <class T>
  void im2col(const Im2colArgs<T>& a) {
    launch_for_each(ctx_, Im2colOp<T>{a}, a.size());
  }
  template <class T>
  void col2im(const Col2imArgs<T>& a) {
    launch_for_each(ctx_, Col2imOp<T>{a}, a.size());
  }
  template <class T>
  void permute(const T* src, T* dst, std::int64_t nb, std::int64_t rows, std::int64_t p) {
    launch_for_each(ctx_, PermuteOp<T>{src, dst, nb, rows, p}, nb * rows * p);
  }
  template <class T>
  void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
            std::int64_t sa, const T* b, std::int64_t ldb, std::int64_t sb, T beta, T* c, std::int64_t ldc,
            std::int64_t sc, std::int64_t batch) {
    gemm_strided_batched(dtype_of<T>(), ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch);
  }

 private:
  const LaunchContext& ctx_;
};

template <class T>
std::int64_t budget_elems() {
  return conv_column_budget_bytes / static_cast<std::int64_t>(sizeof(T));
}
}  // namespace detail

void conv2d(const StridedRef& x, const StridedRef& w, const StridedRef& y, const Conv2dParams& p) {
  const ConvGeometry g = conv_geometry(x, w, y, p, "conv2d");
  const std::int64_t lw = weight_row_stride(w, "conv2d");
  const detail::LaunchContext ctx(y.data);
  detail::CudaConvExec ex(ctx);
  dispatch_dtype(x.dtype, [&](auto z) {
    using T = decltype(z);
    conv2d_driver<T>(ex, g, static_cast<const T*>(x.data), static_cast<const T*>(w.data), lw, static_cast<T*>(y.data),
                     detail::budget_elems<T>());
  });
}

void conv_transpose2d(const StridedRef& z, const StridedRef& w, const StridedRef& out, const Conv2dParams& p) {
  // The conv2d whose input is `out` and whose output is `z`.
  const ConvGeometry g = conv_geometry(out, w, z, p, "conv_transpose2d");
  const std::int64_t lw = weight_row_stride(w, "conv_transpose2d");
  const detail::LaunchContext ctx(out.data);
  detail::CudaConvExec ex(ctx);
  dispatch_dtype(z.dtype, [&](auto t) {
    using T = decltype(t);
    conv_transpose2d_driver<T>(ex, g, static_cast<const T*>(z.data), static_cast<const T*>(w.data), lw,
                               static_cast<T*>(out.data), detail::budget_elems<T>());
  });
}

void conv2d_weight_grad(const StridedRef& x, const StridedRef& gy, const StridedRef& dw, const Conv2dParams& p) {
  const ConvGeometry g = conv_geometry(x, dw, gy, p, "conv2d_weight_grad");
  const detail::LaunchContext ctx(dw.data);
  detail::CudaConvExec ex(ctx);
  dispatch_dtype(x.dtype, [&](auto t) {
    using T = decltype(t);
    conv2d_weight_grad_driver<T>(ex, g, static_cast<const T*>(x.data), static_cast<const T*>(gy.data),
                                 static_cast<T*>(dw.data), detail::budget_elems<T>());
  });
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
