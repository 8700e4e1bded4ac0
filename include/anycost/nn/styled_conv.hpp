// StyledConv (one "Conv 3x3" of StyleGAN2, Karras et al. 2020, Fig. 2): ModulatedConv2d (3x3, demodulated) ->
// NoiseInjection -> FusedLeakyReLU, with the resampling kind in the type: StyledConv<Resample::none> (the second
// conv of a block, conv1) and StyledConv<Resample::up> (the first conv of every block from 8x8 up).
//
// State names (relative): conv.weight, conv.modulation.{weight,bias}, conv.blur.kernel (up only),
// noise.weight, activate.bias.
//
// forward(x, w, OutChannels{k}, noise) = sqrt(2) * lrelu(conv(x, w)[:, :k] + noise_weight * noise + bias[:k]).
// Everything after the convolution (the demodulation factor of the activation path, the noise, the bias, the
// activation and its gain) is one fused elementwise loop, recorded as one graph node when training.
// An undefined noise Var means "no noise" (the term is dropped).
#pragma once

#include <cmath>
#include <string>

#include "anycost/nn/modulated_conv2d.hpp"
#include "anycost/nn/noise_injection.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

template <Resample R>
class StyledConv {
 public:
  using Conv = ModulatedConv2d<Kernel{3}, R, Demod::on>;

  StyledConv() = default;
  StyledConv(std::int64_t in_channels, std::int64_t out_channels, std::int64_t style_dim, Init init,
             DType dtype = DType::float32)
      : conv(in_channels, out_channels, style_dim, init, dtype), noise(init, dtype), activate(out_channels, init, dtype) {}

  std::int64_t in_channels() const { return conv.in_channels(); }
  std::int64_t out_channels() const { return conv.out_channels(); }

  // `prepared`: optional inference constants of conv (ModulatedConv2d::prepare()).
  Var forward(const Var& x, const Var& style, OutChannels out, const Var& noise_map,
              ModulationPath path = ModulationPath::automatic, const PreparedWeights* prepared = nullptr) const {
    ModulatedOutput r = conv.forward_parts(x, style, out, path, prepared);
    const Var bias = activate.bias_view(out.value, 4);
    const double gain = std::sqrt(2.0);
    if (!noise_map.defined()) {
      if (r.demod.defined()) return lrelu(r.y * r.demod + bias, 0.2) * gain;
      return lrelu(r.y + bias, 0.2) * gain;
    }
    check_noise_map(noise_map, r.y.shape(), r.y.dtype(), r.y.device(), "StyledConv");
    if (r.demod.defined()) return lrelu(r.y * r.demod + noise.weight * noise_map + bias, 0.2) * gain;
    return lrelu(r.y + noise.weight * noise_map + bias, 0.2) * gain;
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }

  Conv conv;
  NoiseInjection noise;
  FusedLeakyReLU activate;

 private:
  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    self.conv.visit_state(fn, join_name(prefix, "conv"));
    self.noise.visit_state(fn, join_name(prefix, "noise"));
    self.activate.visit_state(fn, join_name(prefix, "activate"));
  }
};

}  // namespace nn
ANYCOST_NAMESPACE_END
