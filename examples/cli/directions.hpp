// The 'anycost directions' command: edit directions for a classifier's labels.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include <anycost/editing.hpp>
#include <anycost/eval.hpp>
#include <anycost/io/safetensors.hpp>

#include "common.hpp"

namespace anycost_cli {

// ---- anycost directions ---------------------------------------------------------------------------------

struct DirectionsFlags {
  std::string model, classifier, out;
  editing::SampleDirectionOptions opts;
  int threads = 0;
};

CLI::App* add_directions(CLI::App& app, DirectionsFlags& f) {
  CLI::App* cmd = app.add_subcommand("directions", "edit directions in W for every label of a classifier");
  cmd->footer(
      "Samples --samples latents (w truncated toward the mean w by --truncation), renders them at full width,\n"
      "scores every label of --classifier (from 'anycost train-classifier') on the images, and per label fits a\n"
      "linear SVM between the top and the bottom --fraction of the samples (InterFaceGAN, as the official\n"
      "extract_edit_directions.py). Writes one unit [style_dim] tensor per label, for 'anycost edit'.\n"
      "\n"
      "example:\n"
      "  anycost directions --classifier examples/models/emoji64/classifier.safetensors --out dirs.safetensors\n"
      "  anycost edit --latents latents.safetensors --directions dirs.safetensors --edit animal=2 --out e.safetensors");
  add_model_flag(*cmd, f.model);
  cmd->add_option("--classifier", f.classifier, "the attribute predictor, from 'anycost train-classifier' (required)")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  f.opts.samples = 10000;
  cmd->add_option("--samples", f.opts.samples, "sampled latents (default 10000)")->check(at_least_one)->option_text("N");
  cmd->add_option("--fraction", f.opts.fit.fraction, "of the samples, for each of positives and negatives (default 0.02)")
      ->check(must_be<double>("in (0, 0.5]", [](double v) { return v > 0 && v <= 0.5; }))
      ->option_text("F");
  cmd->add_option("--truncation", f.opts.truncation, "psi toward the mean w (default 0.7)")
      ->check(must_be<double>("in (0, 1]", [](double v) { return v > 0 && v <= 1; }))
      ->option_text("PSI");
  cmd->add_option("--batch", f.opts.batch, "images per forward pass (default 64)")->check(at_least_one)->option_text("B");
  cmd->add_option("--seed", f.opts.seed, "latents and the train/validation split (default 0)")->option_text("S");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");
  cmd->add_option("--out", f.out, "the directions (.safetensors, one tensor per label)")->required()->option_text("FILE");
  return cmd;
}

int run_directions(DirectionsFlags f) {
  if (f.threads > 0) set_num_threads(f.threads);
  Outputs outputs;
  std::string model;
  const Generator g = load_model_flag(f.model, model);
  const evaluation::Classifier c = evaluation::load_classifier(f.classifier);
  f.opts.fit.seed = f.opts.seed;
  const std::int64_t per_class = static_cast<std::int64_t>(f.opts.fit.fraction * static_cast<double>(f.opts.samples));
  if (per_class < 4)
    throw UsageError("--samples " + std::to_string(f.opts.samples) + " x --fraction " + std::to_string(f.opts.fit.fraction) +
                     " leaves " + std::to_string(per_class) + " samples per class: need at least 4");
  std::printf("anycost directions\n  model       %s\n  classifier  %s: %lld labels at %dx%d\n", model.c_str(),
              f.classifier.c_str(), static_cast<long long>(c.n_labels()), c.resolution(), c.resolution());
  std::printf("  samples     %lld (psi %g, seed %llu), top and bottom %lld per label, %d CPU threads\n",
              static_cast<long long>(f.opts.samples), f.opts.truncation, static_cast<unsigned long long>(f.opts.seed),
              static_cast<long long>(per_class), get_num_threads());
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  const bool tty = isatty(fileno(stderr));
  int last_decile = -1;
  f.opts.on_batch = [&](std::int64_t done, std::int64_t total) {
    const int decile = static_cast<int>(done * 10 / total);
    if (!tty && decile == last_decile) return;
    last_decile = decile;
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "%s  [sampled %lld/%lld] %.1f s, ETA %.0f s%s", tty ? "\r" : "", static_cast<long long>(done),
                 static_cast<long long>(total), sec, sec / static_cast<double>(done) * static_cast<double>(total - done),
                 tty && done < total ? "" : "\n");
  };
  const auto predictor = [&](const Var& images) { return c.forward(evaluation::classifier_input(images, c.resolution())); };
  const std::vector<editing::Direction> dirs = editing::sample_directions(g, predictor, c.labels(), f.opts);

  std::vector<std::pair<std::string, Tensor>> tensors;
  nlohmann::json accuracy = nlohmann::json::object();
  std::printf("\n| label | held-out SVM accuracy | per class |\n|---|---|---|\n");
  for (const editing::Direction& d : dirs) {
    tensors.emplace_back(d.name, Tensor::from_vector<double>(d.d, {g.style_dim()}).to(DType::float32));
    accuracy[d.name] = d.val_accuracy;
    std::printf("| %s | %.1f%% | %lld |\n", d.name.c_str(), 100 * d.val_accuracy, static_cast<long long>(d.per_class));
  }
  outputs.write(f.out, "--out", [&](const std::filesystem::path& p) {
    io::save_safetensors(p, tensors,
                         {{"format", "anycost-directions"},
                          {"model", model},
                          {"classifier", f.classifier},
                          {"samples", std::to_string(f.opts.samples)},
                          {"truncation", std::to_string(f.opts.truncation)},
                          {"val_accuracy", accuracy.dump()}});
  });
  outputs.commit();
  std::printf("\n  wrote       %s (%zu directions, unit length, in W)\n", f.out.c_str(), dirs.size());
  return 0;
}

}  // namespace anycost_cli
