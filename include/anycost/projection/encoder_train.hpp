// Training the projection encoder (models/encoder.hpp) with the consistency-aware objective of Anycost GAN
// (Lin et al. 2021, Sec. 3.3; the official encoder training code was never released):
//
//   E* = argmin_E  E_x[ L(G(E(x)), x) + alpha * L(G_c(E(x)), x_c) ] (+ w_weight * MSE(E(x), w+))
//   L  = mse_weight * MSE + LPIPS (when a network is given)
//
// on the frozen generator's own samples: z ~ N(0, I), w+ = broadcast(map(z)), x = G(w+) with the fixed noise
// maps, so the true latents are known and the optional W+ regression term can use them. G_c is one random
// uniform sub-generator per step: a channel ratio from sub_ratios and a resolution from sub_resolutions (the
// generator's own resolution when empty), x_c the target brought to its resolution (bilinear, align-corners).
// Only the encoder learns (Adam); gradients flow through G to E(x) without touching G's parameters.
//
// Batch normalisation trains with batch statistics and updates the running statistics after each step
// (PyTorch's train mode), or, with batch_stats = false, keeps the running statistics fixed (frozen BN, for
// batches too small for statistics). A fresh encoder starts with mean_latent = the generator's mean w, so its
// first guess is the usual mean-w initialisation.
//
// evaluate_encoder measures the reconstruction of a fixed set of samples (eval mode): the mean MSE and PSNR
// of G(E(x)) against x, and the same for the mean-w guess as the baseline.
#pragma once

#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "anycost/autograd/engine.hpp"
#include "anycost/autograd/grad_mode.hpp"
#include "anycost/losses/lpips.hpp"
#include "anycost/models/encoder.hpp"
#include "anycost/models/generator.hpp"
#include "anycost/ops/random.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/resize.hpp"
#include "anycost/optim/adam.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace projection {

struct EncoderTrainOptions {
  int steps = 1000;
  std::int64_t batch = 8;
  double lr = 1e-3;                       // Adam, betas 0.9 / 0.999
  double mse_weight = 1.0;
  const losses::Lpips* lpips = nullptr;   // the perceptual term, when weights are available
  double sub_weight = 1.0;                // alpha (1 in the paper)
  std::vector<double> sub_ratios = {0.25, 0.5, 0.75, 1.0};
  std::vector<int> sub_resolutions = {};  // empty: the generator's resolution only
  double w_weight = 0.0;                  // MSE between E(x) and the sample's true W+
  bool batch_stats = true;                // train-mode batch normalisation
  std::uint64_t seed = 0;
  std::int64_t mean_samples = 4096;       // z samples for the mean w (mean_latent of a fresh encoder)
  bool init_mean_latent = true;           // set mean_latent to the generator's mean w before training
  double log_every_seconds = 10.0;
  std::function<void(int step, const models::Encoder&)> on_checkpoint = {};  // every checkpoint_every steps
  int checkpoint_every = 0;               // 0: never (the caller saves the result)
};

struct EncoderLossTerms {
  double total = 0, mse = 0, lpips = 0, sub_mse = 0, sub_lpips = 0, w_mse = 0;
};

struct EncoderTrainProgress {
  int step = 0, steps = 0;
  EncoderLossTerms loss;             // mean over the steps since the last report
  double images_per_second = 0;
  double eta_seconds = 0;
  std::string sub;                   // the last step's sub-generator
};

struct EncoderEvaluation {
  double mse = 0, psnr = 0;             // G(E(x)) against x, mean over images
  double mean_w_mse = 0, mean_w_psnr = 0;  // the mean-w guess against x
};

namespace detail {

inline double psnr_of(double mse) { return 10.0 * std::log10(4.0 / std::max(mse, 1e-20)); }

// Samples of the generator: (W+ [B, n_style, style_dim], images [B, 3, R, R]), no graph.
template <class G>
std::pair<Var, Var> generator_samples(const G& g, std::int64_t batch, Rng& rng) {
  NoGradGuard no_grad;
  const Var z(randn({batch, g.style_dim()}, rng, g.dtype(), g.device()));
  const Var wplus = g.broadcast_styles(g.map(z));
  return {wplus, g.synthesize(wplus, g.channel_table().full(g.resolution())).image};
}

// L(img, x) per the options: (mse value, lpips value, the weighted sum as a Var).
inline std::tuple<double, double, Var> reconstruction_loss(const Var& img, const Var& x, const EncoderTrainOptions& o) {
  const Var mse = mean(square(img - x));
  Var l = mse * o.mse_weight;
  double lp = 0;
  if (o.lpips) {
    const Var d = mean(o.lpips->forward(clamp(img, -1.0, 1.0), x));
    lp = d.item();
    l = l + d;
  }
  return {mse.item(), lp, l};
}

}  // namespace detail

// The mean reconstruction error of G(E(x)) over n seeded samples (eval-mode BN), and of the mean-w guess.
template <class G>
EncoderEvaluation evaluate_encoder(const models::Encoder& e, const G& g, std::int64_t n, std::uint64_t seed,
                                   std::int64_t chunk = 8) {
  ANYCOST_CHECK(n >= 1 && chunk >= 1, ValueError, "evaluate_encoder: n ", n, " and chunk ", chunk, " must be >= 1");
  NoGradGuard no_grad;
  Rng rng(seed);
  Rng mean_rng(seed + 1);
  const Var mean_w = g.mean_w(4096, mean_rng);
  const auto full = g.channel_table().full(g.resolution());
  EncoderEvaluation r;
  double psnr = 0, mean_psnr = 0, mse = 0, mean_mse = 0;
  for (std::int64_t done = 0; done < n; done += chunk) {
    const std::int64_t b = std::min(chunk, n - done);
    const auto [wplus, x] = detail::generator_samples(g, b, rng);
    const Var img = g.synthesize(e.forward(models::encoder_input(x, e.resolution())), full).image;
    const Var avg_w(mean_w.data().reshape({1, g.style_dim()}).expand({b, g.style_dim()}).contiguous());
    const Var avg = g.synthesize(g.broadcast_styles(avg_w), full).image;
    const std::vector<double> per = mean(square(clamp(img, -1.0, 1.0) - x), {1, 2, 3}).data().template to_vector<double>();
    const std::vector<double> per_avg = mean(square(clamp(avg, -1.0, 1.0) - x), {1, 2, 3}).data().template to_vector<double>();
    for (std::int64_t i = 0; i < b; ++i) {
      mse += per[i];
      mean_mse += per_avg[i];
      psnr += detail::psnr_of(per[i]);
      mean_psnr += detail::psnr_of(per_avg[i]);
    }
  }
  const double dn = static_cast<double>(n);
  r.mse = mse / dn;
  r.psnr = psnr / dn;
  r.mean_w_mse = mean_mse / dn;
  r.mean_w_psnr = mean_psnr / dn;
  return r;
}

// Trains `e` in place for o.steps steps on samples of the frozen generator `g` (see the top of this file);
// on_progress gets a report every log_every_seconds and at the last step. Returns the loss terms of the last
// report.
template <class G>
EncoderLossTerms train_encoder(models::Encoder& e, const G& g, const EncoderTrainOptions& o,
                               const std::function<void(const EncoderTrainProgress&)>& on_progress = {}) {
  ANYCOST_CHECK(o.steps >= 1 && o.batch >= 1, ValueError, "train_encoder: steps ", o.steps, " and batch ", o.batch,
                " must be >= 1");
  ANYCOST_CHECK(!o.batch_stats || o.batch >= 2, ValueError,
                "train_encoder: batch statistics need a batch of 2 or more (or batch_stats = false)");
  ANYCOST_CHECK(o.lr > 0 && o.mse_weight >= 0 && o.sub_weight >= 0 && o.w_weight >= 0, ValueError,
                "train_encoder: lr must be > 0 and the weights >= 0");
  ANYCOST_CHECK(o.mse_weight > 0 || o.lpips || o.w_weight > 0, ValueError, "train_encoder: every loss weight is 0");
  ANYCOST_CHECK(o.sub_weight == 0 || !o.sub_ratios.empty(), ValueError, "train_encoder: sub_weight > 0 needs sub_ratios");
  ANYCOST_CHECK(e.n_style() == g.n_style() && e.style_dim() == g.style_dim(), ShapeError, "train_encoder: the encoder predicts W+ ",
                e.n_style(), "x", e.style_dim(), ", the generator takes ", g.n_style(), "x", g.style_dim());
  ANYCOST_CHECK(e.dtype() == g.dtype() && e.device() == g.device(), ValueError,
                "train_encoder: encoder and generator differ in dtype or device");
  // Sub-generators, validated up front (a bad ratio or resolution fails here, not at step 517).
  std::vector<models::SubnetConfig> subs;
  const std::vector<int> res = o.sub_resolutions.empty() ? std::vector<int>{g.resolution()} : o.sub_resolutions;
  for (double ratio : o.sub_ratios)
    for (int r : res) subs.push_back(g.channel_table().uniform(ratio, r));
  const auto full = g.channel_table().full(g.resolution());

  Rng rng(o.seed);
  if (o.init_mean_latent) {
    NoGradGuard no_grad;
    e.mean_latent = g.mean_w(o.mean_samples, rng).data().clone();
  }
  std::vector<Var> params;
  nn::visit_parameters(e, [&](const std::string&, Var& p) {
    p.set_requires_grad(true);
    params.push_back(p);
  });
  optim::AdamOptions ao;
  ao.lr = o.lr;
  optim::Adam adam(params, ao);
  GradModeGuard grad_on(true);

  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  EncoderLossTerms acc, last;
  int acc_steps = 0;
  std::string sub_name;
  for (int step = 1; step <= o.steps; ++step) {
    const auto [wplus, x] = detail::generator_samples(g, o.batch, rng);
    std::vector<nn::BatchStats> stats;
    const Var w_hat = e.forward(models::encoder_input(x, e.resolution()), o.batch_stats ? &stats : nullptr);
    EncoderLossTerms t;
    auto [mse, lp, total] = detail::reconstruction_loss(g.synthesize(w_hat, full).image, x, o);
    t.mse = mse;
    t.lpips = lp;
    if (o.sub_weight > 0) {
      const models::SubnetConfig& c = subs[rng.uniform_int(static_cast<std::uint32_t>(subs.size()))];
      sub_name = c.describe();
      const std::int64_t r = c.resolution();
      const Var xc = r == x.size(2) ? x : resize_bilinear(x, r, r, AlignCorners::yes);
      auto [smse, slp, sl] = detail::reconstruction_loss(g.synthesize(w_hat, c).image, xc, o);
      t.sub_mse = smse;
      t.sub_lpips = slp;
      total = total + sl * o.sub_weight;
    }
    if (o.w_weight > 0) {
      const Var wm = mean(square(w_hat - wplus));
      t.w_mse = wm.item();
      total = total + wm * o.w_weight;
    }
    t.total = total.item();
    ANYCOST_CHECK(std::isfinite(t.total), ValueError, "train_encoder: the loss is ", t.total, " at step ", step,
                  " (lower the learning rate)");
    const std::vector<Var> grads = grad({total}, params);
    for (std::size_t i = 0; i < params.size(); ++i) params[i].set_grad(grads[i]);
    adam.step();
    if (o.batch_stats) e.update_running_stats(stats);

    acc.total += t.total, acc.mse += t.mse, acc.lpips += t.lpips, acc.sub_mse += t.sub_mse;
    acc.sub_lpips += t.sub_lpips, acc.w_mse += t.w_mse;
    ++acc_steps;
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_report).count();
    if (since >= o.log_every_seconds || step == o.steps) {
      const double k = static_cast<double>(acc_steps);
      last = EncoderLossTerms{acc.total / k, acc.mse / k, acc.lpips / k, acc.sub_mse / k, acc.sub_lpips / k, acc.w_mse / k};
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const double per_step = elapsed / step;
      if (on_progress)
        on_progress(EncoderTrainProgress{step, o.steps, last, static_cast<double>(o.batch) / per_step,
                                         per_step * (o.steps - step), sub_name});
      acc = {};
      acc_steps = 0;
      last_report = now;
    }
    if (o.on_checkpoint && o.checkpoint_every > 0 && step % o.checkpoint_every == 0 && step != o.steps)
      o.on_checkpoint(step, e);
  }
  return last;
}

}  // namespace projection
ANYCOST_NAMESPACE_END
