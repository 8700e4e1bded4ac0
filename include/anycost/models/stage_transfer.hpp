// Weight transfer between the training stages of Anycost GAN (Lin et al. 2021, Sec. 3; the official
// utils/train_utils.py partially_load_d_for_multi_res / partially_load_d_for_ada_ch):
//
//   to_multi_res(single, n, rng)    single-resolution D -> multi-resolution D with n inputs: the old fromRGB
//                                   becomes convs.0, the old convs.k (k >= 1) become blocks.(k-1), the new
//                                   fromRGB layers convs.1..n-1 are freshly initialised (N(0, 1) weights, zero
//                                   biases). Logits at full resolution are unchanged.
//   to_conditioned(multi, a, rng)   multi-resolution D -> conditioned D (arch code length a): every tensor is
//                                   kept, the AdaptiveModulate layers of the last two blocks are new
//                                   (U(+-1/sqrt(a))); the official key shift (conv1.1.bias -> conv1.2.bias,
//                                   conv2.2.bias -> conv2.3.bias) is the visitor's naming here. Not the exact
//                                   identity: the FiLM layers start at scale 1 + A g + a, shift B g + b.
// Transferred tensors are copies (the result shares no memory with its source).
#pragma once

#include "anycost/models/discriminator.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

namespace detail {
// Copies dst's convolution, blur and activation bias from src (not its modulation).
inline void copy_conv_layer(nn::ConvLayer& dst, const nn::ConvLayer& src) {
  ANYCOST_CHECK(dst.conv.weight.shape() == src.conv.weight.shape() && dst.activated() == src.activated() &&
                    dst.downsamples() == src.downsamples(),
                ValueError, "stage transfer: layers of different shapes (", src.conv.weight.shape(), " -> ",
                dst.conv.weight.shape(), ")");
  dst.conv = nn::deep_copy(src.conv);
  if (src.downsamples()) dst.blur_kernel = src.blur_kernel.clone();
  if (src.act) dst.act = nn::deep_copy(*src.act);
}
inline void copy_trunk(Discriminator& dst, const Discriminator& src) {
  for (std::size_t b = 0; b < dst.blocks.size(); ++b) {
    copy_conv_layer(dst.blocks[b].conv1, src.blocks[b].conv1);
    copy_conv_layer(dst.blocks[b].conv2, src.blocks[b].conv2);
    copy_conv_layer(dst.blocks[b].skip, src.blocks[b].skip);
  }
  copy_conv_layer(dst.final_conv, src.final_conv);
  dst.final_linear0 = nn::deep_copy(src.final_linear0);
  dst.final_linear1 = nn::deep_copy(src.final_linear1);
}
}  // namespace detail

inline Discriminator to_multi_res(const Discriminator& single, int n_inputs, Rng& rng) {
  ANYCOST_CHECK(!single.multi_res() && !single.conditioned(), ValueError,
                "to_multi_res: the source is already a multi-resolution discriminator (", single.n_inputs(),
                " inputs)");
  ANYCOST_CHECK(n_inputs > 1, ValueError, "to_multi_res: n_inputs must be > 1, got ", n_inputs);
  DiscriminatorConfig cfg = single.config();
  cfg.n_inputs = n_inputs;
  Discriminator out(cfg, nn::Init(rng), single.dtype());
  if (single.device() != out.device()) out.to(single.device());
  detail::copy_conv_layer(out.from_rgb[0], single.from_rgb[0]);
  detail::copy_trunk(out, single);
  return out;
}

inline Discriminator to_conditioned(const Discriminator& multi, int arch_dim, Rng& rng) {
  ANYCOST_CHECK(multi.multi_res() && !multi.conditioned(), ValueError,
                "to_conditioned: the source must be an unconditioned multi-resolution discriminator");
  ANYCOST_CHECK(arch_dim >= 1, ValueError, "to_conditioned: arch_dim must be >= 1, got ", arch_dim);
  DiscriminatorConfig cfg = multi.config();
  cfg.arch_dim = arch_dim;
  Discriminator out(cfg, nn::Init(rng), multi.dtype());
  if (multi.device() != out.device()) out.to(multi.device());
  for (std::size_t i = 0; i < out.from_rgb.size(); ++i) detail::copy_conv_layer(out.from_rgb[i], multi.from_rgb[i]);
  detail::copy_trunk(out, multi);
  return out;
}

}  // namespace models
ANYCOST_NAMESPACE_END
