// The 'anycost train-encoder' command: the projection encoder, image -> W+.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <anycost/projection.hpp>
#include <anycost/train.hpp>

#include "common.hpp"

namespace anycost_cli {

// ---- anycost train-encoder ----------------------------------------------------------------------------------

struct TrainEncoderFlags {
  std::string model, out, lpips, init;
  projection::EncoderTrainOptions opts;
  std::vector<int> blocks{1, 1, 1, 1};
  int base_width = 16;
  std::optional<int> res;
  int threads = 0;
  int save_every = 500;
  std::int64_t eval_samples = 64;
  std::string layout = "small";
};

CLI::App* add_train_encoder(CLI::App& app, TrainEncoderFlags& f) {
  CLI::App* cmd = app.add_subcommand("train-encoder", "train the projection encoder (image -> W+) on the generator's samples");
  cmd->footer(
      "Trains a ResNet encoder that predicts the W+ latent of an image, the first guess of 'anycost project\n"
      "--encoder'. The objective is Anycost GAN's consistency-aware one: MSE (+ LPIPS with --lpips) of the full\n"
      "generator's render of E(x) against x, plus --sub-weight times the same for a random uniform sub-generator\n"
      "(--sub-ratios), on samples of the frozen generator (whose true W+ is known: --w-weight adds a W+ regression\n"
      "term). Adam; progress lines with step, rate, ETA and the loss terms; the encoder is written atomically\n"
      "every --save-every steps and at the end, with the held-out reconstruction PSNR before and after.\n"
      "--layout resnet50 is the official architecture (blocks 3,4,6,3, base width 64, 256x256 input).\n"
      "\n"
      "example:\n"
      "  anycost train-encoder --steps 2000 --batch 8 --out examples/models/emoji64/encoder.safetensors --threads 2");
  add_model_flag(*cmd, f.model);
  cmd->add_option("--out", f.out, "the encoder file to write (required)")->required()->option_text("FILE");
  cmd->add_option("--init", f.init, "continue from this encoder file (its architecture wins)")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--steps", f.opts.steps, "Adam steps (default 1000)")->check(at_least_one)->option_text("N");
  cmd->add_option("--batch", f.opts.batch, "samples per step (default 8)")
      ->check(must_be<std::int64_t>(">= 2 (batch statistics)", [](std::int64_t b) { return b >= 2; }))
      ->option_text("B");
  cmd->add_option("--lr", f.opts.lr, "Adam learning rate (default 0.001)")
      ->check(must_be<double>("> 0", [](double v) { return v > 0 && std::isfinite(v); }))
      ->option_text("LR");
  cmd->add_option("--sub-weight", f.opts.sub_weight, "alpha, weight of the sub-generator term (default 1)")
      ->check(must_be<double>(">= 0", [](double v) { return v >= 0; }))
      ->option_text("A");
  cmd->add_option("--sub-ratios", f.opts.sub_ratios, "uniform channel ratios drawn from (default 0.25,0.5,0.75,1)")
      ->delimiter(',')
      ->check(must_be<double>("in (0, 1]", [](double r) { return r > 0 && r <= 1; }))
      ->option_text("r1,r2,...");
  cmd->add_option("--w-weight", f.opts.w_weight, "weight of the W+ regression term (default 0: off)")
      ->check(must_be<double>(">= 0", [](double v) { return v >= 0; }))
      ->option_text("W");
  cmd->add_option("--lpips", f.lpips, "LPIPS weights (tools/convert_lpips.py) for the perceptual term")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--layout", f.layout, "small (default: --blocks/--base-width) or resnet50 (the official encoder)")
      ->check(CLI::IsMember({"small", "resnet50"}))
      ->option_text("small|resnet50");
  cmd->add_option("--blocks", f.blocks, "bottlenecks per stage (default 1,1,1,1)")
      ->delimiter(',')
      ->check(must_be<int>("in 1..64", [](int v) { return v >= 1 && v <= 64; }))
      ->option_text("b1,b2,...");
  cmd->add_option("--base-width", f.base_width, "planes of the first stage (default 16)")
      ->check(must_be<int>("in 1..1024", [](int v) { return v >= 1 && v <= 1024; }))
      ->option_text("C");
  cmd->add_option("--res", f.res, "encoder input resolution (default: the generator's, at most 256)")
      ->check(must_be<int>("in 8..4096", [](int v) { return v >= 8 && v <= 4096; }))
      ->option_text("R");
  cmd->add_option("--save-every", f.save_every, "write the encoder every K steps (default 500)")
      ->check(at_least_one)
      ->option_text("K");
  cmd->add_option("--eval-samples", f.eval_samples, "held-out samples for the PSNR report (default 64)")
      ->check(at_least_one)
      ->option_text("N");
  cmd->add_option("--seed", f.opts.seed, "samples, initialisation and sub-generators (default 0)")->option_text("S");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");
  return cmd;
}

int run_train_encoder(const TrainEncoderFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  std::string model;
  Generator g = load_model_flag(f.model, model);
  nn::set_requires_grad(g, false);  // only the encoder learns
  std::optional<losses::Lpips> lpips;
  if (!f.lpips.empty()) lpips = losses::Lpips::load(f.lpips);
  projection::EncoderTrainOptions o = f.opts;
  o.lpips = lpips ? &*lpips : nullptr;
  Encoder e;
  if (!f.init.empty()) {
    e = load_encoder(f.init);
    o.init_mean_latent = false;
  } else {
    EncoderConfig cfg;
    if (f.layout == "small") {
      cfg.blocks = f.blocks;
      cfg.base_width = f.base_width;
    }
    cfg.resolution = f.res ? *f.res : std::min(g.resolution(), 256);
    cfg.n_style = g.n_style();
    cfg.style_dim = static_cast<int>(g.style_dim());
    try {
      cfg.validate();
    } catch (const ValueError& err) {
      throw UsageError(err.what());
    }
    Rng rng(f.opts.seed + 1);
    e = Encoder(cfg, rng);
  }
  if (e.n_style() != g.n_style() || e.style_dim() != g.style_dim())
    throw UsageError("--init: '" + f.init + "' predicts W+ " + std::to_string(e.n_style()) + "x" +
                     std::to_string(e.style_dim()) + ", the generator takes " + std::to_string(g.n_style()) + "x" +
                     std::to_string(g.style_dim()));
  try {  // bad --sub-ratios for this generator: a flag error
    for (double ratio : o.sub_ratios) (void)g.channel_table().uniform(ratio);
  } catch (const ValueError& err) {
    throw UsageError(err.what());
  }
  std::ostringstream blocks;
  for (std::size_t i = 0; i < e.config().blocks.size(); ++i) blocks << (i ? "," : "") << e.config().blocks[i];
  std::printf("anycost train-encoder\n  model       %s (%dx%d, W+ %dx%lld)\n", model.c_str(), g.resolution(),
              g.resolution(), g.n_style(), static_cast<long long>(g.style_dim()));
  std::printf("  encoder     ResNet blocks %s, base width %d, %dx%d input, %lld parameters%s\n", blocks.str().c_str(),
              e.config().base_width, e.resolution(), e.resolution(), static_cast<long long>(nn::parameter_count(e)),
              f.init.empty() ? "" : (" (from " + f.init + ")").c_str());
  std::printf("  objective   %g MSE%s + %g x sub-generator (ratios", o.mse_weight,
              lpips ? " + LPIPS" : " (no --lpips: no perceptual term)", o.sub_weight);
  for (double r : o.sub_ratios) std::printf(" %g", r);
  std::printf(")%s\n", o.w_weight > 0 ? (" + " + std::to_string(o.w_weight) + " x W+ MSE").c_str() : "");
  std::printf("  training    %d steps, batch %lld, Adam lr %g, seed %llu, %d CPU threads\n", o.steps,
              static_cast<long long>(o.batch), o.lr, static_cast<unsigned long long>(o.seed), get_num_threads());
  std::fflush(stdout);
  const auto save = [&](const Encoder& enc, int step, const std::string& extra_key = {}, const std::string& extra = {}) {
    std::map<std::string, std::string> meta{{"model", model}, {"step", std::to_string(step)},
                                            {"seed", std::to_string(o.seed)}};
    if (!extra_key.empty()) meta[extra_key] = extra;
    save_encoder(f.out, enc, meta);
  };
  o.checkpoint_every = f.save_every;
  o.on_checkpoint = [&](int step, const Encoder& enc) {
    save(enc, step);
    std::printf("  saved       %s (step %d)\n", f.out.c_str(), step);
    std::fflush(stdout);
  };
  const std::uint64_t eval_seed = o.seed + 12345;  // held out: never a training sample's stream
  if (o.init_mean_latent) {  // the fresh encoder's guess is the mean w: evaluate it with that mean in place
    Rng rng(o.seed);
    NoGradGuard no_grad;
    e.mean_latent = g.mean_w(o.mean_samples, rng).data().clone();
  }
  const projection::EncoderEvaluation before = projection::evaluate_encoder(e, g, f.eval_samples, eval_seed);
  std::printf("  before      held-out PSNR %.2f dB (mse %.5g); mean-w guess %.2f dB\n", before.psnr, before.mse,
              before.mean_w_psnr);
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  projection::train_encoder(e, g, o, [](const projection::EncoderTrainProgress& p) {
    std::printf("  step %d/%d | loss %.5f | mse %.5f", p.step, p.steps, p.loss.total, p.loss.mse);
    if (p.loss.lpips > 0) std::printf(" | lpips %.4f", p.loss.lpips);
    if (p.loss.sub_mse > 0) std::printf(" | sub mse %.5f", p.loss.sub_mse);
    if (p.loss.sub_lpips > 0) std::printf(" | sub lpips %.4f", p.loss.sub_lpips);
    if (p.loss.w_mse > 0) std::printf(" | w mse %.5f", p.loss.w_mse);
    std::printf(" | %.1f img/s | ETA %s\n", p.images_per_second, train::format_duration(p.eta_seconds).c_str());
    std::fflush(stdout);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const projection::EncoderEvaluation after = projection::evaluate_encoder(e, g, f.eval_samples, eval_seed);
  std::printf("  after       held-out PSNR %.2f dB (mse %.5g); mean-w guess %.2f dB; %.1f s\n", after.psnr, after.mse,
              after.mean_w_psnr, seconds);
  std::ostringstream psnr;
  psnr << after.psnr;
  save(e, o.steps, "heldout_psnr", psnr.str());
  std::printf("  wrote       %s\n", f.out.c_str());
  return 0;
}

}  // namespace anycost_cli
