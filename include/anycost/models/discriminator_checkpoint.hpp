// Discriminator checkpoints in safetensors, under the official PyTorch state_dict keys (the `d` entry of an
// official training checkpoint converts by a key-preserving dump: tools/convert_checkpoint.py --entry d).
//
// The architecture is read from the names and shapes, never from metadata:
//   layout      multi-resolution iff there are blocks.* keys; n_inputs = the number of convs.<i>.0.weight
//               (multi-resolution) or 1
//   resolution  4 << (the number of ResBlocks: blocks.<j> or convs.<k>, k >= 1)
//   widths      C(R) = convs.0.0.weight.size(0), C(R / 2^(j+1)) = block j's conv2 weight .size(0)
//   arch_dim    the last block's conv1.1.weight_mapping.weight.size(1) when present (conditioned), else 0
// Loading checks everything and names the problem: missing keys (the blur kernels `*.kernel` excepted, they
// are constants and are regenerated), unexpected keys, shapes that do not fit the inferred architecture, a
// dtype other than float32, tensors on different devices.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "anycost/io/safetensors.hpp"
#include "anycost/models/discriminator.hpp"
#include "anycost/models/state_io.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

// The discriminator architecture a state dict describes.
inline DiscriminatorConfig infer_discriminator_config(const StateTensors& st, const std::string& source = "state dict") {
  DiscriminatorConfig cfg;
  const bool multi = st.count("blocks.0.conv1.0.weight") > 0;
  auto block_key = [&](int j, const std::string& rest) {
    return (multi ? "blocks." + std::to_string(j) : "convs." + std::to_string(j + 1)) + "." + rest;
  };
  int n_blocks = 0;
  while (st.count(block_key(n_blocks, "conv1.0.weight"))) ++n_blocks;
  ANYCOST_CHECK(n_blocks >= 1, FormatError, source, ": not an anycost discriminator checkpoint: no '",
                block_key(0, "conv1.0.weight"), "'");
  ANYCOST_CHECK(n_blocks <= 12, FormatError, source, ": ", n_blocks, " residual blocks, at most 12 are supported");
  cfg.resolution = 4 << n_blocks;
  cfg.n_inputs = 1;
  if (multi)
    while (st.count("convs." + std::to_string(cfg.n_inputs) + ".0.weight")) ++cfg.n_inputs;
  const Tensor& rgb = detail::state_at(st, "convs.0.0.weight", source, "discriminator");
  ANYCOST_CHECK(rgb.dim() == 4 && rgb.size(1) == 3 && rgb.size(0) >= 1, FormatError, source,
                ": 'convs.0.0.weight' has shape ", rgb.shape(), ", expected [C, 3, 1, 1]");
  std::vector<int> widths(static_cast<std::size_t>(n_blocks + 1));
  widths.back() = static_cast<int>(rgb.size(0));
  for (int j = 0; j < n_blocks; ++j) {
    const std::string key = block_key(j, "conv2.1.weight");
    const Tensor& w = detail::state_at(st, key, source, "discriminator");
    ANYCOST_CHECK(w.dim() == 4 && w.size(0) >= 1, FormatError, source, ": '", key, "' has shape ", w.shape(),
                  ", expected [C_out, C_in, 3, 3]");
    widths[static_cast<std::size_t>(n_blocks - 1 - j)] = static_cast<int>(w.size(0));
  }
  cfg.channels = widths;
  cfg.arch_dim = 0;
  if (multi) {
    const auto it = st.find(block_key(n_blocks - 1, "conv1.1.weight_mapping.weight"));
    if (it != st.end()) {
      ANYCOST_CHECK(it->second.dim() == 2 && it->second.size(1) >= 1, FormatError, source, ": '", it->first,
                    "' has shape ", it->second.shape(), ", expected [C, arch_dim]");
      cfg.arch_dim = static_cast<int>(it->second.size(1));
    }
  }
  cfg.validate();
  return cfg;
}

// A discriminator holding exactly the tensors of `st` (parameters alias them; nothing is copied).
inline Discriminator discriminator_from_state(const StateTensors& st, const std::string& source = "state dict") {
  const DiscriminatorConfig cfg = infer_discriminator_config(st, source);
  Discriminator d(cfg, nn::Init::none(), DType::float32);
  const std::string what = std::to_string(cfg.resolution) + "x" + std::to_string(cfg.resolution) +
                           (cfg.arch_dim ? " conditioned" : "") + " discriminator";
  load_module_state(d, st, source, what, [](const std::string& name) { return detail::ends_with(name, ".kernel"); });
  return d;
}

// Loads a discriminator checkpoint (safetensors) onto the CPU.
inline Discriminator load_discriminator(const std::filesystem::path& path) {
  const io::SafetensorsFile f = io::load_safetensors(path);
  return discriminator_from_state(f.tensors, "discriminator checkpoint '" + path.string() + "'");
}

// The discriminator's tensors in reference state_dict order (parameters and buffers, live tensors).
inline std::vector<std::pair<std::string, Tensor>> discriminator_state(const Discriminator& d) {
  return module_state(d);
}

// Writes d as safetensors (atomically), with a description in the metadata.
inline void save_discriminator(const std::filesystem::path& path, const Discriminator& d,
                               std::map<std::string, std::string> metadata = {}) {
  const DiscriminatorConfig& c = d.config();
  metadata.emplace("format", "anycost-discriminator");
  metadata.emplace("resolution", std::to_string(c.resolution));
  metadata.emplace("n_inputs", std::to_string(c.n_inputs));
  metadata.emplace("arch_dim", std::to_string(c.arch_dim));
  io::save_safetensors(path, discriminator_state(d), metadata);
}

}  // namespace models
ANYCOST_NAMESPACE_END
