// CPU threading: one thread count for the whole library, and a parallel_for that splits a range into chunks
// no smaller than a grain (so that tiny loops stay serial) and runs them on the library's thread pool.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>

#include "anycost/core/error.hpp"
#include "anycost/core/thread_pool.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

ANYCOST_NAMESPACE_BEGIN

namespace detail {
// Weak hook so that an OpenBLAS-backed GEMM follows the same thread count (resolved at link time).
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

// OMP_NUM_THREADS when set, else every core.
inline std::atomic<int>& thread_count() {
#if defined(_OPENMP)
  static std::atomic<int> n{omp_get_max_threads()};
#else
  static std::atomic<int> n{std::max(1, static_cast<int>(std::thread::hardware_concurrency()))};
#endif
  return n;
}
}  // namespace detail

inline int get_num_threads() { return detail::thread_count().load(std::memory_order_relaxed); }

// Sets the number of CPU threads used by every anycost kernel (and by OpenBLAS when it is linked, and by
// Eigen's OpenMP loops).
inline void set_num_threads(int n) {
  ANYCOST_CHECK(n >= 1, ValueError, "set_num_threads: thread count must be >= 1, got ", n);
  detail::thread_count().store(n, std::memory_order_relaxed);
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
  if (detail::openblas_set_num_threads) detail::openblas_set_num_threads(n);
}

// Inside a chunk of parallel_for (or a caller's own OpenMP region): nested loops run serially.
inline bool in_parallel_region() {
#if defined(_OPENMP)
  if (omp_in_parallel()) return true;
#endif
  return detail::in_pool_job;
}

// Calls f(begin, end) on disjoint chunks covering [0, n), each of at least `grain` items, on the library's
// threads (core/thread_pool.hpp). Up to four chunks per thread, so that the calling thread can take over the
// chunks of a worker that is slow to wake. Which thread runs a chunk varies from call to call; the chunks
// themselves depend only on n, grain and the thread count.
template <class F>
void parallel_for(std::int64_t n, std::int64_t grain, F&& f) {
  if (n <= 0) return;
  const int threads = get_num_threads();
  const std::int64_t max_chunks = std::max<std::int64_t>(1, n / std::max<std::int64_t>(grain, 1));
  const std::int64_t chunks = std::min<std::int64_t>(std::int64_t{4} * threads, max_chunks);
  if (threads <= 1 || chunks <= 1 || in_parallel_region()) {
    f(std::int64_t{0}, n);
    return;
  }
  auto body = [&](std::int64_t c) { f(n * c / chunks, n * (c + 1) / chunks); };
  if (!detail::ThreadPool::instance().run(chunks, threads - 1, body)) f(std::int64_t{0}, n);
}

ANYCOST_NAMESPACE_END
