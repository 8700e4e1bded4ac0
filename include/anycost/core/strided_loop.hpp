// Iteration over N same-shaped strided operands: dims are collapsed where every operand is contiguous across
// them, then the caller's row function runs on the innermost dim with one offset and one stride per operand.
// Rows are spread over threads. This is the CPU engine under copies and fused elementwise expressions.
#pragma once

#include <array>
#include <cstdint>

#include "anycost/core/parallel.hpp"
#include "anycost/core/shape.hpp"

ANYCOST_NAMESPACE_BEGIN

template <int N>
struct CollapsedLoop {
  int rank = 0;  // >= 1 after collapsing
  std::array<std::int64_t, max_rank> shape{};
  std::array<std::array<std::int64_t, max_rank>, N> strides{};

  CollapsedLoop(const Shape& s, const std::array<Strides, N>& st) {
    for (int d = 0; d < s.size(); ++d) {
      if (s[d] == 1) continue;  // size-1 dims carry no iteration
      bool merge = rank > 0;
      for (int k = 0; k < N && merge; ++k) merge = strides[k][rank - 1] == st[k][d] * s[d];
      if (merge) {
        shape[rank - 1] *= s[d];
        for (int k = 0; k < N; ++k) strides[k][rank - 1] = st[k][d];
      } else {
        shape[rank] = s[d];
        for (int k = 0; k < N; ++k) strides[k][rank] = st[k][d];
        ++rank;
      }
    }
    if (rank == 0) {
      rank = 1;
      shape[0] = 1;
      for (int k = 0; k < N; ++k) strides[k][0] = 1;
    }
  }
  std::int64_t inner() const { return shape[rank - 1]; }
  std::int64_t rows() const {
    std::int64_t r = 1;
    for (int d = 0; d + 1 < rank; ++d) r *= shape[d];
    return r;
  }
  // Element offsets of every operand at the start of `row`.
  std::array<std::int64_t, N> row_offsets(std::int64_t row) const {
    std::array<std::int64_t, N> off{};
    for (int d = rank - 2; d >= 0; --d) {
      const std::int64_t i = row % shape[d];
      row /= shape[d];
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
    return off;
  }
  std::array<std::int64_t, N> inner_strides() const {
    std::array<std::int64_t, N> s{};
    for (int k = 0; k < N; ++k) s[k] = strides[k][rank - 1];
    return s;
  }
};

// Calls row(offsets, length, inner_strides) for every innermost row; rows run in parallel when the total
// work exceeds `grain` elements.
template <int N, class Row>
void for_each_row(const Shape& shape, const std::array<Strides, N>& strides, Row&& row,
                  std::int64_t grain = 32768) {
  const CollapsedLoop<N> loop(shape, strides);
  const std::int64_t inner = loop.inner(), rows = loop.rows();
  const auto inner_strides = loop.inner_strides();
  const std::int64_t row_grain = std::max<std::int64_t>(1, grain / std::max<std::int64_t>(inner, 1));
  parallel_for(rows, row_grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) row(loop.row_offsets(r), inner, inner_strides);
  });
}

ANYCOST_NAMESPACE_END
