// Image projection by optimisation: the W+ latent whose render matches a target image, optionally made
// consistent across sub-generators (Anycost GAN, Sec. 3.3; the official tools/project.py).
//
//   w* = argmin_w  L(G(w), x) + alpha * mean_{c in C} L(G_c(w), x_c)
//   L  = mse_weight * MSE + LPIPS (when a network is given)
//
// G_c is a sub-generator (a channel ratio and/or a lower output resolution) and x_c the target brought to its
// resolution (bilinear, align-corners, as training's consistency loss). The official code draws one c per
// closure evaluation, which makes the L-BFGS objective random; here the mean runs over a fixed list C, so
// the objective is deterministic and L-BFGS's line search stays valid. Only W+ is optimised; the noise maps
// are the model's fixed buffers (the official choice: optimised noise is harder to edit). The loss is summed
// over images, so the step size does not depend on the batch size. Works for any generator type with the
// Generator's synthesis interface.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "anycost/autograd/engine.hpp"
#include "anycost/autograd/grad_mode.hpp"
#include "anycost/losses/lpips.hpp"
#include "anycost/models/generator.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/resize.hpp"
#include "anycost/optim/adam.hpp"
#include "anycost/optim/lbfgs.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace projection {

enum class Optimizer : std::uint8_t { lbfgs, adam };

struct ProjectStep {
  int step = 0;          // iterations done (L-BFGS) or Adam steps
  double loss = 0;       // the whole objective, summed over images
  double mse = 0;        // MSE of the full generator's render, mean over images
  double seconds = 0;    // since the start
  Tensor wplus = {};     // the W+ evaluated last (the current iterate), for progress displays; not a copy
};

struct ProjectOptions {
  Optimizer optimizer = Optimizer::lbfgs;
  int steps = 100;                 // L-BFGS iterations or Adam steps
  double lr = 0;                   // 0: the optimiser's default (L-BFGS 1, Adam 0.01)
  double mse_weight = 1.0;
  const losses::Lpips* lpips = nullptr;  // the perceptual term, when weights are available
  double sub_weight = 0.0;         // alpha: the weight of the sub-generator term
  std::vector<models::SubnetConfig> sub_configs = {};  // C (required when sub_weight > 0)
  Var init = {};                   // W+ [N, n_style, style_dim] to start from (an encoder's guess); default: mean w
  std::int64_t mean_samples = 10000;  // z samples for the mean w
  std::uint64_t seed = 0;
  std::function<void(const ProjectStep&)> on_step = {};
};

struct ProjectResult {
  Tensor wplus;                // [N, n_style, style_dim]
  Tensor image;                // the full generator's render of wplus, [N, 3, R, R]
  std::vector<ProjectStep> history;
  double mse = 0;               // of `image` against the target, mean over images
  std::string stop;            // why the optimiser stopped
};

namespace detail {

// The objective and its gradient with respect to W+, for a generator g and targets x [N, 3, R, R].
template <class G>
struct ProjectionObjective {
  const G& g;
  const Tensor& target;
  const ProjectOptions& o;
  std::vector<std::pair<models::SubnetConfig, Var>> terms;  // (config, its target), the full one first
  double last_mse = 0;
  Tensor last_w;  // the W+ of the last evaluation

  ProjectionObjective(const G& g_, const Tensor& x, const ProjectOptions& opts) : g(g_), target(x), o(opts) {
    terms.emplace_back(g.channel_table().full(g.resolution()), Var(x));
    for (const models::SubnetConfig& c : o.sub_configs) {
      const std::int64_t r = c.resolution();
      terms.emplace_back(c, r == x.size(2) ? Var(x) : resize_bilinear(Var(x), r, r, AlignCorners::yes));
    }
  }

  // Returns the objective at w (a leaf requiring grad) and its gradient.
  std::pair<double, Var> operator()(const Var& w) {
    last_w = w.data();
    Var total;
    for (std::size_t i = 0; i < terms.size(); ++i) {
      const auto& [cfg, x] = terms[i];
      const Var img = g.synthesize(w, cfg).image;
      const Var mse = mean(square(img - x), {1, 2, 3});  // per image
      Var l = sum(mse) * o.mse_weight;
      if (o.lpips) l = l + sum(o.lpips->forward(clamp(img, -1.0, 1.0), x));
      if (i == 0) last_mse = mean(mse).data().item();
      const double weight = i == 0 ? 1.0 : o.sub_weight / static_cast<double>(terms.size() - 1);
      total = i == 0 ? l : total + l * weight;
    }
    const double value = total.data().item();
    return {value, grad({total}, {w})[0]};
  }
};

}  // namespace detail

// Projects target images x [N, 3, R, R] in [-1, 1] (R = g.resolution()) into W+.
template <class G>
ProjectResult project(const G& g, const Tensor& x, const ProjectOptions& o = {}) {
  ANYCOST_CHECK(x.defined() && x.dim() == 4 && x.size(1) == 3 && x.size(2) == g.resolution() &&
                    x.size(3) == g.resolution() && x.size(0) >= 1,
                ShapeError, "project: the target must be [N, 3, ", g.resolution(), ", ", g.resolution(),
                "] (the generator's resolution), got ", x.defined() ? x.shape() : Shape{});
  ANYCOST_CHECK(std::isfinite(sum(Var(x.to(DType::float64))).data().item()), ValueError,
                "project: the target holds NaN or Inf");
  ANYCOST_CHECK(o.steps >= 1, ValueError, "project: steps must be >= 1, got ", o.steps);
  ANYCOST_CHECK(o.lr >= 0 && o.mse_weight >= 0 && o.sub_weight >= 0, ValueError,
                "project: lr, mse_weight and sub_weight must be >= 0");
  ANYCOST_CHECK(o.sub_weight == 0 || !o.sub_configs.empty(), ValueError,
                "project: sub_weight > 0 needs sub_configs (the sub-generators to keep consistent)");
  ANYCOST_CHECK(o.mse_weight > 0 || o.lpips, ValueError, "project: mse_weight is 0 and no LPIPS network: no loss");
  const std::int64_t n = x.size(0);
  const Shape wshape{n, g.n_style(), g.style_dim()};
  const Tensor target = x.to(g.dtype()).to(g.device());

  Tensor w0;
  if (o.init.defined()) {
    ANYCOST_CHECK(o.init.shape() == wshape, ShapeError, "project: init has shape ", o.init.shape(), ", expected ",
                  wshape);
    w0 = o.init.data().to(g.dtype()).to(g.device()).clone();
  } else {
    Rng rng(o.seed);
    const Tensor mean = g.mean_w(o.mean_samples, rng).data();
    w0 = mean.reshape({1, 1, g.style_dim()}).expand(wshape).contiguous();
  }

  GradModeGuard grad_on(true);  // W+ needs its gradient even when the caller runs without
  detail::ProjectionObjective<G> objective(g, target, o);
  ProjectResult result;
  const auto start = std::chrono::steady_clock::now();
  const auto record = [&](int step, double loss) {
    ProjectStep s{step, loss, objective.last_mse,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), objective.last_w};
    if (o.on_step) o.on_step(s);
    s.wplus = Tensor();  // the history keeps numbers, not every iterate
    result.history.push_back(s);
  };

  Var w(w0, true);
  if (o.optimizer == Optimizer::adam) {
    optim::AdamOptions ao;
    ao.lr = o.lr > 0 ? o.lr : 0.01;
    optim::Adam adam(std::vector<Var>{w}, ao);
    for (int step = 1; step <= o.steps; ++step) {
      auto [value, gw] = objective(w);
      ANYCOST_CHECK(std::isfinite(value), ValueError, "project: the loss became non-finite at step ", step);
      w.set_grad(gw.data());
      adam.step();
      record(step, value);
    }
    result.stop = "step limit";
  } else {
    // L-BFGS runs in double precision on a flat copy of W+.
    std::vector<double> flat = w0.to_vector<double>();
    const auto f = [&](const std::vector<double>& v, std::vector<double>& gv) {
      const Var wv(Tensor::from_vector(v, wshape).to(g.dtype()).to(g.device()), true);
      auto [value, gw] = objective(wv);
      gv = gw.data().template to_vector<double>();
      return value;
    };
    optim::LbfgsOptions lo;
    lo.max_iterations = o.steps;
    if (o.lr > 0) lo.lr = o.lr;
    const optim::LbfgsResult r = optim::lbfgs_minimize(f, flat, lo, [&](int it, double value) { record(it, value); });
    result.stop = r.stop;
    w = Var(Tensor::from_vector(flat, wshape).to(g.dtype()).to(g.device()));
  }
  result.wplus = w.data().clone();
  NoGradGuard no_grad;
  result.image = g.synthesize(Var(result.wplus), g.channel_table().full(g.resolution())).image.data();
  result.mse = mean(square(Var(result.image) - Var(target))).data().item();
  return result;
}

}  // namespace projection
ANYCOST_NAMESPACE_END
