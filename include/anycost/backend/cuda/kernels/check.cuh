// Error checks for CUDA runtime and cuBLAS calls: a failing call throws anycost::DeviceError naming the call,
// the error, the file and the line, and says when the error is sticky (the context is lost: every later CUDA
// call fails the same way, only a new process recovers). Host code (device code never throws) that needs the
// CUDA headers, so it is included by the CUDA units only.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda::detail {

// The errors after which the CUDA context is unusable (a kernel fault or a lost device), as the CUDA runtime
// documents them: they cannot be cleared by cudaGetLastError.
inline bool is_sticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorDevicesUnavailable:
    case cudaErrorContextIsDestroyed:
      return true;
    default:
      return false;
  }
}

[[noreturn]] inline void raise_cuda_error(cudaError_t e, const char* call, const char* file, int line) {
  (void)cudaGetLastError();  // clear a non-sticky error so that later calls are not blamed for it
  ::anycost::detail::raise<DeviceError>(
      "CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ") in ", call, " at ", file, ":", line,
      is_sticky(e) ? "; the error is sticky: the CUDA context is unusable and every later CUDA call fails, restart "
                     "the process (ANYCOST_CUDA_SYNC_CHECK=1 names the kernel that faulted)"
                   : "");
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
