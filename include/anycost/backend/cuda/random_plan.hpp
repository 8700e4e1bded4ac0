// The per-thread form of the CUDA Philox fill, shared by the kernel and the host tests: thread b generates Philox
// block first_block + b and writes elements 4b .. 4b+3 of a contiguous output, with the same host/device
// functions as the CPU fill (core/rng.hpp), so the values are bit-identical.
#pragma once

#include <cstdint>

#include "anycost/core/rng.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

template <class T>
struct PhiloxFillArgs {
  T* out;
  std::int64_t n;
  std::uint64_t key, first_block;
  bool normal;
  std::int64_t blocks() const { return (n + 3) / 4; }
};

template <class T>
ANYCOST_HOST_DEVICE void philox_fill_at(const PhiloxFillArgs<T>& a, std::int64_t b) {
  const philox::Block r = philox::generate(a.key, a.first_block + static_cast<std::uint64_t>(b));
  float v[4];
  if (a.normal)
    philox::normals(r, v);
  else
    for (int l = 0; l < 4; ++l) v[l] = philox::to_uniform(r.x[l]);
  for (int l = 0; l < 4 && b * 4 + l < a.n; ++l) a.out[b * 4 + l] = static_cast<T>(v[l]);
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
