// The model side of `anycost studio`: one generator shared read-only by every client (with its prepared
// inference constants), the edit directions, the optional projection encoder, and the rendering of a latent
// with edits on any sub-network — picked by channel ratio and resolution, or by a latency budget from the
// search's per-layer latency table (timed on this machine the first time a budget is asked for).
//
// Nothing here knows about HTTP or sessions; every render runs on a RenderPool worker.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <anycost/anycost.hpp>
#include <anycost/editing/edit.hpp>
#include <anycost/eval/consistency.hpp>
#include <anycost/io/safetensors.hpp>
#include <anycost/models.hpp>
#include <anycost/search.hpp>

namespace anycost_studio {

using namespace anycost;

struct StudioOptions {
  int workers = 1;                  // render threads ...
  int threads = 1;                  // ... each with this many CPU threads
  std::size_t max_queue = 32;       // renders waiting before requests get 503
  std::size_t max_upload_bytes = std::size_t{8} << 20;
  std::int64_t max_upload_pixels = std::int64_t{1} << 24;  // 4096 x 4096
  int projection_steps = 50;        // L-BFGS iterations after the encoder's guess
  double projection_sub_weight = 1; // the consistency-aware term: the ratio-0.25 preview fits the image too
  int max_projections = 1;          // running at once, all clients together
  double truncation = 0.7;          // seeds are drawn toward the mean w, as the official demo does
  double slider_range = 5;          // strengths in [-range, range] (directions are unit vectors in W)
  std::size_t max_sessions = 64;
};

// What the client asked to preview with: a ratio and a resolution, or a latency budget.
struct PreviewConfig {
  double ratio = 0.25;
  int resolution = 0;                 // 0: the generator's
  std::optional<double> budget_ms;    // set: pick by predicted latency instead
};

struct Render {
  Tensor image;  // [3, r, r], clamped to [-1, 1]
  double ms = 0;
  models::SubnetConfig cfg;
  std::int64_t macs = 0;
  std::optional<double> predicted_ms;  // budget requests: the latency table's prediction
};

class Studio {
 public:
  Studio(models::Generator g, std::string model_text, std::map<std::string, std::vector<double>> directions,
         std::optional<models::Encoder> encoder, StudioOptions o)
      : g_(std::move(g)),
        model_text_(std::move(model_text)),
        directions_(std::move(directions)),
        encoder_(std::move(encoder)),
        o_(o),
        prepared_(g_.prepare()) {
    for (const auto& [name, d] : directions_)
      ANYCOST_CHECK(static_cast<std::int64_t>(d.size()) == g_.style_dim(), ShapeError, "studio: direction '", name,
                    "' has ", d.size(), " values, the model's w has ", g_.style_dim());
    ANYCOST_CHECK(!encoder_ || (encoder_->n_style() == g_.n_style() && encoder_->style_dim() == g_.style_dim()),
                  ShapeError, "studio: the encoder predicts W+ ", encoder_->n_style(), "x", encoder_->style_dim(),
                  ", the generator takes ", g_.n_style(), "x", g_.style_dim());
    NoGradGuard no_grad;
    Rng rng(0);
    mean_w_ = g_.mean_w(4096, rng).data();
  }

  const models::Generator& generator() const { return g_; }
  const StudioOptions& options() const { return o_; }
  const std::map<std::string, std::vector<double>>& directions() const { return directions_; }
  const std::optional<models::Encoder>& encoder() const { return encoder_; }
  const Tensor& mean_w() const { return mean_w_; }
  // Names the generator in saved histories: a history loads only into the same architecture.
  std::string model_key() const { return search::model_key(g_); }

  std::vector<double> ratios() const { return {1.0, 0.75, 0.5, 0.25}; }
  std::vector<int> resolutions() const {
    std::vector<int> r;
    for (int s = std::min(8, g_.resolution()); s <= g_.resolution(); s *= 2) r.push_back(s);
    return r;
  }

  std::int64_t macs(const models::SubnetConfig& cfg) const {
    return models::count_macs(g_.channel_table(), g_.style_dim(), g_.config().n_mlp, cfg).profile;
  }

  nlohmann::json info() const {
    nlohmann::json dirs = nlohmann::json::array();
    for (const auto& [name, d] : directions_)
      dirs.push_back({{"name", name}, {"min", -o_.slider_range}, {"max", o_.slider_range}});
    return {{"model", model_text_},
            {"resolution", g_.resolution()},
            {"style_dim", g_.style_dim()},
            {"n_style", g_.n_style()},
            {"ratios", ratios()},
            {"resolutions", resolutions()},
            {"directions", dirs},
            {"encoder", encoder_.has_value()},
            {"max_upload_bytes", o_.max_upload_bytes},
            {"max_upload_pixels", o_.max_upload_pixels},
            {"full", {{"macs", macs(g_.channel_table().full())}}},
            {"projection_steps", o_.projection_steps},
            {"default_preview", {{"ratio", 0.25}, {"resolution", g_.resolution()}}}};
  }

  // The latent of a seed: z ~ N(0, 1) from Rng(seed), mapped, truncated toward the mean w; W+ [1, n, d].
  Tensor seed_latent(std::uint64_t seed) const {
    NoGradGuard no_grad;
    Rng rng(seed);
    const Var z(randn({1, g_.style_dim()}, rng, g_.dtype(), g_.device()));
    Var w = g_.map(z);
    if (o_.truncation != 1.0) w = models::Generator::truncate(w, Var(mean_w_), o_.truncation);
    return g_.broadcast_styles(w).data().contiguous();
  }

  // W+ moved along the named directions (every row, as the official demo does).
  Tensor apply(const Tensor& base, const std::map<std::string, double>& edits) const {
    std::vector<editing::Edit> e;
    for (const auto& [name, strength] : edits) e.push_back({directions_.at(name), strength});
    return e.empty() ? base : editing::apply_edits(base, e);
  }

  // Checks edits from a client: known names, finite strengths within the slider range.
  void check_edits(const std::map<std::string, double>& edits) const {
    for (const auto& [name, strength] : edits) {
      ANYCOST_CHECK(directions_.count(name), ValueError, "no direction named '", name, "'");
      ANYCOST_CHECK(std::isfinite(strength) && std::abs(strength) <= o_.slider_range, ValueError, "the strength of '",
                    name, "' must be within +-", o_.slider_range, ", not ", strength);
    }
  }

  // The sub-network for a preview request. A budget picks, among every ratio x resolution, the one with the
  // most MACs whose predicted latency fits (the cheapest when none does); must run on a render worker, whose
  // thread count the latency table is timed with.
  models::SubnetConfig resolve(const PreviewConfig& p, std::optional<double>* predicted = nullptr) const {
    const models::ChannelTable& table = g_.channel_table();
    if (!p.budget_ms) {
      const std::vector<double> rs = ratios();
      ANYCOST_CHECK(std::find(rs.begin(), rs.end(), p.ratio) != rs.end(), ValueError, "ratio ", p.ratio,
                    " is not one of 1, 0.75, 0.5, 0.25");
      const int res = p.resolution == 0 ? g_.resolution() : p.resolution;
      const std::vector<int> ok = resolutions();
      ANYCOST_CHECK(std::find(ok.begin(), ok.end(), res) != ok.end(), ValueError, "resolution ", res,
                    " is not one the model renders");
      return table.uniform(p.ratio, res);
    }
    const double budget = *p.budget_ms;
    ANYCOST_CHECK(std::isfinite(budget) && budget > 0 && budget <= 1e6, ValueError, "budget_ms must be a positive "
                  "number of milliseconds, not ", budget);
    std::lock_guard lock(latency_mutex_);
    if (!latency_) time_candidates();
    const models::SubnetConfig* best = nullptr;
    const models::SubnetConfig* cheapest = nullptr;
    for (const models::SubnetConfig& c : candidates_) {
      const double ms = latency_->predict(c);
      if (!cheapest || ms < latency_->predict(*cheapest)) cheapest = &c;
      if (ms <= budget && (!best || macs(c) > macs(*best))) best = &c;
    }
    const models::SubnetConfig& pick = best ? *best : *cheapest;
    if (predicted) *predicted = latency_->predict(pick);
    return pick;
  }

  // Renders W+ [1, n, d] on cfg; the time is the synthesis alone, as a client would see it.
  Render render(const Tensor& wplus, const models::SubnetConfig& cfg) const {
    NoGradGuard no_grad;
    models::SynthesisOptions so;
    so.prepared = &prepared_;
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor img = g_.synthesize(Var(wplus), cfg, so).image.data();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return Render{Var(clamp(Var(img.select(0, 0)), -1.0, 1.0)).data().contiguous(), ms, cfg, macs(cfg), std::nullopt};
  }

  models::SubnetConfig full() const { return g_.channel_table().full(); }

 private:
  void time_candidates() const {
    const models::ChannelTable& table = g_.channel_table();
    for (double ratio : ratios())
      for (int res : resolutions()) candidates_.push_back(table.uniform(ratio, res));
    timer_ = std::make_unique<search::GeneratorTimer>(g_, 1, 9);
    latency_.emplace(timer_->key());
    timer_->fill(*latency_, candidates_);
    timer_->calibrate(*latency_, {table.full(), table.uniform(0.5), table.uniform(0.25),
                                  table.uniform(0.25, resolutions().front())});
  }

  models::Generator g_;
  std::string model_text_;
  std::map<std::string, std::vector<double>> directions_;
  std::optional<models::Encoder> encoder_;
  StudioOptions o_;
  models::PreparedGenerator prepared_;
  Tensor mean_w_;
  mutable std::mutex latency_mutex_;
  mutable std::unique_ptr<search::GeneratorTimer> timer_;
  mutable std::optional<search::LatencyTable> latency_;
  mutable std::vector<models::SubnetConfig> candidates_;
};

// Every tensor of a directions file (anycost directions) as name -> unit direction in W.
inline std::map<std::string, std::vector<double>> load_directions(const std::filesystem::path& path, std::int64_t style_dim) {
  const io::SafetensorsFile f = io::load_safetensors(path);
  std::map<std::string, std::vector<double>> out;
  for (const auto& [name, t] : f.tensors) {
    ANYCOST_CHECK(t.numel() == style_dim, ShapeError, "directions '", path.string(), "': '", name, "' has ", t.numel(),
                  " values, the model's w has ", style_dim);
    std::vector<double> d = t.to_vector<double>();
    for (double v : d)
      ANYCOST_CHECK(std::isfinite(v), ValueError, "directions '", path.string(), "': '", name, "' holds NaN or Inf");
    out.emplace(name, std::move(d));
  }
  return out;
}

// ---- image helpers ------------------------------------------------------------------------------------------

// Two [3, H, W] images, as anycost eval measures them; identical images give a finite (JSON-safe) 206 dB.
inline double psnr(const Tensor& a, const Tensor& b) {
  const double mse = evaluation::per_image_mse(Var(a.unsqueeze(0)), Var(b.unsqueeze(0)))[0];
  return evaluation::psnr_from_mse(std::max(mse, 1e-20));
}

inline std::string base64(const std::vector<unsigned char>& bytes) {
  static constexpr char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{bytes[i]} << 16) | (i + 1 < bytes.size() ? bytes[i + 1] << 8 : 0) |
                            (i + 2 < bytes.size() ? bytes[i + 2] : 0);
    out += abc[(n >> 18) & 63];
    out += abc[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? abc[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? abc[n & 63] : '=';
  }
  return out;
}

inline std::string png_data_url(const Tensor& image) { return "data:image/png;base64," + base64(io::encode_png(image)); }

}  // namespace anycost_studio
