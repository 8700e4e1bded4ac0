// CPU fill with counter-based random numbers: element i gets Philox element (first_block, i), so the result
// does not depend on the thread count and matches the CUDA fill bit for bit.
#pragma once

#include <cstdint>

#include "anycost/core/parallel.hpp"
#include "anycost/core/rng.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

template <class T>
void fill_random(const Tensor& out, std::uint64_t key, std::uint64_t first_block, bool normal) {
  T* p = static_cast<T*>(out.raw_data());
  const std::int64_t n = out.numel();
  const std::int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, 1024, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const philox::Block r = philox::generate(key, first_block + static_cast<std::uint64_t>(b));
      float v[4];
      if (normal)
        philox::normals(r, v);
      else
        for (int l = 0; l < 4; ++l) v[l] = philox::to_uniform(r.x[l]);
      for (int l = 0; l < 4 && b * 4 + l < n; ++l) p[b * 4 + l] = static_cast<T>(v[l]);
    }
  });
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END
