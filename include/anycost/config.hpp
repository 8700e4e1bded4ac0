// Version, feature macros and the configuration-dependent inline namespace.
//
// A translation unit built with ANYCOST_WITH_CUDA sees the same class layouts as one built without it, but
// the symbols live in a different inline namespace, so linking the two together fails at link time instead
// of breaking the one-definition rule silently.
#pragma once

#define ANYCOST_VERSION_MAJOR 0
#define ANYCOST_VERSION_MINOR 1
#define ANYCOST_VERSION_PATCH 0

#if defined(__CUDACC__)
#define ANYCOST_HOST_DEVICE __host__ __device__ __forceinline__
#define ANYCOST_DEVICE_COMPILE 1
#else
#define ANYCOST_HOST_DEVICE inline
#define ANYCOST_DEVICE_COMPILE 0
#endif

#if defined(ANYCOST_WITH_CUDA)
#define ANYCOST_ABI_NAMESPACE cuda_v1
#else
#define ANYCOST_ABI_NAMESPACE cpu_v1
#endif

#define ANYCOST_NAMESPACE_BEGIN \
  namespace anycost {           \
  inline namespace ANYCOST_ABI_NAMESPACE {
#define ANYCOST_NAMESPACE_END \
  }                           \
  }

ANYCOST_NAMESPACE_BEGIN
inline constexpr int version_major = ANYCOST_VERSION_MAJOR;
inline constexpr int version_minor = ANYCOST_VERSION_MINOR;
inline constexpr int version_patch = ANYCOST_VERSION_PATCH;

// True when this translation unit was configured with the CUDA backend (anycost::cuda target).
inline constexpr bool with_cuda =
#if defined(ANYCOST_WITH_CUDA)
    true;
#else
    false;
#endif
ANYCOST_NAMESPACE_END
