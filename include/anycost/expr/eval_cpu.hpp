// CPU evaluator: runs an expression as one loop over the output, with no temporary per op.
//
// Leaves arrive as views already broadcast to the output shape. Dims are collapsed; each innermost row runs
// a single vectorisable loop when every operand is unit-stride, otherwise in blocks where broadcast leaves
// are splatted once per row and strided leaves are gathered, so the loop body still reads unit-stride
// buffers.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "anycost/core/strided_loop.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/expr/expr.hpp"
#include "anycost/expr/functors.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace expr {

// Value of expression e at position j, with leaf K+i reading ptr[K+i][j].
template <int K, class T, class E>
inline T ev(const E& e, const T* const* ptr, std::int64_t j) {
  if constexpr (requires { e.h; }) {
    return ptr[K][j];
  } else if constexpr (std::is_same_v<E, Const>) {
    return static_cast<T>(e.v);
  } else if constexpr (std::is_same_v<E, One>) {
    return T(1);
  } else if constexpr (std::is_same_v<E, Zero>) {
    return T(0);
  } else if constexpr (requires { e.b; }) {
    return e.f(ev<K>(e.a, ptr, j), ev<K + leaf_count_v<std::remove_cvref_t<decltype(e.a)>>>(e.b, ptr, j));
  } else {
    return e.f(ev<K>(e.a, ptr, j));
  }
}

template <class T, class E, std::size_t L>
void eval_cpu(const Tensor& out, const E& e, const std::array<Tensor, L>& leaves) {
  static_assert(L >= 1, "an expression needs at least one leaf");
  std::array<Strides, L + 1> strides;
  strides[0] = out.strides();
  std::array<const T*, L> base;
  for (std::size_t k = 0; k < L; ++k) {
    strides[k + 1] = leaves[k].strides();
    base[k] = static_cast<const T*>(leaves[k].raw_data());
  }
  T* obase = static_cast<T*>(out.raw_data());
  constexpr std::int64_t block = 256;
  for_each_row<static_cast<int>(L + 1)>(
      out.shape(), strides,
      [&](const std::array<std::int64_t, L + 1>& off, std::int64_t n, const std::array<std::int64_t, L + 1>& st) {
        T* o = obase + off[0];
        const T* p[L];
        bool unit = st[0] == 1;
        for (std::size_t k = 0; k < L; ++k) {
          p[k] = base[k] + off[k + 1];
          unit = unit && st[k + 1] == 1;
        }
        if (unit) {
#pragma GCC ivdep
          for (std::int64_t j = 0; j < n; ++j) o[j] = ev<0>(e, p, j);
          return;
        }
        alignas(64) T buf[L][block];
        const T* q[L];
        for (std::size_t k = 0; k < L; ++k) {
          if (st[k + 1] == 0) {
            std::fill_n(buf[k], std::min(n, block), *p[k]);
            q[k] = buf[k];
          }
        }
        for (std::int64_t j0 = 0; j0 < n; j0 += block) {
          const std::int64_t len = std::min(block, n - j0);
          for (std::size_t k = 0; k < L; ++k) {
            const std::int64_t s = st[k + 1];
            if (s == 1) {
              q[k] = p[k] + j0;
            } else if (s != 0) {
              for (std::int64_t j = 0; j < len; ++j) buf[k][j] = p[k][(j0 + j) * s];
              q[k] = buf[k];
            }
          }
          if (st[0] == 1) {
            T* oo = o + j0;
#pragma GCC ivdep
            for (std::int64_t j = 0; j < len; ++j) oo[j] = ev<0>(e, q, j);
          } else {
            for (std::int64_t j = 0; j < len; ++j) o[(j0 + j) * st[0]] = ev<0>(e, q, j);
          }
        }
      },
      16384);
}

}  // namespace expr
ANYCOST_NAMESPACE_END
