// TrainConfig: everything a training run is made of, read from JSON (the `anycost train --config` file).
//
// The defaults are the official recipe (Lin et al. 2021; tools/train_gan.py and the scripts in scripts/ of the
// official code): Adam lr 0.002, betas (0, 0.99), no lazy-regularisation correction; style mixing 0.9; R1
// gamma 10 every 16 D steps; path length weight 2 every 8 G steps on batch / 2 with decay 0.01 (stage 1
// only); 4 resolutions of which 2 are sampled per step; distillation weight 2 with LPIPS-VGG; EMA half-life
// 10 kimg; min_channel 8, divided_by 4.
//
// One run trains a schedule of stages (Sec. 3): "steps": {"1": n1, "2": n2, "3": n3}. A stage with 0 steps
// is skipped; a run may start at stage 2 or 3 from an initial generator (init.generator, e.g. a converted
// official StyleGAN2 g_ema) and discriminator. At every stage boundary the trainer makes the frozen teacher
// (a copy of g_ema), transfers the discriminator (single-res -> multi-res -> conditioned, Sec. 3.5) and, before
// stage 3, sorts the generator's channels (Sec. 2.5).
//
// Parsing is strict: an unknown key, a value of the wrong type or out of range is a ValueError naming the
// key path ("r1.gamma") and the problem; relative paths are resolved against the config file's folder.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anycost/io/bounded_json.hpp"
#include "anycost/models/generator.hpp"
#include "anycost/optim/adam.hpp"
#include "anycost/optim/ema.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace train {

enum class ChannelSampler : std::uint8_t { uniform, flexible };

struct TrainConfig {
  models::GeneratorConfig generator = {.resolution = 32, .style_dim = 64, .n_mlp = 4, .channels = {64, 64, 32, 16}};
  // Discriminator widths at 4 .. R; empty: the config-F table from channel_multiplier / channel_max.
  double d_channel_multiplier = 2.0;
  int d_channel_max = 512;
  std::vector<int> d_channels = {};

  std::int64_t steps[3] = {0, 0, 0};  // iterations of stages 1, 2, 3
  std::int64_t batch = 4;
  std::uint64_t seed = 0;

  optim::AdamOptions adam = optim::AdamOptions::stylegan2();
  bool lazy_regularization = false;  // StyleGAN2's lr/beta correction for the lazy R1 / path steps
  double mixing = 0.9;
  double r1_gamma = 10.0;
  int r1_interval = 16;
  double pl_weight = 2.0;
  int pl_interval = 8;
  int pl_batch_shrink = 2;
  double pl_decay = 0.01;
  int n_res = 4;        // resolutions the multi-res D sees (R, R/2, ...), stages 2-3
  int n_sampled_res = 2;
  ChannelSampler sampler = ChannelSampler::uniform;
  int min_channel = 8;
  int divided_by = 4;
  std::int64_t sort_samples = 10000;  // latents whose styles rank the channels before stage 3
  double distill_alpha = 2.0;
  std::filesystem::path lpips = {};   // LPIPS weights (tools/convert_lpips.py); empty: MSE alone, said loudly
  double ema_half_life_kimg = 10.0;

  std::filesystem::path init_generator = {}, init_discriminator = {}, init_teacher = {};

  std::int64_t checkpoint_every = 500;
  int checkpoint_keep = 3;
  std::int64_t sample_every = 500;
  int sample_count = 8;
  double log_every_seconds = 5.0;

  int workers = 2;
  int prefetch = 4;
  std::int64_t cache_mb = 1024;
  bool xflip = true;

  nlohmann::json source = {};  // the JSON this was read from (saved in checkpoints)

  std::int64_t total_steps() const { return steps[0] + steps[1] + steps[2]; }
  // The stage (1..3) that global step `step` (0-based) belongs to.
  int stage_at(std::int64_t step) const {
    std::int64_t end = 0;
    for (int s = 0; s < 3; ++s)
      if (step < (end += steps[s])) return s + 1;
    return 3;
  }
  // The global step at which stage s (1..3) begins.
  std::int64_t stage_begin(int stage) const {
    std::int64_t b = 0;
    for (int s = 1; s < stage; ++s) b += steps[s - 1];
    return b;
  }
  // The data resolutions a stage reads: R, or R, R/2, ... (n_res of them).
  std::vector<int> resolutions(int stage) const {
    std::vector<int> r{generator.resolution};
    if (stage >= 2)
      for (int i = 1; i < n_res; ++i) r.push_back(generator.resolution >> i);
    return r;
  }
  double ema_beta() const { return optim::ema_beta(ema_half_life_kimg * 1000.0, static_cast<double>(batch)); }
};

namespace detail {

// Reads one JSON object strictly: every key must be taken by a get_*(), finish() reports the rest.
class JsonObject {
 public:
  JsonObject(const nlohmann::json& j, std::string path) : j_(j), path_(std::move(path)) {
    ANYCOST_CHECK(j.is_object(), ValueError, "config: ", where(""), " must be a JSON object, got ", j.type_name());
  }
  bool has(const std::string& key) const { return j_.contains(key); }
  const nlohmann::json* find(const std::string& key) {
    known_.insert(key);
    const auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  template <class T>
  void number(const std::string& key, T& out, double lo, double hi) {
    const nlohmann::json* v = find(key);
    if (!v) return;
    ANYCOST_CHECK(v->is_number(), ValueError, "config: ", where(key), " must be a number, got ", v->type_name(),
                  " ", v->dump());
    const double d = v->get<double>();
    ANYCOST_CHECK(std::isfinite(d) && d >= lo && d <= hi, ValueError, "config: ", where(key), " is ", v->dump(),
                  ", must be in [", lo, ", ", hi, "]");
    if constexpr (std::is_integral_v<T>)
      ANYCOST_CHECK(d == std::floor(d), ValueError, "config: ", where(key), " is ", v->dump(), ", must be an integer");
    out = static_cast<T>(d);
  }
  void boolean(const std::string& key, bool& out) {
    const nlohmann::json* v = find(key);
    if (!v) return;
    ANYCOST_CHECK(v->is_boolean(), ValueError, "config: ", where(key), " must be true or false, got ", v->dump());
    out = v->get<bool>();
  }
  std::string string(const std::string& key, const std::string& fallback) {
    const nlohmann::json* v = find(key);
    if (!v) return fallback;
    ANYCOST_CHECK(v->is_string(), ValueError, "config: ", where(key), " must be a string, got ", v->dump());
    return v->get<std::string>();
  }
  void path(const std::string& key, std::filesystem::path& out, const std::filesystem::path& base) {
    const std::string s = string(key, "");
    if (!s.empty()) out = std::filesystem::path(s).is_absolute() ? std::filesystem::path(s) : base / s;
  }
  void widths(const std::string& key, std::vector<int>& out) {
    const nlohmann::json* v = find(key);
    if (!v) return;
    ANYCOST_CHECK(v->is_array() && !v->empty(), ValueError, "config: ", where(key),
                  " must be a list of channel widths at resolutions 4, 8, ..., got ", v->dump());
    out.clear();
    for (const auto& e : *v) {
      ANYCOST_CHECK(e.is_number_integer() && e.get<long long>() >= 1 && e.get<long long>() <= 65536, ValueError,
                    "config: ", where(key), " holds ", e.dump(), ", widths must be integers in [1, 65536]");
      out.push_back(e.get<int>());
    }
  }
  JsonObject object(const std::string& key) {
    const nlohmann::json* v = find(key);
    static const nlohmann::json empty = nlohmann::json::object();
    return JsonObject(v ? *v : empty, where(key));
  }
  // Unknown keys are errors (a typo must not silently fall back to a default).
  void finish() const {
    for (const auto& [k, v] : j_.items()) {
      if (known_.count(k)) continue;
      std::string list;
      for (const std::string& s : known_) list += (list.empty() ? "" : ", ") + s;
      ::anycost::detail::raise<ValueError>("config: unknown key '", where(k), "' (known here: ", list, ")");
    }
  }

 private:
  std::string where(const std::string& key) const {
    if (key.empty()) return path_.empty() ? "the top level" : path_;
    return path_.empty() ? key : path_ + "." + key;
  }
  const nlohmann::json& j_;
  std::string path_;
  std::set<std::string> known_;
};

}  // namespace detail

// Parses a config; `base` resolves relative paths.
inline TrainConfig parse_train_config(const nlohmann::json& j, const std::filesystem::path& base = {}) {
  TrainConfig c;
  c.source = j;
  detail::JsonObject top(j, "");

  detail::JsonObject g = top.object("generator");
  g.number("resolution", c.generator.resolution, 8, 4096);
  g.number("style_dim", c.generator.style_dim, 1, 4096);
  g.number("n_mlp", c.generator.n_mlp, 1, 64);
  g.number("channel_multiplier", c.generator.channel_multiplier, 1e-3, 64);
  g.number("channel_max", c.generator.channel_max, 1, 65536);
  g.number("lr_mlp", c.generator.lr_mlp, 1e-6, 1);
  if (g.has("channels") || g.has("channel_multiplier") || g.has("channel_max")) c.generator.channels.clear();
  g.widths("channels", c.generator.channels);
  g.finish();
  try {
    c.generator.validate();
  } catch (const Error& e) {
    ::anycost::detail::raise<ValueError>("config: generator: ", e.what());
  }

  detail::JsonObject d = top.object("discriminator");
  d.number("channel_multiplier", c.d_channel_multiplier, 1e-3, 64);
  d.number("channel_max", c.d_channel_max, 1, 65536);
  d.widths("channels", c.d_channels);
  d.finish();
  // Compared by log2: a long list must not shift past the width of the integer.
  ANYCOST_CHECK(c.d_channels.empty() || static_cast<int>(c.d_channels.size()) == models::log2_exact(c.generator.resolution) - 1,
                ValueError, "config: discriminator.channels lists ", c.d_channels.size(),
                " widths; a ", c.generator.resolution, "x", c.generator.resolution, " model needs one per resolution 4..",
                c.generator.resolution, " (", models::log2_exact(c.generator.resolution) - 1, ")");

  detail::JsonObject s = top.object("steps");
  for (int i = 0; i < 3; ++i) s.number(std::to_string(i + 1), c.steps[i], 0, 1e12);
  s.finish();
  ANYCOST_CHECK(c.total_steps() >= 1, ValueError,
                "config: steps gives no iterations; set e.g. \"steps\": {\"1\": 1000, \"2\": 200, \"3\": 800}");
  top.number("batch", c.batch, 1, 1 << 16);
  top.number("seed", c.seed, 0, 9007199254740992.0);
  top.number("mixing", c.mixing, 0, 1);

  detail::JsonObject o = top.object("optimizer");
  o.number("lr", c.adam.lr, 0, 10);
  o.number("beta1", c.adam.beta1, 0, 0.999999);
  o.number("beta2", c.adam.beta2, 0, 0.999999);
  o.number("eps", c.adam.eps, 0, 1);
  o.boolean("lazy_regularization", c.lazy_regularization);
  o.finish();

  detail::JsonObject r1 = top.object("r1");
  r1.number("gamma", c.r1_gamma, 0, 1e6);
  r1.number("interval", c.r1_interval, 1, 1e6);
  r1.finish();

  detail::JsonObject pl = top.object("path_length");
  pl.number("weight", c.pl_weight, 0, 1e6);
  pl.number("interval", c.pl_interval, 1, 1e6);
  pl.number("batch_shrink", c.pl_batch_shrink, 1, 1 << 16);
  pl.number("decay", c.pl_decay, 0, 1);
  pl.finish();

  detail::JsonObject mr = top.object("multi_res");
  mr.number("n_res", c.n_res, 1, 12);
  mr.number("n_sampled", c.n_sampled_res, 1, 12);
  mr.finish();
  ANYCOST_CHECK(c.n_sampled_res <= c.n_res, ValueError, "config: multi_res.n_sampled (", c.n_sampled_res,
                ") exceeds multi_res.n_res (", c.n_res, ")");
  ANYCOST_CHECK(c.steps[1] + c.steps[2] == 0 || (c.generator.resolution >> (c.n_res - 1)) >= 8, ValueError, "config: multi_res.n_res ", c.n_res,
                " goes below 8x8 from a ", c.generator.resolution, "x", c.generator.resolution, " model");

  detail::JsonObject ch = top.object("channels");
  const std::string sampler = ch.string("sampler", "uniform");
  ANYCOST_CHECK(sampler == "uniform" || sampler == "flexible", ValueError, "config: channels.sampler is '", sampler,
                "', expected \"uniform\" or \"flexible\"");
  c.sampler = sampler == "uniform" ? ChannelSampler::uniform : ChannelSampler::flexible;
  ch.number("min_channel", c.min_channel, 1, 65536);
  ch.number("divided_by", c.divided_by, 1, 65536);
  ch.number("sort_samples", c.sort_samples, 1, 1e9);
  ch.finish();

  detail::JsonObject di = top.object("distill");
  di.number("alpha", c.distill_alpha, 0, 1e6);
  di.path("lpips", c.lpips, base);
  di.finish();

  detail::JsonObject ema = top.object("ema");
  ema.number("half_life_kimg", c.ema_half_life_kimg, 0, 1e9);
  ema.finish();

  detail::JsonObject in = top.object("init");
  in.path("generator", c.init_generator, base);
  in.path("discriminator", c.init_discriminator, base);
  in.path("teacher", c.init_teacher, base);
  in.finish();

  detail::JsonObject ck = top.object("checkpoint");
  ck.number("every", c.checkpoint_every, 1, 1e12);
  ck.number("keep", c.checkpoint_keep, 1, 1000);
  ck.finish();

  detail::JsonObject sa = top.object("samples");
  sa.number("every", c.sample_every, 1, 1e12);
  sa.number("n", c.sample_count, 1, 256);
  sa.finish();

  detail::JsonObject lg = top.object("log");
  lg.number("every_seconds", c.log_every_seconds, 0, 1e6);
  lg.finish();

  detail::JsonObject da = top.object("data");
  da.number("workers", c.workers, 1, 256);
  da.number("prefetch", c.prefetch, 1, 1024);
  da.number("cache_mb", c.cache_mb, 0, 1 << 24);
  da.boolean("xflip", c.xflip);
  da.finish();

  top.finish();
  ANYCOST_CHECK(c.batch % std::min<std::int64_t>(4, c.batch) == 0, ValueError, "config: batch ", c.batch,
                " is not divisible by the discriminator's minibatch-stddev group of 4");
  return c;
}

// Limits on a config file (it may come from anyone): the recipe needs depth 3 and a few KiB.
inline constexpr io::JsonLimits train_config_limits{.max_bytes = 1u << 20, .max_depth = 8};

// Parses config text (JSON with comments); `what` names it in messages, `base` resolves relative paths.
// ValueError for text over the limits, bad JSON and bad values.
inline TrainConfig parse_train_config_text(const std::string& text, const std::filesystem::path& base = {},
                                           const std::string& what = "text") {
  const nlohmann::json j =
      io::parse_json_bounded<ValueError>(text, train_config_limits, "config: '" + what + "'", /*ignore_comments=*/true);
  return parse_train_config(j, base);
}

// Reads and parses a JSON config file (IoError if unreadable, ValueError naming the file for bad JSON).
inline TrainConfig load_train_config(const std::filesystem::path& path) {
  const std::string text = io::read_text_bounded<ValueError>(path, train_config_limits.max_bytes, "config");
  return parse_train_config_text(text, path.parent_path(), path.string());
}

}  // namespace train
ANYCOST_NAMESPACE_END
