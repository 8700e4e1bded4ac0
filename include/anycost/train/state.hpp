// TrainState: everything a training run needs to continue exactly where it stopped, and its checkpoint file.
//
// One safetensors file per checkpoint, tensors under prefixes: "g.", "g_ema.", "d.", "teacher." (stages 2-3;
// the frozen generator the consistency loss distils from), "g_optim." and "d_optim." (Adam's exp_avg,
// exp_avg_sq and step per parameter), and "mean_path_length" (float64). Metadata: the format tag, the run's
// JSON config, the stage the models are in, the iteration count, the data position (epoch, index), the
// iterations skipped after a non-finite value, and lr_mlp. Random state needs no entry: every random
// decision of iteration i is drawn from a stream keyed by (seed, i) (train/steps.hpp).
//
// Writing is atomic (temporary file, fsync, rename; io::save_safetensors) and refuses a state holding a
// non-finite number, so a checkpoint on disk is always a good one. Loading checks the format and names what
// is wrong (FormatError, which a resumed run takes as "skip this checkpoint"): a truncated or corrupt file
// (the safetensors reader), a non-finite tensor, metadata that is not what save_train_state writes, a
// stored config beyond the limits of a config file.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "anycost/autograd/grad_mode.hpp"
#include "anycost/core/finite.hpp"
#include "anycost/io/bounded_json.hpp"
#include "anycost/io/batch_loader.hpp"
#include "anycost/io/safetensors.hpp"
#include "anycost/models/checkpoint.hpp"
#include "anycost/models/discriminator_checkpoint.hpp"
#include "anycost/models/state_io.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/optim/adam.hpp"
#include "anycost/optim/ema.hpp"
#include "anycost/train/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace train {

struct TrainState {
  int stage = 0;               // the stage the models are set up for (1..3)
  std::int64_t iteration = 0;  // iterations done (skipped ones included)
  io::DataPosition data = {};
  double mean_path_length = 0.0;
  std::vector<std::int64_t> skipped = {};  // iterations whose batch was skipped after a non-finite value
  models::Generator g, g_ema, teacher;     // teacher: no blocks when there is none
  models::Discriminator d;
  std::optional<optim::Adam> g_optim, d_optim;
  std::optional<optim::Ema> ema;  // g_ema <- average of g

  bool has_teacher() const { return !teacher.blocks.empty(); }
  bool is_skipped(std::int64_t it) const { return std::binary_search(skipped.begin(), skipped.end(), it); }

  // Fresh optimisers and average for the current models (a new stage starts them afresh, as the official
  // stage scripts do). The average is not reset: g_ema keeps its weights.
  void make_optimisers(const TrainConfig& c) {
    const optim::AdamOptions o = c.adam;
    g_optim.emplace(optim::named_parameters(g), c.lazy_regularization ? o.lazy_regularized(c.pl_interval) : o);
    d_optim.emplace(optim::named_parameters(d), c.lazy_regularization ? o.lazy_regularized(c.r1_interval) : o);
    std::vector<Tensor> keep;
    for (const optim::NamedParameter& p : optim::named_parameters(g_ema)) keep.push_back(p.var.data().clone());
    ema.emplace(optim::named_parameters(g), optim::named_parameters(g_ema), c.ema_beta());
    const optim::NamedParameters avg = optim::named_parameters(g_ema);
    for (std::size_t i = 0; i < avg.size(); ++i) avg[i].var.data().copy_(keep[i]);
  }
};

namespace detail {

inline bool all_finite(const Tensor& t) {
  NoGradGuard no_grad;
  return std::isfinite(sum(Var(t.to(DType::float64))).item());
}

template <class Module>
void add_state(optim::StateDict& sd, const std::string& prefix, const Module& m) {
  for (const auto& [name, t] : models::module_state(m)) sd.emplace_back(prefix + name, t);
}
inline void add_dict(optim::StateDict& sd, const std::string& prefix, const optim::StateDict& from) {
  for (const auto& [k, t] : from) sd.emplace_back(prefix + k, t);
}

// The tensors under `prefix`, prefix removed, as independent (writable) copies.
inline models::StateTensors take(const io::SafetensorsFile& f, const std::string& prefix) {
  models::StateTensors out;
  for (const auto& [k, t] : f.tensors)
    if (k.compare(0, prefix.size(), prefix) == 0) out.emplace(k.substr(prefix.size()), t.clone());
  return out;
}
inline optim::StateDict take_dict(const io::SafetensorsFile& f, const std::string& prefix) {
  optim::StateDict out;
  for (const auto& [k, t] : take(f, prefix)) out.emplace_back(k, t);
  return out;
}

// The optimiser state under `prefix`; FormatError when a value is not finite (the models are checked by
// models::load_module_state): save_train_state never writes one, so the file is corrupt.
inline optim::StateDict take_finite_dict(const io::SafetensorsFile& f, const std::string& prefix, const std::string& src) {
  optim::StateDict out = take_dict(f, prefix);
  for (const auto& [k, t] : out)
    if (const auto bad = non_finite_value(t))
      ::anycost::detail::raise<FormatError>(src, ": tensor '", prefix, k, "' holds ", *bad);
  return out;
}

inline std::int64_t meta_int(const io::SafetensorsFile& f, const std::string& key) {
  const auto it = f.metadata.find(key);
  ANYCOST_CHECK(it != f.metadata.end(), FormatError, "training checkpoint '", f.path.string(),
                "': no metadata '", key, "'");
  std::istringstream is(it->second);
  std::int64_t v = -1;
  ANYCOST_CHECK((is >> v) && is.eof() && v >= 0, FormatError, "training checkpoint '", f.path.string(),
                "': metadata ", key, " = '", it->second, "' is not a non-negative integer");
  return v;
}

// A comma-separated list of non-negative integers ("" is the empty list).
inline std::vector<std::int64_t> meta_int_list(const io::SafetensorsFile& f, const std::string& key) {
  const auto it = f.metadata.find(key);
  ANYCOST_CHECK(it != f.metadata.end(), FormatError, "training checkpoint '", f.path.string(),
                "': no metadata '", key, "'");
  std::vector<std::int64_t> out;
  std::istringstream is(it->second);
  for (std::string item; !it->second.empty() && std::getline(is, item, ',');) {
    std::istringstream one(item);
    std::int64_t v = -1;
    ANYCOST_CHECK((one >> v) && one.eof() && v >= 0, FormatError, "training checkpoint '", f.path.string(),
                  "': metadata ", key, " = '", it->second, "' is not a list of non-negative integers");
    out.push_back(v);
  }
  return out;
}

}  // namespace detail

// Writes the state (atomically). Throws ValueError, writing nothing, when any tensor is not finite.
inline void save_train_state(const std::filesystem::path& path, const TrainState& s, const TrainConfig& c) {
  optim::StateDict sd;
  detail::add_state(sd, "g.", s.g);
  detail::add_state(sd, "g_ema.", s.g_ema);
  detail::add_state(sd, "d.", s.d);
  if (s.has_teacher()) detail::add_state(sd, "teacher.", s.teacher);
  detail::add_dict(sd, "g_optim.", s.g_optim->state_dict());
  detail::add_dict(sd, "d_optim.", s.d_optim->state_dict());
  sd.emplace_back("mean_path_length", Tensor::scalar(s.mean_path_length, DType::float64));
  for (const auto& [name, t] : sd)
    ANYCOST_CHECK(detail::all_finite(t), ValueError, "training checkpoint: tensor '", name,
                  "' holds a non-finite value; not writing '", path.string(), "'");
  std::ostringstream skipped, lr;
  for (std::size_t i = 0; i < s.skipped.size(); ++i) skipped << (i ? "," : "") << s.skipped[i];
  lr.precision(17);
  lr << c.generator.lr_mlp;
  std::map<std::string, std::string> meta{{"format", "anycost-train"},
                                          {"config", c.source.dump()},
                                          {"stage", std::to_string(s.stage)},
                                          {"iteration", std::to_string(s.iteration)},
                                          {"data_epoch", std::to_string(s.data.epoch)},
                                          {"data_index", std::to_string(s.data.index)},
                                          {"skipped", skipped.str()},
                                          {"lr_mlp", lr.str()}};
  io::save_safetensors(path, sd, meta);
}

// The JSON config stored in a checkpoint (to compare with the one a resumed run is given). It is parsed
// within the limits of a config file (train_config_limits: 1 MiB, depth 8), since the checkpoint may come
// from anyone: a FormatError names the checkpoint and the limit.
inline nlohmann::json stored_config(const io::SafetensorsFile& f) {
  const auto it = f.metadata.find("config");
  ANYCOST_CHECK(f.metadata.count("format") && f.metadata.at("format") == "anycost-train" && it != f.metadata.end(),
                FormatError, "'", f.path.string(), "' is not an anycost training checkpoint (format '",
                f.metadata.count("format") ? f.metadata.at("format") : "", "')");
  return io::parse_json_bounded<FormatError>(it->second, train_config_limits,
                                             "training checkpoint '" + f.path.string() + "': stored config");
}

// Loads a state written by save_train_state, with the optimisers set up for `c` (models on the CPU, float32).
inline TrainState load_train_state(const std::filesystem::path& path, const TrainConfig& c) {
  const io::SafetensorsFile f = io::load_safetensors(path);
  (void)stored_config(f);
  const std::string src = "training checkpoint '" + path.string() + "'";
  TrainState s;
  s.stage = static_cast<int>(detail::meta_int(f, "stage"));
  ANYCOST_CHECK(s.stage >= 1 && s.stage <= 3, FormatError, src, ": stage ", s.stage, " is not 1, 2 or 3");
  s.iteration = detail::meta_int(f, "iteration");
  s.data.epoch = static_cast<std::uint64_t>(detail::meta_int(f, "data_epoch"));
  s.data.index = static_cast<std::uint64_t>(detail::meta_int(f, "data_index"));
  s.skipped = detail::meta_int_list(f, "skipped");
  const std::map<std::string, std::string> g_meta{{"lr_mlp", f.metadata.count("lr_mlp") ? f.metadata.at("lr_mlp") : "0.01"}};
  s.g = models::generator_from_state(detail::take(f, "g."), g_meta, src + " (g)");
  s.g_ema = models::generator_from_state(detail::take(f, "g_ema."), g_meta, src + " (g_ema)");
  s.d = models::discriminator_from_state(detail::take(f, "d."), src + " (d)");
  if (f.contains("teacher.input.input"))
    s.teacher = models::generator_from_state(detail::take(f, "teacher."), g_meta, src + " (teacher)");
  s.mean_path_length = f.at("mean_path_length").item();
  ANYCOST_CHECK(std::isfinite(s.mean_path_length), FormatError, src, ": mean_path_length is ", s.mean_path_length);
  s.make_optimisers(c);
  s.g_optim->load_state_dict(detail::take_finite_dict(f, "g_optim.", src));
  s.d_optim->load_state_dict(detail::take_finite_dict(f, "d_optim.", src));
  return s;
}

// One generator of a training checkpoint, `which` being "g_ema", "g" or "teacher" (stages 2 and 3), without
// setting up the rest of the state: what `anycost export` ships from a run.
inline models::Generator load_train_generator(const std::filesystem::path& path, const std::string& which) {
  const io::SafetensorsFile f = io::load_safetensors(path);
  (void)stored_config(f);
  const std::string src = "training checkpoint '" + path.string() + "'";
  ANYCOST_CHECK(which == "g_ema" || which == "g" || which == "teacher", ValueError, src, ": no generator '", which,
                "' (g_ema, g or teacher)");
  ANYCOST_CHECK(f.contains(which + ".input.input"), FormatError, src, " holds no ", which,
                which == "teacher" ? " (a stage-1 checkpoint has no teacher)" : "");
  const std::map<std::string, std::string> g_meta{{"lr_mlp", f.metadata.count("lr_mlp") ? f.metadata.at("lr_mlp") : "0.01"}};
  return models::generator_from_state(detail::take(f, which + "."), g_meta, src + " (" + which + ")");
}

// Checkpoint files of a run folder: <dir>/ckpt-<iteration, 9 digits>.safetensors, oldest first.
inline std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  if (!std::filesystem::is_directory(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (e.is_regular_file() && n.size() == 5 + 9 + 12 && n.compare(0, 5, "ckpt-") == 0 &&
        n.compare(14, 12, ".safetensors") == 0)
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::filesystem::path checkpoint_path(const std::filesystem::path& dir, std::int64_t iteration) {
  std::string n = std::to_string(iteration);
  return dir / ("ckpt-" + std::string(n.size() < 9 ? 9 - n.size() : 0, '0') + n + ".safetensors");
}

// Removes all but the newest `keep` checkpoints.
inline void prune_checkpoints(const std::filesystem::path& dir, int keep) {
  std::vector<std::filesystem::path> all = list_checkpoints(dir);
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < all.size(); ++i) std::filesystem::remove(all[i]);
}

}  // namespace train
ANYCOST_NAMESPACE_END
