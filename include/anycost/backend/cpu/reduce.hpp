// CPU sums over dims. `out` has the input's rank with extent 1 on every reduced dim (keepdim form).
// Accumulation is in double for both float and double inputs, so long sums stay accurate.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "anycost/core/parallel.hpp"
#include "anycost/core/strided_loop.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

template <class T>
void sum_keepdim(const Tensor& in, const Tensor& out) {
  const int r = in.dim();
  Shape kept_shape, red_shape;
  Strides kept_in, kept_out, red_in;
  for (int d = 0; d < r; ++d) {
    if (out.shape()[d] == 1 && in.shape()[d] != 1) {
      red_shape.push_back(in.shape()[d]);
      red_in.push_back(in.strides()[d]);
    } else {
      kept_shape.push_back(in.shape()[d]);
      kept_in.push_back(in.strides()[d]);
      kept_out.push_back(out.strides()[d]);
    }
  }
  const T* src = static_cast<const T*>(in.raw_data());
  T* dst = static_cast<T*>(out.raw_data());
  const std::int64_t n_out = numel(kept_shape), n_red = numel(red_shape);
  const CollapsedLoop<1> red(red_shape, {red_in});
  const std::int64_t inner = red.inner(), rows = red.rows(), inner_stride = red.strides[0][red.rank - 1];

  auto sum_rows = [&](const T* base, std::int64_t r0, std::int64_t r1) {
    double acc = 0;
    for (std::int64_t row = r0; row < r1; ++row) {
      const T* p = base + red.row_offsets(row)[0];
      double a = 0;
      if (inner_stride == 1) {
        for (std::int64_t j = 0; j < inner; ++j) a += p[j];
      } else {
        for (std::int64_t j = 0; j < inner; ++j) a += p[j * inner_stride];
      }
      acc += a;
    }
    return acc;
  };
  auto offsets = [&](std::int64_t o) {
    std::int64_t oi = 0, oo = 0;
    for (int d = kept_shape.size() - 1; d >= 0; --d) {
      const std::int64_t i = o % kept_shape[d];
      o /= kept_shape[d];
      oi += i * kept_in[d];
      oo += i * kept_out[d];
    }
    return std::pair<std::int64_t, std::int64_t>{oi, oo};
  };

  if (n_out >= 4 * get_num_threads() || n_red < 65536) {
    const std::int64_t grain = std::max<std::int64_t>(1, 32768 / std::max<std::int64_t>(n_red, 1));
    parallel_for(n_out, grain, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t o = b; o < e; ++o) {
        auto [oi, oo] = offsets(o);
        dst[oo] = static_cast<T>(sum_rows(src + oi, 0, rows));
      }
    });
    return;
  }
  // Few outputs, long sums: split each sum over threads.
  for (std::int64_t o = 0; o < n_out; ++o) {
    const auto [first, oo] = offsets(o);
    const auto oi = first;  // clang before 16 cannot capture a structured binding in the lambda below
    const int chunks = get_num_threads();
    std::vector<double> partial(chunks, 0.0);
    parallel_for(chunks, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t c = b; c < e; ++c) partial[c] = sum_rows(src + oi, rows * c / chunks, rows * (c + 1) / chunks);
    });
    double total = 0;
    for (double p : partial) total += p;
    dst[oo] = static_cast<T>(total);
  }
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END
