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
// a NaN or infinite value (models/state_io.hpp), tensors on different devices.
#pragma once

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "anycost/io/safetensors.hpp"
#include "anycost/models/generator.hpp"
#include "anycost/models/state_io.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

namespace detail {
inline bool is_constant_kernel(const std::string& name) {
  return ends_with(name, ".blur.kernel") || ends_with(name, ".upsample.kernel");
}
}  // namespace detail

// The generator architecture a state dict describes.
inline GeneratorConfig infer_generator_config(const StateTensors& st, const std::map<std::string, std::string>& metadata = {},
                                              const std::string& source = "state dict") {
  GeneratorConfig cfg;
  const Tensor& s1 = detail::state_at(st, "style.1.weight", source, "generator");
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
  const Tensor& in = detail::state_at(st, "input.input", source, "generator");
  ANYCOST_CHECK(in.dim() == 4 && in.size(0) == 1 && in.size(2) == 4 && in.size(3) == 4 && in.size(1) >= 1, FormatError,
                source, ": 'input.input' has shape ", in.shape(), ", expected [1, C, 4, 4]");
  cfg.channels = {static_cast<int>(in.size(1))};
  for (int b = 0; b < blocks; ++b) {
    const std::string key = "convs." + std::to_string(2 * b) + ".conv.weight";
    const Tensor& w = detail::state_at(st, key, source, "generator");
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
  const std::string what = std::to_string(cfg.resolution) + "x" + std::to_string(cfg.resolution) + " generator";
  load_module_state(g, st, source, what, detail::is_constant_kernel);
  return g;
}

// Loads a generator checkpoint (safetensors) onto the CPU.
inline Generator load_generator(const std::filesystem::path& path) {
  const io::SafetensorsFile f = io::load_safetensors(path);
  return generator_from_state(f.tensors, f.metadata, "generator checkpoint '" + path.string() + "'");
}

// The generator's tensors in reference state_dict order (parameters and buffers, live tensors).
inline std::vector<std::pair<std::string, Tensor>> generator_state(const Generator& g) { return module_state(g); }

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
