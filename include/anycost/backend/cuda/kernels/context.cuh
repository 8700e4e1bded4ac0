// Per-device CUDA state, the one documented global of the CUDA backend (besides the thread-local grad mode and
// current streams): a registry created on first use that holds, for each device, the allocator and the cuBLAS
// handle. The current stream is per thread and per device (as in CUDA and PyTorch): nullptr, the legacy default
// stream, until set_current_stream or a StreamGuard changes it on that thread.
//
// Lifetime: the registry is never destroyed (tensors held in static storage may release memory during static
// destruction). At exit, a handler returns the pools' unused memory to the driver and switches deallocation to
// plain cudaFree. cuBLAS handles are left to the driver's process teardown: destroying them from an exit handler
// races the runtime's own shutdown. Host code that needs the CUDA headers: included by the CUDA units only.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "anycost/backend/cuda/kernels/check.cuh"
#include "anycost/backend/cuda/kernels/memory.cuh"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda::detail {

inline constexpr int max_devices = 64;

// Device count probed once. No driver (CI machines) or no device gives 0 and the error is kept for messages.
struct DeviceProbe {
  int count = 0;
  cudaError_t error = cudaSuccess;
};
inline const DeviceProbe& device_probe() {
  static const DeviceProbe probe = [] {
    DeviceProbe p;
    p.error = cudaGetDeviceCount(&p.count);
    if (p.error != cudaSuccess) {
      (void)cudaGetLastError();
      p.count = 0;
    }
    if (p.count > max_devices) p.count = max_devices;
    return p;
  }();
  return probe;
}

inline void require_device(int device) {
  const DeviceProbe& d = device_probe();
  if (d.count == 0) {
    if (d.error != cudaSuccess)
      ::anycost::detail::raise<DeviceError>("no CUDA device: cudaGetDeviceCount failed with ", cudaGetErrorName(d.error),
                                            " (", cudaGetErrorString(d.error), "); cuda:", device, " is unavailable");
    ::anycost::detail::raise<DeviceError>("no CUDA device: cudaGetDeviceCount found 0 devices; cuda:", device,
                                          " is unavailable");
  }
  ANYCOST_CHECK(device >= 0 && device < d.count, DeviceError, "cuda:", device, " requested but ", d.count,
                " CUDA device", d.count == 1 ? " is" : "s are", " present");
}

struct Registry {
  std::mutex mutex;  // guards lazy creation below
  std::atomic<DeviceAllocator*> allocators[max_devices] = {};
  cublasHandle_t blas[max_devices] = {};
  std::mutex blas_mutex[max_devices];  // a cuBLAS handle is used by one thread at a time
  std::atomic<bool> exiting{false};
};

inline Registry& registry() {
  static Registry* const r = [] {
    auto* reg = new Registry;  // intentionally leaked, see the header comment
    std::atexit([] {
      Registry& g = registry();
      g.exiting.store(true);
      for (auto& a : g.allocators) {
        if (DeviceAllocator* p = a.load()) {
          try {
            p->release_cached();
          } catch (const std::exception& e) {  // nothing can be thrown at exit: say what went wrong
            std::fprintf(stderr, "anycost: releasing CUDA memory at exit failed: %s\n", e.what());
          }
        }
      }
    });
    return reg;
  }();
  return *r;
}

inline DeviceAllocator& allocator(int device) {
  require_device(device);
  Registry& r = registry();
  DeviceAllocator* a = r.allocators[device].load(std::memory_order_acquire);
  if (a) return *a;
  std::lock_guard<std::mutex> lock(r.mutex);
  a = r.allocators[device].load();
  if (!a) {
    a = new DeviceAllocator(device);
    r.allocators[device].store(a, std::memory_order_release);
  }
  return *a;
}

// The calling thread's current stream of `device` (device already validated by the caller).
inline cudaStream_t& thread_stream(int device) {
  thread_local cudaStream_t streams[max_devices] = {};
  return streams[device];
}
inline cudaStream_t stream(int device) { return thread_stream(device); }

// ANYCOST_CUDA_SYNC_CHECK=1: every launch is followed by a synchronisation and a check, so that a kernel fault is
// reported at the kernel that caused it (by name) instead of at the next synchronising call. For debugging:
// it serialises host and device.
inline bool sync_check_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("ANYCOST_CUDA_SYNC_CHECK");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

// A readable name for the kernel of functor type Op (from the compiler's signature of this function).
template <class Op>
std::string_view kernel_name() {
  std::string_view f = __PRETTY_FUNCTION__;
  const std::size_t at = f.find("Op = ");
  if (at == std::string_view::npos) return f;
  f.remove_prefix(at + 5);
  return f.substr(0, f.find_first_of(";]"));
}

// The device that owns a device pointer (0 when there is a single device, without asking the driver).
inline int pointer_device(const void* p) {
  if (device_probe().count <= 1) return 0;
  cudaPointerAttributes attr{};
  ANYCOST_CUDA_CHECK(cudaPointerGetAttributes(&attr, p));
  return attr.device < 0 ? 0 : attr.device;
}

inline int sm_count(int device) {
  static std::atomic<int> cache[max_devices] = {};
  int n = cache[device].load(std::memory_order_relaxed);
  if (n == 0) {
    ANYCOST_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    cache[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

// Where a launch goes: the device owning `data` (made current for the scope) and its current stream.
class LaunchContext {
 public:
  explicit LaunchContext(const void* data) : device_(checked(pointer_device(data))), guard_(device_),
                                             stream_(detail::stream(device_)) {}
  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  // Blocks for a grid-stride loop over n items: enough to fill the device, never more than needed.
  unsigned blocks(std::int64_t n, int threads) const {
    const std::int64_t needed = (n + threads - 1) / threads;
    const std::int64_t cap = static_cast<std::int64_t>(sm_count(device_)) * 32;
    return static_cast<unsigned>(needed < 1 ? 1 : (needed < cap ? needed : cap));
  }

 private:
  static int checked(int d) {
    require_device(d);
    return d;
  }
  int device_;
  DeviceGuard guard_;
  cudaStream_t stream_;
};

// Checks the launch just made on ctx's stream (configuration errors at once; with ANYCOST_CUDA_SYNC_CHECK=1 also
// the kernel's execution), naming `kernel`.
template <class Context>
void check_launch(const Context& ctx, std::string_view kernel) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess && sync_check_enabled()) e = cudaStreamSynchronize(ctx.stream());
  if (e != cudaSuccess) [[unlikely]] {
    const std::string what = "the launch of " + std::string(kernel) + " on cuda:" + std::to_string(ctx.device());
    raise_cuda_error(e, what.c_str(), __FILE__, __LINE__);
  }
}

// The device's cuBLAS handle bound to its current stream, held for the scope.
class BlasLease {
 public:
  explicit BlasLease(const LaunchContext& ctx) : lock_(registry().blas_mutex[ctx.device()]) {
    cublasHandle_t& h = registry().blas[ctx.device()];
    if (!h) ANYCOST_CUBLAS_CHECK(cublasCreate(&h));  // FP32 GEMMs stay FP32: the default math mode, no TF32
    ANYCOST_CUBLAS_CHECK(cublasSetStream(h, ctx.stream()));
    handle_ = h;
  }
  cublasHandle_t get() const { return handle_; }

 private:
  std::lock_guard<std::mutex> lock_;
  cublasHandle_t handle_ = nullptr;
};

}  // namespace backend::cuda::detail
ANYCOST_NAMESPACE_END
