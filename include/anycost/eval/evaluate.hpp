// The quality report of an Anycost generator: for each sub-network configuration (uniform channel ratio x
// output resolution),
//
//   FD        Fréchet distance (eval/frechet.hpp) between the classifier features (eval/classifier.hpp) of n
//             generated images and of every real image of the folder at the configuration's resolution (the
//             folder's PIL-bilinear resize, io/image_folder.hpp, as the spec of FID for sub-generators asks:
//             real statistics at the evaluated resolution); both sides go through classifier_input (clamp,
//             bilinear to the classifier's resolution), so every resolution shares one feature space
//   floor     the same distance between two disjoint halves of the real images (a seeded split): what a
//             perfect generator would score with this many samples
//   PSNR, LPIPS   against the full generator on the same latents and noise (eval/consistency.hpp)
//   attributes    per classifier label, the fraction of images whose predicted label (logit > 0) is the same
//             for the configuration's image and the full image (eval/attribute_consistency.hpp), and the mean
//             over labels; on the report's samples (untruncated, unlike the official metric's psi 0.5)
//   latency   the median wall time of one image (batch 1, mapping + synthesis, the model's fixed noise,
//             prepared weights) over latency_runs runs after two warm-up runs, on the caller's threads
//   MACs      per image, the paper's convention and the true multiply-adds (models/macs.hpp)
//
// Sampling: z ~ N(0, I) from Rng(seed), no truncation; noise maps random (as FID is measured), the same maps
// for every configuration of a batch (the generator reserves every layer's block of the stream, so a map
// does not depend on the configuration). Batch k's noise stream is keyed by (seed, k), so results do not
// depend on the order of the configurations.
//
// load_eval_generator reads a generator checkpoint or, for a training checkpoint (train/state.hpp), its g_ema.
// write_eval_json writes the report atomically.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anycost/eval/attribute_consistency.hpp"
#include "anycost/eval/classifier.hpp"
#include "anycost/eval/consistency.hpp"
#include "anycost/eval/frechet.hpp"
#include "anycost/io/atomic_write.hpp"
#include "anycost/io/batch_loader.hpp"
#include "anycost/io/image_folder.hpp"
#include "anycost/io/safetensors.hpp"
#include "anycost/models/checkpoint.hpp"
#include "anycost/models/generator.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace evaluation {

struct EvalConfig {
  double ratio = 1.0;
  int resolution = 0;  // output resolution; 0: the model's
};

struct EvalOptions {
  std::int64_t n = 2000;    // generated images per configuration
  std::int64_t batch = 16;  // images per forward pass
  std::uint64_t seed = 0;
  int latency_runs = 20;    // 0: no timing
};

struct EvalRow {
  double ratio = 1.0;
  int resolution = 0;
  std::string channels;  // SubnetConfig::describe()
  models::MacCount macs;
  double fd = 0;
  bool is_full = false;  // the reference itself: no PSNR / LPIPS
  double psnr = 0, mse = 0;
  double lpips = std::numeric_limits<double>::quiet_NaN();  // NaN without LPIPS weights
  double attribute_agreement = std::numeric_limits<double>::quiet_NaN();  // mean over labels; NaN: the reference
  std::vector<double> attribute_agreement_per_label;                       // in the classifier's label order
  double latency_ms = std::numeric_limits<double>::quiet_NaN();
};

struct RealFloor {
  int resolution = 0;
  double fd = 0;  // FD(half A, half B)
  std::int64_t n_a = 0, n_b = 0;
};

struct EvalReport {
  std::vector<EvalRow> rows;
  std::vector<RealFloor> floors;  // per resolution, descending
  std::vector<std::string> labels;  // the classifier's
  std::int64_t n = 0, n_real = 0, feature_dim = 0;
  int threads = 0;
  double seconds = 0;
};

struct EvalProgress {
  const char* phase = "";  // "real" or "generated"
  std::int64_t done = 0, total = 0;
  double seconds = 0;
};

// The configurations of a report: every ratio at the model's resolution, then full width at every other
// resolution of `resolutions` (descending); with `grid`, every ratio at every resolution.
inline std::vector<EvalConfig> eval_configs(const std::vector<double>& ratios, const std::vector<int>& resolutions,
                                            int model_resolution, bool grid) {
  std::vector<int> res = resolutions.empty() ? std::vector<int>{model_resolution} : resolutions;
  std::sort(res.begin(), res.end(), std::greater<>());
  res.erase(std::unique(res.begin(), res.end()), res.end());
  std::vector<double> rs = ratios.empty() ? std::vector<double>{1.0} : ratios;
  std::sort(rs.begin(), rs.end(), std::greater<>());
  rs.erase(std::unique(rs.begin(), rs.end()), rs.end());
  std::vector<EvalConfig> out;
  for (int r : res)
    for (double a : rs)
      if (grid || r == model_resolution || a == 1.0) out.push_back({a, r});
  for (int r : res)  // full width at a lower resolution even when 1 is not among the ratios
    if (!grid && r != model_resolution && std::find(rs.begin(), rs.end(), 1.0) == rs.end()) out.push_back({1.0, r});
  return out;
}

// A generator checkpoint, or the g_ema of a training checkpoint; `description` says which.
inline models::Generator load_eval_generator(const std::filesystem::path& path, std::string* description = nullptr) {
  const io::SafetensorsFile f = io::load_safetensors(path);
  if (!f.contains("g_ema.style.1.weight")) {
    if (description) *description = path.string();
    return models::generator_from_state(f.tensors, f.metadata, "generator checkpoint '" + path.string() + "'");
  }
  models::StateTensors st;
  const std::string prefix = "g_ema.";
  for (const auto& [k, t] : f.tensors)
    if (k.compare(0, prefix.size(), prefix) == 0) st.emplace(k.substr(prefix.size()), t);
  std::map<std::string, std::string> meta;
  if (f.metadata.count("lr_mlp")) meta["lr_mlp"] = f.metadata.at("lr_mlp");
  if (description) {
    std::ostringstream os;
    os << "g_ema of training checkpoint " << path.string();
    if (f.metadata.count("stage")) os << " (stage " << f.metadata.at("stage");
    if (f.metadata.count("iteration")) os << ", iteration " << f.metadata.at("iteration");
    if (f.metadata.count("stage")) os << ")";
    *description = os.str();
  }
  return models::generator_from_state(st, meta, "training checkpoint '" + path.string() + "' (g_ema)");
}

namespace detail {
inline double median(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}
}  // namespace detail

// Runs the report. `real` must hold every resolution of `configs` (in any position of its list).
inline EvalReport evaluate(const models::Generator& g, const Classifier& c, const io::ImageFolder& real,
                           const std::vector<EvalConfig>& configs, const EvalOptions& o,
                           const losses::Lpips* lpips = nullptr,
                           const std::function<void(const EvalProgress&)>& progress = {}) {
  ANYCOST_CHECK(!configs.empty(), ValueError, "evaluate: no configurations");
  ANYCOST_CHECK(o.n >= 2 && o.batch >= 1 && o.latency_runs >= 0, ValueError, "evaluate: n (", o.n,
                ") must be >= 2, batch (", o.batch, ") >= 1, latency_runs (", o.latency_runs, ") >= 0");
  NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const models::ChannelTable& table = g.channel_table();
  std::vector<models::SubnetConfig> subnets;
  std::map<int, std::size_t> res_slot;  // resolution -> position in real.resolutions()
  for (const EvalConfig& e : configs) {
    const int r = e.resolution ? e.resolution : g.resolution();
    subnets.push_back(table.uniform(e.ratio, r));  // validates ratio and resolution (ValueError)
    const auto& rr = real.resolutions();
    const auto it = std::find(rr.begin(), rr.end(), r);
    ANYCOST_CHECK(it != rr.end(), ValueError, "evaluate: the real image folder is not prepared at ", r, "x", r);
    res_slot[r] = static_cast<std::size_t>(it - rr.begin());
  }

  EvalReport rep;
  rep.n = o.n;
  rep.threads = get_num_threads();
  rep.feature_dim = c.feature_dim();
  rep.labels = c.labels();

  // ---- real features: all images, and two disjoint halves, per resolution ----
  const auto n_real = static_cast<std::int64_t>(real.size());
  ANYCOST_CHECK(n_real >= 4, ValueError, "evaluate: ", n_real, " real images, need at least 4");
  rep.n_real = n_real;
  const std::vector<std::uint32_t> perm = io::epoch_permutation(real.size(), o.seed, 0x7ea1ull);
  std::vector<std::uint8_t> half(real.size());
  for (std::size_t i = 0; i < perm.size(); ++i) half[perm[i]] = static_cast<std::uint8_t>(i % 2);
  std::map<int, FeatureStats> real_all, real_a, real_b;
  for (std::int64_t s = 0; s < n_real; s += o.batch) {
    const std::int64_t b = std::min(o.batch, n_real - s);
    std::map<int, std::vector<Tensor>> per_res;
    for (std::int64_t i = s; i < s + b; ++i) {
      const std::vector<Tensor> imgs = real.images(static_cast<std::size_t>(i));
      for (const auto& [r, slot] : res_slot) per_res[r].push_back(imgs[slot]);
    }
    for (auto& [r, list] : per_res) {
      std::vector<Var> vs;
      for (const Tensor& t : list) vs.emplace_back(t.reshape({1, 3, r, r}));
      const Tensor f = c.features(classifier_input(cat(vs, 0), c.resolution())).data();
      real_all[r].add(f);
      std::vector<std::int64_t> ia, ib;
      for (std::int64_t i = 0; i < b; ++i) (half[static_cast<std::size_t>(s + i)] ? ib : ia).push_back(i);
      for (std::int64_t i : ia) real_a[r].add(f.narrow(0, i, 1));
      for (std::int64_t i : ib) real_b[r].add(f.narrow(0, i, 1));
    }
    if (progress) progress({"real", s + b, n_real, seconds()});
  }
  for (auto it = res_slot.rbegin(); it != res_slot.rend(); ++it) {
    const int r = it->first;
    rep.floors.push_back({r, frechet_distance(real_a[r], real_b[r]), real_a[r].count(), real_b[r].count()});
  }

  // ---- generated images: the full reference once per batch, then every configuration ----
  const models::SubnetConfig full_cfg = table.full();
  const models::PreparedGenerator prepared = g.prepare();
  Rng z_rng(o.seed);
  const Tensor z = randn({o.n, g.style_dim()}, z_rng, g.dtype(), g.device());
  std::vector<FeatureStats> gen(configs.size());
  std::vector<ConsistencyMeter> meters(configs.size());
  std::vector<AttributeAgreement> attributes(configs.size());
  const auto run = [&](const Var& w, const models::SubnetConfig& cfg, std::int64_t batch_index) {
    Rng noise_rng(io::philox_u64(o.seed, static_cast<std::uint64_t>(batch_index), 0x6e6f697365ull));
    models::GenerateOptions go;
    go.input = models::LatentSpace::w;
    go.synthesis.noise = models::NoiseMode::random;
    go.synthesis.rng = &noise_rng;
    go.synthesis.prepared = &prepared;
    return g.generate(w, cfg, go).image;
  };
  for (std::int64_t s = 0, k = 0; s < o.n; s += o.batch, ++k) {
    const std::int64_t b = std::min(o.batch, o.n - s);
    const Var w = g.map(Var(z.narrow(0, s, b)));
    const Var full = run(w, full_cfg, k);
    const Var full_features = c.features(classifier_input(full, c.resolution()));
    const Tensor full_logits = c.logits(full_features).data();
    for (std::size_t i = 0; i < configs.size(); ++i) {
      const bool is_full = subnets[i] == full_cfg;
      const Var img = is_full ? full : run(w, subnets[i], k);
      const Var features = is_full ? full_features : c.features(classifier_input(img, c.resolution()));
      gen[i].add(features.data());
      if (!is_full) {
        meters[i].add(img, full, lpips);
        attributes[i].add(c.logits(features).data(), full_logits);
      }
    }
    if (progress) progress({"generated", s + b, o.n, seconds()});
  }

  // ---- rows, latency ----
  for (std::size_t i = 0; i < configs.size(); ++i) {
    EvalRow row;
    row.ratio = configs[i].ratio;
    row.resolution = subnets[i].resolution();
    row.channels = subnets[i].describe();
    row.macs = g.macs(subnets[i]);
    row.fd = frechet_distance(gen[i], real_all[row.resolution]);
    row.is_full = subnets[i] == full_cfg;
    if (!row.is_full) {
      row.psnr = meters[i].psnr();
      row.mse = meters[i].mse();
      if (meters[i].has_lpips()) row.lpips = meters[i].lpips();
      row.attribute_agreement = attributes[i].mean();
      row.attribute_agreement_per_label = attributes[i].per_attribute();
    }
    if (o.latency_runs > 0) {
      models::GenerateOptions go;
      go.synthesis.prepared = &prepared;
      Rng lat_rng(o.seed + 1);
      const Var z1(randn({1, g.style_dim()}, lat_rng, g.dtype(), g.device()));
      std::vector<double> ms;
      for (int t = 0; t < o.latency_runs + 2; ++t) {
        const auto t0 = std::chrono::steady_clock::now();
        const Var img = g.generate(z1, subnets[i], go).image;
        (void)img.data().to(Device::cpu());  // waits for a device
        const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (t >= 2) ms.push_back(dt);
      }
      row.latency_ms = detail::median(ms);
    }
    rep.rows.push_back(row);
  }
  rep.seconds = seconds();
  return rep;
}

namespace detail {
inline std::string fixed(double v, int digits) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(digits);
  os << v;
  return os.str();
}
// "1.234G" from 1e9 up, "123.4M" below.
inline std::string gmacs(std::int64_t m) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  const double v = static_cast<double>(m);
  if (v >= 1e9)
    os << std::setprecision(3) << v / 1e9 << "G";
  else
    os << std::setprecision(1) << v / 1e6 << "M";
  return os.str();
}
}  // namespace detail

// The report as a markdown table (one row per configuration) followed by the real/real floors.
inline std::string markdown_table(const EvalReport& r) {
  std::ostringstream os;
  os << "| ratio | res | channels | MACs (paper) | MACs (true) | FD | PSNR vs full (dB) | LPIPS vs full | "
        "attributes kept | ms/image |\n";
  os << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const EvalRow& row : r.rows) {
    const std::string ch = row.channels.substr(0, row.channels.find(" @"));
    os << "| " << detail::fixed(row.ratio, 2) << " | " << row.resolution << " | " << ch << " | "
       << detail::gmacs(row.macs.profile) << " | " << detail::gmacs(row.macs.arithmetic) << " | "
       << detail::fixed(row.fd, 3) << " | " << (row.is_full ? "(reference)" : detail::fixed(row.psnr, 2)) << " | "
       << (row.is_full ? "(reference)" : detail::fixed(row.lpips, 4)) << " | "
       << (row.is_full ? "(reference)" : detail::fixed(100 * row.attribute_agreement, 1) + "%") << " | "
       << detail::fixed(row.latency_ms, 2)
       << " |\n";
  }
  os << "\nReal/real floor (FD between two disjoint halves of the " << r.n_real << " real images):";
  for (const RealFloor& f : r.floors) os << " " << f.resolution << ": " << detail::fixed(f.fd, 3) << ";";
  os << "\n";
  return os.str();
}

inline nlohmann::json report_json(const EvalReport& r, const std::map<std::string, std::string>& info = {}) {
  using Json = nlohmann::json;
  const auto num = [](double v) -> Json { return std::isfinite(v) ? Json(v) : Json(nullptr); };
  Json j = Json::object();
  for (const auto& [k, v] : info) j[k] = v;
  j["n_generated"] = r.n;
  j["n_real"] = r.n_real;
  j["feature_dim"] = r.feature_dim;
  j["threads"] = r.threads;
  j["seconds"] = r.seconds;
  j["configurations"] = Json::array();
  for (const EvalRow& row : r.rows) {
    Json e = {{"ratio", row.ratio},
              {"resolution", row.resolution},
              {"channels", row.channels},
              {"macs_paper", row.macs.profile},
              {"macs_true", row.macs.arithmetic},
              {"fd", num(row.fd)},
              {"reference", row.is_full},
              {"psnr_db", row.is_full ? Json(nullptr) : num(row.psnr)},
              {"mse", row.is_full ? Json(nullptr) : num(row.mse)},
              {"lpips", num(row.lpips)},
              {"attribute_agreement", row.is_full ? Json(nullptr) : num(row.attribute_agreement)},
              {"latency_ms", num(row.latency_ms)}};
    if (!row.is_full) {
      Json per = Json::object();
      for (std::size_t k = 0; k < row.attribute_agreement_per_label.size() && k < r.labels.size(); ++k)
        per[r.labels[k]] = num(row.attribute_agreement_per_label[k]);
      e["attribute_agreement_per_label"] = per;
    }
    j["configurations"].push_back(e);
  }
  j["real_floor"] = Json::array();
  for (const RealFloor& f : r.floors)
    j["real_floor"].push_back({{"resolution", f.resolution}, {"fd", num(f.fd)}, {"n_a", f.n_a}, {"n_b", f.n_b}});
  return j;
}

// Writes report_json(r, info) to `path` (atomically; indented).
inline void write_eval_json(const std::filesystem::path& path, const EvalReport& r,
                            const std::map<std::string, std::string>& info = {}) {
  const std::string text = report_json(r, info).dump(2) + "\n";
  io::write_atomically(path, "write_eval_json", [&](std::ostream& os) { os << text; });
}

}  // namespace evaluation
ANYCOST_NAMESPACE_END
