// Encoder files: the projection encoder (models/encoder.hpp) to and from safetensors, under the official
// state_dict names (tools/convert_checkpoint.py --entry encoder converts the official .pt files).
//
//   save_encoder(path, e, metadata)   atomically; metadata "format" = "anycost-encoder", "resolution" and the
//                                     caller's (a training summary)
//   load_encoder(path)                the architecture is inferred from the names and shapes:
//     base width           conv1.weight [base, 3, 7, 7]
//     stages, blocks       layer<i>.<j>.conv1.weight present for i = 1.., j = 0..
//     style_dim            mean_latent [style_dim]
//     n_style              fc.weight [n_style * style_dim, 4 base 2^(S-1)]
//     resolution           metadata "resolution"; without it (a converted official file) 256, the official input
//   encoder_from_state(st, source, resolution)   the same from tensors already in memory.
//
// Every tensor is then checked against the inferred architecture (models/state_io.hpp): a missing, unexpected or
// mis-shaped tensor is a FormatError/ShapeError naming it. Layers must have the ResNet widths (layer i planes =
// base * 2^(i-1)); another layout fails on the first tensor that differs.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "anycost/io/safetensors.hpp"
#include "anycost/models/encoder.hpp"
#include "anycost/models/state_io.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

inline constexpr const char* encoder_format = "anycost-encoder";
inline constexpr int official_encoder_resolution = 256;

// Builds an encoder holding the tensors of st (aliased); see the top of this file.
inline Encoder encoder_from_state(const StateTensors& st, const std::string& source, int resolution) {
  const Tensor& c1 = detail::state_at(st, "conv1.weight", source, "encoder");
  ANYCOST_CHECK(c1.dim() == 4 && c1.size(1) == 3 && c1.size(2) == 7 && c1.size(3) == 7 && c1.size(0) >= 1,
                FormatError, source, ": tensor 'conv1.weight' has shape ", c1.shape(), ", expected [base, 3, 7, 7]");
  const Tensor& ml = detail::state_at(st, "mean_latent", source, "encoder");
  ANYCOST_CHECK(ml.dim() == 1 && ml.size(0) >= 1, FormatError, source, ": tensor 'mean_latent' has shape ", ml.shape(),
                ", expected [style_dim]");
  const Tensor& fc = detail::state_at(st, "fc.weight", source, "encoder");
  ANYCOST_CHECK(fc.dim() == 2 && fc.size(0) % ml.size(0) == 0, FormatError, source, ": tensor 'fc.weight' has shape ",
                fc.shape(), ", expected [n_style * ", ml.size(0), ", features] (style_dim ", ml.size(0),
                " from 'mean_latent')");
  EncoderConfig cfg;
  cfg.base_width = static_cast<int>(c1.size(0));
  cfg.style_dim = static_cast<int>(ml.size(0));
  cfg.n_style = static_cast<int>(fc.size(0) / ml.size(0));
  cfg.resolution = resolution;
  cfg.blocks.clear();
  for (int s = 1; st.count("layer" + std::to_string(s) + ".0.conv1.weight"); ++s) {
    int b = 0;
    while (st.count("layer" + std::to_string(s) + "." + std::to_string(b) + ".conv1.weight")) ++b;
    cfg.blocks.push_back(b);
  }
  ANYCOST_CHECK(!cfg.blocks.empty(), FormatError, source, ": not an anycost encoder checkpoint: no tensor 'layer1.0.conv1.weight'");
  try {
    cfg.validate();
  } catch (const ValueError& e) {
    ::anycost::detail::raise<FormatError>(source, ": ", e.what());
  }
  std::ostringstream what;
  what << "encoder (" << cfg.blocks.size() << " stages, base width " << cfg.base_width << ", W+ " << cfg.n_style << "x"
       << cfg.style_dim << ")";
  Encoder e(cfg, nn::Init::none());
  load_module_state(e, st, source, what.str(), [](const std::string&) { return false; });
  return e;
}

// Writes the encoder atomically, with `metadata` added to its own.
inline void save_encoder(const std::filesystem::path& path, const Encoder& e,
                         std::map<std::string, std::string> metadata = {}) {
  metadata["format"] = encoder_format;
  metadata["resolution"] = std::to_string(e.resolution());
  io::save_safetensors(path, module_state(e), metadata);
}

// Loads an encoder file (save_encoder's, or a converted official one) onto the CPU; `resolution` overrides the
// file's input resolution.
inline Encoder load_encoder(const std::filesystem::path& path, std::optional<int> resolution = std::nullopt) {
  const io::SafetensorsFile f = io::load_safetensors(path);
  const std::string src = "encoder '" + path.string() + "'";
  const auto fmt = f.metadata.find("format");
  ANYCOST_CHECK(fmt == f.metadata.end() || fmt->second == encoder_format, FormatError, src, ": format '", fmt->second,
                "', expected '", encoder_format, "'");
  int res = official_encoder_resolution;
  if (const auto it = f.metadata.find("resolution"); it != f.metadata.end()) {
    try {
      res = std::stoi(it->second);
    } catch (const std::exception&) {
      ::anycost::detail::raise<FormatError>(src, ": bad metadata 'resolution' ('", it->second, "')");
    }
  }
  if (resolution) res = *resolution;
  const StateTensors st(f.tensors.begin(), f.tensors.end());
  return encoder_from_state(st, src, res);
}

}  // namespace models
ANYCOST_NAMESPACE_END
