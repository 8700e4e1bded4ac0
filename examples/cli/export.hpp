// The 'anycost export' command: one generator of a training checkpoint as a generator file.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include <anycost/io/safetensors.hpp>
#include <anycost/train.hpp>

#include "common.hpp"

namespace anycost_cli {

// ---- anycost export -----------------------------------------------------------------------------------------

struct ExportFlags {
  std::string checkpoint, which = "g_ema", out;
};

CLI::App* add_export(CLI::App& app, ExportFlags& f) {
  CLI::App* cmd = app.add_subcommand("export", "write one generator of a training checkpoint as a generator file");
  cmd->footer(
      "Reads a training checkpoint (RUN_DIR/checkpoints/ckpt-*.safetensors of 'anycost train') and writes one of\n"
      "its generators as a generator file for 'anycost generate --model' (atomically).\n"
      "\n"
      "example:\n"
      "  anycost export runs/emoji64/checkpoints/ckpt-000028000.safetensors --out stage2.safetensors");
  cmd->add_option("checkpoint", f.checkpoint, "the training checkpoint")->required()->check(CLI::ExistingFile)->option_text("CKPT");
  cmd->add_option("--which", f.which, "g_ema (default), g or teacher")
      ->check(CLI::IsMember({"g_ema", "g", "teacher"}))
      ->option_text("NAME");
  cmd->add_option("--out", f.out, "the generator file to write (.safetensors)")->required()->option_text("FILE");
  return cmd;
}

int run_export(const ExportFlags& f) {
  Outputs outputs;
  const io::SafetensorsFile meta = io::load_safetensors(f.checkpoint);
  const Generator g = train::load_train_generator(f.checkpoint, f.which);
  const std::string iteration = meta.metadata.count("iteration") ? meta.metadata.at("iteration") : "?";
  const std::string stage = meta.metadata.count("stage") ? meta.metadata.at("stage") : "?";
  outputs.write(f.out, "--out", [&](const std::filesystem::path& p) {
    save_generator(p, g,
                   {{"source", std::filesystem::path(f.checkpoint).filename().string() + " (" + f.which + ")"},
                    {"iteration", iteration},
                    {"stage", stage}});
  });
  outputs.commit();
  std::printf("wrote %s: %s of %s (stage %s, iteration %s), %dx%d, style_dim %lld, widths %s\n", f.out.c_str(),
              f.which.c_str(), f.checkpoint.c_str(), stage.c_str(), iteration.c_str(), g.resolution(), g.resolution(),
              static_cast<long long>(g.style_dim()), widths_text(g.channel_table()).c_str());
  return 0;
}

}  // namespace anycost_cli
