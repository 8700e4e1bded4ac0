// Random tensors from an explicit Rng (no global generator): the same seed gives the same values on every
// device and thread count.
#pragma once

#include "anycost/backend/cpu/random.hpp"
#include "anycost/backend/cuda/api.hpp"
#include "anycost/core/rng.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN

namespace detail {
inline Tensor random_tensor(const Shape& shape, Rng& rng, DType dtype, Device device, bool normal) {
  Tensor t = Tensor::empty(shape, dtype, device);
  const std::uint64_t first = rng.reserve(static_cast<std::uint64_t>(t.numel()));
  if (t.numel() == 0) return t;
  if (device.is_cuda())
    backend::cuda::fill_random(t.strided_ref(), rng.seed(), first, normal);
  else
    dispatch_dtype(dtype, [&](auto z) { backend::cpu::fill_random<decltype(z)>(t, rng.seed(), first, normal); });
  return t;
}
}  // namespace detail

// Standard normal samples.
inline Tensor randn(const Shape& shape, Rng& rng, DType dtype = DType::float32, Device device = Device::cpu()) {
  return detail::random_tensor(shape, rng, dtype, device, true);
}
// Uniform samples in [0, 1).
inline Tensor rand(const Shape& shape, Rng& rng, DType dtype = DType::float32, Device device = Device::cpu()) {
  return detail::random_tensor(shape, rng, dtype, device, false);
}

ANYCOST_NAMESPACE_END
