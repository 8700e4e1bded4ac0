// The per-element form of max pooling (backend/params.hpp: Pool2dGeometry), shared by the CUDA kernels and the
// host tests. Each function reproduces backend/cpu/pool.hpp bit for bit:
//   max_pool2d_at          one output: the window scanned in row-major order, padding never wins, the first
//                          maximum wins ties, a NaN wins and stops the scan; its flat position y * w + x in the
//                          input plane goes to index.
//   max_pool2d_scatter_at  one input element: the sum of the output gradients whose argmax it is. The CPU
//                          scatter-adds outputs in increasing order into a zeroed plane; here the windows that
//                          cover the element are visited in that same order, so the sums round alike and no
//                          atomics are needed (at most ceil(kernel / stride)^2 windows per element).
//   max_pool2d_gather_at   one output: the input element at its argmax (the scatter's adjoint).
#pragma once

#include <cstdint>

#include "anycost/backend/params.hpp"
#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

template <class T>
struct MaxPoolArgs {
  const T* x;             // [planes, h, w] contiguous
  T* out;                 // [planes, ho, wo] contiguous
  std::int64_t* index;    // [planes, ho, wo]: argmax positions inside the input plane
  Pool2dGeometry g;
  std::int64_t size() const { return g.planes * g.ho * g.wo; }
};

// grad_in[p, i] = sum of grad_out[p, j] over the outputs j with index[p, j] == i.
template <class T>
struct MaxPoolScatterArgs {
  const T* grad_out;           // [planes, ho, wo] contiguous
  T* grad_in;                  // [planes, h, w] contiguous
  const std::int64_t* index;   // [planes, ho, wo]
  Pool2dGeometry g;
  std::int64_t size() const { return g.planes * g.h * g.w; }
};

// out[p, j] = in[p, index[p, j]].
template <class T>
struct MaxPoolGatherArgs {
  const T* in;                 // [planes, h, w] contiguous
  T* out;                      // [planes, ho, wo] contiguous
  const std::int64_t* index;   // [planes, ho, wo]
  Pool2dGeometry g;
  std::int64_t size() const { return g.planes * g.ho * g.wo; }
};

template <class T>
ANYCOST_HOST_DEVICE void max_pool2d_at(const MaxPoolArgs<T>& a, std::int64_t e) {
  const Pool2dGeometry& g = a.g;
  const std::int64_t ox = e % g.wo, oy = (e / g.wo) % g.ho, pl = e / (g.wo * g.ho);
  const T* src = a.x + pl * g.h * g.w;
  const std::int64_t y0 = oy * g.stride - g.pad, x0 = ox * g.stride - g.pad;
  const std::int64_t y1 = y0 + g.kernel < g.h ? y0 + g.kernel : g.h;
  const std::int64_t x1 = x0 + g.kernel < g.w ? x0 + g.kernel : g.w;
  T best = T(0);
  std::int64_t at = -1;
  bool nan = false;
  for (std::int64_t y = y0 > 0 ? y0 : 0; y < y1 && !nan; ++y)
    for (std::int64_t x = x0 > 0 ? x0 : 0; x < x1 && !nan; ++x) {
      const T v = src[y * g.w + x];
      nan = v != v;  // isnan without <cmath>, the same test on host and device
      if (at < 0 || v > best || nan) {
        best = v;
        at = y * g.w + x;
      }
    }
  a.out[e] = best;
  a.index[e] = at;
}

// The outputs along one axis whose windows cover input coordinate u: [first, last] (empty when first > last).
ANYCOST_HOST_DEVICE void pool_covering(std::int64_t u, std::int64_t out_extent, int kernel, int stride, int pad,
                                       std::int64_t& first, std::int64_t& last) {
  // Output o covers u when o * stride - pad <= u < o * stride - pad + kernel.
  const std::int64_t lo = u + pad - kernel + 1;  // o * stride >= lo
  first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
  last = (u + pad) / stride;  // u + pad >= 0
  if (last > out_extent - 1) last = out_extent - 1;
}

template <class T>
ANYCOST_HOST_DEVICE void max_pool2d_scatter_at(const MaxPoolScatterArgs<T>& a, std::int64_t e) {
  const Pool2dGeometry& g = a.g;
  const std::int64_t x = e % g.w, y = (e / g.w) % g.h, pl = e / (g.w * g.h);
  const std::int64_t at = y * g.w + x, plane_out = g.ho * g.wo;
  const T* gp = a.grad_out + pl * plane_out;
  const std::int64_t* ip = a.index + pl * plane_out;
  std::int64_t oy0, oy1, ox0, ox1;
  pool_covering(y, g.ho, g.kernel, g.stride, g.pad, oy0, oy1);
  pool_covering(x, g.wo, g.kernel, g.stride, g.pad, ox0, ox1);
  T total = T(0);
  for (std::int64_t oy = oy0; oy <= oy1; ++oy)
    for (std::int64_t ox = ox0; ox <= ox1; ++ox) {
      const std::int64_t j = oy * g.wo + ox;
      if (ip[j] == at) total += gp[j];
    }
  a.grad_in[e] = total;
}

template <class T>
ANYCOST_HOST_DEVICE void max_pool2d_gather_at(const MaxPoolGatherArgs<T>& a, std::int64_t e) {
  const std::int64_t plane_out = a.g.ho * a.g.wo;
  a.out[e] = a.in[(e / plane_out) * a.g.h * a.g.w + a.index[e]];
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
