// The run-time vocabulary the layers share with sub-network configurations: the width a call selects, and
// the choice of how a modulated convolution applies its style.
//
// A layer's maximum widths are its parameter shapes (fixed at construction). A call selects its active
// width with OutChannels{k}; the input width is read from the incoming tensor. Nothing is stored: the same
// layer serves every sub-network, in any order, from any thread. A whole sub-network (the widths of every
// layer and the output resolution) is models::SubnetConfig (anycost/models/channel_table.hpp), which hands
// out its widths as OutChannels.
#pragma once

#include <cstdint>
#include <ostream>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

// Number of output channels a layer computes in this call: its first k (a prefix of the full width).
struct OutChannels {
  std::int64_t value;
  constexpr explicit OutChannels(std::int64_t k) : value(k) {}
  friend constexpr bool operator==(OutChannels, OutChannels) = default;
};

inline std::ostream& operator<<(std::ostream& os, OutChannels k) { return os << k.value << " channels"; }

// How a modulated convolution applies the per-sample style (StyleGAN2, Karras et al. 2020, Sec. 2.2, Eqs. 1-3).
// Both give the same numbers:
//   weights:     build per-sample weights c*W*s (and demodulate them), then a grouped convolution over the
//                batch (the reference implementation);
//   activations: scale the input channels by c*s, convolve with the shared weights, scale each output
//                channel by its demodulation factor (no per-sample weights);
//   automatic:   whichever moves fewer numbers for this layer and batch (activations at low resolution and
//                high width, weights when the feature map is much larger than the kernel).
enum class ModulationPath : std::uint8_t { automatic, weights, activations };

}  // namespace nn
ANYCOST_NAMESPACE_END
