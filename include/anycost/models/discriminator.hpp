// The Anycost discriminators (Lin et al. 2021, Sec. 3.2-3.3): the StyleGAN2 residual discriminator (Karras et
// al. 2020, Fig. 7b; the official models/anycost_gan.py Discriminator), its multi-resolution form that takes
// images at R, R/2, ..., and its generator-conditioned form (DiscriminatorMultiRes with modulate=True).
//
//   Discriminator d(DiscriminatorConfig::matching(g.config(), /*n_inputs=*/4, /*conditioned=*/true), seed);
//   Var logits = d.forward(images, Var(arch_code(cfg)));       // images [B, 3, r, r] -> [B, 1]
//
// Structure (state names = the official state_dict keys):
//   n_inputs == 1: convs.0 (fromRGB, ConvLayer(3 -> C(R), 1x1)), convs.1..L (ResBlocks R -> 4)
//   n_inputs >  1: convs.0..n-1 (fromRGB at R, R/2, ...), blocks.0..L-1 (the same ResBlocks)
//   then minibatch stddev (group 4), final_conv (ConvLayer(C(4)+1 -> C(4), 3x3)), flatten (C, H, W order),
//   final_linear.0 (EqualLinear(16 C(4) -> C(4), lrelu)), final_linear.1 (EqualLinear(C(4) -> 1)).
// An image of side r = R / 2^i enters at fromRGB i and runs blocks i..L-1. With arch_dim > 0 the last two
// ResBlocks (the 16 -> 8 and 8 -> 4 ones) carry AdaptiveModulate layers fed by the architecture code.
//
// Forward is const and reads no mutable state: threads may share a discriminator, and one graph may call it
// several times (real and fake logits, R1). Copies share parameters; nn::deep_copy makes an independent one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "anycost/models/channel_table.hpp"
#include "anycost/models/generator.hpp"
#include "anycost/nn/equal_linear.hpp"
#include "anycost/nn/minibatch_stddev.hpp"
#include "anycost/nn/res_block.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

struct DiscriminatorConfig {
  int resolution = 1024;
  double channel_multiplier = 2;
  int channel_max = 512;
  // Explicit widths for resolutions 4, 8, ..., resolution; empty: min(channel_max, int(base(r) * multiplier)).
  std::vector<int> channels = {};
  // 1: the single-resolution D (keys convs.*); > 1: the multi-resolution D (convs.0..n-1 fromRGB, blocks.*).
  int n_inputs = 1;
  // 0: unconditioned; else the architecture code length (4 * n_style of the generator), multi-resolution only.
  int arch_dim = 0;

  // A discriminator for generator g: its resolution and widths, the code length 4 * g's n_style if conditioned.
  static DiscriminatorConfig matching(const GeneratorConfig& g, int n_inputs, bool conditioned) {
    DiscriminatorConfig c;
    c.resolution = g.resolution;
    c.channel_multiplier = g.channel_multiplier;
    c.channel_max = g.channel_max;
    c.channels = g.table().widths();
    c.n_inputs = n_inputs;
    c.arch_dim = conditioned ? 4 * (2 * log2_exact(g.resolution) - 2) : 0;
    return c;
  }

  ChannelTable table() const {
    if (channels.empty()) return ChannelTable::stylegan2(resolution, channel_multiplier, channel_max);
    ChannelTable t = ChannelTable::from_widths(channels);
    ANYCOST_CHECK(t.resolution() == resolution, ValueError, "DiscriminatorConfig: ", channels.size(),
                  " explicit widths describe a ", t.resolution(), "x", t.resolution(), " discriminator, not ",
                  resolution, "x", resolution);
    return t;
  }
  int n_blocks() const { return log2_exact(resolution) - 2; }
  void validate() const {
    ANYCOST_CHECK(resolution >= 8 && is_power_of_two(resolution), ValueError, "DiscriminatorConfig: resolution ",
                  resolution, " is not a power of two >= 8");
    ANYCOST_CHECK(n_inputs >= 1 && n_inputs <= n_blocks(), ValueError, "DiscriminatorConfig: n_inputs ", n_inputs,
                  " outside [1, ", n_blocks(), "] for a ", resolution, "x", resolution, " discriminator");
    ANYCOST_CHECK(arch_dim >= 0, ValueError, "DiscriminatorConfig: arch_dim must be >= 0, got ", arch_dim);
    ANYCOST_CHECK(arch_dim == 0 || n_inputs > 1, ValueError,
                  "DiscriminatorConfig: a conditioned discriminator (arch_dim ", arch_dim,
                  ") is multi-resolution; n_inputs must be > 1");
    (void)table();
  }
};

class Discriminator {
 public:
  // The minibatch-stddev group size (samples grouped within a batch; train/communicator.hpp shard_rows).
  static constexpr std::int64_t stddev_group = 4;

  Discriminator() = default;
  // Initialised as the reference: conv and linear weights N(0, 1), biases 0, the AdaptiveModulate layers
  // U(+-1/sqrt(arch_dim)), all drawn from Rng(seed).
  explicit Discriminator(const DiscriminatorConfig& config, std::uint64_t seed = 0, DType dtype = DType::float32) {
    Rng rng(seed);
    build(config, nn::Init(rng), dtype);
  }
  // With nn::Init::none() the tensors are allocated but not filled (for a checkpoint to overwrite).
  Discriminator(const DiscriminatorConfig& config, nn::Init init, DType dtype = DType::float32) {
    build(config, init, dtype);
  }

  const DiscriminatorConfig& config() const { return config_; }
  int resolution() const { return config_.resolution; }
  int n_inputs() const { return config_.n_inputs; }
  bool multi_res() const { return config_.n_inputs > 1; }
  bool conditioned() const { return config_.arch_dim > 0; }
  int arch_dim() const { return config_.arch_dim; }
  DType dtype() const { return final_linear1.weight.dtype(); }
  Device device() const { return final_linear1.weight.device(); }
  // The image sides forward() accepts: R, R/2, ..., R / 2^(n_inputs-1).
  std::vector<int> input_resolutions() const {
    std::vector<int> r;
    for (int i = 0; i < config_.n_inputs; ++i) r.push_back(config_.resolution >> i);
    return r;
  }

  // images [B, 3, r, r] (r one of input_resolutions(); B divisible by min(B, 4)) -> logits [B, 1].
  // arch: the architecture code [1, arch_dim] or [arch_dim], required iff conditioned(), shared by the batch.
  Var forward(const Var& images, const Var& arch = {}) const {
    ANYCOST_CHECK(!blocks.empty(), ValueError, "Discriminator: the discriminator is not initialised");
    ANYCOST_CHECK(images.defined() && images.dim() == 4 && images.size(1) == 3 && images.size(2) == images.size(3) &&
                      images.size(0) >= 1,
                  ShapeError, "Discriminator: images ", images.defined() ? images.shape() : Shape{},
                  " are not [B, 3, r, r]");
    const std::int64_t r = images.size(2);
    int idx = -1;
    for (int i = 0; i < config_.n_inputs; ++i)
      if (r == (config_.resolution >> i)) idx = i;
    ANYCOST_CHECK(idx >= 0, ShapeError, "Discriminator: input resolution ", r, " is not one of ", describe_inputs());
    ANYCOST_CHECK(images.dtype() == dtype(), ShapeError, "Discriminator: images are ", images.dtype(),
                  ", the discriminator is ", dtype());
    ANYCOST_CHECK(images.device() == device(), DeviceError, "Discriminator: images are on ", images.device(),
                  ", the discriminator on ", device());
    if (conditioned()) {
      ANYCOST_CHECK(arch.defined(), ValueError, "Discriminator: this discriminator is conditioned and needs an ",
                    "architecture code of length ", arch_dim());
      ANYCOST_CHECK((arch.dim() == 1 || (arch.dim() == 2 && arch.size(0) == 1)) && arch.size(-1) == arch_dim(),
                    ShapeError, "Discriminator: architecture code ", arch.shape(), " is not [1, ", arch_dim(),
                    "] or [", arch_dim(), "]");
    } else {
      ANYCOST_CHECK(!arch.defined(), ValueError,
                    "Discriminator: an architecture code was given to an unconditioned discriminator");
    }
    Var out = from_rgb[static_cast<std::size_t>(idx)].forward(images);
    for (std::size_t i = static_cast<std::size_t>(idx); i < blocks.size(); ++i)
      out = blocks[i].forward(out, blocks[i].modulated() ? arch : Var());
    out = nn::minibatch_stddev(out, stddev_group);
    out = final_conv.forward(out);
    out = reshape(contiguous(out), {out.size(0), out.numel() / out.size(0)});
    return final_linear1.forward(final_linear0.forward(out));
  }
  Var operator()(const Var& images, const Var& arch = {}) const { return forward(images, arch); }

  // Parameters (Var&) and buffers (Tensor&, the blur kernels) in the reference state_dict order and names.
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }
  void to(Device device) { nn::to_device(*this, device); }

  std::vector<nn::ConvLayer> from_rgb;  // convs.0..n_inputs-1
  std::vector<nn::ResBlock> blocks;     // R -> R/2, ..., 8 -> 4
  nn::ConvLayer final_conv;
  nn::EqualLinear<nn::Activation::lrelu> final_linear0;
  nn::EqualLinear<nn::Activation::linear> final_linear1;

 private:
  std::string describe_inputs() const {
    std::string s;
    for (int r : input_resolutions()) s += (s.empty() ? "" : ", ") + std::to_string(r);
    return "{" + s + "}";
  }

  void build(const DiscriminatorConfig& config, nn::Init init, DType dtype) {
    config_ = config;
    config_.validate();
    const ChannelTable t = config_.table();
    config_.channels = t.widths();
    const int R = config_.resolution;
    for (int i = 0; i < config_.n_inputs; ++i)
      from_rgb.emplace_back(3, t.width(R >> i), 1, false, true, 0, init, dtype);
    const int n = config_.n_blocks();
    for (int b = 0; b < n; ++b) {
      const int r = R >> b;
      const bool modulated = config_.arch_dim > 0 && b >= n - 2;
      blocks.emplace_back(t.width(r), t.width(r / 2), modulated ? config_.arch_dim : 0, init, dtype);
    }
    const std::int64_t c4 = t.width(4);
    final_conv = nn::ConvLayer(c4 + 1, c4, 3, false, true, 0, init, dtype);
    final_linear0 = nn::EqualLinear<nn::Activation::lrelu>(c4 * 16, c4, init, 0.0, 1.0, dtype);
    final_linear1 = nn::EqualLinear<nn::Activation::linear>(c4, 1, init, 0.0, 1.0, dtype);
  }

  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    const bool multi = self.config_.n_inputs > 1;
    for (std::size_t i = 0; i < self.from_rgb.size(); ++i)
      self.from_rgb[i].visit_state(fn, nn::join_name(prefix, "convs." + std::to_string(i)));
    for (std::size_t b = 0; b < self.blocks.size(); ++b)
      self.blocks[b].visit_state(
          fn, nn::join_name(prefix, multi ? "blocks." + std::to_string(b) : "convs." + std::to_string(b + 1)));
    self.final_conv.visit_state(fn, nn::join_name(prefix, "final_conv"));
    self.final_linear0.visit_state(fn, nn::join_name(prefix, "final_linear.0"));
    self.final_linear1.visit_state(fn, nn::join_name(prefix, "final_linear.1"));
  }

  DiscriminatorConfig config_;
};

}  // namespace models
ANYCOST_NAMESPACE_END
