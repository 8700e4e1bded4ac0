// Error checks for CUDA runtime and cuBLAS calls: a failing call throws anycost::DeviceError naming the call,
// the error, the file and the line. Host code (device code never throws) that needs the CUDA headers, so it
// is included by the CUDA units only.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda::detail {

[[noreturn]] inline void raise_cuda_error(cudaError_t e, const char* call, const char* file, int line) {
  (void)cudaGetLastError();  // clear a non-sticky error so that later calls are not blamed for it
  ::anycost::detail::raise<DeviceError>("CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ") in ",
                                        call, " at ", file, ":", line);
}
inline void check_cuda(cudaError_t e, const char* call, const char* file, int line) {
  if (e != cudaSuccess) [[unlikely]]
    raise_cuda_error(e, call, file, line);
}
inline void check_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) [[unlikely]]
    ::anycost::detail::raise<DeviceError>("cuBLAS error ", cublasGetStatusName(s), " (", cublasGetStatusString(s),
                                          ") in ", call, " at ", file, ":", line);
}

}  // namespace backend::cuda::detail
ANYCOST_NAMESPACE_END

// ANYCOST_CUDA_CHECK(call): throws DeviceError when the runtime call does not return cudaSuccess.
#define ANYCOST_CUDA_CHECK(call) ::anycost::backend::cuda::detail::check_cuda((call), #call, __FILE__, __LINE__)
// ANYCOST_CUBLAS_CHECK(call): the same for cuBLAS status codes.
#define ANYCOST_CUBLAS_CHECK(call) ::anycost::backend::cuda::detail::check_cublas((call), #call, __FILE__, __LINE__)
// ANYCOST_CUDA_CHECK_LAUNCH(): checks the launch just made (configuration errors; faults surface at the next
// synchronising call).
#define ANYCOST_CUDA_CHECK_LAUNCH() ANYCOST_CUDA_CHECK(cudaGetLastError())
