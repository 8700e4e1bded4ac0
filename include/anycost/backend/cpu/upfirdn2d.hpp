// CPU upfirdn2d (see backend/params.hpp for the definition): every NCHW plane is upsampled by zero-stuffing,
// padded (negative pads crop), convolved with the 2-D FIR kernel and decimated.
//
// A rank-1 kernel (StyleGAN2's [1,3,3,1] ⊗ [1,3,3,1] blur) is detected at run time and applied as two 1-D
// passes: along rows (vectorised across output columns, one phase buffer per up/down phase, so zero-stuffed
// samples are never multiplied) and then along columns (whole rows combined, vectorised along x). Other
// kernels, and up and down both above 1, take the direct 2-D loop (upfirdn2d_direct, also the reference
// the tests compare against).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "anycost/backend/cpu/scratch.hpp"
#include "anycost/backend/cpu/simd.hpp"
#include "anycost/backend/params.hpp"
#include "anycost/core/parallel.hpp"
#include "anycost/core/tensor.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

namespace detail {
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// k = u ⊗ v up to rounding (|k - u v| ≤ 1e-6 max|k|)? Fills u (rows) and v (columns) when it is.
template <class T>
bool split_rank1(const T* k, int kh, int kw, std::vector<T>& u, std::vector<T>& v) {
  int pi = 0, pj = 0;
  T peak = 0;
  for (int a = 0; a < kh; ++a)
    for (int b = 0; b < kw; ++b)
      if (std::abs(k[a * kw + b]) > peak) {
        peak = std::abs(k[a * kw + b]);
        pi = a;
        pj = b;
      }
  if (peak == T(0)) return false;
  u.assign(kh, T(0));
  v.assign(kw, T(0));
  for (int a = 0; a < kh; ++a) u[a] = k[a * kw + pj];
  for (int b = 0; b < kw; ++b) v[b] = k[pi * kw + b] / k[pi * kw + pj];
  for (int a = 0; a < kh; ++a)
    for (int b = 0; b < kw; ++b)
      if (std::abs(k[a * kw + b] - u[a] * v[b]) > T(1e-6) * peak) return false;
  return true;
}

// One row of the 1-D pass: out[ox] = Σ_t f[t] · X[ox·down + t - pad0] for ox < wo, where X is the row
// zero-stuffed by `up` (X[s·up] = row[s]) and f the flipped 1-D kernel; needs up == 1 or down == 1. The row
// is copied once, zero-padded and split into `down` phases (ph[ψ][q] = padded[q·down + ψ]); output phase φ
// (ox = q·up + φ) is then a sum of unit-stride vectors, one per tap that does not land on a stuffed zero.
template <class T>
struct RowPass {
  struct Term {
    std::int64_t offset;  // into the phase buffers, for q = 0
    T weight;
  };
  int up, down;
  std::int64_t w, wo, left, width;  // `left` zeros before the row; `width` per phase buffer
  std::vector<std::vector<Term>> phases;

  RowPass(int up_, int down_, int pad0, const std::vector<T>& f, std::int64_t w_, std::int64_t wo_)
      : up(up_), down(down_), w(w_), wo(wo_), phases(static_cast<std::size_t>(up_)) {
    const int taps = static_cast<int>(f.size());
    const std::int64_t lo = floor_div(-pad0, up);
    const std::int64_t hi = floor_div((wo - 1) * down + taps - 1 - pad0, up) + simd::lanes<T> * down;
    left = std::max<std::int64_t>(0, -lo);
    width = (hi + left + down) / down + 1;
    for (int phi = 0; phi < up; ++phi)
      for (int t = 0; t < taps; ++t) {
        const std::int64_t c = static_cast<std::int64_t>(phi) * down + t - pad0;
        if (floor_div(c, up) * up != c) continue;  // lands on a stuffed zero for every q
        const std::int64_t i = floor_div(c, up) + left;  // padded index for q = 0 (i + q·down in general)
        phases[phi].push_back({(i % down) * width + i / down, f[t]});
      }
  }
  std::int64_t buffer_length() const { return down * width + (wo + up - 1) / up + simd::lanes<T>; }
};

template <class T>
ANYCOST_ALWAYS_INLINE void row_pass(const RowPass<T>& r, const T* row, T* out, T* buf) {
  using V = simd::vec<T>;
  constexpr int L = simd::lanes<T>;
  for (int psi = 0; psi < r.down; ++psi) {
    T* ph = buf + psi * r.width;
    // q with 0 <= q·down + ψ - left < w
    const std::int64_t first = std::clamp<std::int64_t>((r.left - psi + r.down - 1) / r.down, 0, r.width);
    const std::int64_t last = std::clamp<std::int64_t>((r.w - 1 + r.left - psi) / r.down + 1, first, r.width);
    std::fill_n(ph, first, T(0));
    const T* src = row + first * r.down + psi - r.left;
    if (r.down == 1)
      std::copy(src, src + (last - first), ph + first);
    else
      for (std::int64_t q = first; q < last; ++q) ph[q] = src[(q - first) * r.down];
    std::fill(ph + last, ph + r.width, T(0));
  }
  T* stage = buf + r.down * r.width;  // one output phase before interleaving (up > 1)
  for (int phi = 0; phi < r.up; ++phi) {
    const std::int64_t n_out = (r.wo - phi + r.up - 1) / r.up;
    T* dst = r.up == 1 ? out : stage;
    const auto& terms = r.phases[static_cast<std::size_t>(phi)];
    std::int64_t q0 = 0;
    for (; q0 + 2 * L <= n_out; q0 += 2 * L) {  // two independent sums hide the FMA latency
      V acc0{}, acc1{};
      for (const auto& term : terms) {
        V x0, x1;
        simd::load(x0, buf + term.offset + q0);
        simd::load(x1, buf + term.offset + q0 + L);
        acc0 += x0 * term.weight;
        acc1 += x1 * term.weight;
      }
      simd::store(dst + q0, acc0);
      simd::store(dst + q0 + L, acc1);
    }
    for (; q0 < n_out; q0 += L) {
      V acc{};
      for (const auto& term : terms) {
        V x;
        simd::load(x, buf + term.offset + q0);
        acc += x * term.weight;
      }
      if (q0 + L <= n_out) {
        simd::store(dst + q0, acc);
      } else {
        for (std::int64_t l = 0; q0 + l < n_out; ++l) dst[q0 + l] = acc[l];
      }
    }
    if (r.up > 1)
      for (std::int64_t q = 0; q < n_out; ++q) out[q * r.up + phi] = stage[q];
  }
}
}  // namespace detail

// The direct 2-D loop: any kernel, any up/down. x [N, C, H, W], k [kh, kw], out [N, C, Ho, Wo], all
// contiguous (out overwritten).
template <class T>
void upfirdn2d_direct(const Tensor& x, const Tensor& k, const Tensor& out, const UpFirDnParams& p) {
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

// x [N, C, H, W] contiguous, k [kh, kw] contiguous, out [N, C, Ho, Wo] contiguous (overwritten).
template <class T>
void upfirdn2d(const Tensor& x, const Tensor& k, const Tensor& out, const UpFirDnParams& p,
               simd::Isa isa = simd::active_isa()) {
  const int kh = static_cast<int>(k.size(0)), kw = static_cast<int>(k.size(1));
  std::vector<T> u, v;
  if ((p.up > 1 && p.down > 1) || !detail::split_rank1(static_cast<const T*>(k.raw_data()), kh, kw, u, v)) {
    upfirdn2d_direct<T>(x, k, out, p);
    return;
  }
  // Flipped 1-D kernels: the op convolves, the passes correlate.
  std::reverse(u.begin(), u.end());
  std::reverse(v.begin(), v.end());
  const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const std::int64_t ho = out.size(2), wo = out.size(3);
  const T* xp = static_cast<const T*>(x.raw_data());
  T* op = static_cast<T*>(out.raw_data());
  const detail::RowPass<T> rows(p.up, p.down, p.pad_x0, v, w, wo);
  // Which filtered input rows feed output row oy, with which weight (stuffed zeros and the padding skipped).
  struct RowTap {
    std::int64_t src;
    T weight;
  };
  std::vector<std::vector<RowTap>> row_taps(static_cast<std::size_t>(ho));
  for (std::int64_t oy = 0; oy < ho; ++oy)
    for (int t = 0; t < kh; ++t) {
      const std::int64_t s = oy * p.down + t - p.pad_y0;
      if (s >= 0 && s % p.up == 0 && s / p.up < h) row_taps[oy].push_back({s / p.up, u[t]});
    }
  const std::int64_t buf_len = rows.buffer_length();
  const std::int64_t tmp_len = h * simd::round_up(wo, simd::lanes<T>);
  parallel_for(planes, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(1, ho * wo)),
               [&](std::int64_t b0, std::int64_t b1) {
                 T* buf = scratch<T>(Scratch::tile_rows, buf_len);
                 T* tmp = scratch<T>(Scratch::conv_output, tmp_len);
                 const std::int64_t ld = simd::round_up(wo, simd::lanes<T>);
                 simd::dispatch(isa, [&] {
                   for (std::int64_t pl = b0; pl < b1; ++pl) {
                     const T* src = xp + pl * h * w;
                     T* dst = op + pl * ho * wo;
                     for (std::int64_t r = 0; r < h; ++r) detail::row_pass(rows, src + r * w, tmp + r * ld, buf);
                     for (std::int64_t oy = 0; oy < ho; ++oy) {
                       T* drow = dst + oy * wo;
                       const auto& taps = row_taps[oy];
                       if (taps.empty()) {
                         std::fill_n(drow, wo, T(0));
                         continue;
                       }
                       const T* s0 = tmp + taps[0].src * ld;
                       const T w0 = taps[0].weight;
                       for (std::int64_t ox = 0; ox < wo; ++ox) drow[ox] = w0 * s0[ox];
                       for (std::size_t t = 1; t < taps.size(); ++t) {
                         const T* st = tmp + taps[t].src * ld;
                         const T wt = taps[t].weight;
                         for (std::int64_t ox = 0; ox < wo; ++ox) drow[ox] += wt * st[ox];
                       }
                     }
                   }
                 });
               });
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END

#pragma GCC diagnostic pop
