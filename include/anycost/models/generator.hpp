// The Anycost generator (Lin et al. 2021, Sec. 3): StyleGAN2 config F (Karras et al. 2020, Table 1) with
// per-call sub-networks.
//
//   Generator g(GeneratorConfig{.resolution = 256}, /*seed=*/1);
//   SubnetConfig cfg = g.channel_table().uniform(0.5, 128);   // validated once
//   NoGradGuard inference;
//   Var w = g.map(z);                                          // z [B, style_dim] -> w
//   Var img = g.synthesize(g.broadcast_styles(w), cfg).image;  // [B, 3, 128, 128]
//
// Structure (state names = the official state_dict keys, tools/convert_checkpoint.py): style.1..n (mapping),
// input.input, conv1.*, to_rgb1.*, convs.0..2L-1 (blocks: an up-conv then a plain conv per resolution 8..R),
// to_rgbs.0..L-1, noises.noise_0..num_layers-1 (buffers). The blocks are one compile-time type held in a run-time
// vector, so 256, 512 and 1024 generators share the type; every width and the resolution are run-time values.
//
// A sub-network is an argument (SubnetConfig), never state: the forward functions are const, allocate no
// per-model scratch, and may run concurrently from several threads and several times in one graph (a
// full-width teacher and a sliced student sum their gradients into the same parameters). Sliced weights are
// prefix views of the full parameters. Lower resolutions are the intermediate ToRGB images ("skip"), and
// the layers above the configuration's resolution never run.
//
// Copying a Generator copies its parameter handles (the copy shares the weights, as two references to one
// PyTorch module would); nn::deep_copy(g) makes an independent one (an EMA generator, a frozen teacher).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "anycost/autograd/grad_mode.hpp"
#include "anycost/models/channel_table.hpp"
#include "anycost/models/macs.hpp"
#include "anycost/nn/constant_input.hpp"
#include "anycost/nn/mapping.hpp"
#include "anycost/nn/styled_conv.hpp"
#include "anycost/nn/to_rgb.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

struct GeneratorConfig {
  int resolution = 1024;
  int style_dim = 512;
  int n_mlp = 8;
  double channel_multiplier = 2.0;
  int channel_max = 512;
  double lr_mlp = 0.01;
  // Explicit full widths for resolutions 4, 8, ..., resolution; empty: the reference table from
  // channel_multiplier and channel_max.
  std::vector<int> channels = {};

  ChannelTable table() const {
    if (channels.empty()) return ChannelTable::stylegan2(resolution, channel_multiplier, channel_max);
    ChannelTable t = ChannelTable::from_widths(channels);
    ANYCOST_CHECK(t.resolution() == resolution, ValueError, "GeneratorConfig: ", channels.size(),
                  " explicit widths describe a ", t.resolution(), "x", t.resolution(), " generator, not ", resolution,
                  "x", resolution);
    return t;
  }
  void validate() const {
    ANYCOST_CHECK(resolution >= 8 && is_power_of_two(resolution), ValueError, "GeneratorConfig: resolution ",
                  resolution, " is not a power of two >= 8");
    ANYCOST_CHECK(style_dim >= 1 && n_mlp >= 1, ValueError, "GeneratorConfig: style_dim (", style_dim,
                  ") and n_mlp (", n_mlp, ") must be >= 1");
    ANYCOST_CHECK(lr_mlp > 0 && std::isfinite(lr_mlp), ValueError, "GeneratorConfig: lr_mlp must be > 0, got ",
                  lr_mlp);
    (void)table();
  }
};

// Where the noise maps of a synthesis come from (the per-layer noise inputs of StyleGAN2, Karras et al.
// 2020, Fig. 2).
enum class NoiseMode : std::uint8_t {
  fixed,   // the model's buffers noises.noise_l (deterministic; what the demo, projection and editing use)
  random,  // fresh standard normals from SynthesisOptions::rng, one map per sample
  given,   // SynthesisOptions::noise_maps
  none,    // no noise term at all
};

// Inference constants of every StyledConv of a generator (nn::ModulatedConv2d::prepare), made by
// Generator::prepare() for repeated inference with frozen weights (the CLI, the studio): an explicit
// immutable value, shared freely between threads. Layers ignore entries whose weight changed since.
struct PreparedGenerator {
  nn::PreparedWeights conv1;
  std::vector<nn::PreparedWeights> conv_up, conv;  // per block
};

struct SynthesisOptions {
  NoiseMode noise = NoiseMode::fixed;
  Rng* rng = nullptr;            // NoiseMode::random: the stream the maps are drawn from (advanced)
  std::vector<Var> noise_maps = {};  // NoiseMode::given: num_layers() maps [B or 1, 1, s_l, s_l]
  bool return_rgbs = false;      // also return the image at every resolution 4 ... cfg.resolution()
  nn::ModulationPath path = nn::ModulationPath::automatic;
  const PreparedGenerator* prepared = nullptr;  // optional inference constants (Generator::prepare())
};

struct SynthesisResult {
  Var image = {};          // [B, 3, r, r], r = cfg.resolution(); never clamped
  std::vector<Var> rgbs = {};  // return_rgbs: images at 4, 8, ..., r (the last one is `image`)
  Var wplus = {};              // generate(): the W+ [B, n_style, style_dim] rendered (after mapping, truncation
                               // and mixing), to edit or render again with synthesize()
};

enum class LatentSpace : std::uint8_t { z, w };

struct GenerateOptions {
  LatentSpace input = LatentSpace::z;
  double truncation = 1.0;   // psi: w <- w_avg + psi (w - w_avg) on every row when psi != 1
  Var w_avg = {};            // [style_dim], required when truncation != 1
  int inject_index = -1;     // two latents per sample: W+ rows [0, m) from the first; -1 draws m in [1, n_style)
  SynthesisOptions synthesis = {};
};

// One resolution of the synthesis network: convs.2b (up), convs.2b+1, to_rgbs.b.
struct SynthesisBlock {
  nn::StyledConv<nn::Resample::up> conv_up;
  nn::StyledConv<nn::Resample::none> conv;
  nn::ToRGB<nn::Skip::upsample> to_rgb;
};

class Generator {
 public:
  Generator() = default;

  // Initialised as the reference does: weights N(0, 1) (mapping weights / lr_mlp), modulation biases 1,
  // every other bias and noise weight 0, constant input and noise buffers N(0, 1), all from Rng(seed).
  explicit Generator(const GeneratorConfig& config, std::uint64_t seed = 0, DType dtype = DType::float32) {
    Rng rng(seed);
    build(config, nn::Init(rng), dtype);
  }
  // With nn::Init::none() the tensors are allocated but not filled (for a checkpoint to overwrite).
  Generator(const GeneratorConfig& config, nn::Init init, DType dtype = DType::float32) { build(config, init, dtype); }

  // ---- architecture -----------------------------------------------------------------------------------
  const GeneratorConfig& config() const { return config_; }
  const ChannelTable& channel_table() const { return table_; }
  int resolution() const { return config_.resolution; }
  std::int64_t style_dim() const { return config_.style_dim; }
  int log_resolution() const { return table_.log_resolution(); }
  int n_style() const { return 2 * log_resolution() - 2; }      // W+ rows
  int num_layers() const { return 2 * log_resolution() - 3; }   // StyledConv layers = noise maps
  // Side of noise map l: 4, 8, 8, 16, 16, ...
  static std::int64_t noise_size(int layer) { return std::int64_t{1} << ((layer + 5) / 2); }
  DType dtype() const { return input.input.dtype(); }
  Device device() const { return input.input.device(); }

  SubnetConfig full_config() const { return table_.full(); }
  MacCount macs(const SubnetConfig& cfg) const { return count_macs(table_, style_dim(), config_.n_mlp, cfg); }

  // ---- latents ----------------------------------------------------------------------------------------
  // z [..., style_dim] -> w [..., style_dim].
  Var map(const Var& z) const { return style.forward(z); }

  // Mean of w over n standard-normal z drawn from rng, as [style_dim] (computed without gradient, in
  // chunks, in double precision).
  Var mean_w(std::int64_t n, Rng& rng, std::int64_t chunk = 1024) const {
    ANYCOST_CHECK(n >= 1 && chunk >= 1, ValueError, "Generator::mean_w: n (", n, ") and chunk (", chunk,
                  ") must be >= 1");
    NoGradGuard no_grad;
    std::vector<double> acc(static_cast<std::size_t>(style_dim()), 0.0);
    for (std::int64_t done = 0; done < n; done += chunk) {
      const std::int64_t m = std::min(chunk, n - done);
      const Tensor w = map(Var(randn({m, style_dim()}, rng, dtype(), device()))).data().to(DType::float64);
      const std::vector<double> v = w.to_vector<double>();
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < style_dim(); ++j)
          acc[static_cast<std::size_t>(j)] += v[static_cast<std::size_t>(i * style_dim() + j)];
    }
    for (double& a : acc) a /= static_cast<double>(n);
    return Var(Tensor::from_vector(acc, {style_dim()}).to(dtype()).to(device()));
  }

  // w_avg + psi (w - w_avg), on every row of w [..., style_dim].
  static Var truncate(const Var& w, const Var& w_avg, double psi) {
    ANYCOST_CHECK(w_avg.defined() && w_avg.dim() == 1 && w.size(-1) == w_avg.size(0), ShapeError,
                  "Generator::truncate: mean w ", w_avg.defined() ? w_avg.shape() : Shape{}, " does not match w ",
                  w.shape());
    ANYCOST_CHECK(w_avg.device() == w.device(), DeviceError, "Generator::truncate: mean w is on ", w_avg.device(),
                  ", w on ", w.device());
    return w_avg + (w - w_avg) * psi;
  }

  // w [B, style_dim] or [B, 1, style_dim] -> W+ [B, n_style, style_dim] (the same row everywhere, a view);
  // [B, n_style, style_dim] passes through.
  Var broadcast_styles(const Var& w) const {
    if (w.dim() == 2) {
      check_latent(w, "broadcast_styles");
      return expand(reshape(w, Shape{w.size(0), 1, style_dim()}), Shape{w.size(0), n_style(), style_dim()});
    }
    ANYCOST_CHECK(w.dim() == 3 && w.size(2) == style_dim() && (w.size(1) == 1 || w.size(1) == n_style()),
                  ShapeError, "Generator::broadcast_styles: w ", w.shape(), " is neither [B, ", style_dim(),
                  "], [B, 1, ", style_dim(), "] nor W+ [B, ", n_style(), ", ", style_dim(), "]");
    check_device(w, "broadcast_styles", "w");
    if (w.size(1) == n_style()) return w;
    return expand(w, Shape{w.size(0), n_style(), style_dim()});
  }

  // Style mixing: W+ rows [0, m) from w1, rows [m, n_style) from w2 (both [B, style_dim]).
  Var mix_styles(const Var& w1, const Var& w2, int inject_index) const {
    check_latent(w1, "mix_styles");
    check_latent(w2, "mix_styles");
    ANYCOST_CHECK(w1.shape() == w2.shape(), ShapeError, "Generator::mix_styles: latents ", w1.shape(), " and ",
                  w2.shape(), " differ");
    ANYCOST_CHECK(inject_index >= 1 && inject_index < n_style(), ValueError, "Generator::mix_styles: inject_index ",
                  inject_index, " outside [1, ", n_style() - 1, "]");
    const std::int64_t b = w1.size(0), m = inject_index;
    Var a = expand(reshape(w1, Shape{b, 1, style_dim()}), Shape{b, m, style_dim()});
    Var c = expand(reshape(w2, Shape{b, 1, style_dim()}), Shape{b, n_style() - m, style_dim()});
    return cat({a, c}, 1);
  }

  // The inference constants of the current weights (see PreparedGenerator).
  PreparedGenerator prepare() const {
    PreparedGenerator p;
    p.conv1 = conv1.conv.prepare();
    for (const SynthesisBlock& b : blocks) {
      p.conv_up.push_back(b.conv_up.conv.prepare());
      p.conv.push_back(b.conv.conv.prepare());
    }
    return p;
  }

  // Fresh noise maps (the layout of the noises.* buffers, one map per sample).
  std::vector<Var> make_noise(std::int64_t batch, Rng& rng) const {
    std::vector<Var> maps;
    for (int l = 0; l < num_layers(); ++l)
      maps.emplace_back(randn({batch, 1, noise_size(l), noise_size(l)}, rng, dtype(), device()));
    return maps;
  }

  // ---- synthesis ----------------------------------------------------------------------------------------
  // W+ [B, n_style, style_dim] -> images at cfg.resolution() (and every lower one with return_rgbs).
  SynthesisResult synthesize(const Var& wplus, const SubnetConfig& cfg, const SynthesisOptions& opts = {}) const {
    ANYCOST_CHECK(!blocks.empty(), ValueError, "Generator: the generator is not initialised");
    table_.validate(cfg, "Generator::synthesize");
    ANYCOST_CHECK(wplus.dim() == 3 && wplus.size(1) == n_style() && wplus.size(2) == style_dim() && wplus.size(0) >= 1,
                  ShapeError, "Generator::synthesize: W+ ", wplus.shape(), " is not [B, ", n_style(), ", ",
                  style_dim(), "]");
    ANYCOST_CHECK(wplus.dtype() == dtype(), ShapeError, "Generator::synthesize: W+ is ", wplus.dtype(),
                  ", the generator is ", dtype());
    check_device(wplus, "synthesize", "W+");
    const std::int64_t batch = wplus.size(0);
    const std::vector<Var> noise = noise_for(batch, cfg.n_layers(), opts);
    auto row = [&](int i) { return select(wplus, 1, i); };
    auto noise_at = [&](int l) { return noise.empty() ? Var() : noise[static_cast<std::size_t>(l)]; };
    const PreparedGenerator* prep = opts.prepared;
    ANYCOST_CHECK(!prep || (prep->conv_up.size() == blocks.size() && prep->conv.size() == blocks.size()), ValueError,
                  "Generator::synthesize: the prepared constants belong to a generator with ",
                  prep ? prep->conv.size() : 0, " blocks, this one has ", blocks.size());
    auto at = [](const std::vector<nn::PreparedWeights>& v, int b) { return &v[static_cast<std::size_t>(b)]; };

    SynthesisResult out;
    Var h = input.forward(batch, cfg.input_channels());
    h = conv1.forward(h, row(0), cfg.conv1_channels(), noise_at(0), opts.path, prep ? &prep->conv1 : nullptr);
    Var skip = to_rgb1.forward(h, row(1), Var(), opts.path);
    if (opts.return_rgbs) out.rgbs.push_back(skip);
    for (int b = 0; b < cfg.n_blocks(); ++b) {
      const SynthesisBlock& blk = blocks[static_cast<std::size_t>(b)];
      h = blk.conv_up.forward(h, row(2 * b + 1), cfg.up_channels(b), noise_at(2 * b + 1), opts.path,
                              prep ? at(prep->conv_up, b) : nullptr);
      h = blk.conv.forward(h, row(2 * b + 2), cfg.conv_channels(b), noise_at(2 * b + 2), opts.path,
                           prep ? at(prep->conv, b) : nullptr);
      skip = blk.to_rgb.forward(h, row(2 * b + 3), skip, opts.path);
      if (opts.return_rgbs) out.rgbs.push_back(skip);
    }
    out.image = skip;
    return out;
  }

  // The reference forward: latents in z or w space, [B, style_dim] or [B, n_lat, style_dim] with n_lat 1,
  // 2 (style mixing) or n_style (W+); optional truncation; then synthesis.
  SynthesisResult generate(const Var& latents, const SubnetConfig& cfg, const GenerateOptions& opts = {}) const {
    ANYCOST_CHECK((latents.dim() == 2 || latents.dim() == 3) && latents.size(-1) == style_dim(), ShapeError,
                  "Generator::generate: latents ", latents.shape(), " are not [B, ", style_dim(), "] or [B, n, ",
                  style_dim(), "]");
    const std::int64_t n_lat = latents.dim() == 2 ? 1 : latents.size(1);
    ANYCOST_CHECK(n_lat == 1 || n_lat == 2 || n_lat == n_style(), ShapeError, "Generator::generate: ", n_lat,
                  " latents per sample; expected 1, 2 (style mixing) or ", n_style(), " (W+)");
    Var w = opts.input == LatentSpace::z ? map(latents) : latents;
    if (opts.truncation != 1.0) {
      ANYCOST_CHECK(opts.w_avg.defined(), ValueError, "Generator::generate: truncation ", opts.truncation,
                    " needs the mean w (GenerateOptions::w_avg)");
      w = truncate(w, opts.w_avg, opts.truncation);
    }
    Var wplus;
    if (n_lat == 2) {
      int m = opts.inject_index;
      if (m < 0) {
        ANYCOST_CHECK(opts.synthesis.rng, ValueError,
                      "Generator::generate: style mixing without inject_index needs SynthesisOptions::rng");
        m = 1 + static_cast<int>(opts.synthesis.rng->uniform_int(static_cast<std::uint32_t>(n_style() - 1)));
      }
      wplus = mix_styles(select(w, 1, 0), select(w, 1, 1), m);
    } else {
      wplus = broadcast_styles(w);
    }
    SynthesisResult r = synthesize(wplus, cfg, opts.synthesis);
    r.wplus = wplus;
    return r;
  }

  // ---- state ---------------------------------------------------------------------------------------------
  // Parameters (Var&) and buffers (Tensor&) in the reference state_dict order, with its key names.
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }
  // Moves every parameter and buffer (explicit copies).
  void to(Device device) { nn::to_device(*this, device); }

  nn::MappingNetwork style;
  nn::ConstantInput input;
  nn::StyledConv<nn::Resample::none> conv1;
  nn::ToRGB<nn::Skip::none> to_rgb1;
  std::vector<SynthesisBlock> blocks;  // resolutions 8, 16, ..., R
  std::vector<Tensor> noises;          // noises.noise_l, [1, 1, s_l, s_l]

 private:
  void build(const GeneratorConfig& config, nn::Init init, DType dtype) {
    config_ = config;
    config_.validate();
    table_ = config_.table();
    config_.channels = table_.widths();
    const std::int64_t s = config_.style_dim;
    style = nn::MappingNetwork(s, config_.n_mlp, config_.lr_mlp, init, dtype);
    input = nn::ConstantInput(table_.width(4), 4, init, dtype);
    conv1 = nn::StyledConv<nn::Resample::none>(table_.width(4), table_.width(4), s, init, dtype);
    to_rgb1 = nn::ToRGB<nn::Skip::none>(table_.width(4), s, init, dtype);
    for (int r = 8; r <= config_.resolution; r *= 2) {
      SynthesisBlock b{nn::StyledConv<nn::Resample::up>(table_.width(r / 2), table_.width(r), s, init, dtype),
                       nn::StyledConv<nn::Resample::none>(table_.width(r), table_.width(r), s, init, dtype),
                       nn::ToRGB<nn::Skip::upsample>(table_.width(r), s, init, dtype)};
      blocks.push_back(std::move(b));
    }
    for (int l = 0; l < num_layers(); ++l) {
      const std::int64_t n = noise_size(l);
      noises.push_back(init.normal_tensor({1, 1, n, n}, dtype));
    }
  }

  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    self.style.visit_state(fn, nn::join_name(prefix, "style"));
    self.input.visit_state(fn, nn::join_name(prefix, "input"));
    self.conv1.visit_state(fn, nn::join_name(prefix, "conv1"));
    self.to_rgb1.visit_state(fn, nn::join_name(prefix, "to_rgb1"));
    for (std::size_t b = 0; b < self.blocks.size(); ++b) {
      self.blocks[b].conv_up.visit_state(fn, nn::join_name(prefix, "convs." + std::to_string(2 * b)));
      self.blocks[b].conv.visit_state(fn, nn::join_name(prefix, "convs." + std::to_string(2 * b + 1)));
    }
    for (std::size_t b = 0; b < self.blocks.size(); ++b)
      self.blocks[b].to_rgb.visit_state(fn, nn::join_name(prefix, "to_rgbs." + std::to_string(b)));
    for (std::size_t l = 0; l < self.noises.size(); ++l)
      fn(nn::join_name(prefix, "noises.noise_" + std::to_string(l)), self.noises[l]);
  }

  void check_latent(const Var& w, const char* who) const {
    ANYCOST_CHECK(w.dim() == 2 && w.size(1) == style_dim() && w.size(0) >= 1, ShapeError, "Generator::", who,
                  ": latent ", w.shape(), " is not [B, ", style_dim(), "]");
    check_device(w, who, "latent");
  }
  void check_device(const Var& v, const char* who, const char* what) const {
    ANYCOST_CHECK(v.device() == device(), DeviceError, "Generator::", who, ": ", what, " is on ", v.device(),
                  ", the generator on ", device());
  }

  // The noise maps of layers [0, used) (empty for NoiseMode::none).
  std::vector<Var> noise_for(std::int64_t batch, int used, const SynthesisOptions& opts) const {
    std::vector<Var> maps;
    switch (opts.noise) {
      case NoiseMode::none:
        return maps;
      case NoiseMode::fixed:
        for (int l = 0; l < used; ++l) maps.emplace_back(noises[static_cast<std::size_t>(l)]);
        return maps;
      case NoiseMode::given:
        ANYCOST_CHECK(static_cast<int>(opts.noise_maps.size()) >= used, ValueError, "Generator: ",
                      opts.noise_maps.size(), " noise maps given, this configuration uses ", used);
        for (int l = 0; l < used; ++l) {
          const Var& n = opts.noise_maps[static_cast<std::size_t>(l)];
          ANYCOST_CHECK(n.defined() && n.dim() == 4 && (n.size(0) == batch || n.size(0) == 1) && n.size(1) == 1 &&
                            n.size(2) == noise_size(l) && n.size(3) == noise_size(l),
                        ShapeError, "Generator: noise map ", l, " has shape ", n.defined() ? n.shape() : Shape{},
                        ", expected [", batch, " or 1, 1, ", noise_size(l), ", ", noise_size(l), "]");
          maps.push_back(n);
        }
        return maps;
      case NoiseMode::random: {
        ANYCOST_CHECK(opts.rng, ValueError, "Generator: NoiseMode::random needs SynthesisOptions::rng");
        // Every layer's block range is reserved, so a map is the same at any output resolution; only the
        // maps in use are generated.
        const std::uint64_t seed = opts.rng->seed();
        for (int l = 0; l < num_layers(); ++l) {
          const std::int64_t s = noise_size(l);
          const std::uint64_t first = opts.rng->reserve(static_cast<std::uint64_t>(batch * s * s));
          if (l >= used) continue;
          Rng at(seed);
          at.reserve(4 * first);
          maps.emplace_back(randn({batch, 1, s, s}, at, dtype(), device()));
        }
        return maps;
      }
    }
    return maps;
  }

  GeneratorConfig config_;
  ChannelTable table_;
};

}  // namespace models
ANYCOST_NAMESPACE_END
