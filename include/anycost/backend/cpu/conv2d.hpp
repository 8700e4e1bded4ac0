// CPU 2-D convolution and its two gradient forms.
//
// 3×3 stride-1 convolutions with enough channels and tiles run as Winograd F(2×2, 3×3), or F(3×3, 3×3) for
// narrow layers on maps of 32×32 and more (winograd.hpp): the forward pass, the input gradient (a stride-1
// transposed convolution) and the weight gradient. Strided
// transposed convolutions (the generator's up-convolution; the input gradient of a strided convolution) run
// polyphase, one GEMM per output phase. Everything else runs as im2col/col2im plus the batched GEMM of
// batched_gemm.hpp, all images and groups of a call in one parallel GEMM.
//
// Inputs and outputs are contiguous NCHW. Weights may be prefix slices of a larger weight (the anycost
// sub-network case): each output row [Cin/g, kh, kw] must be contiguous, rows may be strided, so a sliced
// weight is read in place.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "anycost/backend/cpu/batched_gemm.hpp"
#include "anycost/backend/cpu/scratch.hpp"
#include "anycost/backend/cpu/simd.hpp"
#include "anycost/backend/cpu/upfirdn2d.hpp"
#include "anycost/backend/cpu/winograd.hpp"
#include "anycost/backend/params.hpp"
#include "anycost/core/parallel.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

// Which algorithm a convolution uses; `automatic` picks by shape (tests force the others). winograd_4x4
// (F(4x4, 3x3)) is opt-in only: about 1.4x faster than F(2x2, 3x3) on 32x32 and larger maps, but its float
// error is about ten times larger (1e-5 relative per layer), too much for outputs that must match PyTorch to
// 1e-4 after a whole generator. F(3x3, 3x3) sits between (about 3x F(2x2)'s error, 2.8 instead of 4
// multiplies per output, and as many fewer transform reads and writes): `automatic` uses it where the
// transforms dominate, layers of at most 64 channels on 32×32 maps and larger (0.75-0.9 of F(2x2)'s time;
// wider layers gain nothing, their GEMMs get shorter). polyphase applies to strided transposed convolutions
// only (elsewhere it means gemm); `automatic` uses it for inputs of 16×16 and more.
enum class ConvAlgo { automatic, winograd, winograd_3x3, winograd_4x4, gemm, polyphase };

namespace detail {
// cols[(c*kh + a)*kw + b, y*wo + x] = x_padded[c, y*sh + a, x*sw + b] for channels [c0, c1).
template <class T>
void im2col_rows(const T* x, std::int64_t c0, std::int64_t c1, std::int64_t h, std::int64_t w, int kh, int kw,
                 const Conv2dParams& p, std::int64_t ho, std::int64_t wo, T* cols) {
  for (std::int64_t ci = c0; ci < c1; ++ci)
    for (int a = 0; a < kh; ++a)
      for (int b = 0; b < kw; ++b) {
        T* dst = cols + ((ci * kh + a) * kw + b) * ho * wo;
        const T* src = x + ci * h * w;
        // Output columns whose input column is inside the row.
        const std::int64_t first = std::clamp<std::int64_t>((p.pad_w - b + p.stride_w - 1) / p.stride_w, 0, wo);
        const std::int64_t last = std::clamp<std::int64_t>(
            w - 1 + p.pad_w - b < 0 ? 0 : (w - 1 + p.pad_w - b) / p.stride_w + 1, first, wo);
        for (std::int64_t y = 0; y < ho; ++y) {
          const std::int64_t iy = y * p.stride_h + a - p.pad_h;
          T* d = dst + y * wo;
          if (iy < 0 || iy >= h) {
            std::fill_n(d, wo, T(0));
            continue;
          }
          const T* s = src + iy * w + b - p.pad_w;
          std::fill_n(d, first, T(0));
          if (p.stride_w == 1)
            std::copy(s + first, s + last, d + first);
          else
            for (std::int64_t xx = first; xx < last; ++xx) d[xx] = s[xx * p.stride_w];
          std::fill(d + last, d + wo, T(0));
        }
      }
}

// Adjoint of im2col for channels [c0, c1): x_padded[c, y*sh + a, x*sw + b] += cols[...] (x zeroed first).
template <class T>
void col2im_rows(const T* cols, std::int64_t c0, std::int64_t c1, std::int64_t h, std::int64_t w, int kh, int kw,
                 const Conv2dParams& p, std::int64_t ho, std::int64_t wo, T* x) {
  for (std::int64_t ci = c0; ci < c1; ++ci) {
    T* dst = x + ci * h * w;
    std::fill_n(dst, h * w, T(0));
    for (int a = 0; a < kh; ++a)
      for (int b = 0; b < kw; ++b) {
        const T* src = cols + ((ci * kh + a) * kw + b) * ho * wo;
        const std::int64_t first = std::clamp<std::int64_t>((p.pad_w - b + p.stride_w - 1) / p.stride_w, 0, wo);
        const std::int64_t last = std::clamp<std::int64_t>(
            w - 1 + p.pad_w - b < 0 ? 0 : (w - 1 + p.pad_w - b) / p.stride_w + 1, first, wo);
        for (std::int64_t y = 0; y < ho; ++y) {
          const std::int64_t iy = y * p.stride_h + a - p.pad_h;
          if (iy < 0 || iy >= h) continue;
          T* d = dst + iy * w + b - p.pad_w;
          const T* s = src + y * wo;
          if (p.stride_w == 1)
            for (std::int64_t xx = first; xx < last; ++xx) d[xx] += s[xx];
          else
            for (std::int64_t xx = first; xx < last; ++xx) d[xx * p.stride_w] += s[xx];
        }
      }
  }
}

inline bool is_pointwise(std::int64_t kh, std::int64_t kw, const Conv2dParams& p) {
  return kh == 1 && kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
}

// F(2×2, 3×3) pays for its transforms once a group has enough channels on both sides and enough tiles to
// amortise the per-call weight transform (fewer tiles: the im2col GEMM reads each weight once instead).
inline bool winograd_pays(std::int64_t cig, std::int64_t cog, std::int64_t images, std::int64_t ho,
                          std::int64_t wo) {
  const std::int64_t tiles = images * ((ho + 1) / 2) * ((wo + 1) / 2);
  return cig >= 16 && cog >= 16 && tiles >= 32;
}

// 0: im2col + GEMM; otherwise the Winograd output tile size (2, 3 or 4).
inline int winograd_tile(ConvAlgo algo, bool applicable, std::int64_t cig, std::int64_t cog, std::int64_t images,
                         std::int64_t ho, std::int64_t wo) {
  if (!applicable || algo == ConvAlgo::gemm || algo == ConvAlgo::polyphase) return 0;
  if (algo == ConvAlgo::winograd_4x4) return 4;
  if (algo == ConvAlgo::winograd_3x3) return 3;
  if (algo == ConvAlgo::winograd) return 2;
  if (!winograd_pays(cig, cog, images, ho, wo)) return 0;
  return cig <= 64 && cog <= 64 && ho >= 32 && wo >= 32 ? 3 : 2;
}

// f(integral_constant<int, m>) for a Winograd output tile size m (2, 3 or 4).
template <class F>
void with_tile(int m, const F& f) {
  if (m == 4)
    f(std::integral_constant<int, 4>{});
  else if (m == 3)
    f(std::integral_constant<int, 3>{});
  else
    f(std::integral_constant<int, 2>{});
}

// Polyphase from 16×16 inputs up: below, a phase's rows are so short that the padding columns and the
// per-tap packing of B cost more than im2col's (then small) column buffer.
inline bool polyphase_pays(std::int64_t hz, std::int64_t wz) { return hz * wz >= 256; }

// Images per chunk so that a chunk's im2col columns stay near 16 MiB.
template <class T>
std::int64_t images_per_chunk(std::int64_t n, std::int64_t cols_per_image) {
  constexpr std::int64_t budget = std::int64_t{16} << 20;
  return std::clamp<std::int64_t>(budget / std::max<std::int64_t>(1, cols_per_image * std::int64_t{sizeof(T)}), 1, n);
}

// A 4-tap separable filter with one zero of padding on each side, Y[j][i] = Σ_ab fy[a]·fx[b]·t[j+a-1][i+b-1]
// (StyleGAN2's blur after its up-convolution, as upfirdn2d(t, k, pads 1, 1) with fy, fx the flipped factors of
// k), applied to the output t of a stride-2 transposed convolution while its phases are interleaved.
template <class T>
struct PhaseBlur {
  T fy[4], fx[4];
};

// lo, hi = a[0], b[0], a[1], b[1], ... (the first and second half of the interleaved lanes) for simd::vec's
// 8 floats or 4 doubles. (Literal indices: nvcc's front end, which parses this header in .cu consumers, drops a
// pack expansion inside __builtin_shufflevector.)
ANYCOST_ALWAYS_INLINE void interleave(const simd::vec<float>& a, const simd::vec<float>& b, simd::vec<float>& lo,
                                      simd::vec<float>& hi) {
  lo = __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
  hi = __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15);
}
ANYCOST_ALWAYS_INLINE void interleave(const simd::vec<double>& a, const simd::vec<double>& b, simd::vec<double>& lo,
                                      simd::vec<double>& hi) {
  lo = __builtin_shufflevector(a, b, 0, 4, 1, 5);
  hi = __builtin_shufflevector(a, b, 2, 6, 3, 7);
}

// out (2h × 2w) = the PhaseBlur of t ((2h+1) × (2w+1)) given as its four phases: t[2q + ry][2u + rx] =
// rows[ry][rx][q·ld + u] (the even phases have h+1 rows and w+1 valid columns, the odd ones h and w). Per
// dimension the filter mixes both phases, e.g. Y[2u] = f0·t[2u-1] + f1·t[2u] + f2·t[2u+1] + f3·t[2u+2] =
// f0·O[u-1] + f1·E[u] + f2·O[u] + f3·E[u+1]: rows are filtered along x into their even and odd output
// columns, four such rows make an output row, and only that is interleaved: t is read once, the output written
// once.
template <class T>
ANYCOST_ALWAYS_INLINE void blur_phases(const T* const (&rows)[2][2], std::int64_t ld, std::int64_t h, std::int64_t w,
                                       const PhaseBlur<T>& f, T* out) {
  using V = simd::vec<T>;
  constexpr int L = simd::lanes<T>;
  const std::int64_t len = simd::round_up(w, L);  // a filtered half-row
  // Zero-padded copies of one row's phases: e[u] = E[u] for u ≤ w, o[u] = O[u] for u < w (o[-1] readable), zero
  // past them; then the filtered rows, four deep (row y in slot y % 4), even and odd columns apart.
  T* e = scratch<T>(Scratch::tile_rows, 2 * (len + 2 * L) + 8 * len + len);
  T* o = e + len + 2 * L + 1;
  T* ring = e + 2 * (len + 2 * L);
  T* zero = ring + 8 * len;
  std::fill_n(zero, len, T(0));
  const T *re[4] = {zero, zero, zero, zero}, *ro[4] = {zero, zero, zero, zero};  // filtered rows y-3 .. y
  V fx[4], fy[4];           // the taps, broadcast once (the stores below could alias f)
  for (int t = 0; t < 4; ++t) {
    fx[t] = V{} + f.fx[t];
    fy[t] = V{} + f.fy[t];
  }
  auto filter_row = [&](std::int64_t y) {
    const T* pe = rows[y & 1][0] + (y >> 1) * ld;
    const T* po = rows[y & 1][1] + (y >> 1) * ld;
    std::copy_n(pe, w + 1, e);
    std::fill(e + w + 1, e + len + 2 * L, T(0));
    o[-1] = T(0);
    std::copy_n(po, w, o);
    std::fill(o + w, o + len + L, T(0));
    T* he = ring + (y & 3) * 2 * len;
    T* ho = he + len;
    for (std::int64_t u = 0; u < len; u += L) {
      V e0, e1, om, o0, o1;
      simd::load(e0, e + u);
      simd::load(e1, e + u + 1);
      simd::load(om, o + u - 1);
      simd::load(o0, o + u);
      simd::load(o1, o + u + 1);
      simd::store(he + u, V(om * fx[0] + e0 * fx[1] + o0 * fx[2] + e1 * fx[3]));
      simd::store(ho + u, V(e0 * fx[0] + o0 * fx[1] + e1 * fx[2] + o1 * fx[3]));
    }
    return std::pair<const T*, const T*>{he, ho};
  };
  auto emit = [&](std::int64_t j) {  // out row j from filtered rows j-1 .. j+2 (slots 0..3)
    T* d = out + j * 2 * w;
    const T *e0 = re[0], *e1 = re[1], *e2 = re[2], *e3 = re[3], *o0 = ro[0], *o1 = ro[1], *o2 = ro[2], *o3 = ro[3];
    for (std::int64_t u = 0; u < w; u += L) {
      V a0, a1, a2, a3, b0, b1, b2, b3;
      simd::load(a0, e0 + u);
      simd::load(a1, e1 + u);
      simd::load(a2, e2 + u);
      simd::load(a3, e3 + u);
      simd::load(b0, o0 + u);
      simd::load(b1, o1 + u);
      simd::load(b2, o2 + u);
      simd::load(b3, o3 + u);
      const V ye = a0 * fy[0] + a1 * fy[1] + a2 * fy[2] + a3 * fy[3];
      const V yo = b0 * fy[0] + b1 * fy[1] + b2 * fy[2] + b3 * fy[3];
      if (u + L <= w) {
        V lo, hi;
        interleave(ye, yo, lo, hi);
        simd::store(d + 2 * u, lo);
        simd::store(d + 2 * u + L, hi);
        continue;
      }
      for (std::int64_t l = 0; u + l < w; ++l) {
        d[2 * (u + l)] = ye[l];
        d[2 * (u + l) + 1] = yo[l];
      }
    }
  };
  auto push = [&](const T* he, const T* ho) {
    for (int t = 0; t < 3; ++t) {
      re[t] = re[t + 1];
      ro[t] = ro[t + 1];
    }
    re[3] = he;
    ro[3] = ho;
  };
  for (std::int64_t y = 0; y <= 2 * h; ++y) {
    const auto [he, ho] = filter_row(y);
    push(he, ho);
    if (y >= 2) emit(y - 2);
  }
  push(zero, zero);  // the last row's window ends past t
  emit(2 * h - 1);
}

// A strided transposed convolution as one stride-1 convolution per output phase (ry, rx): the outputs
// (qy·sh + ry, qx·sw + rx) receive only the taps (a, b) with a - pad_h ≡ ry (mod sh) and b - pad_w ≡ rx, each
// reading the input shifted by ((a - pad_h - ry) / sh, (b - pad_w - rx) / sw). A tap's input is a window of
// a zero-padded copy of z, read in place as a GEMM operand: a phase is computed on rows of the padded width
// (the few columns past the phase's width are discarded), one GEMM term per tap. Compared with im2col's
// Wᵀz followed by col2im, there is no kh·kw-times-larger column buffer and no scatter-add over it.
//
// With `blur` (stride 2, an output of 2hz+1 × 2wz+1), op receives blur's 2hz × 2wz filtering of that output
// instead (blur_phases).
template <class T>
void conv_transpose2d_polyphase(const T* zp, const T* wp, std::int64_t s0, std::int64_t n, std::int64_t cz,
                                std::int64_t hz, std::int64_t wz, std::int64_t cout, std::int64_t ho, std::int64_t wo,
                                int kh, int kw, const Conv2dParams& p, T* op, simd::Isa isa,
                                const PhaseBlur<T>* blur = nullptr) {
  const int sh = p.stride_h, sw = p.stride_w;
  const std::int64_t g = p.groups, czg = cz / g, cog = cout / g;
  struct Tap {
    int a, b;
    std::int64_t dy, dx;  // the input row/column is q - d
  };
  struct Phase {
    int ry, rx;
    std::int64_t nqy, nqx;
    std::vector<Tap> taps;
    std::int64_t offset = 0;  // of its output within an image and group's block
  };
  auto floor_mod = [](std::int64_t v, std::int64_t m) { return ((v % m) + m) % m; };
  std::vector<Phase> phases;
  std::int64_t pt = 0, pb = 0, pl = 0, pr = 0;  // zero padding the taps' windows need around z
  for (int ry = 0; ry < sh && ry < ho; ++ry)
    for (int rx = 0; rx < sw && rx < wo; ++rx) {
      Phase ph{ry, rx, (ho - ry + sh - 1) / sh, (wo - rx + sw - 1) / sw, {}};
      for (int a = 0; a < kh; ++a)
        for (int b = 0; b < kw; ++b)
          if (floor_mod(a - p.pad_h - ry, sh) == 0 && floor_mod(b - p.pad_w - rx, sw) == 0) {
            const Tap t{a, b, (a - p.pad_h - ry) / sh, (b - p.pad_w - rx) / sw};
            pt = std::max(pt, t.dy);
            pl = std::max(pl, t.dx);
            pb = std::max(pb, ph.nqy - 1 - t.dy - (hz - 1));
            pr = std::max(pr, ph.nqx - 1 - t.dx - (wz - 1));
            ph.taps.push_back(t);
          }
      phases.push_back(std::move(ph));
    }
  const std::int64_t hp = pt + hz + pb, wpd = pl + wz + pr, plane = hp * wpd;
  std::int64_t out_per_group = 0;  // phase outputs of one image and group, on rows of the padded width
  for (Phase& ph : phases) {
    ph.offset = out_per_group;
    out_per_group += cog * ph.nqy * wpd;
  }
  const int nrx = static_cast<int>(std::min<std::int64_t>(sw, wo));  // phases per output row

  // wt[gi][a][b] = the [cog, czg] matrix of tap (a, b), rows contiguous: read in place by the GEMM. A
  // transpose of each group's [czg, cog·kh·kw] weight, in 16 × 16 tiles so that reads and writes stay in cache.
  const std::int64_t taps = kh * kw, cols = cog * taps, tiles_c = (czg + 15) / 16, tiles_j = (cols + 15) / 16;
  T* wt = scratch<T>(Scratch::conv_weights, g * taps * cog * czg);
  parallel_for(g * tiles_c * tiles_j, 16, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t gi = t / (tiles_c * tiles_j), c0 = (t / tiles_j) % tiles_c * 16, j0 = t % tiles_j * 16;
      const std::int64_t c1 = std::min(czg, c0 + 16), j1 = std::min(cols, j0 + 16);
      for (std::int64_t j = j0; j < j1; ++j) {
        T* dst = wt + ((gi * taps + j % taps) * cog + j / taps) * czg;
        for (std::int64_t ci = c0; ci < c1; ++ci) dst[ci] = wp[(gi * czg + ci) * s0 + j];
      }
    }
  });

  const std::int64_t chunk = images_per_chunk<T>(n, cz * plane + g * out_per_group);
  T* zpad = scratch<T>(Scratch::conv_columns, chunk * cz * plane);
  T* outs = scratch<T>(Scratch::conv_output, chunk * g * out_per_group);
  std::vector<GemmTerm<T>> terms;
  std::vector<GemmProduct<T>> products;
  for (std::int64_t i0 = 0; i0 < n; i0 += chunk) {
    const std::int64_t i1 = std::min(n, i0 + chunk);
    parallel_for((i1 - i0) * cz, 8, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        T* d = zpad + r * plane;
        const T* s = zp + (i0 * cz + r) * hz * wz;
        std::fill_n(d, pt * wpd, T(0));
        for (std::int64_t y = 0; y < hz; ++y) {
          T* row = d + (pt + y) * wpd;
          std::fill_n(row, pl, T(0));
          std::copy(s + y * wz, s + (y + 1) * wz, row + pl);
          std::fill_n(row + pl + wz, pr, T(0));
        }
        std::fill_n(d + (pt + hz) * wpd, pb * wpd, T(0));
      }
    });
    terms.clear();
    products.clear();
    for (std::int64_t i = 0; i < i1 - i0; ++i)
      for (std::int64_t gi = 0; gi < g; ++gi) {
        T* block = outs + (i * g + gi) * out_per_group;
        for (const Phase& ph : phases) {
          for (const Tap& t : ph.taps)
            terms.push_back({{wt + (gi * taps + t.a * kw + t.b) * cog * czg, czg, 1},
                             {zpad + (i * cz + gi * czg) * plane + (pt - t.dy) * wpd + (pl - t.dx), plane, 1}, czg});
          products.push_back({cog, (ph.nqy - 1) * wpd + ph.nqx, nullptr, static_cast<int>(ph.taps.size()),
                              block + ph.offset, ph.nqy * wpd, false});
        }
      }
    // Terms are final only now (the vector grew): point each product at its own.
    for (std::size_t k = 0, t = 0; k < products.size(); t += static_cast<std::size_t>(products[k].n_terms), ++k)
      products[k].terms = terms.data() + t;
    gemm_products(products.data(), static_cast<int>(products.size()), isa);
    if (blur) {
      parallel_for((i1 - i0) * cout, 2, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r) {
          const T* block = outs + ((r / cout) * g + (r % cout) / cog) * out_per_group;
          const std::int64_t co = r % cog;
          const T* rows[2][2];
          for (int ry = 0; ry < 2; ++ry)
            for (int rx = 0; rx < 2; ++rx) {
              const Phase& ph = phases[static_cast<std::size_t>(ry * 2 + rx)];
              rows[ry][rx] = block + ph.offset + co * ph.nqy * wpd;
            }
          simd::dispatch(isa, [&] { blur_phases(rows, wpd, hz, wz, *blur, op + (i0 * cout + r) * 4 * hz * wz); });
        }
      });
      continue;
    }
    // Interleave the phases into the output, a row at a time (stride 2: two phases, one vectorisable loop).
    parallel_for((i1 - i0) * cout, 4, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t i = r / cout, gi = (r % cout) / cog, co = r % cog;
        const T* block = outs + (i * g + gi) * out_per_group;
        for (std::int64_t oy = 0; oy < ho; ++oy) {
          T* d = op + ((i0 * cout + r) * ho + oy) * wo;
          const Phase* row = &phases[static_cast<std::size_t>(oy % sh * nrx)];
          auto src = [&](const Phase& ph) { return block + ph.offset + (co * ph.nqy + oy / sh) * wpd; };
          if (sw == 2 && nrx == 2) {
            const T* s0 = src(row[0]);
            const T* s1 = src(row[1]);
            const std::int64_t n1 = row[1].nqx;
            for (std::int64_t q = 0; q < n1; ++q) {
              d[2 * q] = s0[q];
              d[2 * q + 1] = s1[q];
            }
            if (row[0].nqx > n1) d[2 * n1] = s0[n1];
            continue;
          }
          for (int rx = 0; rx < nrx; ++rx) {
            const T* s = src(row[rx]);
            for (std::int64_t qx = 0; qx < row[rx].nqx; ++qx) d[qx * sw + rx] = s[qx];
          }
        }
      }
    });
  }
}
}  // namespace detail

// y[N, Cout, Ho, Wo] = conv2d(x[N, Cin, H, W], w[Cout, Cin/g, kh, kw]); y is overwritten.
template <class T>
void conv2d(const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p, ConvAlgo algo = ConvAlgo::automatic,
            simd::Isa isa = simd::active_isa()) {
  const std::int64_t n = x.size(0), cin = x.size(1), h = x.size(2), wd = x.size(3);
  const std::int64_t cout = w.size(0), kh = w.size(2), kw = w.size(3), ho = y.size(2), wo = y.size(3);
  const std::int64_t g = p.groups, cig = cin / g, cog = cout / g, kdim = cig * kh * kw, hw = ho * wo;
  const T* xp = static_cast<const T*>(x.raw_data());
  const T* wp = static_cast<const T*>(w.raw_data());
  T* yp = static_cast<T*>(y.raw_data());
  const std::int64_t s0 = w.stride(0);
  const bool wino = kh == 3 && kw == 3 && p.stride_h == 1 && p.stride_w == 1;
  if (const int m = detail::winograd_tile(algo, wino, cig, cog, n, ho, wo)) {
    const winograd::Geometry geo{n, cin, h, wd, cout, ho, wo, p.pad_h, p.pad_w, p.groups};
    const winograd::WeightView wv{cog * s0, s0, 9, false};
    detail::with_tile(m, [&](auto t) { winograd::conv3x3<T, decltype(t)::value>(xp, wp, wv, geo, yp, isa); });
    return;
  }
  const bool pointwise = detail::is_pointwise(kh, kw, p);
  const std::int64_t chunk = pointwise ? n : detail::images_per_chunk<T>(n, g * kdim * hw);
  T* cols = pointwise ? nullptr : scratch<T>(Scratch::conv_columns, chunk * g * kdim * hw);
  std::vector<GemmTerm<T>> terms(static_cast<std::size_t>(chunk * g));
  std::vector<GemmProduct<T>> products(terms.size());
  for (std::int64_t i0 = 0; i0 < n; i0 += chunk) {
    const std::int64_t i1 = std::min(n, i0 + chunk);
    if (!pointwise)
      parallel_for((i1 - i0) * cin, 8, [&](std::int64_t r0, std::int64_t r1) {
        // Row r is channel r % cin of image i0 + r / cin; its columns sit in its group's block.
        for (std::int64_t r = r0; r < r1;) {
          const std::int64_t i = r / cin, c = r % cin, c_end = std::min(cin, c + (r1 - r));
          detail::im2col_rows(xp + (i0 + i) * cin * h * wd, c, c_end, h, wd, static_cast<int>(kh), static_cast<int>(kw), p,
                              ho, wo, cols + i * cin * kh * kw * hw);
          r += c_end - c;
        }
      });
    for (std::int64_t i = i0; i < i1; ++i)
      for (std::int64_t gi = 0; gi < g; ++gi) {
        const std::size_t k = static_cast<std::size_t>((i - i0) * g + gi);
        const T* b = pointwise ? xp + (i * cin + gi * cig) * hw : cols + ((i - i0) * g + gi) * kdim * hw;
        terms[k] = {{wp + gi * cog * s0, s0, 1}, {b, hw, 1}, kdim};
        products[k] = {cog, hw, &terms[k], 1, yp + (i * cout + gi * cog) * hw, hw, false};
      }
    gemm_products(products.data(), static_cast<int>((i1 - i0) * g), isa);
  }
}

// out[N, Cout, Ho, Wo] = conv_transpose2d(z[N, Cz, Hz, Wz], w[Cz, Cout/g, kh, kw]): the adjoint of conv2d
// with respect to its input (out is overwritten; its size fixes the output padding).
template <class T>
void conv_transpose2d(const Tensor& z, const Tensor& w, const Tensor& out, const Conv2dParams& p,
                      ConvAlgo algo = ConvAlgo::automatic, simd::Isa isa = simd::active_isa()) {
  const std::int64_t n = z.size(0), cz = z.size(1), hz = z.size(2), wz = z.size(3);
  const std::int64_t kh = w.size(2), kw = w.size(3), cout = out.size(1), ho = out.size(2), wo = out.size(3);
  const std::int64_t g = p.groups, czg = cz / g, cog = cout / g, kdim = cog * kh * kw, hwz = hz * wz;
  const T* zp = static_cast<const T*>(z.raw_data());
  const T* wp = static_cast<const T*>(w.raw_data());
  T* op = static_cast<T*>(out.raw_data());
  const std::int64_t s0 = w.stride(0);
  // Stride 1: a convolution with the rotated, channel-transposed kernel and padding k - 1 - pad.
  const bool wino = kh == 3 && kw == 3 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h <= 2 && p.pad_w <= 2;
  if (const int m = detail::winograd_tile(algo, wino, czg, cog, n, ho, wo)) {
    const winograd::Geometry geo{n, cz, hz, wz, cout, ho, wo, 2 - p.pad_h, 2 - p.pad_w, p.groups};
    const winograd::WeightView wv{czg * s0, 9, s0, true};
    detail::with_tile(m, [&](auto t) { winograd::conv3x3<T, decltype(t)::value>(zp, wp, wv, geo, op, isa); });
    return;
  }
  const bool strided = p.stride_h > 1 || p.stride_w > 1;
  const bool polyphase = algo == ConvAlgo::polyphase || (algo == ConvAlgo::automatic && detail::polyphase_pays(hz, wz));
  if (strided && polyphase) {
    detail::conv_transpose2d_polyphase(zp, wp, s0, n, cz, hz, wz, cout, ho, wo, static_cast<int>(kh), static_cast<int>(kw),
                                       p, op, isa);
    return;
  }
  const bool pointwise = detail::is_pointwise(kh, kw, p);
  const std::int64_t chunk = pointwise ? n : detail::images_per_chunk<T>(n, g * kdim * hwz);
  T* cols = pointwise ? nullptr : scratch<T>(Scratch::conv_columns, chunk * g * kdim * hwz);
  std::vector<GemmTerm<T>> terms(static_cast<std::size_t>(chunk * g));
  std::vector<GemmProduct<T>> products(terms.size());
  for (std::int64_t i0 = 0; i0 < n; i0 += chunk) {
    const std::int64_t i1 = std::min(n, i0 + chunk);
    // cols (or the output itself, for 1×1) = Wᵀ z, per image and group.
    for (std::int64_t i = i0; i < i1; ++i)
      for (std::int64_t gi = 0; gi < g; ++gi) {
        const std::size_t k = static_cast<std::size_t>((i - i0) * g + gi);
        T* c = pointwise ? op + (i * cout + gi * cog) * hwz : cols + ((i - i0) * g + gi) * kdim * hwz;
        terms[k] = {{wp + gi * czg * s0, 1, s0}, {zp + (i * cz + gi * czg) * hwz, hwz, 1}, czg};
        products[k] = {kdim, hwz, &terms[k], 1, c, hwz, false};
      }
    gemm_products(products.data(), static_cast<int>((i1 - i0) * g), isa);
    if (!pointwise)
      parallel_for((i1 - i0) * cout, 4, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1;) {
          const std::int64_t i = r / cout, c = r % cout, c_end = std::min(cout, c + (r1 - r));
          detail::col2im_rows(cols + i * cout * kh * kw * hwz, c, c_end, ho, wo, static_cast<int>(kh), static_cast<int>(kw), p,
                              hz, wz, op + (i0 + i) * cout * ho * wo);
          r += c_end - c;
        }
      });
  }
}

// out[N, Cout, 2Hz, 2Wz] = upfirdn2d(conv_transpose2d(z, w, stride 2, no padding), k, pads 1, 1) for a 3×3 w
// and a rank-1 4×4 k (StyleGAN2's up-convolution and blur), the blur applied while the polyphase form
// interleaves its phases: one pass over the output instead of two. Returns false, having done nothing, where
// conv_transpose2d would not run polyphase (inputs below 16×16) or k is not rank 1.
template <class T>
bool conv_transpose2d_blur(const Tensor& z, const Tensor& w, const Tensor& k, const Tensor& out, int groups,
                           simd::Isa isa = simd::active_isa()) {
  const std::int64_t n = z.size(0), cz = z.size(1), hz = z.size(2), wz = z.size(3), cout = out.size(1);
  std::vector<T> u, v;
  if (w.size(2) != 3 || w.size(3) != 3 || !detail::polyphase_pays(hz, wz) || k.size(0) != 4 || k.size(1) != 4 ||
      !detail::split_rank1(static_cast<const T*>(k.raw_data()), 4, 4, u, v))
    return false;
  detail::PhaseBlur<T> f;
  for (int t = 0; t < 4; ++t) {  // flipped: upfirdn2d convolves
    f.fy[t] = u[static_cast<std::size_t>(3 - t)];
    f.fx[t] = v[static_cast<std::size_t>(3 - t)];
  }
  const T* zp = static_cast<const T*>(z.raw_data());
  const T* wp = static_cast<const T*>(w.raw_data());
  detail::conv_transpose2d_polyphase(zp, wp, w.stride(0), n, cz, hz, wz, cout, 2 * hz + 1, 2 * wz + 1, 3, 3,
                                     {2, 2, 0, 0, groups}, static_cast<T*>(out.raw_data()), isa, &f);
  return true;
}

// dw[Cout, Cin/g, kh, kw] = gradient of <gy, conv2d(x, w)> with respect to w (dw contiguous, overwritten).
template <class T>
void conv2d_weight_grad(const Tensor& x, const Tensor& gy, const Tensor& dw, const Conv2dParams& p,
                        ConvAlgo algo = ConvAlgo::automatic, simd::Isa isa = simd::active_isa()) {
  const std::int64_t n = x.size(0), cin = x.size(1), h = x.size(2), wd = x.size(3);
  const std::int64_t cout = dw.size(0), kh = dw.size(2), kw = dw.size(3), ho = gy.size(2), wo = gy.size(3);
  const std::int64_t g = p.groups, cig = cin / g, cog = cout / g, kdim = cig * kh * kw, hw = ho * wo;
  const T* xp = static_cast<const T*>(x.raw_data());
  const T* gp = static_cast<const T*>(gy.raw_data());
  T* dp = static_cast<T*>(dw.raw_data());
  const bool wino = kh == 3 && kw == 3 && p.stride_h == 1 && p.stride_w == 1;
  if (const int m = detail::winograd_tile(algo, wino, cig, cog, n, ho, wo)) {
    const winograd::Geometry geo{n, cin, h, wd, cout, ho, wo, p.pad_h, p.pad_w, p.groups};
    detail::with_tile(m, [&](auto t) { winograd::conv3x3_weight_grad<T, decltype(t)::value>(xp, gp, geo, dp, isa); });
    return;
  }
  const bool pointwise = detail::is_pointwise(kh, kw, p);
  const std::int64_t chunk = pointwise ? n : detail::images_per_chunk<T>(n, g * kdim * hw);
  T* cols = pointwise ? nullptr : scratch<T>(Scratch::conv_columns, chunk * g * kdim * hw);
  // One product per group, one term per image: dw_g = Σ_i gy_i,g · cols_i,gᵀ.
  std::vector<GemmTerm<T>> terms(static_cast<std::size_t>(chunk * g));
  std::vector<GemmProduct<T>> products(static_cast<std::size_t>(g));
  for (std::int64_t i0 = 0; i0 < n; i0 += chunk) {
    const std::int64_t i1 = std::min(n, i0 + chunk), m = i1 - i0;
    if (!pointwise)
      parallel_for(m * cin, 8, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1;) {
          const std::int64_t i = r / cin, c = r % cin, c_end = std::min(cin, c + (r1 - r));
          detail::im2col_rows(xp + (i0 + i) * cin * h * wd, c, c_end, h, wd, static_cast<int>(kh), static_cast<int>(kw), p,
                              ho, wo, cols + i * cin * kh * kw * hw);
          r += c_end - c;
        }
      });
    for (std::int64_t gi = 0; gi < g; ++gi) {
      for (std::int64_t i = i0; i < i1; ++i) {
        const T* b = pointwise ? xp + (i * cin + gi * cig) * hw : cols + ((i - i0) * g + gi) * kdim * hw;
        terms[static_cast<std::size_t>(gi * m + i - i0)] = {{gp + (i * cout + gi * cog) * hw, hw, 1}, {b, 1, hw}, hw};
      }
      products[static_cast<std::size_t>(gi)] = {cog, kdim, &terms[static_cast<std::size_t>(gi * m)],
                                                static_cast<int>(m), dp + gi * cog * kdim, kdim, i0 > 0};
    }
    gemm_products(products.data(), static_cast<int>(g), isa);
  }
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END
