// A per-layer latency model of the generator on the user's own device, for latency budgets (the
// hardware-aware search of Once-for-All, Cai et al. 2020, Sec. 3.4, applied to Anycost sub-generators).
//
// A sub-network is a chain of layers whose cost depends only on their shape (kind, input and output widths,
// resolution): LayerShape. latency(cfg) is predicted as
//     scale * sum over the layers of cfg of table[layer shape]
// where each distinct shape is timed once on the device (median of `repeats` interleaved runs after a warm-up)
// and the scale (what the layers timed alone do not see: caches warm or shared across layers, allocation,
// launch gaps, and the machine's speed of the moment) is calibrated as the median of measured / sum over a few
// whole-network runs, again on each validation. A ratio, not an additive offset: an offset fitted on a noisy
// machine can come out negative and predict negative times for small networks, a positive scale cannot.
// validate_latency compares predictions with measurements of random configurations.
//
// The table is cached in a JSON file keyed by the device (CPU model name from /proc/cpuinfo, or the CUDA
// device), the thread count, the batch and the model architecture (a hash of resolution, style_dim, n_mlp,
// widths and dtype: latency does not depend on the weights' values). A file whose key differs is not used:
//   {"format": "anycost-latency-table", "version": 2, "device": ..., "threads": 2, "batch": 1,
//    "model": "64px s256 m8 w256,...", "scale": 0.93, "layers": {"up 256>128 @32": 1.7, ...}}
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anycost/autograd/grad_mode.hpp"
#include "anycost/core/parallel.hpp"
#include "anycost/io/atomic_write.hpp"
#include "anycost/io/bounded_json.hpp"
#include "anycost/models/generator.hpp"
#include "anycost/ops/random.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace search {

// One layer of a sub-network: kind "mapping" | "input" | "conv" (3x3, same resolution) | "up" (the
// upsampling 3x3) | "rgb" (ToRGB, with the skip upsample from block 8 on: "rgb_skip").
struct LayerShape {
  std::string kind;
  int c_in = 0, c_out = 0, res = 0;
  std::string key() const {
    std::ostringstream os;
    os << kind << ' ' << c_in << '>' << c_out << " @" << res;
    return os.str();
  }
};

// The layers cfg runs, in order (mapping first).
inline std::vector<LayerShape> layer_shapes(const models::SubnetConfig& cfg) {
  std::vector<LayerShape> v;
  v.push_back({"mapping", 0, 0, 0});
  const int c0 = cfg.input_channels().value, c1 = cfg.conv1_channels().value;
  v.push_back({"input", 0, c0, 4});
  v.push_back({"conv", c0, c1, 4});
  v.push_back({"rgb", c1, 3, 4});
  int prev = c1;
  for (int b = 0; b < cfg.n_blocks(); ++b) {
    const int r = models::SubnetConfig::block_resolution(b), up = cfg.up_channels(b).value,
              c = cfg.conv_channels(b).value;
    v.push_back({"up", prev, up, r});
    v.push_back({"conv", up, c, r});
    v.push_back({"rgb_skip", c, 3, r});
    prev = c;
  }
  return v;
}

struct LatencyKey {
  std::string device;
  int threads = 1;
  std::int64_t batch = 1;
  std::string model;
  friend bool operator==(const LatencyKey&, const LatencyKey&) = default;
};

// The CPU's model name (/proc/cpuinfo), or "unknown CPU".
inline std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

// The architecture part of the key: what latency depends on.
inline std::string model_key(const models::Generator& g) {
  std::ostringstream os;
  os << g.resolution() << "px s" << g.style_dim() << " m" << g.config().n_mlp << " w";
  const auto& w = g.channel_table().widths();
  for (std::size_t i = 0; i < w.size(); ++i) os << (i ? "," : "") << w[i];
  os << ' ' << g.dtype();
  return os.str();
}

inline LatencyKey latency_key(const models::Generator& g, std::int64_t batch) {
  const Device d = g.device();
  return LatencyKey{d.is_cpu() ? cpu_model_name() : anycost::detail::concat(d), get_num_threads(), batch, model_key(g)};
}

class LatencyTable {
 public:
  LatencyTable() = default;
  explicit LatencyTable(LatencyKey key) : key_(std::move(key)) {}

  const LatencyKey& key() const { return key_; }
  double scale() const { return scale_; }
  bool calibrated() const { return calibrated_; }
  void set_scale(double s) {
    ANYCOST_CHECK(s > 0 && std::isfinite(s), ValueError, "LatencyTable: scale ", s, " is not a finite positive number");
    scale_ = s;
    calibrated_ = true;
  }
  bool contains(const LayerShape& s) const { return ms_.count(s.key()) != 0; }
  double at(const LayerShape& s) const {
    const auto it = ms_.find(s.key());
    ANYCOST_CHECK(it != ms_.end(), ValueError, "LatencyTable: layer '", s.key(), "' has not been timed");
    return it->second;
  }
  void set(const LayerShape& s, double ms) {
    ANYCOST_CHECK(ms >= 0 && std::isfinite(ms), ValueError, "LatencyTable: time ", ms, " ms for '", s.key(),
                  "' is not a finite non-negative number");
    ms_[s.key()] = ms;
  }
  std::size_t size() const { return ms_.size(); }

  // Predicted milliseconds of cfg: scale x layer_sum(cfg); every layer must have been timed.
  double layer_sum(const models::SubnetConfig& cfg) const {
    double t = 0;
    for (const LayerShape& s : layer_shapes(cfg)) t += at(s);
    return t;
  }
  double predict(const models::SubnetConfig& cfg) const { return scale_ * layer_sum(cfg); }

  std::string to_json() const {
    nlohmann::ordered_json j;
    j["format"] = "anycost-latency-table";
    j["version"] = 2;
    j["device"] = key_.device;
    j["threads"] = key_.threads;
    j["batch"] = key_.batch;
    j["model"] = key_.model;
    j["scale"] = scale_;
    j["layers"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : ms_) j["layers"][k] = v;
    return j.dump(2) + "\n";
  }
  // A table file may come from another machine: read within limits (64 MiB, nesting 4), like every JSON input.
  static constexpr io::JsonLimits json_limits{std::uintmax_t{64} << 20, 4};
  static LatencyTable from_json(const std::string& text, const std::string& what) {
    const nlohmann::json j = io::parse_json_bounded(text, json_limits, "latency table '" + what + "'");
    // find() and comparisons, not value(): value() throws when the entry has another type (a fuzz finding).
    const auto format = j.find("format"), version = j.find("version");
    ANYCOST_CHECK(j.is_object() && format != j.end() && *format == "anycost-latency-table" && version != j.end() &&
                      *version == 2,
                  FormatError, "latency table '", what, "': not an anycost-latency-table version 2 file");
    LatencyTable t;
    try {
      const nlohmann::json &threads = j.at("threads"), &batch = j.at("batch");
      ANYCOST_CHECK(threads.is_number_integer() && batch.is_number_integer() && threads.get<std::int64_t>() >= 1 &&
                        threads.get<std::int64_t>() <= (1 << 16) && batch.get<std::int64_t>() >= 1 &&
                        batch.get<std::int64_t>() <= (std::int64_t{1} << 30),
                    FormatError, "latency table '", what, "': threads ", threads.dump(), " and batch ", batch.dump(),
                    " must be positive integers");
      t.key_ = LatencyKey{j.at("device").get<std::string>(), threads.get<int>(), batch.get<std::int64_t>(),
                          j.at("model").get<std::string>()};
      t.scale_ = j.at("scale").get<double>();
      ANYCOST_CHECK(t.scale_ > 0 && std::isfinite(t.scale_), FormatError, "latency table '", what, "': scale ", t.scale_,
                    " is not a finite positive number");
      t.calibrated_ = true;
      ANYCOST_CHECK(j.at("layers").is_object(), FormatError, "latency table '", what, "': \"layers\" is not an object");
      for (const auto& [k, v] : j.at("layers").items()) {
        const double ms = v.get<double>();
        ANYCOST_CHECK(ms >= 0 && std::isfinite(ms), FormatError, "latency table '", what, "': layer '", k,
                      "' has time ", ms);
        t.ms_[k] = ms;
      }
    } catch (const nlohmann::json::exception& e) {
      anycost::detail::raise<FormatError>("latency table '", what, "': ", e.what());
    }
    return t;
  }
  void save(const std::filesystem::path& path) const {
    const std::string text = to_json();
    io::write_atomically(path, "LatencyTable::save", [&](std::ostream& os) { os << text; });
  }
  static LatencyTable load(const std::filesystem::path& path) {
    return from_json(io::read_text_bounded(path, json_limits.max_bytes, "LatencyTable::load"), path.string());
  }
  // The cached table at `path` when it exists and its key is `key`; otherwise an empty table for `key`
  // (`why` says which, for the user).
  static LatencyTable load_or_create(const std::filesystem::path& path, const LatencyKey& key, std::string* why = nullptr) {
    auto say = [&](const std::string& s) {
      if (why) *why = s;
    };
    if (path.empty() || !std::filesystem::exists(path)) {
      say("no cached table: timing every layer shape");
      return LatencyTable(key);
    }
    LatencyTable t;
    try {
      t = load(path);
    } catch (const FormatError& e) {  // a cache, not the user's data: an old or damaged file is timed again
      say(std::string("the cached table is unusable (") + e.what() + "): timing again");
      return LatencyTable(key);
    }
    if (!(t.key_ == key)) {
      say("the cached table is for another device, thread count, batch or model: timing again");
      return LatencyTable(key);
    }
    say("cached table loaded (" + std::to_string(t.size()) + " layer shapes)");
    return t;
  }

 private:
  LatencyKey key_;
  double scale_ = 1;
  bool calibrated_ = false;
  std::map<std::string, double> ms_;
};

inline double median(std::vector<double> v) {
  ANYCOST_CHECK(!v.empty(), ValueError, "median: no values");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Times layers and whole sub-networks of a generator (kept by reference) at batch B on its device.
class GeneratorTimer {
 public:
  GeneratorTimer(const models::Generator& g, std::int64_t batch = 1, int repeats = 5)
      : g_(g), batch_(batch), repeats_(repeats), prepared_(g.prepare()) {
    ANYCOST_CHECK(batch >= 1 && repeats >= 1, ValueError, "GeneratorTimer: batch (", batch, ") and repeats (", repeats,
                  ") must be >= 1");
    Rng rng(12345);
    z_ = Var(randn({batch, g.style_dim()}, rng, g.dtype(), g.device()));
  }
  std::int64_t batch() const { return batch_; }
  LatencyKey key() const { return latency_key(g_, batch_); }

  // Median milliseconds of one run of each layer (or whole forward pass: mapping and synthesis), timed in
  // interleaved rounds: a warm-up run of each, then `repeats` rounds of one run of each. A machine whose speed
  // drifts over seconds (a shared VM, frequency scaling) then shifts all of them alike, which the calibrated
  // scale absorbs; timed one after another, each would carry the speed of its own moment (on a 2-vCPU VM that
  // put single configurations 25-45% off their prediction, interleaved 5-14%).
  std::vector<double> time_layers(const std::vector<LayerShape>& shapes) const {
    std::vector<double> ms;
    std::vector<std::function<void()>> chunk;
    double chunk_bytes = 0;
    const auto flush = [&] {
      for (double t : interleaved_median_ms(chunk)) ms.push_back(t);
      chunk.clear();
      chunk_bytes = 0;
    };
    for (const LayerShape& s : shapes) {
      // Each runner holds its own random input: bound what the inputs of one round hold at once.
      const double bytes = 4.0 * static_cast<double>(batch_) * std::max(s.c_in, 1) * s.res * s.res;
      if (!chunk.empty() && chunk_bytes + bytes > kRoundBytes) flush();
      chunk.push_back(layer_runner(s));
      chunk_bytes += bytes;
    }
    if (!chunk.empty()) flush();
    return ms;
  }
  double time_layer(const LayerShape& s) const { return time_layers({s})[0]; }

  std::vector<double> time_networks(const std::vector<models::SubnetConfig>& cfgs) const {
    std::vector<std::function<void()>> runs;
    for (const models::SubnetConfig& cfg : cfgs)
      runs.push_back([this, cfg] {
        NoGradGuard no_grad;
        models::GenerateOptions o;
        o.synthesis.prepared = &prepared_;
        finish(g_.generate(z_, cfg, o).image);
      });
    return interleaved_median_ms(runs);
  }
  double time_network(const models::SubnetConfig& cfg) const { return time_networks({cfg})[0]; }

  // Times, together, every layer of `cfgs` that `table` lacks; returns how many were timed.
  int fill(LatencyTable& table, const std::vector<models::SubnetConfig>& cfgs) const {
    std::vector<LayerShape> missing;
    std::set<std::string> seen;
    for (const models::SubnetConfig& cfg : cfgs)
      for (const LayerShape& s : layer_shapes(cfg))
        if (!table.contains(s) && seen.insert(s.key()).second) missing.push_back(s);
    const std::vector<double> ms = time_layers(missing);
    for (std::size_t i = 0; i < missing.size(); ++i) table.set(missing[i], ms[i]);
    return static_cast<int>(missing.size());
  }
  int fill(LatencyTable& table, const models::SubnetConfig& cfg) const {
    return fill(table, std::vector<models::SubnetConfig>{cfg});
  }

  // Sets table's scale to the median of measured / sum of layers over `calibration` configurations.
  void calibrate(LatencyTable& table, const std::vector<models::SubnetConfig>& calibration) const {
    ANYCOST_CHECK(!calibration.empty(), ValueError, "GeneratorTimer::calibrate: no configurations");
    fill(table, calibration);
    set_scale(table, calibration, time_networks(calibration));
  }

  // The scale from `measured`, whole-network times of `calibration` (and possibly more after them).
  static void set_scale(LatencyTable& table, const std::vector<models::SubnetConfig>& calibration,
                        const std::vector<double>& measured) {
    std::vector<double> ratio;
    for (std::size_t i = 0; i < calibration.size(); ++i) {
      const double sum = table.layer_sum(calibration[i]);
      if (sum > 0 && measured[i] > 0) ratio.push_back(measured[i] / sum);
    }
    ANYCOST_CHECK(!ratio.empty(), ValueError, "GeneratorTimer::calibrate: every timing was zero (clock too coarse?)");
    table.set_scale(median(ratio));
  }

 private:
  // The host waits for the device: one element back to the CPU (nothing to do on the CPU itself).
  static void finish(const Var& out) {
    if (out.device().is_cpu()) return;
    Tensor one = out.data();
    for (int d = 0; d < one.dim(); ++d) one = one.narrow(d, 0, 1);
    (void)one.to(Device::cpu());
  }
  std::vector<double> interleaved_median_ms(const std::vector<std::function<void()>>& runs) const {
    for (const auto& run : runs) run();  // warm-up (allocator, caches)
    std::vector<std::vector<double>> t(runs.size());
    for (int r = 0; r < repeats_; ++r)
      for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        runs[i]();
        t[i].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    std::vector<double> ms;
    for (const auto& v : t) ms.push_back(median(v));
    return ms;
  }

  // One run of layer s on random inputs of its shape (the runner owns them).
  std::function<void()> layer_runner(const LayerShape& s) const {
    Rng rng(777);
    auto rnd = [&](const Shape& shape) { return Var(randn(shape, rng, g_.dtype(), g_.device())); };
    const Var w = rnd({batch_, g_.style_dim()});
    const int half = std::max(1, s.res / 2);
    const nn::OutChannels out{s.c_out};
    const auto block = [&] {
      const std::size_t b = static_cast<std::size_t>(models::log2_exact(s.res) - 3);
      ANYCOST_CHECK(b < g_.blocks.size(), ValueError, "GeneratorTimer: layer '", s.key(), "' is beyond the generator");
      return b;
    };
    std::function<Var()> run;
    if (s.kind == "mapping") {
      run = [this] { return g_.map(z_); };
    } else if (s.kind == "input") {
      run = [this, out] { return g_.input.forward(batch_, out); };
    } else if (s.kind == "conv" || s.kind == "up") {
      const bool up = s.kind == "up";
      const Var x = rnd({batch_, s.c_in, up ? half : s.res, up ? half : s.res});
      const Var noise = rnd({batch_, 1, s.res, s.res});
      const auto path = nn::ModulationPath::automatic;
      if (s.res == 4) {
        run = [=, this] { return g_.conv1.forward(x, w, out, noise, path, &prepared_.conv1); };
      } else {
        const std::size_t b = block();
        if (up)
          run = [=, this] { return g_.blocks[b].conv_up.forward(x, w, out, noise, path, &prepared_.conv_up[b]); };
        else
          run = [=, this] { return g_.blocks[b].conv.forward(x, w, out, noise, path, &prepared_.conv[b]); };
      }
    } else if (s.kind == "rgb") {
      const Var x = rnd({batch_, s.c_in, s.res, s.res});
      run = [=, this] { return g_.to_rgb1.forward(x, w); };
    } else if (s.kind == "rgb_skip") {
      const std::size_t b = block();
      const Var x = rnd({batch_, s.c_in, s.res, s.res});
      const Var skip = rnd({batch_, 3, half, half});
      run = [=, this] { return g_.blocks[b].to_rgb.forward(x, w, skip); };
    } else {
      anycost::detail::raise<ValueError>("GeneratorTimer: unknown layer kind '", s.kind, "'");
    }
    return [run] {
      NoGradGuard no_grad;
      finish(run());
    };
  }

  static constexpr double kRoundBytes = 256.0 * (1 << 20);
  const models::Generator& g_;
  std::int64_t batch_;
  int repeats_;
  models::PreparedGenerator prepared_;
  Var z_;
};

struct LatencyCheck {
  std::vector<double> predicted, measured;  // milliseconds, one per configuration
  std::vector<double> relative_error() const {
    std::vector<double> e;
    for (std::size_t i = 0; i < predicted.size(); ++i) e.push_back(std::abs(predicted[i] - measured[i]) / measured[i]);
    return e;
  }
  double max_error() const {
    const auto e = relative_error();
    return e.empty() ? 0 : *std::max_element(e.begin(), e.end());
  }
  double median_error() const { return median(relative_error()); }
};

// Predicted vs measured latency of `configs`. Missing layers are timed first; the calibration networks are
// timed again in the same interleaved rounds as `configs`, and the table's scale is set from them, so that the
// check measures the per-layer model at the machine's current speed (configs are not used to fit anything).
inline LatencyCheck validate_latency(LatencyTable& table, const GeneratorTimer& timer,
                                     const std::vector<models::SubnetConfig>& configs,
                                     const std::vector<models::SubnetConfig>& calibration) {
  ANYCOST_CHECK(!calibration.empty(), ValueError, "validate_latency: no calibration configurations");
  std::vector<models::SubnetConfig> all = calibration;
  all.insert(all.end(), configs.begin(), configs.end());
  timer.fill(table, all);
  const std::vector<double> measured = timer.time_networks(all);
  GeneratorTimer::set_scale(table, calibration, measured);
  LatencyCheck c;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    c.predicted.push_back(table.predict(configs[i]));
    c.measured.push_back(measured[calibration.size() + i]);
  }
  return c;
}

}  // namespace search
ANYCOST_NAMESPACE_END
