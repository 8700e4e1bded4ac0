// Reference-counted memory on one device, with a version counter that autograd uses to detect a tensor
// modified in place after it was saved for backward.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "anycost/core/cuda_hooks.hpp"
#include "anycost/core/device.hpp"

ANYCOST_NAMESPACE_BEGIN

// Tensor memory on the host, the CPU counterpart of cuda::MemoryStats: every Storage that allocates host memory
// counts (not memory-mapped checkpoints, not the kernels' scratch arenas), so a benchmark can report the peak
// of one pass. Process-wide; three relaxed atomics per allocation.
struct HostMemoryStats {
  std::size_t allocated_bytes = 0;        // held by live tensors
  std::size_t peak_allocated_bytes = 0;   // maximum of allocated_bytes since start (or reset_host_peak_memory)
  std::size_t total_allocated_bytes = 0;  // every allocation since start: the traffic a pass causes
};

namespace detail {
inline std::atomic<std::size_t> host_allocated{0}, host_peak{0}, host_total{0};
inline void count_host_alloc(std::size_t bytes) {
  host_total.fetch_add(bytes, std::memory_order_relaxed);
  const std::size_t now = host_allocated.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  std::size_t peak = host_peak.load(std::memory_order_relaxed);
  while (now > peak && !host_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
}  // namespace detail

inline HostMemoryStats host_memory_stats() {
  return {detail::host_allocated.load(std::memory_order_relaxed), detail::host_peak.load(std::memory_order_relaxed),
          detail::host_total.load(std::memory_order_relaxed)};
}
// Starts a new peak from what is allocated now.
inline void reset_host_peak_memory() {
  detail::host_peak.store(detail::host_allocated.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

class Storage {
 public:
  Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
    if (bytes_ == 0) return;
    if (device.is_cpu()) {
      // 64-byte alignment (cache lines, every SIMD width) for real buffers; below 1 KiB plain malloc (16-byte
      // aligned), since memalign costs hundreds of instructions and dominated recording a scalar op.
      data_ = bytes_ < 1024 ? std::malloc(bytes_) : std::aligned_alloc(64, (bytes_ + 63) / 64 * 64);
      if (!data_) throw std::bad_alloc();
      detail::count_host_alloc(bytes_);
    } else {
      data_ = cuda_hooks::allocate(device.index, bytes_);
    }
  }
  // Wraps memory owned elsewhere (memory-mapped checkpoints); `keep_alive` owns it.
  Storage(void* data, std::size_t bytes, Device device, std::shared_ptr<void> keep_alive)
      : data_(data), bytes_(bytes), device_(device), owner_(std::move(keep_alive)) {}
  ~Storage() {
    if (owner_ || !data_) return;
    if (device_.is_cpu()) {
      std::free(data_);
      detail::host_allocated.fetch_sub(bytes_, std::memory_order_relaxed);
    } else {
      cuda_hooks::deallocate(device_.index, data_, bytes_);
    }
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  std::uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
  std::shared_ptr<void> owner_;
  std::uint64_t version_ = 0;
};

ANYCOST_NAMESPACE_END
