// anycost studio: the browser editor (examples/studio), served from this binary.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "cli/common.hpp"
#include "studio/page.hpp"
#include "studio/server.hpp"

namespace anycost_cli {

struct StudioFlags {
  std::string model, encoder, directions, host = "127.0.0.1";
  int port = 8080, threads = 0, workers = 0, projection_steps = 50;
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
  if (!directions_file.empty()) directions = anycost_studio::load_directions(directions_file, g.style_dim());
  std::optional<models::Encoder> encoder;
  if (!encoder_file.empty()) encoder = models::load_encoder(encoder_file);

  std::printf("anycost studio\n  model       %s\n  directions  ", model.c_str());
  if (directions.empty()) std::printf("none (give --directions FILE for sliders)");
  for (const auto& [name, d] : directions) std::printf("%s ", name.c_str());
  std::printf("\n  encoder     %s\n  renders     %d at once, %d threads each; projection %d L-BFGS steps\n",
              encoder_file.empty() ? "none (projection starts from the mean w)" : encoder_file.c_str(), o.workers,
              o.threads, o.projection_steps);
  // Ctrl-C and SIGTERM stop the server from one thread that waits for them (blocked in every other thread).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  anycost_studio::Studio studio(std::move(g), model, std::move(directions), std::move(encoder), o);
  anycost_studio::StudioServer server(studio, anycost_studio::page_html);
  const int port = server.bind(f.host, f.port, loopback_host(f.host));
  if (!loopback_host(f.host))
    std::fprintf(stderr, "warning: serving on %s: anyone who can reach this machine can use the studio\n", f.host.c_str());
  const std::string shown = f.host.find(':') != std::string::npos ? "[" + f.host + "]" : f.host;
  std::printf("  serving     http://%s:%d/  (Ctrl-C stops)\n", shown.c_str(), port);
  std::fflush(stdout);

  std::atomic<bool> done{false};
  std::thread waiter([&] {
    const timespec tick{0, 200'000'000};
    while (!done) {
      if (sigtimedwait(&stop_signals, nullptr, &tick) > 0) {
        std::printf("  stopping\n");
        std::fflush(stdout);
        while (!done) {  // again until run() returns: a signal may come before it listens
          server.stop();
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return;
      }
    }
  });
  server.run();
  done = true;
  waiter.join();
  return 0;
}

}  // namespace anycost_cli
