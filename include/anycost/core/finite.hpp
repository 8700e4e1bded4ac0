// non_finite_value: where a tensor holds NaN or an infinity, described for an error message. Readers of
// files that may come from anyone (checkpoints, latents, directions) refuse such values up front: a NaN
// weight or latent otherwise travels through every op and surfaces much later as a black image or a PNG
// writer's complaint, far from the file that caused it.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN

// nullopt when every value of t is finite; else "NaN at [i, j, ...]" (or "inf" / "-inf") for the first such
// value in row-major order. A tensor on another device is copied to the host for the check.
inline std::optional<std::string> non_finite_value(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return std::nullopt;
  const Tensor c = t.to(Device::cpu()).contiguous();
  std::int64_t at = -1;
  double value = 0;
  dispatch_dtype(c.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* p = c.data<T>();
    for (std::int64_t i = 0, n = c.numel(); i < n; ++i)
      if (!std::isfinite(p[i])) {
        at = i;
        value = static_cast<double>(p[i]);
        return;
      }
  });
  if (at < 0) return std::nullopt;
  std::vector<std::int64_t> index(static_cast<std::size_t>(c.dim()));
  for (int d = c.dim() - 1; d >= 0; --d) {
    index[static_cast<std::size_t>(d)] = at % c.size(d);
    at /= c.size(d);
  }
  std::ostringstream os;
  os << (std::isnan(value) ? "NaN" : value > 0 ? "inf" : "-inf") << " at [";
  for (std::size_t d = 0; d < index.size(); ++d) os << (d ? ", " : "") << index[d];
  os << "]";
  return os.str();
}

ANYCOST_NAMESPACE_END
