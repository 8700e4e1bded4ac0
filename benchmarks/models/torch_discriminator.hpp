// The Anycost discriminators of all three stages written on LibTorch ops, as the side-by-side reference of
// train_step_bench.cpp: the StyleGAN2 residual D (stage 1), its multi-resolution form (stage 2) and the
// generator-conditioned one (stage 3). It holds copies of an anycost Discriminator's tensors (its parameters
// require grad) and computes, from the maths of models/discriminator.hpp:
//   ConvLayer  [blur (upfirdn2d with the [1,3,3,1] kernel, pads p0/p1) when downsampling] -> conv2d with the
//              weight scaled by 1/sqrt(fan_in) (stride 2 when downsampling) -> [FiLM: . * (1 + A_g g + a_g) +
//              (A_b g + a_b), plain linear maps of the architecture code g] -> [sqrt(2) lrelu(. + bias, 0.2)]
//   ResBlock   (conv2(conv1(x)) + skip(x)) / sqrt(2)
//   an image of side R / 2^i enters at fromRGB i (convs.i; convs.0 alone when single-resolution) and runs the
//   blocks from i on; the FiLM layers sit in the last two blocks of a conditioned D (nn/adaptive_modulate.hpp)
//   then minibatch stddev (group min(B, 4)), final_conv, flatten, EqualLinear + lrelu, EqualLinear.
// The weight scale is applied to the weight (as the official ops do), ours to the conv output: the same map.
// Every op is differentiable by LibTorch's autograd to any order (R1 needs the double backward).
#pragma once

#if defined(ANYCOST_BENCH_WITH_TORCH)

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <anycost/models.hpp>

#include "models/torch_state.hpp"

namespace anycost::bench {

class TorchDiscriminator {
 public:
  explicit TorchDiscriminator(const models::Discriminator& d)
      : n_blocks_(static_cast<int>(d.blocks.size())), input_resolutions_(d.input_resolutions()) {
    copy_state_to_torch(d, p_, params_);
  }

  const std::vector<torch::Tensor>& parameters() const { return params_; }

  // images [B, 3, r, r] (r one of the D's input resolutions) -> logits [B, 1]; arch: the architecture code
  // [1, arch_dim], required by a conditioned D and shared by the batch.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& arch = {}) const {
    const auto at = std::find(input_resolutions_.begin(), input_resolutions_.end(), static_cast<int>(x.size(2)));
    if (at == input_resolutions_.end())
      throw std::invalid_argument("TorchDiscriminator: no fromRGB for input resolution " + std::to_string(x.size(2)));
    const int idx = static_cast<int>(at - input_resolutions_.begin());
    const bool multi = input_resolutions_.size() > 1;
    torch::Tensor h = conv_layer("convs." + std::to_string(idx), x, false, true, {});
    for (int b = idx; b < n_blocks_; ++b)
      h = res_block(multi ? "blocks." + std::to_string(b) : "convs." + std::to_string(b + 1), h, arch);
    h = minibatch_stddev(h, 4);
    h = conv_layer("final_conv", h, false, true, {});
    h = h.reshape({h.size(0), -1});
    h = linear("final_linear.0", h);
    h = torch::leaky_relu(h, 0.2) * std::sqrt(2.0);
    return linear("final_linear.1", h);
  }

 private:
  // A ConvLayer's state: [i.kernel (downsampling)], i.weight (EqualConv2d), [i.weight_mapping.*,
  // i.bias_mapping.* (AdaptiveModulate)], [i.bias (FusedLeakyReLU)].
  torch::Tensor conv_layer(const std::string& name, const torch::Tensor& x, bool down, bool act,
                           const torch::Tensor& arch) const {
    int i = 0;
    torch::Tensor in = x;
    const torch::Tensor& weight = p_.at(name + "." + std::to_string(down ? 1 : 0) + ".weight");
    const std::int64_t k = weight.size(2);
    if (down) {
      const std::int64_t c = x.size(1), p = 2 + (k - 1), p0 = (p + 1) / 2, p1 = p / 2;
      const torch::Tensor blur = p_.at(name + ".0.kernel").flip({0, 1}).view({1, 1, 4, 4}).expand({c, 1, 4, 4});
      const std::int64_t no_pad = 0;  // (a literal 0 would also match the string-padding overload)
      in = torch::conv2d(torch::constant_pad_nd(x, {p0, p1, p0, p1}), blur, {}, 1, no_pad, 1, c);
      ++i;
    }
    ++i;  // the conv
    const double scale = 1.0 / std::sqrt(static_cast<double>(weight.size(1) * k * k));
    torch::Tensor y = torch::conv2d(in, weight * scale, {}, down ? 2 : 1, down ? 0 : k / 2);
    const std::string film = name + "." + std::to_string(i);
    if (p_.count(film + ".weight_mapping.weight")) {
      if (!arch.defined()) throw std::invalid_argument("TorchDiscriminator: " + name + " needs the architecture code");
      const auto map = [&](const std::string& m) {
        return torch::addmm(p_.at(film + m + ".bias"), arch, p_.at(film + m + ".weight").t()).view({1, -1, 1, 1});
      };
      y = y * (map(".weight_mapping") + 1.0) + map(".bias_mapping");
      ++i;
    }
    if (!act) return y;
    const torch::Tensor& bias = p_.at(name + "." + std::to_string(i) + ".bias");
    return torch::leaky_relu(y + bias.view({1, -1, 1, 1}), 0.2) * std::sqrt(2.0);
  }

  torch::Tensor res_block(const std::string& name, const torch::Tensor& x, const torch::Tensor& arch) const {
    const torch::Tensor main =
        conv_layer(name + ".conv2", conv_layer(name + ".conv1", x, false, true, arch), true, true, arch);
    return (main + conv_layer(name + ".skip", x, true, false, arch)) * (1.0 / std::sqrt(2.0));
  }

  // Sample b belongs to slot b mod (B / G): the batch viewed as [G, B/G] (the official view(group, -1, ...)).
  static torch::Tensor minibatch_stddev(const torch::Tensor& x, std::int64_t group_size) {
    const std::int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const std::int64_t g = std::min(b, group_size);
    const std::int64_t group_dim = 0;
    torch::Tensor y = x.view({g, b / g, c, h, w});
    y = torch::sqrt((y - y.mean(group_dim, true)).pow(2).mean(group_dim) + 1e-8);  // [B/G, C, H, W]
    y = y.mean({1, 2, 3}, true);                             // [B/G, 1, 1, 1]
    return torch::cat({x, y.repeat({g, 1, h, w})}, 1);
  }

  // EqualLinear with lr_mul 1: x W^T / sqrt(in) + b (the activation, if any, is the caller's).
  torch::Tensor linear(const std::string& name, const torch::Tensor& x) const {
    const torch::Tensor& w = p_.at(name + ".weight");
    return torch::addmm(p_.at(name + ".bias"), x, w.t(), 1.0, 1.0 / std::sqrt(static_cast<double>(w.size(1))));
  }

  int n_blocks_;
  std::vector<int> input_resolutions_;  // R, R/2, ...: fromRGB i takes R / 2^i
  std::map<std::string, torch::Tensor> p_;
  std::vector<torch::Tensor> params_;
};

}  // namespace anycost::bench

#endif  // ANYCOST_BENCH_WITH_TORCH
