// CPU threading: one thread count for the whole library (OpenMP under the hood), and a parallel_for that
// splits a range into chunks no smaller than a grain so that tiny loops stay serial.
#pragma once

#include <algorithm>
#include <cstdint>

#include "anycost/core/error.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

ANYCOST_NAMESPACE_BEGIN

namespace detail {
// Weak hook so that an OpenBLAS-backed GEMM follows the same thread count (resolved at link time).
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
}  // namespace detail

inline int get_num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Sets the number of CPU threads used by every anycost kernel (and by OpenBLAS when it is linked).
inline void set_num_threads(int n) {
  ANYCOST_CHECK(n >= 1, ValueError, "set_num_threads: thread count must be >= 1, got ", n);
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
  if (detail::openblas_set_num_threads) detail::openblas_set_num_threads(n);
}

inline bool in_parallel_region() {
#if defined(_OPENMP)
  return omp_in_parallel();
#else
  return true;
#endif
}

// Calls f(begin, end) on disjoint chunks covering [0, n). Chunks hold at least `grain` items.
template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& f) {
  if (n <= 0) return;
  const int threads = get_num_threads();
  const std::int64_t max_chunks = std::max<std::int64_t>(1, n / std::max<std::int64_t>(grain, 1));
  const int chunks = static_cast<int>(std::min<std::int64_t>(threads, max_chunks));
  if (chunks <= 1 || in_parallel_region()) {
    f(std::int64_t{0}, n);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
  for (int c = 0; c < chunks; ++c) {
    const std::int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    f(b, e);
  }
#endif
}

ANYCOST_NAMESPACE_END
