// anycost studio: the browser editor (examples/studio), served from this binary.
#pragma once

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include <anycost/editing.hpp>
#include <anycost/eval.hpp>

#include "common.hpp"
#include "studio/page.hpp"
#include "../studio/server.hpp"

namespace anycost_cli {

struct StudioFlags {
  std::string model, encoder, directions, classifier, host = "127.0.0.1";
  int port = 8080, threads = 0, workers = 0, projection_steps = 50;
  std::int64_t direction_samples = 2000;
  double max_upload_mb = 8;
  bool allow_remote = false;
};

CLI::App* add_studio(CLI::App& app, StudioFlags& f) {
  CLI::App* cmd = app.add_subcommand("studio", "edit images in the browser: previews on a sub-generator, final on the full one");
  cmd->footer(
      "\nServes one page on http://HOST:PORT/: pick a seed or upload an image (projected into W+, encoder guess\n"
      "first), move attribute sliders with live previews on a sub-generator (channel ratio and resolution, or\n"
      "a latency budget), finalize on the full generator, undo/redo, download the PNG, save/load the history.\n"
      "Without --model: the shipped emoji model with its encoder and directions.\n"
      "examples:\n"
      "  anycost studio                       # then open the printed URL\n"
      "  anycost studio --model g.safetensors --directions d.safetensors --port 9000");
  add_model_flag(*cmd, f.model);
  cmd->add_option("--encoder", f.encoder, "projection encoder (anycost train-encoder); default: the shipped one with the shipped model")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--directions", f.directions, "edit directions (anycost directions); default: the shipped ones with the shipped model")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--classifier", f.classifier,
                  "without directions: compute them at start-up for this classifier's labels (as 'anycost directions')")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--direction-samples", f.direction_samples, "latents sampled for --classifier (default 2000)")
      ->check(must_be<std::int64_t>(">= 200", [](std::int64_t n) { return n >= 200; }))
      ->option_text("N");
  cmd->add_option("--port", f.port, "TCP port (default 8080; 0: any free port)")
      ->check(must_be<int>("in [0, 65535]", [](int p) { return p >= 0 && p <= 65535; }))
      ->option_text("P");
  cmd->add_option("--host", f.host, "address to listen on (default 127.0.0.1, this machine only)")->option_text("ADDR");
  cmd->add_flag("--allow-remote", f.allow_remote, "allow --host to be an address other machines can reach");
  cmd->add_option("--threads", f.threads, "CPU threads per render (default: all cores / workers)")->check(at_least_one)->option_text("K");
  cmd->add_option("--workers", f.workers, "renders at once (default: 1 per 4 cores, at least 1)")->check(at_least_one)->option_text("N");
  cmd->add_option("--projection-steps", f.projection_steps, "L-BFGS steps after the encoder's guess (default 50)")
      ->check(at_least_one)
      ->option_text("N");
  cmd->add_option("--max-upload-mb", f.max_upload_mb, "largest upload in MiB (default 8)")
      ->check(must_be<double>("in (0, 256]", [](double m) { return m > 0 && m <= 256; }))
      ->option_text("M");
  return cmd;
}

inline bool loopback_host(const std::string& h) { return h == "127.0.0.1" || h == "localhost" || h == "::1"; }

int run_studio(const StudioFlags& f) {
  if (!loopback_host(f.host) && !f.allow_remote)
    throw UsageError("--host: " + f.host + " can be reached from other machines; add --allow-remote to serve there");
  std::string model;
  models::Generator g = load_model_flag(f.model, model);
  // The shipped model comes with its encoder and directions, next to it.
  const std::filesystem::path shipped = f.model.empty() ? default_model().parent_path() : std::filesystem::path();
  auto with_default = [&](const std::string& flag, const char* file) {
    if (!flag.empty() || shipped.empty()) return flag;
    const std::filesystem::path p = shipped / file;
    return std::filesystem::is_regular_file(p) ? p.string() : std::string();
  };
  const std::string directions_file = with_default(f.directions, "directions.safetensors");
  const std::string encoder_file = with_default(f.encoder, "encoder.safetensors");

  anycost_studio::StudioOptions o;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.workers = f.workers > 0 ? f.workers : std::max(1, cores / 4);
  o.threads = f.threads > 0 ? f.threads : std::max(1, cores / o.workers);
  o.projection_steps = f.projection_steps;
  o.max_upload_bytes = static_cast<std::size_t>(f.max_upload_mb * (1 << 20));
  std::map<std::string, std::vector<double>> directions;
  if (!directions_file.empty() && f.classifier.empty()) {
    directions = anycost_studio::load_directions(directions_file, g.style_dim());
  } else if (!f.classifier.empty()) {
    // The labels' directions from the generator's own samples (anycost directions, fewer samples).
    const evaluation::Classifier c = evaluation::load_classifier(f.classifier);
    editing::SampleDirectionOptions so;
    so.samples = f.direction_samples;
    const auto start = std::chrono::steady_clock::now();
    const auto predictor = [&](const Var& images) { return c.forward(evaluation::classifier_input(images, c.resolution())); };
    for (const editing::Direction& d : editing::sample_directions(g, predictor, c.labels(), so))
      directions.emplace(d.name, d.d);
    std::fprintf(stderr, "anycost studio: directions for %zu labels of %s from %lld samples in %.1f s\n", directions.size(),
                f.classifier.c_str(), static_cast<long long>(so.samples),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::optional<models::Encoder> encoder;
  if (!encoder_file.empty()) encoder = models::load_encoder(encoder_file);

  std::printf("anycost studio\n  model       %s\n  directions  ", model.c_str());
  if (directions.empty()) std::printf("none (give --directions FILE or --classifier FILE for sliders)");
  for (const auto& [name, d] : directions) std::printf("%s ", name.c_str());
  std::printf("\n  encoder     %s\n  renders     %d at once, %d threads each; projection %d L-BFGS steps\n",
              encoder_file.empty() ? "none (projection starts from the mean w)" : encoder_file.c_str(), o.workers,
              o.threads, o.projection_steps);
  // Ctrl-C and SIGTERM set a flag (any thread may take the signal: OpenBLAS and OpenMP start threads of their
  // own); a watcher thread stops the server when it sees it.
  static std::atomic<bool> stop_requested{false};
  std::signal(SIGINT, [](int) { stop_requested = true; });
  std::signal(SIGTERM, [](int) { stop_requested = true; });

  anycost_studio::Studio studio(std::move(g), model, std::move(directions), std::move(encoder), o);
  anycost_studio::StudioServer server(studio, anycost_studio::page_html);
  const int port = server.bind(f.host, f.port, loopback_host(f.host));
  if (!loopback_host(f.host))
    std::fprintf(stderr, "warning: serving on %s: anyone who can reach this machine can use the studio\n", f.host.c_str());
  const std::string shown = f.host.find(':') != std::string::npos ? "[" + f.host + "]" : f.host;
  std::printf("  serving     http://%s:%d/  (Ctrl-C stops)\n", shown.c_str(), port);
  std::fflush(stdout);

  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done && !stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (done) return;
    std::printf("  stopping\n");
    std::fflush(stdout);
    while (!done) {  // again until run() returns: a signal may come before it listens
      server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  server.run();
  done = true;
  watcher.join();
  return 0;
}

}  // namespace anycost_cli
