// Memory hooks for core (allocation through the device allocator, transfers, memset, strided copies with dtype
// conversion) and the anycost::cuda run-time API. nvcc only: included by units/runtime.cu.
#pragma once

#include <cstdint>
#include <string>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/cuda/kernels/context.cuh"
#include "anycost/backend/cuda/kernels/launch.cuh"
#include "anycost/backend/cuda/strided_plan.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda::detail {

template <class D, class S, class Index>
struct CopyOp {
  CopyArgs<Index> a;
  __device__ void operator()(std::int64_t i) const { copy_at<D, S>(a, static_cast<Index>(i)); }
};

template <class Index>
void launch_copy(const LaunchContext& ctx, const CollapsedGeometry& g, const StridedRef& dst, const StridedRef& src) {
  CopyArgs<Index> a;
  a.plan = make_plan<2, Index>(g, 2);
  a.dst = dst.data;
  a.src = src.data;
  dispatch_dtype(dst.dtype, [&](auto zd) {
    dispatch_dtype(src.dtype, [&](auto zs) {
      launch_for_each(ctx, CopyOp<decltype(zd), decltype(zs), Index>{a}, g.numel);
    });
  });
}

// Synchronises the calling thread's current stream of `device` (made current for the call), and raises the
// error of a failed deallocation on it, if any.
inline void sync_device_stream(int device) {
  DeviceGuard guard(device);
  ANYCOST_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
  if (DeviceAllocator* a = registry().allocators[device].load()) a->raise_deferred_error();
}

// Whether host memory is ordinary pageable memory (not page-locked, registered or managed).
inline bool is_pageable(const void* p) {
  cudaPointerAttributes attr{};
  ANYCOST_CUDA_CHECK(cudaPointerGetAttributes(&attr, p));
  return attr.type == cudaMemoryTypeUnregistered;
}

}  // namespace backend::cuda::detail

// ---- core's hooks -------------------------------------------------------------------------------------
namespace cuda_hooks {

int device_count() { return backend::cuda::detail::device_probe().count; }

void* allocate(int device, std::size_t bytes) {
  using namespace backend::cuda::detail;
  DeviceAllocator& a = allocator(device);
  DeviceGuard guard(device);
  return a.allocate(bytes, stream(device));
}

void deallocate(int device, void* p, std::size_t bytes) {
  using namespace backend::cuda::detail;
  if (!p) return;
  Registry& r = registry();
  DeviceAllocator* a = device >= 0 && device < max_devices ? r.allocators[device].load() : nullptr;
  if (a && !r.exiting.load())
    a->deallocate(p, bytes, stream(device));  // the last user of the block is this thread's current stream
  else
    (void)cudaFree(p);  // at exit the runtime may already be going down: errors are irrelevant then
}

void copy_to_host(void* dst, const void* src, std::size_t bytes) {
  using namespace backend::cuda::detail;
  if (bytes == 0) return;
  const LaunchContext ctx(src);
  ANYCOST_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx.stream()));
  ANYCOST_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
}

void copy_to_device(void* dst, const void* src, std::size_t bytes) {
  using namespace backend::cuda::detail;
  if (bytes == 0) return;
  const LaunchContext ctx(dst);
  ANYCOST_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx.stream()));
  // From pageable memory the call returns once the source has been staged, so the caller may free or overwrite
  // it. From page-locked (or managed) memory the copy runs later, straight from the source, which the caller owns
  // and may release on return: wait for it. anycost never allocates such memory itself; it comes from buffers a
  // program registered or allocated with cudaHostAlloc and wrapped as CPU tensors.
  if (!is_pageable(src)) ANYCOST_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
}

void copy_device_to_device(void* dst, const void* src, std::size_t bytes) {
  using namespace backend::cuda::detail;
  if (bytes == 0) return;
  const LaunchContext ctx(dst);
  const int src_device = pointer_device(src);
  if (src_device != ctx.device()) sync_device_stream(src_device);  // the source's producers must be done
  ANYCOST_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, ctx.stream()));
  if (src_device != ctx.device()) ANYCOST_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
}

void memset_zero(void* dst, std::size_t bytes) {
  using namespace backend::cuda::detail;
  if (bytes == 0) return;
  const LaunchContext ctx(dst);
  ANYCOST_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, ctx.stream()));
}

void copy_strided(const StridedRef& dst, const StridedRef& src) {
  const StridedRef* ops[2] = {&dst, &src};
  const backend::cuda::CollapsedGeometry g = backend::cuda::collapse(ops, 2, "copy_strided");
  if (g.numel == 0) return;
  const backend::cuda::detail::LaunchContext ctx(dst.data);
  if (dst.dtype == src.dtype && g.rank == 1 && (g.strides[0][0] == 1 && g.strides[1][0] == 1)) {
    ANYCOST_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, static_cast<std::size_t>(g.numel) * dtype_size(dst.dtype),
                                       cudaMemcpyDeviceToDevice, ctx.stream()));
    return;
  }
  if (g.fits_int32(2))
    backend::cuda::detail::launch_copy<std::int32_t>(ctx, g, dst, src);
  else
    backend::cuda::detail::launch_copy<std::int64_t>(ctx, g, dst, src);
}

}  // namespace cuda_hooks

// ---- run-time API -------------------------------------------------------------------------------------
namespace cuda {

int device_count() { return backend::cuda::detail::device_probe().count; }

const char* unavailable_reason() {
  static const std::string reason = [] {
    const auto& p = backend::cuda::detail::device_probe();
    if (p.count > 0) return std::string();
    if (p.error != cudaSuccess)
      return std::string("cudaGetDeviceCount failed with ") + cudaGetErrorName(p.error) + " (" +
             cudaGetErrorString(p.error) + ")";
    return std::string("cudaGetDeviceCount found 0 devices");
  }();
  return reason.c_str();
}

void synchronize(int device) {
  backend::cuda::detail::require_device(device);
  backend::cuda::detail::sync_device_stream(device);
}

void empty_cache() {
  using namespace backend::cuda::detail;
  if (device_probe().count == 0) return;
  for (auto& a : registry().allocators)
    if (DeviceAllocator* p = a.load()) p->release_cached();
}

MemoryStats memory_stats(int device) {
  using namespace backend::cuda::detail;
  require_device(device);
  DeviceAllocator* a = registry().allocators[device].load();
  return a ? a->stats() : MemoryStats{};
}

void reset_peak_memory_stats(int device) { backend::cuda::detail::allocator(device).reset_peak(); }

void* current_stream(int device) {
  backend::cuda::detail::require_device(device);
  return backend::cuda::detail::stream(device);
}

void set_current_stream(void* s, int device) {
  using namespace backend::cuda::detail;
  require_device(device);
  const auto next = static_cast<cudaStream_t>(s);
  if (next == stream(device)) return;
  if (next != nullptr && next != cudaStreamLegacy && next != cudaStreamPerThread) {
    // A stream of another device, or a handle the runtime does not know, is refused before anything is queued.
    int owner = -1;
    ANYCOST_CUDA_CHECK(cudaStreamGetDevice(next, &owner));
    ANYCOST_CHECK(owner == device, DeviceError, "set_current_stream: the stream belongs to cuda:", owner,
                  ", not to cuda:", device);
  }
  // Switched first, so that even a failing synchronisation (it throws) leaves no stale stream current.
  const cudaStream_t prev = stream(device);
  thread_stream(device) = next;
  DeviceGuard guard(device);
  ANYCOST_CUDA_CHECK(cudaStreamSynchronize(prev));
}

}  // namespace cuda
ANYCOST_NAMESPACE_END
