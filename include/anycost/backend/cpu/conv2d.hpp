// CPU 2-D convolution and its two gradient forms, by im2col/col2im + GEMM.
//
// Inputs and outputs are contiguous NCHW. Weights may be prefix slices of a larger weight (the anycost
// sub-network case): each output row [Cin/g, kh, kw] must be contiguous, rows may be strided, so a sliced
// weight is read in place through the GEMM leading dimension.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "anycost/backend/cpu/gemm.hpp"
#include "anycost/backend/params.hpp"
#include "anycost/core/parallel.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

namespace detail {
// cols[(c*kh + a)*kw + b, y*wo + x] = x_padded[c, y*sh + a, x*sw + b]
template <class T>
void im2col(const T* x, std::int64_t c, std::int64_t h, std::int64_t w, int kh, int kw, const Conv2dParams& p,
            std::int64_t ho, std::int64_t wo, T* cols) {
  parallel_for(c * kh * kw, 8, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r) {
      const std::int64_t ci = r / (kh * kw), a = (r / kw) % kh, b = r % kw;
      T* dst = cols + r * ho * wo;
      const T* src = x + ci * h * w;
      for (std::int64_t y = 0; y < ho; ++y) {
        const std::int64_t iy = y * p.stride_h + a - p.pad_h;
        T* d = dst + y * wo;
        if (iy < 0 || iy >= h) {
          std::fill_n(d, wo, T(0));
          continue;
        }
        const T* s = src + iy * w;
        for (std::int64_t xx = 0; xx < wo; ++xx) {
          const std::int64_t ix = xx * p.stride_w + b - p.pad_w;
          d[xx] = ix >= 0 && ix < w ? s[ix] : T(0);
        }
      }
    }
  });
}

// Adjoint of im2col: x_padded[c, y*sh + a, x*sw + b] += cols[...]; x must be zeroed by the caller.
template <class T>
void col2im(const T* cols, std::int64_t c, std::int64_t h, std::int64_t w, int kh, int kw, const Conv2dParams& p,
            std::int64_t ho, std::int64_t wo, T* x) {
  parallel_for(c, 1, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t ci = c0; ci < c1; ++ci) {
      T* dst = x + ci * h * w;
      for (int a = 0; a < kh; ++a)
        for (int b = 0; b < kw; ++b) {
          const T* src = cols + ((ci * kh + a) * kw + b) * ho * wo;
          for (std::int64_t y = 0; y < ho; ++y) {
            const std::int64_t iy = y * p.stride_h + a - p.pad_h;
            if (iy < 0 || iy >= h) continue;
            T* d = dst + iy * w;
            const T* s = src + y * wo;
            for (std::int64_t xx = 0; xx < wo; ++xx) {
              const std::int64_t ix = xx * p.stride_w + b - p.pad_w;
              if (ix >= 0 && ix < w) d[ix] += s[xx];
            }
          }
        }
    }
  });
}

inline bool is_identity_im2col(int kh, int kw, const Conv2dParams& p) {
  return kh == 1 && kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
}
}  // namespace detail

// y[N, Cout, Ho, Wo] = conv2d(x[N, Cin, H, W], w[Cout, Cin/g, kh, kw]); y is overwritten.
template <class T>
void conv2d(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p) {
  const std::int64_t n = x.size(0), cin = x.size(1), h = x.size(2), wd = x.size(3);
  const std::int64_t cout = w.size(0), kh = w.size(2), kw = w.size(3), ho = y.size(2), wo = y.size(3);
  const std::int64_t g = p.groups, cig = cin / g, cog = cout / g, kdim = cig * kh * kw;
  const T* xp = static_cast<const T*>(x.raw_data());
  const T* wp = static_cast<const T*>(w.raw_data());
  T* yp = static_cast<T*>(y.raw_data());
  const bool direct = detail::is_identity_im2col(static_cast<int>(kh), static_cast<int>(kw), p);
  std::vector<T> cols(direct ? 0 : static_cast<std::size_t>(kdim * ho * wo));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t gi = 0; gi < g; ++gi) {
      const T* xg = xp + (i * cin + gi * cig) * h * wd;
      const T* b = xg;
      if (!direct) {
        detail::im2col(xg, cig, h, wd, static_cast<int>(kh), static_cast<int>(kw), p, ho, wo, cols.data());
        b = cols.data();
      }
      gemm<T>(false, false, cog, ho * wo, kdim, T(1), wp + gi * cog * w.stride(0), w.stride(0), b, ho * wo, T(0),
              yp + (i * cout + gi * cog) * ho * wo, ho * wo);
    }
}

// out[N, Cout, Ho, Wo] = conv_transpose2d(z[N, Cz, Hz, Wz], w[Cz, Cout/g, kh, kw]): the adjoint of conv2d
// with respect to its input (out is overwritten; its size fixes the output padding).
template <class T>
void conv_transpose2d(const Tensor& z, const Tensor& w, const Tensor& out, const Conv2dParams& p) {
  const std::int64_t n = z.size(0), cz = z.size(1), hz = z.size(2), wz = z.size(3);
  const std::int64_t kh = w.size(2), kw = w.size(3), cout = out.size(1), ho = out.size(2), wo = out.size(3);
  const std::int64_t g = p.groups, czg = cz / g, cog = cout / g, kdim = cog * kh * kw;
  const T* zp = static_cast<const T*>(z.raw_data());
  const T* wp = static_cast<const T*>(w.raw_data());
  T* op = static_cast<T*>(out.raw_data());
  out.zero_();
  const bool direct = detail::is_identity_im2col(static_cast<int>(kh), static_cast<int>(kw), p);
  std::vector<T> cols(direct ? 0 : static_cast<std::size_t>(kdim * hz * wz));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t gi = 0; gi < g; ++gi) {
      T* og = op + (i * cout + gi * cog) * ho * wo;
      T* c = direct ? og : cols.data();
      gemm<T>(true, false, kdim, hz * wz, czg, T(1), wp + gi * czg * w.stride(0), w.stride(0),
              zp + (i * cz + gi * czg) * hz * wz, hz * wz, direct ? T(1) : T(0), c, hz * wz);
      if (!direct) detail::col2im(c, cog, ho, wo, static_cast<int>(kh), static_cast<int>(kw), p, hz, wz, og);
    }
}

// dw[Cout, Cin/g, kh, kw] = gradient of <gy, conv2d(x, w)> with respect to w (dw contiguous, overwritten).
template <class T>
void conv2d_weight_grad(const Tensor& x, const Tensor& gy, const Tensor& dw, const Conv2dParams& p) {
  const std::int64_t n = x.size(0), cin = x.size(1), h = x.size(2), wd = x.size(3);
  const std::int64_t cout = dw.size(0), kh = dw.size(2), kw = dw.size(3), ho = gy.size(2), wo = gy.size(3);
  const std::int64_t g = p.groups, cig = cin / g, cog = cout / g, kdim = cig * kh * kw;
  const T* xp = static_cast<const T*>(x.raw_data());
  const T* gp = static_cast<const T*>(gy.raw_data());
  T* dp = static_cast<T*>(dw.raw_data());
  const bool direct = detail::is_identity_im2col(static_cast<int>(kh), static_cast<int>(kw), p);
  std::vector<T> cols(direct ? 0 : static_cast<std::size_t>(kdim * ho * wo));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t gi = 0; gi < g; ++gi) {
      const T* xg = xp + (i * cin + gi * cig) * h * wd;
      const T* b = xg;
      if (!direct) {
        detail::im2col(xg, cig, h, wd, static_cast<int>(kh), static_cast<int>(kw), p, ho, wo, cols.data());
        b = cols.data();
      }
      gemm<T>(false, true, cog, kdim, ho * wo, T(1), gp + (i * cout + gi * cog) * ho * wo, ho * wo, b, ho * wo,
              i == 0 ? T(0) : T(1), dp + gi * cog * kdim, kdim);
    }
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END
