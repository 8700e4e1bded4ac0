// Per-thread scratch memory for CPU kernels, kept between calls. Allocating a fresh multi-megabyte buffer
// per call costs a page fault per 4 KiB (tens of microseconds per megabyte), which would dominate the small
// convolutions of an interactive preview; a kept buffer is touched once and then stays mapped.
//
// scratch<T>(slot, n) returns uninitialised room for n elements, valid until the same thread asks for the
// same slot again. Each purpose has its own slot, so a kernel that calls another never hands out memory that
// is still in use. release_scratch() frees the calling thread's buffers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

enum class Scratch : int {
  winograd_weights,
  winograd_input,
  winograd_output,
  tile_rows,    // per-thread rows of a tile transform
  gemm_a,       // per-thread packed GEMM panels
  gemm_b,
  conv_columns, // im2col columns or a padded input
  conv_output,
  conv_weights, // a convolution weight rearranged for direct reads
  count
};

namespace detail {
struct ScratchSlots {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> data[static_cast<int>(Scratch::count)];
  std::size_t bytes[static_cast<int>(Scratch::count)] = {};
};
inline ScratchSlots& scratch_slots() {
  thread_local ScratchSlots slots;
  return slots;
}
}  // namespace detail

template <class T>
T* scratch(Scratch slot, std::int64_t n) {
  auto& s = detail::scratch_slots();
  const int i = static_cast<int>(slot);
  const std::size_t want = (static_cast<std::size_t>(n > 0 ? n : 1) * sizeof(T) + 63) / 64 * 64;
  if (want > s.bytes[i]) {
    s.data[i].reset();
    // Grow geometrically so that a slowly growing sequence of shapes does not reallocate every call.
    const std::size_t bytes = (std::max(want, s.bytes[i] + s.bytes[i] / 2) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    s.data[i].reset(p);
    s.bytes[i] = bytes;
  }
  return static_cast<T*>(s.data[i].get());
}

// Frees the calling thread's scratch buffers.
inline void release_scratch() {
  auto& s = detail::scratch_slots();
  for (int i = 0; i < static_cast<int>(Scratch::count); ++i) {
    s.data[i].reset();
    s.bytes[i] = 0;
  }
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END
