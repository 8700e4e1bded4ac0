// The 'anycost train' command: stage-wise Anycost GAN training on an image folder.
#pragma once

#include <atomic>
#include <csignal>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include <anycost/io/safetensors.hpp>
#include <anycost/train.hpp>

#include "common.hpp"

namespace anycost_cli {

// ---- anycost train -----------------------------------------------------------------------------------------

struct TrainFlags {
  std::string config, data, out;
  bool resume = false;
  Device device = Device::cpu();
  int threads = 0;
};

CLI::App* add_train(CLI::App& app, TrainFlags& f) {
  CLI::App* cmd =
      app.add_subcommand("train", "train an Anycost generator on a folder of images (stage-wise, resumable)");
  cmd->footer(
      "Trains an Anycost GAN on a folder of images (PNG/JPEG, searched recursively), stage by stage: StyleGAN2,\n"
      "multi-resolution, adaptive channels (see examples/configs/*.json for the keys and their defaults).\n"
      "Prints a progress line every few seconds; writes RUN_DIR/checkpoints/ckpt-*.safetensors, sample grids in\n"
      "RUN_DIR/samples/ and, at the end, RUN_DIR/generator.safetensors (g_ema, for 'anycost generate --model').\n"
      "Ctrl-C (SIGINT) or SIGTERM writes a checkpoint and stops; --resume continues exactly.\n"
      "\n"
      "example:\n"
      "  anycost train --config examples/configs/tiny.json --data my_images --out runs/tiny");
  cmd->add_option("--config", f.config,
                  "the run's JSON config (required; with --resume: optional, must match the run's)")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--data", f.data, "the image folder (required)")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->option_text("DIR");
  cmd->add_option("--out", f.out, "the run folder (required; created; must not hold a run unless --resume)")
      ->required()
      ->option_text("RUN_DIR");
  cmd->add_flag("--resume", f.resume, "continue the run in --out from its newest checkpoint");
  add_device(*cmd, f.device, "where to train (default cpu)");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all); the same K gives bit-identical runs")
      ->check(at_least_one)
      ->option_text("K");
  return cmd;
}

std::atomic<bool> stop_requested{false};

int run_train(const TrainFlags& f) {
  if (f.config.empty() && !f.resume) throw UsageError("--config is required (optional only with --resume)");
  if (f.threads > 0) set_num_threads(f.threads);
  train::TrainConfig cfg;
  if (!f.config.empty()) {
    cfg = train::load_train_config(f.config);
  } else {
    const auto ckpts = train::list_checkpoints(std::filesystem::path(f.out) / "checkpoints");
    if (ckpts.empty()) throw UsageError("--resume: no checkpoint in '" + f.out + "/checkpoints'");
    cfg = train::parse_train_config(train::stored_config(io::load_safetensors(ckpts.back())));
  }
  std::signal(SIGINT, [](int) { stop_requested = true; });
  std::signal(SIGTERM, [](int) { stop_requested = true; });
  train::TrainerOptions opts;
  opts.data = f.data;
  opts.out = f.out;
  opts.resume = f.resume;
  opts.device = f.device;
  opts.stop = &stop_requested;
  train::Trainer trainer(cfg, opts);
  trainer.run();
  return 0;
}

}  // namespace anycost_cli
