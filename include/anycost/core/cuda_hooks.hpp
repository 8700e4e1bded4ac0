// The few CUDA entry points that core needs (memory and strided copies). In a CUDA build they are declared
// here and defined in backend/cuda/units/*.cu; in a CPU-only build they are inline stubs that throw
// NotCompiledError, so a CPU-only program links without the CUDA toolkit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "anycost/core/dtype.hpp"
#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace cuda_hooks {

// A strided view as plain data, the form every CUDA entry point takes.
struct StridedRef {
  void* data;  // element 0 of the view (offset already applied)
  DType dtype;
  int rank;
  std::int64_t shape[8];
  std::int64_t strides[8];
};

#if defined(ANYCOST_WITH_CUDA)
void* allocate(int device, std::size_t bytes);
void deallocate(int device, void* p, std::size_t bytes);
void copy_to_host(void* dst, const void* src, std::size_t bytes);
void copy_to_device(void* dst, const void* src, std::size_t bytes);
void copy_device_to_device(void* dst, const void* src, std::size_t bytes);
void memset_zero(void* dst, std::size_t bytes);
void fill(void* dst, DType dtype, std::int64_t n, double value);  // n contiguous elements, on the device
void copy_strided(const StridedRef& dst, const StridedRef& src);  // same device, any dtypes
int device_count();
#else
[[noreturn]] inline void not_compiled() {
  throw NotCompiledError("CUDA support is not compiled in: link the anycost::cuda target (anycost_enable_cuda)");
}
inline void* allocate(int, std::size_t) { not_compiled(); }
inline void deallocate(int, void*, std::size_t) {}
inline void copy_to_host(void*, const void*, std::size_t) { not_compiled(); }
inline void copy_to_device(void*, const void*, std::size_t) { not_compiled(); }
inline void copy_device_to_device(void*, const void*, std::size_t) { not_compiled(); }
inline void memset_zero(void*, std::size_t) { not_compiled(); }
inline void fill(void*, DType, std::int64_t, double) { not_compiled(); }
inline void copy_strided(const StridedRef&, const StridedRef&) { not_compiled(); }
inline int device_count() { return 0; }
#endif

}  // namespace cuda_hooks
ANYCOST_NAMESPACE_END
