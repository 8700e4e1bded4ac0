// Host-side declarations of every CUDA kernel entry point, over plain-data views, and the small run-time API of
// the CUDA backend (anycost::cuda: device count, synchronisation, streams, the device allocator).
//
// Definitions live in backend/cuda/kernels/*.cuh, compiled by nvcc only through backend/cuda/units/*.cu, which
// the CMake helper anycost_enable_cuda(<target>) adds to a program. In a CPU-only build each entry is an inline
// stub that throws NotCompiledError, so layer code calls them unconditionally behind one device switch per op.
// Nothing here includes a CUDA header: g++ translation units of a CUDA build see plain declarations.
//
// Global state (documented here because it is the only global besides the thread-local grad mode and the
// thread-local current streams): one process-wide registry holding, per device, the cuBLAS handle and the
// allocator's memory pool. It is created on first use; the pool's unused memory is released by empty_cache() or
// at exit. Debugging: ANYCOST_CUDA_SYNC_CHECK=1 synchronises after every launch and names a faulting kernel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>

#include "anycost/backend/params.hpp"
#include "anycost/core/cuda_hooks.hpp"
#include "anycost/backend/program.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

using cuda_hooks::StridedRef;

#if defined(ANYCOST_WITH_CUDA)
#define ANYCOST_CUDA_ENTRY(signature) signature;
#else
#define ANYCOST_CUDA_ENTRY(signature) \
  [[noreturn]] inline signature { cuda_hooks::not_compiled(); }
// The stubs keep the parameter names of the declarations they stand for.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif

// Fused elementwise expression: out[i] = program(leaves[0][i], ...); leaves are broadcast to out's shape (any
// strides, stride 0 for broadcast dims) and have out's dtype (float32 or float64).
ANYCOST_CUDA_ENTRY(void eval_program(const backend::Program& program, const StridedRef* leaves, int n_leaves,
                                     const StridedRef& out))

// out (keepdim form: extent 1 on reduced dims) = sum of in over those dims, accumulated in double.
ANYCOST_CUDA_ENTRY(void sum_keepdim(const StridedRef& in, const StridedRef& out))

// Batched row-major GEMM with element strides between batch entries (cuBLAS strided-batched):
// C_i = alpha * op(A_i) op(B_i) + beta * C_i. dtype float32 or float64.
ANYCOST_CUDA_ENTRY(void gemm_strided_batched(DType dtype, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                                             std::int64_t k, double alpha, const void* a, std::int64_t lda,
                                             std::int64_t stride_a, const void* b, std::int64_t ldb,
                                             std::int64_t stride_b, double beta, void* c, std::int64_t ldc,
                                             std::int64_t stride_c, std::int64_t batch))

// Convolutions with the same contracts as backend/cpu/conv2d.hpp (x, z, y, out, dw contiguous; weights with
// contiguous rows).
ANYCOST_CUDA_ENTRY(void conv2d(const StridedRef& x, const StridedRef& w, const StridedRef& y,
                               const backend::Conv2dParams& p))
ANYCOST_CUDA_ENTRY(void conv_transpose2d(const StridedRef& z, const StridedRef& w, const StridedRef& out,
                                         const backend::Conv2dParams& p))
ANYCOST_CUDA_ENTRY(void conv2d_weight_grad(const StridedRef& x, const StridedRef& gy, const StridedRef& dw,
                                           const backend::Conv2dParams& p))

// upfirdn2d with the contract of backend/cpu/upfirdn2d.hpp.
ANYCOST_CUDA_ENTRY(void upfirdn2d(const StridedRef& x, const StridedRef& k, const StridedRef& out,
                                  const backend::UpFirDnParams& p))

// Max pooling with the contract of backend/cpu/pool.hpp (x, out, grad tensors contiguous, one dtype). `index` is
// device memory on the tensors' device, planes * ho * wo int64 argmax positions: written by max_pool2d, read by
// the scatter (grad_in = the scatter-add of grad_out at index, every element written) and the gather
// (out[p, j] = in[p, index[p, j]]).
ANYCOST_CUDA_ENTRY(void max_pool2d(const StridedRef& x, const StridedRef& out, std::int64_t* index,
                                   const backend::Pool2dGeometry& g))
ANYCOST_CUDA_ENTRY(void max_pool2d_scatter(const StridedRef& grad_out, const StridedRef& grad_in,
                                           const std::int64_t* index, const backend::Pool2dGeometry& g))
ANYCOST_CUDA_ENTRY(void max_pool2d_gather(const StridedRef& in, const StridedRef& out, const std::int64_t* index,
                                          const backend::Pool2dGeometry& g))

// out[i] = in[n - 1 - i] over two contiguous tensors of one dtype and size (the flipped FIR kernel of upfirdn2d's
// backward, kept on the device).
ANYCOST_CUDA_ENTRY(void reverse_copy(const StridedRef& in, const StridedRef& out))

// out (contiguous) element i = Philox normal/uniform (key, first_block, i): bit-identical to the CPU.
ANYCOST_CUDA_ENTRY(void fill_random(const StridedRef& out, std::uint64_t key, std::uint64_t first_block, bool normal))

#undef ANYCOST_CUDA_ENTRY
#if !defined(ANYCOST_WITH_CUDA)
#pragma GCC diagnostic pop
#endif

}  // namespace backend::cuda

// ---- run-time API ---------------------------------------------------------------------------------------
namespace cuda {

// Counters of one device's allocator (a stream-ordered memory pool, see kernels/memory.cuh).
struct MemoryStats {
  std::size_t allocated_bytes = 0;       // requested by live tensors and scratch buffers
  std::size_t peak_allocated_bytes = 0;  // maximum of allocated_bytes since start (or reset_peak_memory_stats)
  std::size_t reserved_bytes = 0;        // taken from the driver by the pool
  std::size_t peak_reserved_bytes = 0;   // maximum of reserved_bytes since start (or reset_peak_memory_stats)
  std::size_t cached_bytes = 0;          // reserved but not in use: kept for reuse, returned by empty_cache()
  std::uint64_t allocations = 0;         // allocations served
};

#if defined(ANYCOST_WITH_CUDA)
// Number of usable devices: 0 when there is no device or no driver (never throws).
int device_count();
inline bool is_available() { return device_count() > 0; }
// Why there is no device ("" when there is one): the cudaGetDeviceCount error, for skip messages.
const char* unavailable_reason();
// Waits for all work queued on the device's current stream.
void synchronize(int device = 0);
// Returns every cached (free) block of every device to the driver.
void empty_cache();
MemoryStats memory_stats(int device = 0);
void reset_peak_memory_stats(int device = 0);
// The stream every anycost launch of the calling thread on `device` uses (a cudaStream_t; nullptr, the legacy
// default stream, until the thread sets one).
void* current_stream(int device = 0);
// Makes `stream` (a cudaStream_t owned by the caller, created on `device`; checked) the calling thread's current
// stream of `device`. The previous stream is synchronised first, so only the current stream can still use memory
// the allocator recycles. The stream must stay alive while it is current: prefer StreamGuard.
void set_current_stream(void* stream, int device = 0);
#else
inline int device_count() { return 0; }
inline bool is_available() { return false; }
inline const char* unavailable_reason() { return "CUDA support is not compiled in"; }
[[noreturn]] inline void synchronize(int = 0) { cuda_hooks::not_compiled(); }
inline void empty_cache() {}
[[noreturn]] inline MemoryStats memory_stats(int = 0) { cuda_hooks::not_compiled(); }
[[noreturn]] inline void reset_peak_memory_stats(int = 0) { cuda_hooks::not_compiled(); }
[[noreturn]] inline void* current_stream(int = 0) { cuda_hooks::not_compiled(); }
[[noreturn]] inline void set_current_stream(void*, int = 0) { cuda_hooks::not_compiled(); }
#endif

// Makes `stream` the calling thread's current stream of `device` for a scope and restores the previous one at
// its end (synchronising `stream` then, see set_current_stream), so a stream destroyed after the scope is never
// left current.
class StreamGuard {
 public:
  explicit StreamGuard(void* stream, int device = 0) : device_(device), prev_(current_stream(device)) {
    set_current_stream(stream, device);
  }
  // The previous stream is restored in any case; a failed synchronisation throws, or is printed when the scope
  // is already left by an exception (a second exception would terminate).
  ~StreamGuard() noexcept(false) {
    if (std::uncaught_exceptions() == unwinding_) {
      set_current_stream(prev_, device_);
      return;
    }
    try {
      set_current_stream(prev_, device_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "anycost: StreamGuard: %s\n", e.what());
    }
  }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  void* prev_;
  int unwinding_ = std::uncaught_exceptions();
};

}  // namespace cuda
ANYCOST_NAMESPACE_END
