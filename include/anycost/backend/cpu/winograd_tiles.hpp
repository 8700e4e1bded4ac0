// Tile transforms of Winograd's minimal filtering F(m×m, 3×3) (Lavin and Gray, 2016), vectorised across
// neighbouring tiles or channels, one vector of Bytes bytes (32, or 64 in the AVX-512 copy) at a time. The
// buffers they share with the GEMM round rows up to simd::wide_lanes, whichever width runs.
//
// A 3×3 correlation over an m×m output tile is Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, with d the (m+2)×(m+2) input
// patch. Every transform here is a "sandwich" L·X·Lᵀ with a constant matrix L, expanded at compile time
// so that zero coefficients cost nothing and ±1 coefficients cost one add. Planes are NCHW; strided reads
// go through small per-row phase buffers (element q·m + φ of a row at ph[φ][q]) so that every vector load
// in the transforms is unit-stride, whatever m is.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "anycost/backend/cpu/simd.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu::winograd {

template <int R, int C>
using Mat = std::array<std::array<double, C>, R>;

template <std::size_t R, std::size_t C>
constexpr auto transposed(const std::array<std::array<double, C>, R>& a) {
  std::array<std::array<double, R>, C> t{};
  for (std::size_t i = 0; i < R; ++i)
    for (std::size_t j = 0; j < C; ++j) t[j][i] = a[i][j];
  return t;
}

// Transform matrices; interpolation points 0, ±1 (m = 2), 0, ±1, -2 (m = 3) and 0, ±1, ±2 (m = 4), plus
// infinity.
template <int M>
struct Tile;
template <>
struct Tile<2> {
  static constexpr int m = 2, alpha = 4;
  static constexpr Mat<4, 4> bt{{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}}};
  static constexpr Mat<4, 3> g{{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}};
  static constexpr Mat<2, 4> at{{{1, 1, 1, 0}, {0, 1, -1, -1}}};
};
// Points 0, ±1, -2: the F(3×3) set with the smallest float error (about 3× F(2×2)'s, a third of F(4×4)'s).
template <>
struct Tile<3> {
  static constexpr int m = 3, alpha = 5;
  static constexpr Mat<5, 5> bt{
      {{-2, -1, 2, 1, 0}, {0, 2, 3, 1, 0}, {0, -2, 1, 1, 0}, {0, -1, 0, 1, 0}, {0, -2, -1, 2, 1}}};
  static constexpr Mat<5, 3> g{{{-1.0 / 2, 0, 0},
                                {1.0 / 6, 1.0 / 6, 1.0 / 6},
                                {1.0 / 2, -1.0 / 2, 1.0 / 2},
                                {-1.0 / 6, 1.0 / 3, -2.0 / 3},
                                {0, 0, 1}}};
  static constexpr Mat<3, 5> at{{{1, 1, 1, 1, 0}, {0, 1, -1, -2, 0}, {0, 1, 1, 4, 1}}};
};
template <>
struct Tile<4> {
  static constexpr int m = 4, alpha = 6;
  static constexpr Mat<6, 6> bt{{{4, 0, -5, 0, 1, 0},
                                 {0, -4, -4, 1, 1, 0},
                                 {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0},
                                 {0, 2, -1, -2, 1, 0},
                                 {0, 4, 0, -5, 0, 1}}};
  static constexpr Mat<6, 3> g{{{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}}};
  static constexpr Mat<4, 6> at{{{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}}};
};
// The transposes used by the backward passes: the output-gradient tiles go through A, the weight gradient
// back through Gᵀ.
template <int M>
struct TileT {
  static constexpr auto a = transposed(Tile<M>::at);
  static constexpr auto gt = transposed(Tile<M>::g);
};

namespace detail {
template <class F, int... I>
ANYCOST_ALWAYS_INLINE void unroll_seq(F& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}
// f(integral_constant<int, i>) for i < N, expanded at compile time.
template <int N, class F>
ANYCOST_ALWAYS_INLINE void unroll(F&& f) {
  unroll_seq(f, std::make_integer_sequence<int, N>{});
}

template <const auto& Mt, int Row>
constexpr int first_nonzero() {
  int k = 0;
  while (k < static_cast<int>(Mt[Row].size()) && Mt[Row][k] == 0.0) ++k;
  return k;
}

// out = Σ_k Mt[Row][k] x[k] with zero terms dropped and unit terms as plain adds. (Results go through a
// reference: a vector returned by value from a call GCC has not inlined yet trips -Wpsabi at the caller.)
template <const auto& Mt, int Row, class V>
ANYCOST_ALWAYS_INLINE void lincomb(const V* x, V& out) {
  using E = std::remove_cvref_t<decltype(out[0])>;
  constexpr int n = static_cast<int>(Mt[Row].size()), first = first_nonzero<Mt, Row>();
  if constexpr (first == n) {
    out = V{};
  } else {
    constexpr double c0 = Mt[Row][first];
    if constexpr (c0 == 1.0) out = x[first];
    else if constexpr (c0 == -1.0) out = -x[first];
    else out = x[first] * static_cast<E>(c0);
    unroll<n>([&](auto k) ANYCOST_LAMBDA_INLINE {
      constexpr double c = Mt[Row][k];
      if constexpr (k <= first || c == 0.0) return;
      else if constexpr (c == 1.0) out += x[k];
      else if constexpr (c == -1.0) out -= x[k];
      else out += x[k] * static_cast<E>(c);
    });
  }
}

// out = L · x · Lᵀ for a constant P×Q matrix L and a Q×Q block x.
template <const auto& L, class V, int P = static_cast<int>(L.size()), int Q = static_cast<int>(L[0].size())>
ANYCOST_ALWAYS_INLINE void sandwich(const V (&x)[Q][Q], V (&out)[P][P]) {
  V t[P][Q];  // t[p][q] = (row q of x) · (row p of L)
  unroll<Q>([&](auto q) ANYCOST_LAMBDA_INLINE { unroll<P>([&](auto p) ANYCOST_LAMBDA_INLINE { lincomb<L, p>(x[q], t[p][q]); }); });
  unroll<P>([&](auto p1) ANYCOST_LAMBDA_INLINE { unroll<P>([&](auto p2) ANYCOST_LAMBDA_INLINE { lincomb<L, p1>(t[p2], out[p1][p2]); }); });
}

// Phase buffers of one row: ph[φ·q_len + q] = row[q·m + φ - pad], zero outside [0, w) or for a missing row.
template <class T, int M>
ANYCOST_ALWAYS_INLINE void split_phases(const T* row, std::int64_t w, int pad, T* ph, std::int64_t q_len) {
  for (int phi = 0; phi < M; ++phi) {
    T* dst = ph + phi * q_len;
    if (!row) {
      std::fill_n(dst, q_len, T(0));
      continue;
    }
    const std::int64_t first = pad - phi, last = w - 1 + pad - phi;  // valid q·m in [first, last]
    const std::int64_t lo = std::min<std::int64_t>(q_len, first > 0 ? (first + M - 1) / M : 0);
    const std::int64_t hi = std::max<std::int64_t>(lo, std::min<std::int64_t>(q_len, last < 0 ? 0 : last / M + 1));
    std::fill_n(dst, lo, T(0));
    const T* src = row + phi - pad;
    for (std::int64_t q = lo; q < hi; ++q) dst[q] = src[q * M];
    std::fill_n(dst + hi, q_len - hi, T(0));
  }
}
}  // namespace detail

// Length of a phase buffer for rows of `tiles_x` tiles whose patches span S columns.
template <class T, int M>
std::int64_t phase_length(std::int64_t tiles_x, int s) {
  return simd::round_up(tiles_x, simd::wide_lanes<T>) + (s - 1) / M + 1;
}

// Transforms the S×S patches of one channel for tile rows [row0, row1) (row = image·tiles_y + tile row):
//   out[ξ·ld_xi + (row - row0)·tiles_x + tx] = (L · patch · Lᵀ)[ξ],
// the patch of tile (ty, tx) starting at (ty·M - pad_y, tx·M - pad_x) and reading zeros outside the plane.
// Writes run up to a vector past each row (the next row overwrites them; the caller pads the last one).
// `ph` holds S·M·phase_length() elements.
template <class T, int M, const auto& L, int Bytes>
ANYCOST_ALWAYS_INLINE void gather_plane(const T* plane, std::int64_t image_stride, std::int64_t h, std::int64_t w,
                                        int pad_y, int pad_x, std::int64_t tiles_y, std::int64_t tiles_x,
                                        std::int64_t row0, std::int64_t row1, T* out, std::int64_t ld_xi, T* ph) {
  using V = simd::vec_of<T, Bytes>;
  constexpr int lanes = Bytes / static_cast<int>(sizeof(T));
  constexpr int alpha = static_cast<int>(L.size()), S = static_cast<int>(L[0].size());
  const std::int64_t q_len = phase_length<T, M>(tiles_x, S);
  for (std::int64_t row = row0; row < row1; ++row) {
    const std::int64_t n = row / tiles_y, ty = row % tiles_y;
    const T* img = plane + n * image_stride;
    for (int s = 0; s < S; ++s) {
      const std::int64_t iy = ty * M + s - pad_y;
      detail::split_phases<T, M>(iy >= 0 && iy < h ? img + iy * w : nullptr, w, pad_x, ph + s * M * q_len, q_len);
    }
    T* dst = out + (row - row0) * tiles_x;
    for (std::int64_t tx = 0; tx < tiles_x; tx += lanes) {
      V x[S][S], o[alpha][alpha];
      detail::unroll<S>([&](auto s) ANYCOST_LAMBDA_INLINE {
        detail::unroll<S>([&](auto k) ANYCOST_LAMBDA_INLINE {
          simd::load(x[s][k], ph + (s * M + k % M) * q_len + tx + k / M);
        });
      });
      detail::sandwich<L>(x, o);
      detail::unroll<alpha * alpha>([&](auto xi) ANYCOST_LAMBDA_INLINE { simd::store(dst + xi * ld_xi + tx, o[xi / alpha][xi % alpha]); });
    }
  }
}

// The inverse of gather_plane for output tiles: Y = Aᵀ · X · A for every tile of tile rows [row0, row1),
// X[ξ] = in[ξ·ld_xi + (row - row0)·tiles_x + tx], written into the ho×wo plane (clipped at its edges).
// `ph` holds M·M·phase_length(tiles_x, 1) elements.
template <class T, int M, const auto& At, int Bytes>
ANYCOST_ALWAYS_INLINE void scatter_plane(const T* in, std::int64_t ld_xi, T* plane, std::int64_t image_stride,
                                         std::int64_t ho, std::int64_t wo, std::int64_t tiles_y,
                                         std::int64_t tiles_x, std::int64_t row0, std::int64_t row1, T* ph) {
  using V = simd::vec_of<T, Bytes>;
  constexpr int lanes = Bytes / static_cast<int>(sizeof(T));
  constexpr int alpha = static_cast<int>(At[0].size());
  const std::int64_t q_len = phase_length<T, M>(tiles_x, 1);
  for (std::int64_t row = row0; row < row1; ++row) {
    const std::int64_t n = row / tiles_y, ty = row % tiles_y;
    const T* src = in + (row - row0) * tiles_x;
    for (std::int64_t tx = 0; tx < tiles_x; tx += lanes) {
      V x[alpha][alpha], y[M][M];
      detail::unroll<alpha * alpha>([&](auto xi) ANYCOST_LAMBDA_INLINE { simd::load(x[xi / alpha][xi % alpha], src + xi * ld_xi + tx); });
      detail::sandwich<At>(x, y);
      detail::unroll<M * M>([&](auto i) ANYCOST_LAMBDA_INLINE { simd::store(ph + i * q_len + tx, y[i / M][i % M]); });
    }
    T* img = plane + n * image_stride;
    for (int i = 0; i < M && ty * M + i < ho; ++i) {
      T* orow = img + (ty * M + i) * wo;
      const T* p = ph + i * M * q_len;
      const std::int64_t full = wo / M;
      for (std::int64_t tx = 0; tx < full; ++tx)
        detail::unroll<M>([&](auto l) ANYCOST_LAMBDA_INLINE { orow[tx * M + l] = p[l * q_len + tx]; });
      for (std::int64_t x = full * M; x < wo; ++x) orow[x] = p[(x % M) * q_len + x / M];
    }
  }
}

// U[ξ·ld_xi + r·ld_r + c] = (G · g(r, c) · Gᵀ)[ξ] for rows [r0, r1) and every column c < cols, g(r, c) being
// the 3×3 kernel at w + r·rs + c·cs, rotated by 180 degrees when `rotate` (a transposed convolution). The
// columns [cols, ld_r) are written as zeros. `gt` holds 9·ld_r elements.
template <class T, const auto& G, int Bytes>
ANYCOST_ALWAYS_INLINE void transform_weights(const T* w, std::int64_t rs, std::int64_t cs, bool rotate,
                                             std::int64_t r0, std::int64_t r1, std::int64_t cols, T* u,
                                             std::int64_t ld_xi, std::int64_t ld_r, T* gt) {
  using V = simd::vec_of<T, Bytes>;
  constexpr int lanes = Bytes / static_cast<int>(sizeof(T));
  constexpr int alpha = static_cast<int>(G.size());
  for (std::int64_t r = r0; r < r1; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) {
      const T* k = w + r * rs + c * cs;
      for (int i = 0; i < 9; ++i) gt[i * ld_r + c] = k[rotate ? 8 - i : i];
    }
    for (int i = 0; i < 9; ++i) std::fill(gt + i * ld_r + cols, gt + (i + 1) * ld_r, T(0));
    for (std::int64_t c = 0; c < cols; c += lanes) {
      V x[3][3], o[alpha][alpha];
      detail::unroll<9>([&](auto i) ANYCOST_LAMBDA_INLINE { simd::load(x[i / 3][i % 3], gt + i * ld_r + c); });
      detail::sandwich<G>(x, o);
      detail::unroll<alpha * alpha>(
          [&](auto xi) ANYCOST_LAMBDA_INLINE { simd::store(u + xi * ld_xi + r * ld_r + c, o[xi / alpha][xi % alpha]); });
    }
  }
}

// dw[r·rs + c·9 + k] = (Gᵀ · Z(r, c) · G)[k] for rows [r0, r1), Z(r, c)[ξ] = z[ξ·ld_xi + r·ld_r + c]; the
// weight gradient back from the transformed domain. `scratch` holds 9·ld_r elements.
template <class T, const auto& Gt, int Bytes>
ANYCOST_ALWAYS_INLINE void inverse_weights(const T* z, std::int64_t ld_xi, std::int64_t ld_r, std::int64_t r0,
                                           std::int64_t r1, std::int64_t cols, T* dw, std::int64_t rs, T* scratch) {
  using V = simd::vec_of<T, Bytes>;
  constexpr int lanes = Bytes / static_cast<int>(sizeof(T));
  constexpr int alpha = static_cast<int>(Gt[0].size());
  for (std::int64_t r = r0; r < r1; ++r) {
    for (std::int64_t c = 0; c < cols; c += lanes) {
      V x[alpha][alpha], o[3][3];
      detail::unroll<alpha * alpha>(
          [&](auto xi) ANYCOST_LAMBDA_INLINE { simd::load(x[xi / alpha][xi % alpha], z + xi * ld_xi + r * ld_r + c); });
      detail::sandwich<Gt>(x, o);
      detail::unroll<9>([&](auto i) ANYCOST_LAMBDA_INLINE { simd::store(scratch + i * ld_r + c, o[i / 3][i % 3]); });
    }
    for (std::int64_t c = 0; c < cols; ++c)
      for (int i = 0; i < 9; ++i) dw[r * rs + c * 9 + i] = scratch[i * ld_r + c];
  }
}

}  // namespace backend::cpu::winograd
ANYCOST_NAMESPACE_END

#pragma GCC diagnostic pop
