// The per-output-element form of upfirdn2d (backend/params.hpp), shared by the CUDA kernel and the host tests.
// Products are accumulated in the CPU reference's order (per kernel row, taps left to right), so the host
// emulation matches backend/cpu/upfirdn2d.hpp bit for bit.
#pragma once

#include <cstdint>

#include "anycost/backend/params.hpp"
#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

template <class T>
struct UpFirDnArgs {
  const T* x;    // [planes, h, w] contiguous
  const T* k;    // [kh, kw] contiguous, not flipped
  T* out;        // [planes, ho, wo] contiguous
  std::int64_t planes, h, w, ho, wo;
  int kh, kw;
  UpFirDnParams p;
  std::int64_t size() const { return planes * ho * wo; }
};

template <class T>
ANYCOST_HOST_DEVICE void upfirdn2d_at(const UpFirDnArgs<T>& a, std::int64_t e) {
  const std::int64_t ox = e % a.wo, oy = (e / a.wo) % a.ho, pl = e / (a.wo * a.ho);
  const T* src = a.x + pl * a.h * a.w;
  T total = T(0);
  for (int ka = 0; ka < a.kh; ++ka) {
    const std::int64_t u = oy * a.p.down + ka - a.p.pad_y0;
    if (u < 0 || u % a.p.up != 0 || u / a.p.up >= a.h) continue;
    const T* srow = src + (u / a.p.up) * a.w;
    const T* krow = a.k + static_cast<std::int64_t>(a.kh - 1 - ka) * a.kw;  // row ka of the flipped kernel
    T acc = T(0);
    for (int kb = 0; kb < a.kw; ++kb) {
      const std::int64_t v = ox * a.p.down + kb - a.p.pad_x0;
      if (v < 0 || v % a.p.up != 0 || v / a.p.up >= a.w) continue;
      acc += srow[v / a.p.up] * krow[a.kw - 1 - kb];
    }
    total += acc;
  }
  a.out[e] = total;
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
