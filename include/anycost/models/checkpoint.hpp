// Generator checkpoints in safetensors, under the official PyTorch state_dict keys (the g_ema keys), so an
// official g_ema converts by a plain key-preserving dump (tools/convert_checkpoint.py).
//
// The architecture is read from the names and shapes, never from metadata:
//   n_mlp       the number of style.<i>.weight keys (i = 1, 2, ...), style_dim = style.1.weight.size(1)
//   resolution  4 << (the number of to_rgbs.<b> layers)
//   widths      C(4) = input.input.size(1), C(2^(b+3)) = convs.<2b>.conv.weight.size(1)
// Optional metadata: "lr_mlp" (the mapping's learning-rate multiplier, which scales its weights at run time;
// 0.01, the reference value, when absent). save_generator writes it together with a description.
//
// Loading checks everything and names the problem: a missing key (the blur kernels `*.blur.kernel` and
// `*.upsample.kernel` excepted, they are constants and are regenerated), an unexpected key, a shape that
// does not match the inferred architecture, a dtype other than float32 (F16/BF16 files arrive as float32),
// tensors on different devices.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "anycost/io/safetensors.hpp"
#include "anycost/models/generator.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

using StateTensors = std::map<std::string, Tensor>;

namespace detail {
inline const Tensor& state_at(const StateTensors& st, const std::string& key, const std::string& source) {
  const auto it = st.find(key);
  ANYCOST_CHECK(it != st.end(), FormatError, source, ": not an anycost generator checkpoint: no tensor '", key, "'");
  return it->second;
}
inline bool is_constant_kernel(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends_with(".blur.kernel") || ends_with(".upsample.kernel");
}
inline std::string key_list(const std::vector<std::string>& keys) {
  std::ostringstream os;
  for (std::size_t i = 0; i < keys.size() && i < 6; ++i) os << (i ? ", " : "") << "'" << keys[i] << "'";
  if (keys.size() > 6) os << ", ... (" << keys.size() << " in all)";
  return os.str();
}
}  // namespace detail

// The generator architecture a state dict describes.
inline GeneratorConfig infer_generator_config(const StateTensors& st, const std::map<std::string, std::string>& metadata = {},
                                              const std::string& source = "state dict") {
  GeneratorConfig cfg;
  const Tensor& s1 = detail::state_at(st, "style.1.weight", source);
  ANYCOST_CHECK(s1.dim() == 2 && s1.size(0) == s1.size(1), FormatError, source, ": 'style.1.weight' has shape ",
                s1.shape(), ", expected [style_dim, style_dim]");
  cfg.style_dim = static_cast<int>(s1.size(1));
  cfg.n_mlp = 0;
  while (st.count("style." + std::to_string(cfg.n_mlp + 1) + ".weight")) ++cfg.n_mlp;
  int blocks = 0;
  while (st.count("to_rgbs." + std::to_string(blocks) + ".conv.weight")) ++blocks;
  ANYCOST_CHECK(blocks >= 1, FormatError, source, ": no 'to_rgbs.0.conv.weight': a generator needs at least one ",
                "block above 4x4");
  cfg.resolution = 4 << blocks;
  const Tensor& in = detail::state_at(st, "input.input", source);
  ANYCOST_CHECK(in.dim() == 4 && in.size(0) == 1 && in.size(2) == 4 && in.size(3) == 4 && in.size(1) >= 1, FormatError,
                source, ": 'input.input' has shape ", in.shape(), ", expected [1, C, 4, 4]");
  cfg.channels = {static_cast<int>(in.size(1))};
  for (int b = 0; b < blocks; ++b) {
    const std::string key = "convs." + std::to_string(2 * b) + ".conv.weight";
    const Tensor& w = detail::state_at(st, key, source);
    ANYCOST_CHECK(w.dim() == 5 && w.size(0) == 1 && w.size(1) >= 1, FormatError, source, ": '", key,
                  "' has shape ", w.shape(), ", expected [1, C_out, C_in, 3, 3]");
    cfg.channels.push_back(static_cast<int>(w.size(1)));
  }
  if (const auto it = metadata.find("lr_mlp"); it != metadata.end()) {
    std::istringstream is(it->second);
    double v = 0;
    ANYCOST_CHECK((is >> v) && v > 0, FormatError, source, ": metadata lr_mlp '", it->second,
                  "' is not a positive number");
    cfg.lr_mlp = v;
  }
  return cfg;
}

// A generator holding exactly the tensors of `st` (parameters alias them; nothing is copied), which must
// all be on one device.
inline Generator generator_from_state(const StateTensors& st, const std::map<std::string, std::string>& metadata = {},
                                      const std::string& source = "state dict") {
  const GeneratorConfig cfg = infer_generator_config(st, metadata, source);
  Generator g(cfg, nn::Init::none(), DType::float32);
  std::set<std::string> used;
  std::vector<std::string> missing;
  g.visit_state([&](const std::string& name, auto& x) {
    const auto it = st.find(name);
    if (it == st.end()) {
      if (!detail::is_constant_kernel(name)) missing.push_back(name);
      return;
    }
    used.insert(name);
    const Tensor& t = it->second;
    const Shape expected = x.shape();
    ANYCOST_CHECK(t.shape() == expected, ShapeError, source, ": tensor '", name, "' has shape ", t.shape(),
                  ", the ", cfg.resolution, "x", cfg.resolution, " generator it describes needs ", expected);
    ANYCOST_CHECK(t.dtype() == DType::float32, FormatError, source, ": tensor '", name, "' is ", t.dtype(),
                  ", expected float32 (convert the checkpoint to float32)");
    ANYCOST_CHECK(t.device() == st.begin()->second.device(), DeviceError, source, ": tensor '", name, "' is on ",
                  t.device(), ", tensor '", st.begin()->first, "' on ", st.begin()->second.device());
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>)
      x = Var(t, true);
    else
      x = t;
  });
  ANYCOST_CHECK(missing.empty(), FormatError, source, ": missing ", missing.size(), " tensor",
                missing.size() == 1 ? "" : "s", " of the ", cfg.resolution, "x", cfg.resolution, " generator: ",
                detail::key_list(missing));
  std::vector<std::string> unexpected;
  for (const auto& kv : st)
    if (!used.count(kv.first)) unexpected.push_back(kv.first);
  ANYCOST_CHECK(unexpected.empty(), FormatError, source, ": ", unexpected.size(), " unexpected tensor",
                unexpected.size() == 1 ? "" : "s", " for a ", cfg.resolution, "x", cfg.resolution, " generator: ",
                detail::key_list(unexpected));
  return g;
}

// Loads a generator checkpoint (safetensors) onto the CPU.
inline Generator load_generator(const std::filesystem::path& path) {
  const io::SafetensorsFile f = io::load_safetensors(path);
  return generator_from_state(f.tensors, f.metadata, "generator checkpoint '" + path.string() + "'");
}

// The generator's tensors in reference state_dict order (parameters and buffers, live tensors).
inline std::vector<std::pair<std::string, Tensor>> generator_state(const Generator& g) {
  std::vector<std::pair<std::string, Tensor>> out;
  g.visit_state([&](const std::string& name, const auto& x) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>)
      out.emplace_back(name, x.data());
    else
      out.emplace_back(name, x);
  });
  return out;
}

// Writes g as safetensors (atomically), with lr_mlp and a description in the metadata.
inline void save_generator(const std::filesystem::path& path, const Generator& g,
                           std::map<std::string, std::string> metadata = {}) {
  const GeneratorConfig& c = g.config();
  std::ostringstream lr;
  lr.precision(17);
  lr << c.lr_mlp;
  metadata.emplace("format", "anycost-generator");
  metadata.emplace("lr_mlp", lr.str());
  metadata.emplace("resolution", std::to_string(c.resolution));
  metadata.emplace("style_dim", std::to_string(c.style_dim));
  metadata.emplace("n_mlp", std::to_string(c.n_mlp));
  io::save_safetensors(path, generator_state(g), metadata);
}

}  // namespace models
ANYCOST_NAMESPACE_END
