// The 'anycost project' command: the W+ latents of real images.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <anycost/io/image_grid.hpp>
#include <anycost/io/safetensors.hpp>
#include <anycost/projection.hpp>

#include "common.hpp"

namespace anycost_cli {

// ---- anycost project ----------------------------------------------------------------------------------------

struct ProjectFlags {
  std::string model;
  std::vector<std::string> images, positional_images;
  projection::Optimizer optimizer = projection::Optimizer::lbfgs;
  int steps = 100;
  double lr = 0, mse_weight = 1, sub_weight = 0;
  std::vector<double> sub_ratios{0.25, 0.5};
  std::string lpips, out, png, encoder;
  int threads = 0;
};

CLI::App* add_project(CLI::App& app, ProjectFlags& f) {
  CLI::App* cmd = app.add_subcommand("project", "find the W+ latent of real images (optimisation, consistency-aware)");
  cmd->footer(
      "Optimises W+ so that the generator renders each image (resized and centre-cropped to its resolution),\n"
      "with MSE (+ LPIPS when --lpips gives weights) and, with --sub-weight A, A times the same loss of the\n"
      "sub-generators at --sub-ratios, so that cheap previews of the latent match the image too.\n"
      "Writes tensor `wplus` [N, n_style, style_dim] for 'anycost generate --latents' and a PNG: each image,\n"
      "its full render and its previews.\n"
      "With --encoder E (from 'anycost train-encoder' or tools/convert_checkpoint.py --entry encoder) W+ starts\n"
      "at the encoder's guess (the image resized to the encoder's input) instead of the mean w; the PSNR of\n"
      "that guess is reported before the refinement.\n"
      "\n"
      "example:\n"
      "  anycost project --image face.png --sub-weight 1 --out face-wplus.safetensors --png face.png");
  add_model_flag(*cmd, f.model);
  cmd->add_option("--image", f.images, "an image to project (PNG or JPEG); may be repeated")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("images", f.positional_images, "images to project, as --image (anycost project IMAGE... --out F)")
      ->check(CLI::ExistingFile)
      ->option_text("IMAGE...");
  add_choice(*cmd, "--optimizer", f.optimizer,
             {{"lbfgs", projection::Optimizer::lbfgs}, {"adam", projection::Optimizer::adam}},
             "L-BFGS (default, as the official projection) or Adam");
  cmd->add_option("--steps", f.steps, "iterations (default 100)")->check(at_least_one)->option_text("K");
  cmd->add_option("--lr", f.lr, "step size (default: L-BFGS 1, Adam 0.01)")
      ->check(must_be<double>("> 0", [](double v) { return v > 0; }))
      ->option_text("LR");
  cmd->add_option("--mse-weight", f.mse_weight, "weight of the MSE term (default 1)")
      ->check(must_be<double>(">= 0", [](double v) { return v >= 0; }))
      ->option_text("W");
  cmd->add_option("--sub-weight", f.sub_weight, "weight of the sub-generator term (default 0: off)")
      ->check(must_be<double>(">= 0", [](double v) { return v >= 0; }))
      ->option_text("A");
  cmd->add_option("--sub-ratios", f.sub_ratios, "uniform channel ratios of the sub-generators (default 0.25,0.5)")
      ->delimiter(',')
      ->check(must_be<double>("in (0, 1]", [](double r) { return r > 0 && r <= 1; }))
      ->option_text("r1,r2,...");
  cmd->add_option("--lpips", f.lpips, "LPIPS weights (tools/convert_lpips.py) for the perceptual term")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--encoder", f.encoder, "an encoder whose W+ guess starts the optimisation (default: the mean w)")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");
  cmd->add_option("--out", f.out, "the latents to write (.safetensors, tensor wplus)")->required()->option_text("FILE");
  cmd->add_option("--png", f.png, "also a PNG: image, full render, previews per row")->option_text("FILE");
  return cmd;
}

int run_project(const ProjectFlags& flags) {
  ProjectFlags f = flags;
  f.images.insert(f.images.end(), f.positional_images.begin(), f.positional_images.end());
  if (f.images.empty()) throw UsageError("no image to project: give IMAGE or --image FILE");
  if (f.threads > 0) set_num_threads(f.threads);
  Outputs outputs;
  std::string model;
  Generator g = load_model_flag(f.model, model);
  nn::set_requires_grad(g, false);  // only W+ is optimised
  const std::int64_t r = g.resolution();
  std::vector<Var> targets;
  for (const std::string& file : f.images)
    targets.emplace_back(io::resize_center_crop(io::read_image(file), r).unsqueeze(0));
  const Tensor x = cat(targets, 0).data();

  std::optional<losses::Lpips> lpips;
  if (!f.lpips.empty()) lpips = losses::Lpips::load(f.lpips);
  projection::ProjectOptions o;
  o.optimizer = f.optimizer;
  o.steps = f.steps;
  o.lr = f.lr;
  o.mse_weight = f.mse_weight;
  o.lpips = lpips ? &*lpips : nullptr;
  o.sub_weight = f.sub_weight;
  const ChannelTable& table = g.channel_table();
  try {
    for (double ratio : f.sub_ratios) o.sub_configs.push_back(table.uniform(ratio, static_cast<int>(r)));
    if (o.sub_weight > 0) o.sub_configs.push_back(table.full(static_cast<int>(r / 2)));
  } catch (const ValueError& e) {
    throw UsageError(e.what());
  }
  if (o.sub_weight == 0) o.sub_configs.clear();
  std::optional<Encoder> encoder;
  if (!f.encoder.empty()) {
    encoder = load_encoder(f.encoder);
    if (encoder->n_style() != g.n_style() || encoder->style_dim() != g.style_dim())
      throw UsageError("--encoder: '" + f.encoder + "' predicts W+ " + std::to_string(encoder->n_style()) + "x" +
                       std::to_string(encoder->style_dim()) + ", the generator takes " + std::to_string(g.n_style()) +
                       "x" + std::to_string(g.style_dim()));
  }
  std::printf("anycost project\n  model       %s\n  images      %zu, at %lldx%lld\n  objective   %g MSE%s", model.c_str(),
              f.images.size(), static_cast<long long>(r), static_cast<long long>(r), f.mse_weight,
              lpips ? " + LPIPS" : " (no --lpips: no perceptual term)");
  if (o.sub_weight > 0) {
    std::printf(" + %g x mean over", o.sub_weight);
    for (const SubnetConfig& c : o.sub_configs) std::printf(" [%s]", c.describe().c_str());
  }
  std::printf("\n  optimiser   %s, %d steps\n", f.optimizer == projection::Optimizer::lbfgs ? "L-BFGS" : "Adam", f.steps);
  if (encoder) {
    // The encoder sees the image at its own input resolution, as the official tools/project.py feeds it.
    NoGradGuard no_grad;
    const Encoder& e = *encoder;
    o.init = e.forward(encoder_input(Var(x), e.resolution()));
    const Tensor guess = g.synthesize(o.init, table.full(static_cast<int>(r))).image.data();
    const double mse = mean(square(clamp(Var(guess), -1.0, 1.0) - Var(x))).data().item();
    std::printf("  start       encoder %s (%dx%d input): mse %.5g (PSNR %.2f dB)\n", f.encoder.c_str(), e.resolution(),
                e.resolution(), mse, 10 * std::log10(4.0 / std::max(mse, 1e-20)));
  } else {
    // project() would start here too (the mean of mean_samples seeded z); computed here to report its PSNR.
    NoGradGuard no_grad;
    Rng rng(o.seed);
    const Var mean_w = g.mean_w(o.mean_samples, rng);
    o.init = Var(mean_w.data().reshape({1, 1, g.style_dim()}).expand({x.size(0), g.n_style(), g.style_dim()}).contiguous());
    const Tensor guess = g.synthesize(o.init, table.full(static_cast<int>(r))).image.data();
    const double mse = mean(square(clamp(Var(guess), -1.0, 1.0) - Var(x))).data().item();
    std::printf("  start       the mean w: mse %.5g (PSNR %.2f dB)\n", mse, 10 * std::log10(4.0 / std::max(mse, 1e-20)));
  }
  std::fflush(stdout);
  o.on_step = [&](const projection::ProjectStep& s) {
    if (s.step % 10 == 0 || s.step == f.steps)
      std::fprintf(stderr, "  step %d/%d  loss %.5g  mse %.5g  %.2f s/step  ETA %.0f s\n", s.step, f.steps, s.loss,
                   s.mse, s.seconds / s.step, s.seconds / s.step * (f.steps - s.step));
  };
  const projection::ProjectResult res = projection::project(g, x, o);
  const projection::ProjectStep& last = res.history.back();
  std::printf("  result      mse %.5g (PSNR %.2f dB) after %zu steps, %.1f s (%s)\n", res.mse,
              10 * std::log10(4.0 / std::max(res.mse, 1e-20)), res.history.size(), last.seconds, res.stop.c_str());
  outputs.write(f.out, "--out", [&](const std::filesystem::path& p) {
    io::save_safetensors(p, {{"wplus", res.wplus.to(DType::float32)}}, {{"model", model}});
  });
  std::printf("  wrote       %s (wplus [%lld, %lld, %lld])\n", f.out.c_str(), static_cast<long long>(res.wplus.size(0)),
              static_cast<long long>(res.wplus.size(1)), static_cast<long long>(res.wplus.size(2)));
  if (!f.png.empty()) {
    // Per image: the target, the full render, and each uniform-ratio preview (at full resolution).
    NoGradGuard no_grad;
    std::vector<Var> tiles;
    const Var w(res.wplus);
    std::vector<Tensor> previews;
    for (double ratio : f.sub_ratios) previews.push_back(g.synthesize(w, table.uniform(ratio, static_cast<int>(r))).image.data());
    for (std::int64_t i = 0; i < x.size(0); ++i) {
      tiles.emplace_back(x.select(0, i).unsqueeze(0));
      tiles.emplace_back(res.image.select(0, i).unsqueeze(0));
      for (const Tensor& p : previews) tiles.emplace_back(p.select(0, i).unsqueeze(0));
    }
    outputs.write(f.png, "--png", [&](const std::filesystem::path& p) {
      io::save_image_grid(p, Var(clamp(cat(tiles, 0), -1.0, 1.0)).data(), static_cast<int>(2 + previews.size()));
    });
    std::printf("  wrote       %s (per row: image, full render, ratio", f.png.c_str());
    for (double ratio : f.sub_ratios) std::printf(" %g", ratio);
    std::printf(")\n");
  }
  outputs.commit();
  return 0;
}

}  // namespace anycost_cli
