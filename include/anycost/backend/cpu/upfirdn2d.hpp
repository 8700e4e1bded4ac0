// CPU upfirdn2d (see backend/params.hpp for the definition): every NCHW plane is upsampled by zero-stuffing,
// padded (negative pads crop), convolved with the 2-D FIR kernel and decimated.
#pragma once

#include <cstdint>
#include <vector>

#include "anycost/backend/params.hpp"
#include "anycost/core/parallel.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

// x [N, C, H, W] contiguous, k [kh, kw] contiguous, out [N, C, Ho, Wo] contiguous (overwritten).
template <class T>
void upfirdn2d(const Tensor& x, const Tensor& k, const Tensor& out, const UpFirDnParams& p) {
  const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const int kh = static_cast<int>(k.size(0)), kw = static_cast<int>(k.size(1));
  const std::int64_t ho = out.size(2), wo = out.size(3);
  const T* xp = static_cast<const T*>(x.raw_data());
  const T* kp = static_cast<const T*>(k.raw_data());
  T* op = static_cast<T*>(out.raw_data());
  // The convolution flips the kernel; flip once so the inner loop correlates.
  std::vector<T> kf(static_cast<std::size_t>(kh) * kw);
  for (int a = 0; a < kh; ++a)
    for (int b = 0; b < kw; ++b) kf[a * kw + b] = kp[(kh - 1 - a) * kw + (kw - 1 - b)];
  // For each output column, the input column and kernel tap of every non-zero product along x.
  struct Tap {
    std::int64_t src;
    int tap;
  };
  std::vector<std::vector<Tap>> col_taps(static_cast<std::size_t>(wo));
  for (std::int64_t ox = 0; ox < wo; ++ox)
    for (int b = 0; b < kw; ++b) {
      const std::int64_t u = ox * p.down + b - p.pad_x0;
      if (u >= 0 && u % p.up == 0 && u / p.up < w) col_taps[ox].push_back({u / p.up, b});
    }
  parallel_for(planes, 1, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t pl = b0; pl < b1; ++pl) {
      const T* src = xp + pl * h * w;
      T* dst = op + pl * ho * wo;
      for (std::int64_t oy = 0; oy < ho; ++oy) {
        T* drow = dst + oy * wo;
        for (std::int64_t ox = 0; ox < wo; ++ox) drow[ox] = T(0);
        for (int a = 0; a < kh; ++a) {
          const std::int64_t u = oy * p.down + a - p.pad_y0;
          if (u < 0 || u % p.up != 0 || u / p.up >= h) continue;
          const T* srow = src + (u / p.up) * w;
          const T* krow = kf.data() + a * kw;
          for (std::int64_t ox = 0; ox < wo; ++ox) {
            T acc = T(0);
            for (const Tap& t : col_taps[ox]) acc += srow[t.src] * krow[t.tap];
            drow[ox] += acc;
          }
        }
      }
    }
  });
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END
