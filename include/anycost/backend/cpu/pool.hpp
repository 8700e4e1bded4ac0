// CPU max pooling over NCHW planes with PyTorch's semantics (torch.nn.MaxPool2d, floor mode, dilation 1):
// out = floor((H + 2 pad - k) / stride) + 1, padded positions never win (they act as -inf), the first
// maximum in row-major window order wins ties, and a NaN wins over every number (it propagates).
//
// The forward records, for every output element, the flat index (y * W + x) of its maximum inside its input
// plane; the backward is a scatter-add of the output gradient to those positions (windows overlap when
// stride < k, so two outputs may send to one input), and the scatter's own backward is a gather.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "anycost/backend/params.hpp"
#include "anycost/core/parallel.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

using backend::Pool2dGeometry;  // backend/params.hpp: shared with the CUDA kernels

// x, out contiguous; index[planes * ho * wo] receives the argmax positions.
template <class T>
void max_pool2d(const Tensor& x, Tensor& out, std::int64_t* index, const Pool2dGeometry& g) {
  const T* xp = x.data<T>();
  T* op = out.data<T>();
  const std::int64_t plane_in = g.h * g.w, plane_out = g.ho * g.wo;
  parallel_for(g.planes, std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(plane_out * g.kernel, 1)),
               [&](std::int64_t p0, std::int64_t p1) {
                 for (std::int64_t p = p0; p < p1; ++p) {
                   const T* src = xp + p * plane_in;
                   for (std::int64_t oy = 0; oy < g.ho; ++oy)
                     for (std::int64_t ox = 0; ox < g.wo; ++ox) {
                       const std::int64_t y0 = oy * g.stride - g.pad, x0 = ox * g.stride - g.pad;
                       T best = -std::numeric_limits<T>::infinity();
                       std::int64_t at = -1;
                       bool nan = false;
                       const std::int64_t y1 = std::min<std::int64_t>(y0 + g.kernel, g.h);
                       const std::int64_t x1 = std::min<std::int64_t>(x0 + g.kernel, g.w);
                       for (std::int64_t y = std::max<std::int64_t>(y0, 0); y < y1 && !nan; ++y)
                         for (std::int64_t xx = std::max<std::int64_t>(x0, 0); xx < x1 && !nan; ++xx) {
                           const T v = src[y * g.w + xx];
                           nan = std::isnan(v);
                           if (at < 0 || v > best || nan) {
                             best = v;
                             at = y * g.w + xx;
                           }
                         }
                       op[p * plane_out + oy * g.wo + ox] = best;
                       index[p * plane_out + oy * g.wo + ox] = at;
                     }
                 }
               });
}

// grad_in[p, index[p, j]] += grad_out[p, j]; grad_in is zeroed here.
template <class T>
void max_pool2d_scatter(const Tensor& grad_out, Tensor& grad_in, const std::int64_t* index, const Pool2dGeometry& g) {
  const T* gp = grad_out.data<T>();
  T* ip = grad_in.data<T>();
  const std::int64_t plane_in = g.h * g.w, plane_out = g.ho * g.wo;
  parallel_for(g.planes, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(plane_in, 1)),
               [&](std::int64_t p0, std::int64_t p1) {
                 for (std::int64_t p = p0; p < p1; ++p) {
                   T* dst = ip + p * plane_in;
                   for (std::int64_t i = 0; i < plane_in; ++i) dst[i] = T(0);
                   for (std::int64_t j = 0; j < plane_out; ++j) dst[index[p * plane_out + j]] += gp[p * plane_out + j];
                 }
               });
}

// out[p, j] = in[p, index[p, j]] (the adjoint of the scatter).
template <class T>
void max_pool2d_gather(const Tensor& in, Tensor& out, const std::int64_t* index, const Pool2dGeometry& g) {
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  const std::int64_t plane_in = g.h * g.w, plane_out = g.ho * g.wo;
  parallel_for(g.planes * plane_out, 16384, [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) dst[i] = src[(i / plane_out) * plane_in + index[i]];
  });
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END
