// MAC counts of a generator sub-network at batch 1, in two conventions (tests/models/macs_test.cpp checks both
// against the published figures). Pure integer arithmetic over the channel table, O(number of layers): the
// search may call it millions of times.
//
// profile: the torchprofile 0.0.2 convention of the published numbers, the one the evolve JSON's
//   budgets ("15G" ... "116G") and the paper's "144G" use. Per layer, with S = style_dim, F_in = the full
//   input width, C_in -> C_out the widths in use, H x W the output size:
//     mapping       1 + S (PixelNorm) + n_mlp * (2 S^2 + 2 S)   (weight*scale, matmul, bias*lr_mul, *sqrt 2)
//     modulation    2 S F_in + F_in (always full width, as the reference computes it)
//     modulation of the weight  C_out C_in k^2 per elementwise multiply: 3 with demodulation, 2 without
//     conv 3x3      C_out H W C_in 9
//     up-conv       C_out (2 H_in + 1)^2 C_in 9 (the traced transposed conv counted at its output size)
//                   + C_out (2 H_in)^2 16 (the blur as a dense depthwise 4x4)
//     noise, gain   H W, and C_out H W
//     ToRGB         3 H W C_in, skip upsample 3 H W 4 (zero-stuffing transposed conv) + 3 H W 16 (FIR)
//     shape arithmetic   2 per modulated convolution (see below)
//   Only layers up to the configuration's resolution count; the mapping network always counts.
//
//   The shape-arithmetic term. The rules above (an analytic rebuild of the traced graph) fall short of every
//   published figure by a few MACs: by exactly 40 for all six res-256 entries of
//   anycost-ffhq-config-f-flexible.json and by exactly 52 for all five res-1024 entries, whatever the
//   widths. A residual independent of the widths is not arithmetic on tensors: it is torchprofile counting
//   the *traced shape arithmetic*. Under torch.jit.trace the sizes read from `input.shape` become 0-dim
//   tensors, so Python expressions such as `batch * out_channel` (reshaping the per-sample weights to
//   [B*C_out, C_in, k, k]) and `batch * in_channel` (folding the batch into the channels of the input,
//   [1, B*C_in, H, W]) are traced as aten::mul nodes, and torchprofile counts each as numel(output) = 1 MAC.
//   Fitting one constant per layer type (plain conv P, up-conv U, ToRGB with skip T, to_rgb1 T1) plus a
//   global constant G to the 11 entries gives two independent equations, since the residual depends on the
//   resolution only: 6 blocks + stem = 40 and 8 blocks + stem = 52, i.e.
//       per block  P + U + T = 6,        stem  G + P + T1 = 4.
//   The traced code has the same two reshapes in every modulated convolution (plain, up and ToRGB alike:
//   the up-conv's transpose/reshape of the weight and the input fold; no demodulation reshape multiplies
//   sizes), and nothing of the kind in the mapping network, which gives P = U = T = T1 = 2, G = 0: the
//   unique solution with one value per modulated convolution, and it satisfies both equations. With it the
//   counter reproduces all 11 published `macs` values exactly (tests/models/macs_test.cpp), as well as the
//   uniform sub-generators of config F (144.37G for the full 1024 generator, the paper's "144G", Lin et al.
//   2021, Sec. 1).
//
// arithmetic: the multiply-adds the sub-network really needs: the mapping matmuls (n_mlp S^2), the
//   modulation matmuls at the widths in use (S C_in), the convolutions with the stride-2 transposed conv at
//   its true cost (C_in C_out 9 H_in W_in), the 4x4 FIR filters counted densely on their output grid
//   (C_out (2 H_in)^2 16 after each up-conv, 3 H W 16 for each skip upsample) and the ToRGB 1x1 convs.
//   Elementwise work (modulating weights or activations, demodulation, noise, bias, activation) is left
//   out (tests/models/macs_test.cpp lists its values for the uniform sub-generators).
#pragma once

#include <cstdint>

#include "anycost/models/channel_table.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

struct MacCount {
  std::int64_t profile = 0;     // torchprofile convention, comparable with the paper and the evolve JSON
  std::int64_t arithmetic = 0;  // true multiply-adds
};

// MACs per generated image (batch 1) of the sub-network `cfg` of a generator with channel table `table`,
// style_dim S and n_mlp mapping layers. `cfg` must fit `table` (checked; O(1) when `table` made it).
inline MacCount count_macs(const ChannelTable& table, std::int64_t style_dim, int n_mlp, const SubnetConfig& cfg) {
  ANYCOST_CHECK(style_dim >= 1 && n_mlp >= 1, ValueError, "count_macs: style_dim (", style_dim, ") and n_mlp (",
                n_mlp, ") must be >= 1");
  table.validate(cfg, "count_macs");
  using I = std::int64_t;
  const I s = style_dim;
  constexpr I shape_arithmetic = 2;  // traced `batch * C` size products per modulated convolution
  MacCount m;
  m.profile = 1 + s + n_mlp * (2 * s * s + 2 * s);
  m.arithmetic = n_mlp * s * s;

  auto modulation = [&](I full_in, I c_in) {
    m.profile += 2 * s * full_in + full_in;
    m.arithmetic += s * c_in;
  };
  // A 3x3 styled conv producing c_out x r x r from c_in channels (r_in = r, or r/2 for the up-conv).
  auto styled_conv = [&](I full_in, I c_in, I c_out, I r, bool up) {
    modulation(full_in, c_in);
    m.profile += 3 * c_out * c_in * 9 + r * r + c_out * r * r + shape_arithmetic;
    if (up) {
      const I r_in = r / 2;
      m.profile += c_out * (2 * r_in + 1) * (2 * r_in + 1) * c_in * 9 + c_out * r * r * 16;
      m.arithmetic += c_in * c_out * 9 * r_in * r_in + c_out * r * r * 16;
    } else {
      m.profile += c_out * r * r * c_in * 9;
      m.arithmetic += c_out * r * r * c_in * 9;
    }
  };
  auto to_rgb = [&](I full_in, I c_in, I r, bool skip) {
    modulation(full_in, c_in);
    m.profile += 2 * 3 * c_in + 3 * r * r * c_in + shape_arithmetic;
    m.arithmetic += 3 * r * r * c_in;
    if (skip) {
      m.profile += 3 * r * r * 4 + 3 * r * r * 16;
      m.arithmetic += 3 * r * r * 16;
    }
  };

  const I w4 = table.width(4);
  I prev = cfg.conv1_channels().value;
  styled_conv(w4, cfg.input_channels().value, prev, 4, false);
  to_rgb(w4, prev, 4, false);
  for (int b = 0; b < cfg.n_blocks(); ++b) {
    const int r = SubnetConfig::block_resolution(b);
    const I c_up = cfg.up_channels(b).value, c = cfg.conv_channels(b).value;
    styled_conv(table.width(r / 2), prev, c_up, r, true);
    styled_conv(table.width(r), c_up, c, r, false);
    to_rgb(table.width(r), c, r, true);
    prev = c;
  }
  return m;
}

}  // namespace models
ANYCOST_NAMESPACE_END
