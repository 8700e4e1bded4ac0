// The architecture code that conditions the discriminator on the sub-generator that made an image (Lin et al.
// 2021, Sec. 3.3; the official utils/train_utils.py get_g_arch): every per-entry width ratio, one-hot over
// {0.25, 0.5, 0.75, 1.0}, concatenated in entry order -> [1, 4 n] (n = 18 at 1024, 4 n = 72).
//
// It encodes ratios, not widths: uniform(0.25) says 0.25 even at the layers the 512 cap keeps full, and the
// output resolution is not encoded (SubnetConfig::ratios() documents where the ratios come from).
#pragma once

#include <cmath>
#include <vector>

#include "anycost/core/tensor.hpp"
#include "anycost/models/channel_table.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

// The ratio set of adaptive-channel training (the official models/dynamic_channel.py CHANNEL_CONFIGS).
inline constexpr double channel_ratios[4] = {0.25, 0.5, 0.75, 1.0};

// ratios (each one of channel_ratios) -> one-hot code [1, 4 * ratios.size()].
inline Tensor arch_code(const std::vector<double>& ratios, DType dtype = DType::float32) {
  ANYCOST_CHECK(!ratios.empty(), ValueError, "arch_code: no ratios");
  std::vector<double> code(4 * ratios.size(), 0.0);
  for (std::size_t i = 0; i < ratios.size(); ++i) {
    int hit = -1;
    for (int k = 0; k < 4; ++k)
      if (std::abs(ratios[i] - channel_ratios[k]) < 1e-9) hit = k;
    ANYCOST_CHECK(hit >= 0, ValueError, "arch_code: ratio ", ratios[i], " of entry ", i,
                  " is not one of 0.25, 0.5, 0.75, 1");
    code[4 * i + static_cast<std::size_t>(hit)] = 1.0;
  }
  return Tensor::from_vector(code, {1, static_cast<std::int64_t>(code.size())}).to(dtype);
}

// The code of a sub-network configuration (its ratios()).
inline Tensor arch_code(const SubnetConfig& cfg, DType dtype = DType::float32) {
  return arch_code(cfg.ratios(), dtype);
}

}  // namespace models
ANYCOST_NAMESPACE_END
