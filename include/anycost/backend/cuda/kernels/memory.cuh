// The device allocator: one per device, on CUDA's stream-ordered allocator (cudaMallocFromPoolAsync /
// cudaFreeAsync) over a memory pool of anycost's own.
//
// Why the driver's pool rather than a cache of our own: anycost's sub-networks give every call its own widths and
// resolutions, so a model run allocates many distinct sizes. A cache keyed by size grows with every new size until
// cudaMalloc fails; the pool instead splits and coalesces its reserved memory, so what it holds is bounded by the
// peak in use (plus fragmentation), and it orders reuse by stream without any synchronisation or lock of ours.
// Its release threshold is set to "never": by default a pool returns its memory to the driver at every
// synchronisation, which would make each generator call pay cudaMalloc again. Memory goes back on empty_cache()
// and, once, when an allocation fails (after the device has finished with freed blocks).
//
// Stream order: a block is allocated and freed on the calling thread's current stream. Changing a thread's
// current stream synchronises the previous one (context.cuh), so only the current stream can still use a block
// when it is freed. Tensors handed to another thread must be synchronised first (as with PyTorch).
// Host code that needs the CUDA headers: included by the CUDA units only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>

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

class DeviceAllocator {
 public:
  explicit DeviceAllocator(int device) : device_(device) {
    DeviceGuard guard(device);
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.handleTypes = cudaMemHandleTypeNone;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    ANYCOST_CUDA_CHECK(cudaMemPoolCreate(&pool_, &props));
    std::uint64_t keep_all = UINT64_MAX;
    ANYCOST_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep_all));
  }
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  void* allocate(std::size_t bytes, cudaStream_t stream) {
    raise_deferred_error();
    void* p = nullptr;
    cudaError_t e = cudaMallocFromPoolAsync(&p, bytes, pool_, stream);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached();  // blocks freed in stream order become free once the device is idle
      e = cudaMallocFromPoolAsync(&p, bytes, pool_, stream);
    }
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      ::anycost::detail::raise<DeviceError>("CUDA out of memory on cuda:", device_, " allocating ", bytes, " bytes (",
                                            allocated_.load(), " bytes held by tensors; the pool was trimmed)");
    }
    ANYCOST_CUDA_CHECK(e);
    const std::size_t now = allocated_.fetch_add(bytes) + bytes;
    std::size_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    allocations_.fetch_add(1, std::memory_order_relaxed);
    return p;
  }

  // Never throws (called from Storage's destructor): a failure is printed and raised by the next allocation or
  // synchronize() on this device, so that it is not lost.
  void deallocate(void* p, std::size_t bytes, cudaStream_t stream) noexcept {
    allocated_.fetch_sub(bytes);
    int cur = device_;
    (void)cudaGetDevice(&cur);  // the stream is one of this device's: make it current (no throwing guard here)
    if (cur != device_) (void)cudaSetDevice(device_);
    const cudaError_t e = cudaFreeAsync(p, stream);
    if (cur != device_) (void)cudaSetDevice(cur);
    if (e != cudaSuccess) {
      std::fprintf(stderr, "anycost: cudaFreeAsync failed on cuda:%d with %s (%s)\n", device_, cudaGetErrorName(e),
                   cudaGetErrorString(e));
      if (!is_sticky(e)) (void)cudaGetLastError();
      int none = cudaSuccess;
      deferred_.compare_exchange_strong(none, static_cast<int>(e));
    }
  }

  // Returns the pool's unused memory to the driver, after the device has finished with the freed blocks.
  void release_cached() {
    DeviceGuard guard(device_);
    ANYCOST_CUDA_CHECK(cudaDeviceSynchronize());
    ANYCOST_CUDA_CHECK(cudaMemPoolTrimTo(pool_, 0));
  }

  ::anycost::cuda::MemoryStats stats() const {
    ::anycost::cuda::MemoryStats s;
    s.allocated_bytes = allocated_.load();
    s.peak_allocated_bytes = peak_.load();
    const std::uint64_t reserved = attribute(cudaMemPoolAttrReservedMemCurrent);
    const std::uint64_t used = attribute(cudaMemPoolAttrUsedMemCurrent);
    s.reserved_bytes = reserved;
    s.cached_bytes = reserved > used ? reserved - used : 0;
    s.peak_reserved_bytes = attribute(cudaMemPoolAttrReservedMemHigh);
    s.allocations = allocations_.load(std::memory_order_relaxed);
    return s;
  }
  void reset_peak() {
    peak_.store(allocated_.load());
    std::uint64_t zero = 0;  // resets the high-water marks to the current values
    ANYCOST_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReservedMemHigh, &zero));
    ANYCOST_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrUsedMemHigh, &zero));
  }

  // Throws the error of a failed deallocation, once.
  void raise_deferred_error() {
    const int e = deferred_.exchange(cudaSuccess);
    if (e != cudaSuccess) [[unlikely]]
      raise_cuda_error(static_cast<cudaError_t>(e), "cudaFreeAsync (an earlier tensor deallocation)", __FILE__,
                       __LINE__);
  }

 private:
  std::uint64_t attribute(cudaMemPoolAttr attr) const {
    std::uint64_t v = 0;
    ANYCOST_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, attr, &v));
    return v;
  }

  int device_;
  cudaMemPool_t pool_ = nullptr;
  std::atomic<std::size_t> allocated_{0}, peak_{0};
  std::atomic<std::uint64_t> allocations_{0};
  std::atomic<int> deferred_{cudaSuccess};
};

// Typed device scratch from the allocator, returned at scope exit (stream order keeps the reuse safe).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer(int device, std::int64_t count) : device_(device), bytes_(static_cast<std::size_t>(count) * sizeof(T)) {
    if (bytes_) p_ = static_cast<T*>(cuda_hooks::allocate(device, bytes_));
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : device_(o.device_), bytes_(o.bytes_), p_(o.p_) { o.p_ = nullptr; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;
  ~DeviceBuffer() {
    if (p_) cuda_hooks::deallocate(device_, p_, bytes_);
  }
  T* get() const { return p_; }

 private:
  int device_;
  std::size_t bytes_;
  T* p_ = nullptr;
};

}  // namespace backend::cuda::detail
ANYCOST_NAMESPACE_END
