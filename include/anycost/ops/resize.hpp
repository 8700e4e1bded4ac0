// Bilinear resizing of NCHW images (torch.nn.functional.interpolate(mode='bilinear') with an explicit size),
// and integer nearest-neighbour upscaling for display.
//
// Bilinear interpolation is separable and linear, so it is written as two matrix products with small constant
// interpolation matrices: out = A_h · x · A_w^T, A_h [out_h, H], A_w [out_w, W] (two non-zeros per row). Built
// on matmul, it runs on every device matmul runs on and is differentiable to any order for free (its
// backward is x_grad = A_h^T · g · A_w). The tensor A is built once per call on the CPU in float64 and moved
// to x's dtype and device.
//
// Source coordinate of output index i along an axis of input extent n and output extent m (PyTorch's
// area_pixel_compute_source_index):
//   AlignCorners::yes   s = i (n - 1) / (m - 1)  (s = 0 when m = 1): the corner pixels' centres coincide
//   AlignCorners::no    s = max((i + 0.5) n / m - 0.5, 0): pixel areas align
// then out = (1 - f) x[floor(s)] + f x[min(floor(s) + 1, n - 1)], f = s - floor(s).
// The consistency loss uses AlignCorners::yes (tools/train_gan.py and utils/train_utils.py of the official
// code: get_teacher_multi_res, adaptive_downsample256).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "anycost/ops/linalg.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN

enum class AlignCorners : std::uint8_t { no, yes };

namespace detail {
// The [m, n] interpolation matrix of one axis, float64 on the CPU.
inline Tensor bilinear_matrix(std::int64_t n, std::int64_t m, AlignCorners align) {
  Tensor a = Tensor::zeros({m, n}, DType::float64);
  double* p = a.data<double>();
  for (std::int64_t i = 0; i < m; ++i) {
    double s = 0;
    if (align == AlignCorners::yes)
      s = m > 1 ? static_cast<double>(i) * static_cast<double>(n - 1) / static_cast<double>(m - 1) : 0.0;
    else
      s = std::max((static_cast<double>(i) + 0.5) * static_cast<double>(n) / static_cast<double>(m) - 0.5, 0.0);
    const std::int64_t i0 = std::min(static_cast<std::int64_t>(std::floor(s)), n - 1);
    const std::int64_t i1 = std::min(i0 + 1, n - 1);
    const double f = s - static_cast<double>(i0);
    p[i * n + i0] += 1.0 - f;
    p[i * n + i1] += f;
  }
  return a;
}
}  // namespace detail

// x [N, C, H, W] -> [N, C, out_h, out_w]. An unchanged size returns x itself (both conventions are the
// identity there).
inline Var resize_bilinear(const Var& x, std::int64_t out_h, std::int64_t out_w, AlignCorners align) {
  ANYCOST_CHECK(x.defined() && x.dim() == 4, ShapeError, "resize_bilinear: expects an NCHW input, got shape ",
                x.defined() ? x.shape() : Shape{});
  ANYCOST_CHECK(out_h >= 1 && out_w >= 1, ValueError, "resize_bilinear: output size ", out_h, "x", out_w,
                " must be at least 1x1");
  ANYCOST_CHECK(x.size(2) >= 1 && x.size(3) >= 1, ShapeError, "resize_bilinear: empty input plane in shape ",
                x.shape());
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  if (out_h == h && out_w == w) return x;
  Var y = contiguous(x);
  if (out_w != w) {
    const Var aw_t(detail::bilinear_matrix(w, out_w, align).to(x.dtype()).to(x.device()).transpose(0, 1));
    y = matmul(reshape(y, Shape{n * c * h, w}), aw_t);  // [N*C*H, out_w]
  }
  if (out_h != h) {
    const Var ah(detail::bilinear_matrix(h, out_h, align).to(x.dtype()).to(x.device()));
    y = matmul(ah, reshape(y, Shape{n * c, h, out_w}));  // [N*C, out_h, out_w]
  }
  return reshape(y, Shape{n, c, out_h, out_w});
}

// Nearest-neighbour upscaling of x [N, C, H, W] by an integer factor k (each pixel repeated k x k): a
// low-resolution preview shown at full size without blurring what the sub-network produced. A new tensor
// (x itself when k is 1); not differentiable (display only).
inline Tensor upscale_nearest(const Tensor& x, std::int64_t k) {
  ANYCOST_CHECK(x.dim() == 4 && k >= 1, ShapeError, "upscale_nearest: expected [N, C, H, W] and a factor >= 1, got ",
                x.shape(), " and ", k);
  if (k == 1) return x;
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return x.contiguous().reshape({n, c, h, 1, w, 1}).expand({n, c, h, k, w, k}).contiguous().reshape({n, c, h * k, w * k});
}

ANYCOST_NAMESPACE_END
