// NoiseInjection and FusedLeakyReLU: the per-layer noise and bias + activation that follow every convolution
// of StyleGAN2 (Karras et al. 2020, Fig. 2), plus the helpers that make and check the noise maps.
//
//   NoiseInjection:  out = x + weight * noise       weight [1] (zero-initialised), noise [B or 1, 1, H, W]
//   FusedLeakyReLU:  out = sqrt(2) * lrelu(x + bias[:C], 0.2)       bias [C_full] (zero-initialised)
//
// StyledConv does not call these two forwards one after the other: it writes the whole epilogue
// (demodulation, noise, bias, activation) as one fused elementwise expression over their parameters. The
// standalone forwards are for other users (the discriminator's ConvLayer uses FusedLeakyReLU).
#pragma once

#include <cmath>
#include <string>

#include "anycost/nn/module.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

// Throws unless `noise` can be added to feature maps [B, C, H, W]: [B or 1, 1, H, W], same dtype and device.
inline void check_noise_map(const Var& noise, const Shape& features, DType dtype, Device device, const char* who) {
  ANYCOST_CHECK(noise.dim() == 4 && (noise.size(0) == features[0] || noise.size(0) == 1) && noise.size(1) == 1 &&
                    noise.size(2) == features[2] && noise.size(3) == features[3],
                ShapeError, who, ": noise map ", noise.shape(), " does not fit feature maps ", features,
                " (expected [", features[0], " or 1, 1, ", features[2], ", ", features[3], "])");
  ANYCOST_CHECK(noise.dtype() == dtype, ShapeError, who, ": noise map is ", noise.dtype(), ", features are ", dtype);
  ANYCOST_CHECK(noise.device() == device, DeviceError, who, ": noise map is on ", noise.device(), ", features on ",
                device);
}

class NoiseInjection {
 public:
  NoiseInjection() = default;
  NoiseInjection(Init init, DType dtype) : weight(init.constant({1}, 0.0, dtype)) {}

  Var forward(const Var& x, const Var& noise) const {
    ANYCOST_CHECK(x.dim() == 4, ShapeError, "NoiseInjection: input must be [B, C, H, W], got ", x.shape());
    check_device(x, weight, "NoiseInjection");
    check_noise_map(noise, x.shape(), x.dtype(), x.device(), "NoiseInjection");
    return x + weight * noise;
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    fn(join_name(prefix, "weight"), weight);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    fn(join_name(prefix, "weight"), weight);
  }

  Var weight;  // [1]
};

class FusedLeakyReLU {
 public:
  FusedLeakyReLU() = default;
  FusedLeakyReLU(std::int64_t channels, Init init, DType dtype) : bias(init.constant({channels}, 0.0, dtype)) {}

  std::int64_t channels() const { return bias.size(0); }

  // bias[:c] shaped [1, c, 1, ...] (rank `rank`) to broadcast over [N, c, ...].
  Var bias_view(std::int64_t c, int rank) const {
    ANYCOST_CHECK(rank >= 2, ShapeError, "FusedLeakyReLU: inputs need a channel dim (rank >= 2), got rank ", rank);
    ANYCOST_CHECK(c >= 1 && c <= channels(), ShapeError, "FusedLeakyReLU: ", c, " channels, the bias has ",
                  channels());
    Shape s = Dims::filled(rank, 1);
    s[1] = c;
    return reshape(c == channels() ? bias : narrow(bias, 0, 0, c), s);
  }

  // x [N, C, ...] -> sqrt(2) * lrelu(x + bias[:C]).
  Var forward(const Var& x) const {
    check_device(x, bias, "FusedLeakyReLU");
    return lrelu(x + bias_view(x.dim() >= 2 ? x.size(1) : 0, x.dim()), 0.2) * std::sqrt(2.0);
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    fn(join_name(prefix, "bias"), bias);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    fn(join_name(prefix, "bias"), bias);
  }

  Var bias;  // [C_full]
};

}  // namespace nn
ANYCOST_NAMESPACE_END
