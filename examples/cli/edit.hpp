// The 'anycost edit' command: W+ latents moved along attribute directions.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <anycost/editing.hpp>
#include <anycost/io/image_grid.hpp>
#include <anycost/io/safetensors.hpp>

#include "common.hpp"

namespace anycost_cli {

// ---- anycost edit -------------------------------------------------------------------------------------------

struct EditFlags {
  std::string model, latents, directions, out, png;
  std::vector<std::string> edits;
  std::int64_t n_change = -1;
  std::vector<double> ratios{1.0, 0.25};
};

CLI::App* add_edit(CLI::App& app, EditFlags& f) {
  CLI::App* cmd = app.add_subcommand("edit", "move W+ latents along attribute directions, preview and full render");
  cmd->footer(
      "Adds STRENGTH x direction to the first --n-change rows of each W+ latent (the demo's rule), writes the\n"
      "edited latents and a PNG: per latent, the original and the edit at each --ratios width.\n"
      "Directions: a .safetensors file with one [style_dim] tensor per attribute (unit length).\n"
      "\n"
      "example:\n"
      "  anycost edit --latents face-wplus.safetensors --directions dirs.safetensors --edit smiling=0.4 \\\n"
      "               --out edited.safetensors --png edited.png");
  add_model_flag(*cmd, f.model);
  cmd->add_option("--latents", f.latents, "W+ latents (tensor wplus, e.g. from 'anycost project')")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--directions", f.directions, "attribute directions (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--edit", f.edits, "NAME=STRENGTH; may be repeated (strengths add)")->required()->option_text("NAME=S");
  cmd->add_option("--n-change", f.n_change, "how many W+ rows change, from the coarsest (default: all)")
      ->check(at_least_one)
      ->option_text("K");
  cmd->add_option("--ratios", f.ratios, "channel ratios rendered in the PNG (default 1,0.25)")
      ->delimiter(',')
      ->check(must_be<double>("in (0, 1]", [](double r) { return r > 0 && r <= 1; }))
      ->option_text("r1,r2,...");
  cmd->add_option("--out", f.out, "the edited latents (.safetensors, tensor wplus)")->required()->option_text("FILE");
  cmd->add_option("--png", f.png, "also a PNG: original and edited renders")->option_text("FILE");
  return cmd;
}

int run_edit(const EditFlags& f) {
  Outputs outputs;
  std::string model;
  const Generator g = load_model_flag(f.model, model);
  const io::SafetensorsFile lat = io::load_safetensors(f.latents);
  if (!lat.contains("wplus")) throw UsageError("--latents " + f.latents + ": no tensor named wplus");
  const Tensor wplus = lat.at("wplus").to(DType::float32);
  require_finite(wplus, "--latents", f.latents, "wplus");
  if (!(wplus.dim() == 3 && wplus.size(1) == g.n_style() && wplus.size(2) == g.style_dim()))
    throw UsageError("--latents: wplus has shape " + anycost::detail::concat(wplus.shape()) + ", expected [N, " +
                     std::to_string(g.n_style()) + ", " + std::to_string(g.style_dim()) + "]");
  const io::SafetensorsFile dirs = io::load_safetensors(f.directions);
  std::vector<editing::Edit> edits;
  for (const std::string& e : f.edits) {
    const std::size_t eq = e.find('=');
    double strength = 0;
    if (eq == std::string::npos || !CLI::detail::lexical_cast(e.substr(eq + 1), strength) || !std::isfinite(strength))
      throw UsageError("--edit: expected NAME=STRENGTH, not '" + e + "'");
    const std::string name = e.substr(0, eq);
    if (!dirs.contains(name)) {
      std::string names;
      for (const auto& [k, t] : dirs.tensors) names += (names.empty() ? "" : ", ") + k;
      throw UsageError("--edit: no direction '" + name + "' in " + f.directions + " (there are: " + names + ")");
    }
    const Tensor d = dirs.at(name);
    require_finite(d, "--directions", f.directions, name);
    if (d.numel() != g.style_dim())
      throw UsageError("--edit: direction '" + name + "' has " + std::to_string(d.numel()) + " values, the model's w " +
                       std::to_string(g.style_dim()));
    edits.push_back({d.to_vector<double>(), strength});
  }
  if (f.n_change > g.n_style())
    throw UsageError("--n-change: " + std::to_string(f.n_change) + " exceeds the model's " + std::to_string(g.n_style()) +
                     " W+ rows");
  const Tensor edited = editing::apply_edits(wplus, edits, f.n_change);
  outputs.write(f.out, "--out", [&](const std::filesystem::path& p) {
    io::save_safetensors(p, {{"wplus", edited}}, {{"model", model}});
  });
  std::printf("anycost edit\n  model       %s\n  latents     %lld from %s\n  edits      ", model.c_str(),
              static_cast<long long>(wplus.size(0)), f.latents.c_str());
  for (const std::string& e : f.edits) std::printf(" %s", e.c_str());
  std::printf(" (rows 0..%lld)\n  wrote       %s\n", static_cast<long long>(f.n_change < 0 ? g.n_style() - 1 : f.n_change - 1),
              f.out.c_str());
  if (!f.png.empty()) {
    NoGradGuard no_grad;
    const ChannelTable& table = g.channel_table();
    std::vector<Tensor> renders;  // per ratio: original, edited
    for (double ratio : f.ratios) {
      SubnetConfig cfg = table.full();
      try {
        cfg = table.uniform(ratio);
      } catch (const ValueError& e) {
        throw UsageError(std::string("--ratios: ") + e.what());
      }
      renders.push_back(g.synthesize(Var(wplus), cfg).image.data());
      renders.push_back(g.synthesize(Var(edited), cfg).image.data());
    }
    std::vector<Var> tiles;
    for (std::int64_t i = 0; i < wplus.size(0); ++i)
      for (const Tensor& r : renders) tiles.emplace_back(r.select(0, i).unsqueeze(0));
    outputs.write(f.png, "--png", [&](const std::filesystem::path& p) {
      io::save_image_grid(p, Var(clamp(cat(tiles, 0), -1.0, 1.0)).data(), static_cast<int>(renders.size()));
    });
    std::printf("  wrote       %s (per row, for each ratio:", f.png.c_str());
    for (double ratio : f.ratios) std::printf(" %g", ratio);
    std::printf(", the original then the edit)\n");
  }
  outputs.commit();
  return 0;
}

}  // namespace anycost_cli
