// 3×3 stride-1 convolutions by Winograd's F(m×m, 3×3): the forward pass, the input gradient (a stride-1
// transposed convolution is a convolution with the rotated, channel-transposed kernel) and the weight
// gradient. Each transforms tiles into alpha² = (m+2)² independent channel-mixing GEMMs, so a 3×3
// convolution costs alpha²/m² instead of 9 multiplies per output (4 for m = 2, 2.25 for m = 4).
//
// Tiles of all images are processed in chunks of whole tile rows, sized so that the transformed input and
// output of one chunk stay in the last-level cache. Weights are read in place (prefix slices included)
// and transformed once per call. Planes are contiguous NCHW.
#pragma once

#include <algorithm>
#include <cstdint>

#include "anycost/backend/cpu/batched_gemm.hpp"
#include "anycost/backend/cpu/scratch.hpp"
#include "anycost/backend/cpu/simd.hpp"
#include "anycost/backend/cpu/winograd_tiles.hpp"
#include "anycost/core/parallel.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu::winograd {

// Geometry of one grouped 3×3 stride-1 correlation y[n, co] = Σ_ci x[n, ci] ⋆ k(co, ci).
struct Geometry {
  std::int64_t n, cin, h, w, cout, ho, wo;
  int pad_y, pad_x, groups;
};

// Where kernel k(co, ci) of group gi lives: w + gi·group_stride + co·co_stride + ci·ci_stride (9 contiguous
// values, rotated by 180 degrees when `rotate`).
struct WeightView {
  std::int64_t group_stride, co_stride, ci_stride;
  bool rotate;
};

namespace detail {
// Tile rows per chunk: enough tiles for efficient GEMMs, few enough that a chunk's transformed tiles
// (alpha²·(cin + cout) per tile) stay within a few MiB.
template <class T>
std::int64_t chunk_rows(std::int64_t tiles_x, std::int64_t rows, int alpha, std::int64_t channels) {
  constexpr std::int64_t budget = std::int64_t{6} << 20;
  const std::int64_t tiles = std::max<std::int64_t>(64, budget / (alpha * alpha * channels * std::int64_t{sizeof(T)}));
  return std::clamp<std::int64_t>(tiles / tiles_x, 1, rows);
}
// Columns a chunk of `rows` tile rows occupies, including the vector-width overrun of its last row, in whole
// cache lines but not a multiple of 1 KiB: the GEMM then reads the transformed tiles in place
// (batched_gemm.hpp, b_in_place).
template <class T>
std::int64_t chunk_ld(std::int64_t rows, std::int64_t tiles_x) {
  constexpr std::int64_t line = simd::wide_lanes<T>;
  const std::int64_t ld = simd::round_up((rows - 1) * tiles_x + simd::round_up(tiles_x, line), line);
  return ld * static_cast<std::int64_t>(sizeof(T)) % 1024 == 0 ? ld + line : ld;
}

// f(integral_constant<int, Bytes>) with the vector width for rows of n elements: 64 bytes in the AVX-512
// copy unless half of the last 512-bit vector would be padding (8-tile rows: 16×16 maps), else 32.
template <class T, class Tag, class F>
ANYCOST_ALWAYS_INLINE void with_width(Tag, std::int64_t n, const F& f) {
  if constexpr (simd::vec_bytes<Tag> == 64) {
    constexpr int wide = simd::wide_lanes<T>;
    if (n % wide == 0 || n % wide > wide / 2) return f(std::integral_constant<int, 64>{});
  }
  f(std::integral_constant<int, 32>{});
}
}  // namespace detail

// y = conv(x, k) for the geometry g (y overwritten). M is the output tile size (2 or 4).
template <class T, int M>
void conv3x3(const T* x, const T* w, const WeightView& wv, const Geometry& g, T* y, simd::Isa isa) {
  using Tr = Tile<M>;
  constexpr int alpha = Tr::alpha, xi_n = alpha * alpha;
  const std::int64_t cig = g.cin / g.groups, cog = g.cout / g.groups;
  const std::int64_t tiles_y = (g.ho + M - 1) / M, tiles_x = (g.wo + M - 1) / M, rows = g.n * tiles_y;
  const std::int64_t rows_per_chunk = detail::chunk_rows<T>(tiles_x, rows, alpha, cig + cog);
  const std::int64_t ld_max = detail::chunk_ld<T>(rows_per_chunk, tiles_x);
  const std::int64_t ld_u = simd::round_up(cig, simd::wide_lanes<T>);
  T* u = scratch<T>(Scratch::winograd_weights, xi_n * cog * ld_u);
  T* v = scratch<T>(Scratch::winograd_input, xi_n * cig * ld_max);
  T* m = scratch<T>(Scratch::winograd_output, xi_n * cog * ld_max);
  const std::int64_t q_in = phase_length<T, M>(tiles_x, alpha), q_out = phase_length<T, M>(tiles_x, 1);

  for (int gi = 0; gi < g.groups; ++gi) {
    const T* wg = w + gi * wv.group_stride;
    parallel_for(cog, 16, [&](std::int64_t r0, std::int64_t r1) {
      T* gt = scratch<T>(Scratch::tile_rows, 9 * ld_u);
      simd::dispatch_wide(isa, [&](auto tag) {
        detail::with_width<T>(tag, cig, [&](auto b) {
          transform_weights<T, Tr::g, decltype(b)::value>(wg, wv.co_stride, wv.ci_stride, wv.rotate, r0, r1, cig, u,
                                                          cog * ld_u, ld_u, gt);
        });
      });
    });
    for (std::int64_t row0 = 0; row0 < rows; row0 += rows_per_chunk) {
      const std::int64_t row1 = std::min(rows, row0 + rows_per_chunk);
      const std::int64_t ld = detail::chunk_ld<T>(row1 - row0, tiles_x);
      parallel_for(cig, 4, [&](std::int64_t c0, std::int64_t c1) {
        T* ph = scratch<T>(Scratch::tile_rows, alpha * M * q_in);
        simd::dispatch_wide(isa, [&](auto tag) {
          for (std::int64_t c = c0; c < c1; ++c)
            detail::with_width<T>(tag, tiles_x, [&](auto b) {
              gather_plane<T, M, Tr::bt, decltype(b)::value>(x + (gi * cig + c) * g.h * g.w, g.cin * g.h * g.w, g.h,
                                                             g.w, g.pad_y, g.pad_x, tiles_y, tiles_x, row0, row1,
                                                             v + c * ld, cig * ld, ph);
            });
        });
      });
      // Only the chunk's tiles: the columns past them hold the last row's vector overrun, which the output
      // transform reads but never keeps.
      batched_gemm<T>(xi_n, cog, (row1 - row0) * tiles_x, cig, {u, ld_u, 1}, cog * ld_u, {v, ld, 1}, cig * ld, m, ld,
                      cog * ld, false, isa);
      parallel_for(cog, 4, [&](std::int64_t c0, std::int64_t c1) {
        T* ph = scratch<T>(Scratch::tile_rows, M * M * q_out);
        simd::dispatch_wide(isa, [&](auto tag) {
          for (std::int64_t c = c0; c < c1; ++c)
            detail::with_width<T>(tag, tiles_x, [&](auto b) {
              scatter_plane<T, M, Tr::at, decltype(b)::value>(m + c * ld, cog * ld, y + (gi * cog + c) * g.ho * g.wo,
                                                              g.cout * g.ho * g.wo, g.ho, g.wo, tiles_y, tiles_x, row0,
                                                              row1, ph);
            });
        });
      });
    }
  }
}

// dw[gi·cog + co, ci, 3, 3] = Σ_n gy[n, gi·cog + co] ⋆ x[n, gi·cig + ci] (dw contiguous, overwritten):
// the weight gradient of conv3x3 with a plain (unrotated) weight.
template <class T, int M>
void conv3x3_weight_grad(const T* x, const T* gy, const Geometry& g, T* dw, simd::Isa isa) {
  using Tr = Tile<M>;
  constexpr int alpha = Tr::alpha, xi_n = alpha * alpha;
  const std::int64_t cig = g.cin / g.groups, cog = g.cout / g.groups;
  const std::int64_t tiles_y = (g.ho + M - 1) / M, tiles_x = (g.wo + M - 1) / M, rows = g.n * tiles_y;
  const std::int64_t rows_per_chunk = detail::chunk_rows<T>(tiles_x, rows, alpha, cig + cog);
  const std::int64_t ld_max = detail::chunk_ld<T>(rows_per_chunk, tiles_x);
  const std::int64_t ld_z = simd::round_up(cig, simd::wide_lanes<T>);
  T* z = scratch<T>(Scratch::winograd_weights, xi_n * cog * ld_z);
  T* v = scratch<T>(Scratch::winograd_input, xi_n * cig * ld_max);
  T* e = scratch<T>(Scratch::winograd_output, xi_n * cog * ld_max);
  // Room for the input patches (alpha rows), which also covers the m×m output-gradient patches.
  const std::int64_t q_in = phase_length<T, M>(tiles_x, alpha);

  for (int gi = 0; gi < g.groups; ++gi) {
    // Columns past cig are read by the vectorised inverse transform; keep them finite.
    std::fill_n(z, xi_n * cog * ld_z, T(0));
    for (std::int64_t row0 = 0; row0 < rows; row0 += rows_per_chunk) {
      const std::int64_t row1 = std::min(rows, row0 + rows_per_chunk);
      const std::int64_t ld = detail::chunk_ld<T>(row1 - row0, tiles_x), tiles = (row1 - row0) * tiles_x;
      parallel_for(cig + cog, 4, [&](std::int64_t c0, std::int64_t c1) {
        T* ph = scratch<T>(Scratch::tile_rows, alpha * M * q_in);
        simd::dispatch_wide(isa, [&](auto tag) {
          for (std::int64_t c = c0; c < c1; ++c) {
            if (c < cig)
              detail::with_width<T>(tag, tiles_x, [&](auto b) {
                gather_plane<T, M, Tr::bt, decltype(b)::value>(x + (gi * cig + c) * g.h * g.w, g.cin * g.h * g.w, g.h,
                                                               g.w, g.pad_y, g.pad_x, tiles_y, tiles_x, row0, row1,
                                                               v + c * ld, cig * ld, ph);
              });
            else
              detail::with_width<T>(tag, tiles_x, [&](auto b) {
                gather_plane<T, M, TileT<M>::a, decltype(b)::value>(
                    gy + (gi * cog + c - cig) * g.ho * g.wo, g.cout * g.ho * g.wo, g.ho, g.wo, 0, 0, tiles_y, tiles_x,
                    row0, row1, e + (c - cig) * ld, cog * ld, ph);
              });
          }
        });
      });
      // Z[ξ] += E[ξ] · V[ξ]ᵀ, summing over the chunk's tiles.
      batched_gemm<T>(xi_n, cog, cig, tiles, {e, ld, 1}, cog * ld, {v, 1, ld}, cig * ld, z, ld_z, cog * ld_z, true,
                      isa);
    }
    parallel_for(cog, 4, [&](std::int64_t r0, std::int64_t r1) {
      T* tmp = scratch<T>(Scratch::tile_rows, 9 * ld_z);
      simd::dispatch_wide(isa, [&](auto tag) {
        detail::with_width<T>(tag, cig, [&](auto b) {
          inverse_weights<T, TileT<M>::gt, decltype(b)::value>(z, cog * ld_z, ld_z, r0, r1, cig,
                                                               dw + gi * cog * cig * 9, cig * 9, tmp);
        });
      });
    });
  }
}

}  // namespace backend::cpu::winograd
ANYCOST_NAMESPACE_END
