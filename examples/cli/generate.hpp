// The 'anycost generate' command: images from a generator at any width and resolution.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include <anycost/eval/consistency.hpp>
#include <anycost/io/image_grid.hpp>
#include <anycost/io/safetensors.hpp>

#include "common.hpp"

namespace anycost_cli {

// ---- anycost generate --------------------------------------------------------------------------------------

// Mean PSNR of `sub` against `full` on the same latents, measured as anycost eval does (eval/consistency.hpp:
// the full image bilinearly downsampled to sub's resolution, align_corners, as the consistency loss compares them).
double mean_psnr(const Tensor& sub, const Tensor& full) {
  evaluation::ConsistencyMeter meter;
  meter.add(Var(sub), Var(full));
  return meter.psnr();
}

struct GenerateFlags {
  std::string model;
  Device device = Device::cpu();
  int threads = 0;
  std::uint64_t seed = 0;
  std::optional<std::int64_t> n;
  std::string latents;
  double truncation = 1.0;
  std::string w_avg;
  NoiseMode noise = NoiseMode::fixed;
  std::optional<double> ratio;
  std::vector<int> channels;
  std::string evolve_config, budget;
  std::optional<int> res;
  std::vector<std::string> outs;
  bool all_res = false;
  bool compare = false;
  std::int64_t batch = 1;
  nn::ModulationPath path = nn::ModulationPath::automatic;
};

CLI::App* add_generate(CLI::App& app, GenerateFlags& f) {
  CLI::App* cmd =
      app.add_subcommand("generate", "generate images with an Anycost generator at any width and resolution");
  cmd->footer(
      "Generates images with an Anycost GAN generator, full or any sub-network of it, and writes them as a PNG\n"
      "grid and/or as safetensors. Prints the configuration, its MACs per image (the paper's torchprofile\n"
      "convention and the true multiply-add count) and the time per image.\n"
      "\n"
      "examples:\n"
      "  anycost generate --ratio 0.5 --res 32 --compare --out sample.png\n"
      "  anycost generate --model generator.safetensors --ratio 0.5 --res 256 --n 4 --out preview.png\n"
      "  anycost generate --model generator.safetensors --channels 512,512,...,16 --truncation 0.7 \\\n"
      "                   --out faces.png --out faces.safetensors\n"
      "  anycost generate --model generator.safetensors --evolve-config configs.json --budget 15G --out fast.png");

  cmd->option_defaults()->group("model");
  add_model_flag(*cmd, f.model);
  add_device(*cmd, f.device, "where to run (default cpu)");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");

  cmd->option_defaults()->group("latents");
  cmd->add_option("--seed", f.seed, "draw z from this seed (default 0)")->option_text("S");
  CLI::Option* n = cmd->add_option("--n", f.n, "number of images (default 16)")->check(at_least_one)->option_text("N");
  cmd->add_option("--latents", f.latents,
                  "a .safetensors file with one tensor: z [N, style_dim], w [N, style_dim] or\n"
                  "wplus [N, n_style, style_dim] (replaces --seed/--n)")
      ->check(CLI::ExistingFile)
      ->excludes(n)
      ->option_text("FILE");
  CLI::Option* truncation =
      cmd->add_option("--truncation", f.truncation,
                      "truncate toward the mean w: w_avg + T (w - w_avg) (default 1: none)")
          ->check(must_be<double>("a finite number", [](double t) { return std::isfinite(t); }))
          ->option_text("T");
  cmd->add_option("--w-avg", f.w_avg, "the mean w (tensor w_avg [style_dim]); default: estimated from 4096 seeded z")
      ->check(CLI::ExistingFile)
      ->needs(truncation)
      ->option_text("FILE");
  add_choice(*cmd, "--noise", f.noise, {{"fixed", NoiseMode::fixed}, {"random", NoiseMode::random}},
             "the model's fixed noise maps, or fresh ones from --seed (default fixed)");

  cmd->option_defaults()->group("sub-network");
  CLI::Option* ratio =
      cmd->add_option("--ratio", f.ratio, "uniform channel ratio in (0, 1], e.g. 0.25 0.5 0.75 (default 1)")
          ->check(must_be<double>("in (0, 1]", [](double r) { return r > 0 && r <= 1; }))
          ->option_text("R");
  CLI::Option* channels =
      cmd->add_option("--channels", f.channels,
                      "per-layer widths: ConstantInput, conv1, convs.0, convs.1, ... (one per W+ row)")
          ->delimiter(',')
          ->excludes(ratio)
          ->option_text("c1,c2,...");
  CLI::Option* budget =
      cmd->add_option("--budget", f.budget, "the sub-network a search chose for this budget label (with\n"
                                            "--evolve-config), e.g. 15G")
          ->excludes(ratio)
          ->excludes(channels)
          ->option_text("LABEL");
  cmd->add_option("--evolve-config", f.evolve_config,
                  "searched sub-networks per budget (the official evolve_configs JSON format)")
      ->check(CLI::ExistingFile)
      ->needs(budget)
      ->option_text("FILE");
  budget->needs("--evolve-config");
  cmd->add_option("--res", f.res, "output resolution, a power of two up to the model's (default: the model's)")
      ->option_text("R");

  cmd->option_defaults()->group("output");
  const CLI::Validator png_or_safetensors(
      [](std::string& v) -> std::string {
        const std::filesystem::path ext = std::filesystem::path(v).extension();
        if (ext == ".png" || ext == ".safetensors") return {};
        return "'" + v + "': the file name must end in .png or .safetensors";
      },
      "");
  cmd->add_option("--out", f.outs,
                  "FILE.png: an image grid; FILE.safetensors: tensors `images` (float32\n"
                  "[N, 3, H, W], the raw generator output in about [-1, 1]) and `wplus` (the W+\n"
                  "latents rendered, for 'anycost edit'); may be repeated")
      ->allow_extra_args(false)  // one file per --out
      ->check(png_or_safetensors)
      ->option_text("FILE");
  cmd->add_flag("--compare", f.compare,
                "also render the full generator on the same latents and noise: each row of\n"
                "sub-network images sits under its row of full renders (upscaled by pixel\n"
                "repetition), and the mean PSNR of sub-network vs full is printed");
  cmd->add_flag("--all-res", f.all_res,
                "also every lower resolution: tensors images_4, images_8, ..., and PNG grids\n"
                "FILE_4.png, FILE_8.png, ...");
  cmd->add_option("--batch", f.batch, "images per forward pass (default 1)")->check(at_least_one)->option_text("B");
  add_choice(*cmd, "--path", f.path,
             {{"automatic", nn::ModulationPath::automatic},
              {"weights", nn::ModulationPath::weights},
              {"activations", nn::ModulationPath::activations}},
             "how styles modulate the convolutions (default automatic)");
  return cmd;
}

int run_generate(const GenerateFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  NoGradGuard inference;
  Outputs outputs;

  // ---- model ----
  std::string model_text;
  Generator g = load_model_flag(f.model, model_text);
  if (!f.device.is_cpu()) g.to(f.device);
  const ChannelTable& table = g.channel_table();

  // ---- sub-network ----
  const int res = f.res.value_or(g.resolution());
  std::optional<SubnetConfig> cfg_holder;
  std::string cfg_kind;
  try {
    if (!f.budget.empty()) {
      const std::vector<EvolveEntry> entries = read_evolve_configs(f.evolve_config, table);
      const EvolveEntry& e = find_budget(entries, f.budget);
      cfg_holder = f.res ? table.flexible(e.config.channels(), *f.res) : e.config;
      cfg_kind = "searched for " + f.budget + " (" + f.evolve_config + ")";
    } else if (!f.channels.empty()) {
      cfg_holder = table.flexible(f.channels, res);
      cfg_kind = "flexible";
    } else if (f.ratio) {
      cfg_holder = table.uniform(*f.ratio, res);
      std::ostringstream os;
      os << "uniform " << *f.ratio;
      cfg_kind = os.str();
    } else {
      cfg_holder = table.full(res);
      cfg_kind = "full width";
    }
  } catch (const ValueError& e) {
    throw UsageError(e.what());
  }
  const SubnetConfig& cfg = *cfg_holder;
  const MacCount macs = g.macs(cfg), full_macs = g.macs(g.full_config());

  // ---- latents ----
  Var latents;
  LatentSpace space = LatentSpace::z;
  std::string latent_text;
  if (!f.latents.empty()) {
    const io::SafetensorsFile file = io::load_safetensors(f.latents);
    int found = 0;
    for (const char* name : {"z", "w", "wplus"}) found += file.contains(name);
    if (found != 1)
      throw UsageError("--latents " + f.latents + ": expected exactly one tensor named z, w or wplus");
    if (file.contains("wplus")) {
      const Tensor& t = file.at("wplus");
      require_finite(t, "--latents", f.latents, "wplus");
      if (!(t.dim() == 3 && t.size(1) == g.n_style() && t.size(2) == g.style_dim()))
        throw UsageError("--latents: wplus has shape " + anycost::detail::concat(t.shape()) + ", expected [N, " +
                         std::to_string(g.n_style()) + ", " + std::to_string(g.style_dim()) + "]");
      latents = Var(t.to(g.dtype()).to(g.device()));
      space = LatentSpace::w;
      latent_text = "W+ from " + f.latents;
    } else {
      const bool is_z = file.contains("z");
      const Tensor& t = file.at(is_z ? "z" : "w");
      require_finite(t, "--latents", f.latents, is_z ? "z" : "w");
      if (!(t.dim() == 2 && t.size(1) == g.style_dim()))
        throw UsageError("--latents: " + std::string(is_z ? "z" : "w") + " has shape " + anycost::detail::concat(t.shape()) +
                         ", expected [N, " + std::to_string(g.style_dim()) + "]");
      latents = Var(t.to(g.dtype()).to(g.device()));
      space = is_z ? LatentSpace::z : LatentSpace::w;
      latent_text = std::string(is_z ? "z" : "w") + " from " + f.latents;
    }
  } else {
    Rng rng(f.seed);
    latents = Var(randn({f.n.value_or(16), g.style_dim()}, rng, g.dtype(), g.device()));
    latent_text = "z ~ N(0, I) from seed " + std::to_string(f.seed);
  }
  const std::int64_t n = latents.size(0);

  Var w_avg;
  std::string trunc_text = "none";
  if (f.truncation != 1.0) {
    std::ostringstream os;
    os << f.truncation << " toward ";
    if (!f.w_avg.empty()) {
      const Tensor t = io::load_safetensors(f.w_avg).at("w_avg");
      require_finite(t, "--w-avg", f.w_avg, "w_avg");
      if (!(t.dim() == 1 && t.size(0) == g.style_dim()))
        throw UsageError("--w-avg: w_avg has shape " + anycost::detail::concat(t.shape()) + ", expected [" +
                         std::to_string(g.style_dim()) + "]");
      w_avg = Var(t.to(g.dtype()).to(g.device()));
      os << "w_avg from " << f.w_avg;
    } else {
      Rng mean_rng(0x5eed'0f'a7e2ull);
      w_avg = g.mean_w(4096, mean_rng);
      os << "the mean of 4096 mapped z";
    }
    trunc_text = os.str();
  }

  // ---- report ----
  std::printf("anycost generate\n");
  std::printf("  model       %s\n", model_text.c_str());
  std::printf("  generator   %dx%d, style_dim %lld, n_mlp %d, widths %s\n", g.resolution(), g.resolution(),
              static_cast<long long>(g.style_dim()), g.config().n_mlp, widths_text(table).c_str());
  std::printf("  sub-network %s: %s\n", cfg_kind.c_str(), cfg.describe().c_str());
  std::printf("  MACs/image  %s (torchprofile convention, as the paper; full model %s)\n",
              fmt_macs(macs.profile).c_str(), fmt_macs(full_macs.profile).c_str());
  std::printf("              %s true multiply-adds (full model %s), %.1fx fewer than full\n",
              fmt_macs(macs.arithmetic).c_str(), fmt_macs(full_macs.arithmetic).c_str(),
              static_cast<double>(full_macs.arithmetic) / static_cast<double>(macs.arithmetic));
  std::printf("  latents     %lld x %s\n", static_cast<long long>(n), latent_text.c_str());
  std::printf("  truncation  %s\n", trunc_text.c_str());
  std::printf("  noise       %s\n", f.noise == NoiseMode::fixed ? "the model's fixed maps" : "random, from --seed");
  std::printf("  device      %s, %d CPU threads, batch %lld\n", anycost::detail::concat(f.device).c_str(), get_num_threads(),
              static_cast<long long>(f.batch));
  std::fflush(stdout);

  // ---- generate ----
  GenerateOptions opts;
  opts.input = space;
  opts.truncation = f.truncation;
  opts.w_avg = w_avg;
  opts.synthesis.path = f.path;
  opts.synthesis.noise = f.noise;
  opts.synthesis.return_rgbs = f.all_res;
  const PreparedGenerator prepared = g.prepare();  // weight-derived constants, computed once
  opts.synthesis.prepared = &prepared;
  Rng noise_rng(f.seed ^ 0x9e3779b97f4a7c15ull);
  opts.synthesis.rng = &noise_rng;

  // --compare renders the full generator too, on the same latents (and, by default, the model's fixed noise).
  const SubnetConfig full_cfg = table.full(g.resolution());
  Rng full_noise_rng(f.seed ^ 0x9e3779b97f4a7c15ull);
  GenerateOptions full_opts = opts;
  full_opts.synthesis.return_rgbs = false;
  full_opts.synthesis.rng = &full_noise_rng;
  std::vector<Tensor> full_parts;
  double full_seconds = 0;

  std::vector<std::vector<Tensor>> parts;  // per resolution, per batch
  std::vector<Tensor> wplus_parts;          // per batch
  const bool tty = isatty(fileno(stderr));
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < n; i += f.batch) {
    const std::int64_t b = std::min(f.batch, n - i);
    const SynthesisResult r = g.generate(narrow(latents, 0, i, b), cfg, opts);
    wplus_parts.push_back(r.wplus.data().to(Device::cpu()));
    std::vector<Var> outs = f.all_res ? r.rgbs : std::vector<Var>{r.image};
    if (parts.empty()) parts.resize(outs.size());
    for (std::size_t k = 0; k < outs.size(); ++k) parts[k].push_back(outs[k].data().to(Device::cpu()));
    if (f.compare) {
      const auto t0 = std::chrono::steady_clock::now();
      full_parts.push_back(g.generate(narrow(latents, 0, i, b), full_cfg, full_opts).image.data().to(Device::cpu()));
      full_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() - full_seconds;
    const std::int64_t done = i + b;
    if (n > b && (tty || done == n || done * 10 / n != i * 10 / n))
      std::fprintf(stderr, "%s  [%lld/%lld] %.1f ms/image, %.1f s left%s", tty ? "\r" : "",
                   static_cast<long long>(done), static_cast<long long>(n), el * 1e3 / static_cast<double>(done),
                   el / static_cast<double>(done) * static_cast<double>(n - done), tty && done < n ? "" : "\n");
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() - full_seconds;
  std::printf("  time        %.2f ms/image (%lld images in %.3f s, mapping and synthesis)\n",
              seconds * 1e3 / static_cast<double>(n), static_cast<long long>(n), seconds);

  // ---- write ----
  std::vector<Tensor> images;
  for (auto& p : parts) {
    std::vector<Var> vs(p.begin(), p.end());
    images.push_back(vs.size() == 1 ? p[0] : cat(vs, 0).data());
  }
  Tensor full_images;
  if (f.compare) {
    std::vector<Var> vs(full_parts.begin(), full_parts.end());
    full_images = vs.size() == 1 ? full_parts[0] : cat(vs, 0).data();
    std::printf("  compare     full generator %.2f ms/image; sub-network vs full on the same latents: mean PSNR\n"
                "              %.2f dB (full downsampled to %lld px)\n",
                full_seconds * 1e3 / static_cast<double>(n), mean_psnr(images.back(), full_images),
                static_cast<long long>(images.back().size(2)));
  }
  // The PNG grid: with --compare, rows of (up to) 8 full renders, each followed by its row of sub-network images.
  const auto grid_of = [&](const Tensor& sub) -> std::pair<Tensor, int> {
    const Tensor clamped = Var(clamp(Var(sub), -1.0, 1.0)).data();
    if (!f.compare) return {clamped, 0};
    const std::int64_t cols = std::min<std::int64_t>(n, 8), big = full_images.size(2);
    const Tensor up = upscale_nearest(clamped, big / sub.size(2));
    const Tensor fullc = Var(clamp(Var(full_images), -1.0, 1.0)).data();
    const std::int64_t rows = (n + cols - 1) / cols;
    const Tensor tiles = Tensor::full(Shape{2 * rows * cols, 3, big, big}, -1.0, up.dtype(), up.device());
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t r = i / cols, c = i % cols;
      tiles.select(0, 2 * r * cols + c).copy_(fullc.select(0, i));
      tiles.select(0, (2 * r + 1) * cols + c).copy_(up.select(0, i));
    }
    return {tiles, static_cast<int>(cols)};
  };
  for (const std::string& out : f.outs) {
    const std::filesystem::path path(out);
    if (path.extension() == ".safetensors") {
      std::vector<std::pair<std::string, Tensor>> items;
      items.emplace_back("images", images.back().to(DType::float32));
      if (f.all_res)
        for (std::size_t k = 0; k + 1 < images.size(); ++k)
          items.emplace_back("images_" + std::to_string(images[k].size(2)), images[k].to(DType::float32));
      if (f.compare) items.emplace_back("images_full", full_images.to(DType::float32));
      std::vector<Var> ws(wplus_parts.begin(), wplus_parts.end());
      items.emplace_back("wplus", (ws.size() == 1 ? wplus_parts[0] : cat(ws, 0).data()).to(DType::float32));
      outputs.write(out, "--out", [&](const std::filesystem::path& p) {
        io::save_safetensors(p, items, {{"sub-network", cfg.describe()}, {"model", model_text}});
      });
      std::printf("  wrote       %s (images [%lld, 3, %lld, %lld]%s, wplus)\n", out.c_str(), static_cast<long long>(n),
                  static_cast<long long>(images.back().size(2)), static_cast<long long>(images.back().size(3)),
                  f.all_res ? " and every lower resolution" : "");
    } else {
      const auto [grid_src, cols] = grid_of(images.back());
      outputs.write(out, "--out", [&](const std::filesystem::path& p) { io::save_image_grid(p, grid_src, cols); });
      std::printf("  wrote       %s%s\n", out.c_str(), f.compare ? " (full renders above their sub-network images)" : "");
      if (f.all_res)
        for (std::size_t k = 0; k + 1 < images.size(); ++k) {
          std::filesystem::path low = path;
          low.replace_filename(path.stem().string() + "_" + std::to_string(images[k].size(2)) + ".png");
          const auto [low_src, low_cols] = grid_of(images[k]);
          outputs.write(low.string(), "--out", [&](const std::filesystem::path& p) { io::save_image_grid(p, low_src, low_cols); });
          std::printf("  wrote       %s\n", low.string().c_str());
        }
    }
  }
  outputs.commit();
  if (f.outs.empty()) std::printf("  (no --out given: nothing written)\n");
  return 0;
}

}  // namespace anycost_cli
