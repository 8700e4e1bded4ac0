// The caching device allocator: one per device, free blocks kept in size-bucketed lists and handed out again
// without a cudaMalloc (generator inference allocates the same shapes over and over). Blocks are reused in
// stream order, which is safe because every anycost launch on a device uses that device's one current stream
// (changing it synchronises first, see context.cuh). On cudaMalloc failure the cache is returned to the
// driver and the allocation retried once. Host code that needs the CUDA headers: included by the CUDA units
// only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <cuda_runtime.h>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/cuda/kernels/check.cuh"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda::detail {

// Sets the calling thread's current device for a scope (restored on exit, errors ignored there).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    int cur = 0;
    ANYCOST_CUDA_CHECK(cudaGetDevice(&cur));
    if (cur != device) {
      ANYCOST_CUDA_CHECK(cudaSetDevice(device));
      prev_ = cur;
    }
  }
  ~DeviceGuard() {
    if (prev_ >= 0) (void)cudaSetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
};

// Bucket size of a request: multiples of 512 bytes up to 1 MiB; above, eight buckets per power of two
// (at least 2 MiB apart), so at most 1/8 of a large block is slack.
inline std::size_t round_allocation(std::size_t bytes) {
  constexpr std::size_t small = 512, small_limit = std::size_t{1} << 20, large_step = std::size_t{2} << 20;
  if (bytes <= small_limit) return (bytes + small - 1) / small * small;
  int e = 0;
  while ((std::size_t{1} << (e + 1)) <= bytes) ++e;  // 2^e <= bytes < 2^(e+1)
  std::size_t step = std::size_t{1} << (e - 3);
  if (step < large_step) step = large_step;
  return (bytes + step - 1) / step * step;
}

class CachingAllocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(std::size_t bytes) {
    const std::size_t size = round_allocation(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      ++stats_.cache_hits;
      stats_.cached_bytes -= size;
      note_allocated(size);
      return p;
    }
    DeviceGuard guard(device_);
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached_locked();
      e = cudaMalloc(&p, size);
    }
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      ::anycost::detail::raise<DeviceError>("CUDA out of memory on cuda:", device_, " allocating ", bytes,
                                            " bytes (", stats_.allocated_bytes, " bytes held by tensors; cache ",
                                            "already released)");
    }
    ANYCOST_CUDA_CHECK(e);
    ++stats_.device_allocations;
    note_allocated(size);
    return p;
  }

  // Never throws (called from Storage's destructor); a block that cannot be cached is freed.
  void deallocate(void* p, std::size_t bytes) noexcept {
    const std::size_t size = round_allocation(bytes);
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      free_[size].push_back(p);
      stats_.allocated_bytes -= size;
      stats_.cached_bytes += size;
    } catch (...) {
      (void)cudaFree(p);
    }
  }

  // Returns every cached block to the driver (after the device has finished with them).
  void release_cached() noexcept {
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      release_cached_locked();
    } catch (...) {
    }
  }

  ::anycost::cuda::MemoryStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
  }

 private:
  void note_allocated(std::size_t size) {
    stats_.allocated_bytes += size;
    if (stats_.allocated_bytes > stats_.peak_allocated_bytes) stats_.peak_allocated_bytes = stats_.allocated_bytes;
  }
  void release_cached_locked() noexcept {
    if (stats_.cached_bytes == 0) return;
    int cur = -1;
    (void)cudaGetDevice(&cur);
    if (cur != device_) (void)cudaSetDevice(device_);
    (void)cudaDeviceSynchronize();  // freed blocks may still be read by queued kernels
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) (void)cudaFree(p);
      blocks.clear();
    }
    free_.clear();
    stats_.cached_bytes = 0;
    if (cur >= 0 && cur != device_) (void)cudaSetDevice(cur);
    (void)cudaGetLastError();
  }

  int device_;
  mutable std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  ::anycost::cuda::MemoryStats stats_;
};

}  // namespace backend::cuda::detail
ANYCOST_NAMESPACE_END
