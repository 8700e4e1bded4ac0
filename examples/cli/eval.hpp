// The 'anycost train-classifier' and 'anycost eval' commands: the evaluation classifier and the evaluation.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <anycost/eval.hpp>
#include <anycost/train.hpp>

#include "common.hpp"

namespace anycost_cli {

// ---- anycost train-classifier / anycost eval (anycost/eval.hpp) -------------------------------------------

struct TrainClassifierFlags {
  std::string data, labels, out;
  evaluation::ClassifierTrainOptions opts;
  int res = 64;
  int threads = 0;
};

CLI::App* add_train_classifier(CLI::App& app, TrainClassifierFlags& f) {
  CLI::App* cmd = app.add_subcommand(
      "train-classifier", "train the small classifier whose features 'anycost eval' compares (an FID stand-in)");
  cmd->footer(
      "Trains a small CNN (strided 3x3 convolutions, global average pool, linear head) on an image folder and its\n"
      "labels.json (tools/make_emoji_dataset.py: categories and skin tone as multi-label targets), holding out a\n"
      "seeded fraction of the images. Prints progress and the held-out accuracy per label against the majority\n"
      "baseline; writes the classifier (safetensors) for 'anycost eval --classifier'.\n"
      "\n"
      "example:\n"
      "  anycost train-classifier --data data/emoji64/images --labels data/emoji64/labels.json \\\n"
      "                           --out classifier.safetensors --threads 2");
  cmd->add_option("--data", f.data, "the image folder (required)")->required()->check(CLI::ExistingDirectory)->option_text("DIR");
  cmd->add_option("--labels", f.labels, "labels.json of the folder (required)")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--out", f.out, "the classifier file to write (required)")->required()->option_text("FILE");
  cmd->add_option("--res", f.res, "input resolution: images are resized to it (default 64)")
      ->check(must_be<int>("in 8..1024", [](int v) { return v >= 8 && v <= 1024; }))
      ->option_text("R");
  cmd->add_option("--epochs", f.opts.epochs, "passes over the training images (default 12)")
      ->check(at_least_one)
      ->option_text("N");
  cmd->add_option("--batch", f.opts.batch, "images per step (default 32)")->check(at_least_one)->option_text("B");
  cmd->add_option("--lr", f.opts.lr, "Adam learning rate, cosine-decayed to 0 (default 0.002)")
      ->check(must_be<double>("> 0", [](double v) { return v > 0 && std::isfinite(v); }))
      ->option_text("LR");
  cmd->add_option("--holdout", f.opts.holdout, "fraction of the images held out (default 0.1)")
      ->check(must_be<double>("in (0, 0.5]", [](double v) { return v > 0 && v <= 0.5; }))
      ->option_text("F");
  cmd->add_option("--channels", f.opts.channels, "widths of the strided convolutions (default 32,64,128,256)")
      ->delimiter(',')
      ->check(must_be<int>("in 1..4096", [](int v) { return v >= 1 && v <= 4096; }))
      ->option_text("c1,c2,...");
  cmd->add_option("--seed", f.opts.seed, "split, initialisation, order and flips (default 0)")->option_text("S");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");
  return cmd;
}

int run_train_classifier(const TrainClassifierFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  const evaluation::Labels labels = evaluation::read_labels(f.labels);
  const int res = f.res;
  io::ImageFolder folder(io::ImageFolderOptions{f.data, {res}});
  std::printf("anycost train-classifier\n");
  std::printf("  data        %s: %zu images at %dx%d\n", f.data.c_str(), folder.size(), res, res);
  std::printf("  labels      %s: %zu entries, %zu labels:", f.labels.c_str(), labels.size(), labels.n_labels());
  for (const std::string& n : labels.names()) std::printf(" %s", n.c_str());
  std::printf("\n");
  std::ostringstream widths;
  for (std::size_t i = 0; i < f.opts.channels.size(); ++i) widths << (i ? ", " : "") << f.opts.channels[i];
  std::printf("  network     3x3 stride-2 convolutions [%s], average pool, linear head\n", widths.str().c_str());
  std::printf("  training    %d epochs, batch %lld, Adam lr %g (cosine), holdout %g, seed %llu, %d CPU threads\n",
              f.opts.epochs, static_cast<long long>(f.opts.batch), f.opts.lr, f.opts.holdout,
              static_cast<unsigned long long>(f.opts.seed), get_num_threads());
  std::fflush(stdout);
  const evaluation::ClassifierTrainResult r =
      evaluation::train_classifier(folder, labels, f.opts, [](const evaluation::ClassifierProgress& p) {
        std::printf("  epoch %d/%d | step %lld/%lld | loss %.4f | acc %.4f | %.1f img/s | ETA %s", p.epoch, p.epochs,
                    static_cast<long long>(p.step), static_cast<long long>(p.steps), p.loss, p.accuracy,
                    p.images_per_second, train::format_duration(p.eta_seconds).c_str());
        if (p.epoch_end) std::printf(" | held-out acc %.4f", p.heldout_accuracy);
        std::printf("\n");
        std::fflush(stdout);
      });
  const evaluation::HeldoutReport& h = r.heldout;
  std::printf("  held-out    %lld images (trained on %lld), %.1f s\n", static_cast<long long>(r.n_heldout),
              static_cast<long long>(r.n_train), r.seconds);
  std::printf("  | label | held-out positives | accuracy | majority baseline | balanced accuracy |\n"
              "  |---|---|---|---|---|\n");
  for (const evaluation::LabelAccuracy& l : h.labels)
    std::printf("  | %s | %lld | %.4f | %.4f | %.4f |\n", l.name.c_str(), static_cast<long long>(l.positives),
                l.accuracy, l.majority, l.balanced);
  std::printf("  | mean | | %.4f | %.4f | |\n", h.mean_accuracy, h.mean_majority);
  std::printf("  all labels right on %.4f of the held-out images; held-out loss %.4f\n", h.exact_match, h.loss);
  std::ostringstream acc, maj;
  acc << h.mean_accuracy;
  maj << h.mean_majority;
  evaluation::save_classifier(f.out, r.classifier,
                              {{"data", f.data},
                               {"labels_file", f.labels},
                               {"seed", std::to_string(f.opts.seed)},
                               {"epochs", std::to_string(f.opts.epochs)},
                               {"heldout_images", std::to_string(r.n_heldout)},
                               {"heldout_mean_accuracy", acc.str()},
                               {"heldout_majority_accuracy", maj.str()}});
  std::printf("  wrote       %s\n", f.out.c_str());
  return 0;
}

struct EvalFlags {
  std::string model, classifier, data, lpips, json;
  std::vector<double> ratios = {1.0, 0.75, 0.5, 0.25};
  std::vector<int> res;
  bool grid = false;
  evaluation::EvalOptions opts;
  int threads = 0;
};

CLI::App* add_eval(CLI::App& app, EvalFlags& f) {
  CLI::App* cmd = app.add_subcommand(
      "eval", "measure a generator: FD vs real images, PSNR/LPIPS vs full, latency and MACs per sub-network");
  cmd->footer(
      "For each configuration (every --ratios at the model's resolution, full width at every other --res; with\n"
      "--grid every ratio at every resolution): a Frechet distance between classifier features of --n generated\n"
      "and of all real images at that resolution (the classifier of 'anycost train-classifier' stands in for\n"
      "Inception, whose weights are not available here: the numbers are not FIDs), PSNR (and LPIPS with\n"
      "--lpips) against the full generator on the same latents and noise, the median batch-1 latency and the\n"
      "MACs. Prints a markdown table; --json writes the report.\n"
      "\n"
      "example:\n"
      "  anycost eval --model generator.safetensors --classifier classifier.safetensors \\\n"
      "               --data data/emoji64/images --threads 2 --json eval.json");
  cmd->add_option("--model", f.model, "generator checkpoint, or a training checkpoint (its g_ema) (required)")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--classifier", f.classifier, "from 'anycost train-classifier' (required)")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--data", f.data, "the real image folder (required)")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->option_text("DIR");
  cmd->add_option("--n", f.opts.n, "generated images per configuration (default 2000)")
      ->check(must_be<std::int64_t>(">= 2", [](std::int64_t v) { return v >= 2; }))
      ->option_text("N");
  cmd->add_option("--ratios", f.ratios, "uniform channel ratios (default 1,0.75,0.5,0.25)")
      ->delimiter(',')
      ->check(must_be<double>("in (0, 1]", [](double r) { return r > 0 && r <= 1; }))
      ->option_text("r1,r2,...");
  cmd->add_option("--res", f.res, "output resolutions (default: the model's, its half and its quarter)")
      ->delimiter(',')
      ->option_text("R1,R2,...");
  cmd->add_flag("--grid", f.grid, "every ratio at every resolution");
  cmd->add_option("--lpips", f.lpips, "LPIPS weights (tools/convert_lpips.py); default: no LPIPS column")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--batch", f.opts.batch, "images per forward pass (default 16)")->check(at_least_one)->option_text("B");
  cmd->add_option("--latency-runs", f.opts.latency_runs, "batch-1 timings per configuration, median (default 20; 0: none)")
      ->check(must_be<int>(">= 0", [](int v) { return v >= 0; }))
      ->option_text("K");
  cmd->add_option("--seed", f.opts.seed, "latents, noise and the real-image halves (default 0)")->option_text("S");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");
  cmd->add_option("--json", f.json, "also write the report as JSON")->option_text("FILE");
  return cmd;
}

int run_eval(const EvalFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  NoGradGuard inference;
  std::string model_text;
  const Generator g = evaluation::load_eval_generator(f.model, &model_text);
  const evaluation::Classifier classifier = evaluation::load_classifier(f.classifier);
  std::vector<int> res = f.res;
  if (res.empty())
    for (int r = g.resolution(); r >= 8 && res.size() < 3; r /= 2) res.push_back(r);
  for (int r : res)
    if (!(r >= 4 && r <= g.resolution() && is_power_of_two(r)))
      throw UsageError("--res: " + std::to_string(r) + " is not a power of two from 4 to the model's " +
                       std::to_string(g.resolution()));
  const std::vector<evaluation::EvalConfig> configs = evaluation::eval_configs(f.ratios, res, g.resolution(), f.grid);
  std::vector<int> folder_res;
  for (const auto& c : configs) folder_res.push_back(c.resolution);
  std::sort(folder_res.begin(), folder_res.end(), std::greater<>());
  folder_res.erase(std::unique(folder_res.begin(), folder_res.end()), folder_res.end());
  io::ImageFolder real(io::ImageFolderOptions{f.data, folder_res});
  std::optional<losses::Lpips> lpips;
  if (!f.lpips.empty()) lpips.emplace(losses::Lpips::load(f.lpips));

  std::printf("anycost eval\n");
  std::printf("  model       %s\n", model_text.c_str());
  std::printf("  generator   %dx%d, style_dim %lld, n_mlp %d, widths %s\n", g.resolution(), g.resolution(),
              static_cast<long long>(g.style_dim()), g.config().n_mlp, widths_text(g.channel_table()).c_str());
  std::printf("  classifier  %s: %lld features at %dx%d, %lld labels\n", f.classifier.c_str(),
              static_cast<long long>(classifier.feature_dim()), classifier.resolution(), classifier.resolution(),
              static_cast<long long>(classifier.n_labels()));
  std::printf("  real        %s: %zu images\n", f.data.c_str(), real.size());
  std::printf("  samples     %lld per configuration, seed %llu, batch %lld, %zu configurations, %d CPU threads\n",
              static_cast<long long>(f.opts.n), static_cast<unsigned long long>(f.opts.seed),
              static_cast<long long>(f.opts.batch), configs.size(), get_num_threads());
  std::fflush(stdout);
  const bool tty = isatty(fileno(stderr));
  int last_decile = -1;
  const char* last_phase = "";
  const evaluation::EvalReport rep = evaluation::evaluate(
      g, classifier, real, configs, f.opts, lpips ? &*lpips : nullptr, [&](const evaluation::EvalProgress& p) {
        const int decile = static_cast<int>(p.done * 10 / p.total);
        if (std::string(p.phase) != last_phase) last_decile = -1;
        last_phase = p.phase;
        if (!tty && decile == last_decile) return;
        last_decile = decile;
        std::fprintf(stderr, "%s  [%s %lld/%lld] %.1f s%s", tty ? "\r" : "", p.phase, static_cast<long long>(p.done),
                     static_cast<long long>(p.total), p.seconds, tty && p.done < p.total ? "" : "\n");
      });
  std::printf("\n%s\n", evaluation::markdown_table(rep).c_str());
  std::printf(
      "FD: Frechet distance between the features of the classifier (%s), trained on the dataset's\n"
      "labels: Inception weights cannot be downloaded here, so these are not FIDs. Generated images are clamped\n"
      "to [-1, 1] and, like the real ones (at the row's resolution), resized bilinearly to %dx%d.\n"
      "PSNR%s: against the full generator's image (same latents and noise) downsampled bilinearly\n"
      "(align corners, as the consistency loss) to the row's resolution.\n"
      "Latency: median of %d batch-1 runs on %d threads. %lld generated images per row, %lld real images; %.1f s.\n",
      f.classifier.c_str(), classifier.resolution(), classifier.resolution(),
      lpips ? " and LPIPS" : " (LPIPS: n/a, no --lpips weights)", f.opts.latency_runs, rep.threads,
      static_cast<long long>(rep.n), static_cast<long long>(rep.n_real), rep.seconds);
  if (!f.json.empty()) {
    evaluation::write_eval_json(f.json, rep,
                                {{"model", model_text},
                                 {"classifier", f.classifier},
                                 {"data", f.data},
                                 {"lpips", f.lpips.empty() ? "none" : f.lpips},
                                 {"seed", std::to_string(f.opts.seed)},
                                 {"feature_space",
                                  "penultimate features of a classifier trained on the dataset's labels "
                                  "(not Inception: its weights cannot be downloaded here)"}});
    std::printf("wrote %s\n", f.json.c_str());
  }
  return 0;
}

}  // namespace anycost_cli
