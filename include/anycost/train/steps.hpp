// The optimisation steps of one training iteration (Lin et al. 2021, Sec. 3; the official tools/train_gan.py),
// as generic algorithms over a generator G and a discriminator D:
//
//   d_step      fake images from G without gradient (a sampled sub-network, style mixing, fresh noise), real
//               images; the logistic D loss at n_sampled of the n_res resolutions, each with the fake's
//               architecture code (conditioned D); one Adam step on D.
//   r1_step     every r1_interval iterations: (gamma / 2) * interval * R1 on the real image at one random
//               resolution, with the D step's architecture code; one Adam step on D.
//   g_step      a new sub-network and latents; the non-saturating G loss at n_sampled resolutions; plus, with
//               a teacher, the consistency loss between the student's outputs at all n_res resolutions and the
//               frozen full generator on the same latents and noise; one Adam step on G.
//   path_step   stage 1, every pl_interval iterations: weight * interval * path-length penalty on batch /
//               batch_shrink samples; one Adam step on G; the running mean is updated.
//
// Every random decision of iteration i comes from its own counter-based stream Rng(stream_seed(seed, i, kind)),
// so a run is a function of (config, seed, data) alone and resuming needs no generator state beyond the
// iteration number.
//
// Data parallelism (StepContext::comm, train/communicator.hpp): every rank draws the random numbers of the
// whole global batch from the same streams, in the same order as one process does, and keeps its shard of
// the rows (shard_rows: the D-facing batches keep the minibatch-stddev groups of the global batch); each step
// averages its model's gradients and its loss values over the ranks before the finite check and the optimiser
// step, and the path-length update uses the mean over all ranks. Without a communicator (or with one rank)
// nothing is sharded or reduced and the steps are exactly the single-process ones. Every step checks its loss and its gradients before the optimiser touches a parameter:
// a non-finite value returns false with the parameters unchanged.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "anycost/autograd/engine.hpp"
#include "anycost/losses.hpp"
#include "anycost/models/arch_code.hpp"
#include "anycost/models/discriminator.hpp"
#include "anycost/models/generator.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/optim/adam.hpp"
#include "anycost/train/communicator.hpp"
#include "anycost/train/config.hpp"
#include "anycost/train/gradient_averager.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace train {

enum class Stream : std::uint64_t { d_step = 1, r1, g_step, path, samples };

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
inline Rng stream(std::uint64_t seed, std::int64_t iteration, Stream kind) {
  return Rng(splitmix64(splitmix64(seed) ^ splitmix64(static_cast<std::uint64_t>(iteration) * 8 +
                                                      static_cast<std::uint64_t>(kind))));
}

// The loss terms of one iteration (NaN where a term did not run).
struct StepLosses {
  static constexpr double none = std::numeric_limits<double>::quiet_NaN();
  double d = none, g = none, r1 = none, path = none, path_mean = none, mse = none, lpips = none;
};

// Latents of one batch: z2 is defined when the batch is style-mixed (W+ rows [0, inject) from z1).
struct Latents {
  Var z1, z2;
  int inject = 0;
};

inline Latents draw_latents(const models::Generator& g, std::int64_t batch, double mixing, Rng& rng) {
  Latents l;
  const bool mix = mixing > 0 && rng.uniform() < mixing;
  l.z1 = Var(randn({batch, g.style_dim()}, rng, g.dtype(), g.device()));
  if (mix) {
    l.z2 = Var(randn({batch, g.style_dim()}, rng, g.dtype(), g.device()));
    l.inject = 1 + static_cast<int>(rng.uniform_int(static_cast<std::uint32_t>(g.n_style() - 1)));
  }
  return l;
}

// W+ of the latents through g's own mapping network (a teacher maps them with its own).
inline Var styles(const models::Generator& g, const Latents& l) {
  const Var w1 = g.map(l.z1);
  if (!l.z2.defined()) return g.broadcast_styles(w1);
  return g.mix_styles(w1, g.map(l.z2), l.inject);
}

// The sub-network of one step: the full generator in stages 1-2; in stage 3 a uniform ratio drawn from
// {1/4, 1/2, 3/4, 1} or a flexible per-layer configuration (Sec. 2.4).
inline models::SubnetConfig sample_config(const models::Generator& g, const TrainConfig& c, int stage, Rng& rng) {
  if (stage < 3) return g.full_config();
  if (c.sampler == ChannelSampler::flexible) return g.channel_table().sample_flexible(rng, c.min_channel, c.divided_by);
  static constexpr double ratios[] = {0.25, 0.5, 0.75, 1.0};
  return g.channel_table().uniform(ratios[rng.uniform_int(4)]);
}

// k distinct indices out of [0, n), in drawn order.
inline std::vector<int> pick_distinct(int n, int k, Rng& rng) {
  std::vector<int> all(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) all[static_cast<std::size_t>(i)] = i;
  for (int i = 0; i < k; ++i) std::swap(all[static_cast<std::size_t>(i)], all[i + rng.uniform_int(static_cast<std::uint32_t>(n - i))]);
  all.resize(static_cast<std::size_t>(k));
  return all;
}

// The D input at index i (resolution R >> i) among G's outputs 4, 8, ..., R.
inline const Var& output_at(const models::SynthesisResult& r, int i) {
  return i == 0 ? r.image : r.rgbs[r.rgbs.size() - 1 - static_cast<std::size_t>(i)];
}

// True when the value and every gradient of `params` are finite.
inline bool finite_step(double loss, const optim::NamedParameters& params) {
  if (!std::isfinite(loss)) return false;
  NoGradGuard no_grad;
  for (const optim::NamedParameter& p : params) {
    const Var& g = p.var.grad();
    if (g.defined() && !std::isfinite(sum(Var(g.data().to(DType::float64))).item())) return false;
  }
  return true;
}

// Turns off gradient accumulation into a model's parameters for a scope (D during the G step).
class FrozenScope {
 public:
  explicit FrozenScope(const optim::NamedParameters& params) : params_(params) {
    set(false);
  }
  ~FrozenScope() { set(true); }
  FrozenScope(const FrozenScope&) = delete;
  FrozenScope& operator=(const FrozenScope&) = delete;

 private:
  void set(bool r) const {
    for (const optim::NamedParameter& p : params_) Var(p.var).set_requires_grad(r);
  }
  const optim::NamedParameters& params_;
};

// What the steps work on. `real` holds one batch per data resolution (R, R/2, ...).
struct StepContext {
  const TrainConfig& config;
  int stage;
  std::int64_t iteration;
  const models::Generator& g;
  const models::Discriminator& d;
  const models::Generator* teacher;  // null: no distillation
  const losses::Lpips* lpips;        // null: MSE-only consistency
  Communicator* comm = nullptr;      // data-parallel ranks; null: one process
  int ranks() const { return comm ? comm->size() : 1; }
  // This rank's rows of a global batch of n (group: the minibatch-stddev group of the batches D sees).
  std::vector<std::int64_t> rows(std::int64_t n, std::int64_t group) const {
    return shard_rows(n, comm ? comm->rank() : 0, ranks(), group);
  }
  // backward(loss); with several ranks, the gradients of `params` and the values `scalars` point to are then
  // the means over the ranks, the gradients' all-reduce overlapping the pass (train/gradient_averager.hpp).
  void backward_averaged(const Var& loss, const optim::NamedParameters& params,
                         const std::vector<double*>& scalars) const {
    if (ranks() == 1) {
      backward(loss);
      return;
    }
    GradientAverager averager(*comm, params);
    backward(loss, {}, averager.options());
    averager.finish(scalars);
  }
  int n_res() const { return stage == 1 ? 1 : config.n_res; }
  int n_sampled() const { return stage == 1 ? 1 : config.n_sampled_res; }
  Var arch_of(const models::SubnetConfig& cfg) const {
    if (!d.conditioned()) return {};
    return Var(models::arch_code(cfg).to(g.dtype()).to(g.device()));
  }
};

// The random draws of one D or G step, made before the step runs so that a test can give its own.
struct StepDraws {
  Latents latents;
  models::SubnetConfig config;
  models::SubnetConfig real_config;  // D step: the real images are scored with their own random code (Sec. 4.4)
  std::vector<Var> noise;   // per-sample noise maps of every layer
  std::vector<int> picked;  // the D inputs (0: R, 1: R/2, ...) the adversarial loss uses
};

inline StepDraws draw_step(const StepContext& s, std::int64_t batch, Rng& rng) {
  StepDraws d{draw_latents(s.g, batch, s.config.mixing, rng), sample_config(s.g, s.config, s.stage, rng),
              sample_config(s.g, s.config, s.stage, rng), {}, {}};
  d.noise = s.g.make_noise(batch, rng);
  d.picked = pick_distinct(s.n_res(), s.n_sampled(), rng);
  return d;
}

// This rank's shard of draws made for the global batch (the draws themselves with one rank).
inline StepDraws shard(const StepContext& s, StepDraws d) {
  if (s.ranks() == 1) return d;
  const std::vector<std::int64_t> rows = s.rows(d.latents.z1.size(0), models::Discriminator::stddev_group);
  auto take = [&](Var& v) {
    if (v.defined()) v = Var(take_rows(v.data(), rows));
  };
  take(d.latents.z1);
  take(d.latents.z2);
  for (Var& n : d.noise) take(n);
  return d;
}

inline models::SynthesisOptions given_noise(const StepDraws& d, bool all_rgbs) {
  models::SynthesisOptions o;
  o.noise = models::NoiseMode::given;
  o.noise_maps = d.noise;
  o.return_rgbs = all_rgbs;
  return o;
}

// Returns false (D unchanged) on a non-finite loss or gradient.
inline bool d_step(const StepContext& s, const std::vector<Tensor>& real, const StepDraws& draws, optim::Adam& opt,
                   StepLosses& out) {
  const Var arch = s.arch_of(draws.config), real_arch = s.arch_of(draws.real_config);
  models::SynthesisResult fake;
  {
    NoGradGuard no_grad;
    fake = s.g.synthesize(styles(s.g, draws.latents), draws.config, given_noise(draws, s.n_res() > 1));
  }
  opt.zero_grad();
  Var loss;
  for (int i : draws.picked) {
    const Var l = losses::d_logistic(s.d.forward(Var(real[static_cast<std::size_t>(i)]), real_arch),
                                     s.d.forward(output_at(fake, i).detach(), arch));
    loss = loss.defined() ? Var(loss + l) : l;
  }
  out.d = loss.item();
  s.backward_averaged(loss, opt.parameters(), {&out.d});
  if (!finite_step(out.d, opt.parameters())) return false;
  opt.step();
  return true;
}

// R1 on the real images at D input `index`, with the architecture code of the D step's configuration.
inline bool r1_step(const StepContext& s, const std::vector<Tensor>& real, int index, const models::SubnetConfig& cfg,
                    optim::Adam& opt, StepLosses& out) {
  const Var arch = s.arch_of(cfg);
  opt.zero_grad();
  const Var penalty =
      losses::r1(Var(real[static_cast<std::size_t>(index)]), [&](const Var& img) { return s.d.forward(img, arch); });
  const Var loss = penalty * (s.config.r1_gamma / 2 * s.config.r1_interval);
  out.r1 = penalty.item();
  double total = loss.item();
  s.backward_averaged(loss, opt.parameters(), {&out.r1, &total});
  if (!finite_step(total, opt.parameters())) return false;
  opt.step();
  return true;
}

inline bool g_step(const StepContext& s, const StepDraws& draws, optim::Adam& opt,
                   const optim::NamedParameters& d_params, StepLosses& out) {
  const Var arch = s.arch_of(draws.config);
  FrozenScope frozen_d(d_params);
  opt.zero_grad();
  const models::SynthesisResult fake =
      s.g.synthesize(styles(s.g, draws.latents), draws.config, given_noise(draws, s.n_res() > 1 || s.teacher));
  Var loss;
  for (int i : draws.picked) {
    const Var l = losses::g_nonsaturating(s.d.forward(output_at(fake, i), arch));
    loss = loss.defined() ? Var(loss + l) : l;
  }
  out.g = loss.item();
  if (s.teacher) {
    Var target;
    {
      NoGradGuard no_grad;
      target = s.teacher->synthesize(styles(*s.teacher, draws.latents), s.teacher->full_config(), given_noise(draws, false))
                   .image;
    }
    std::vector<Var> student;
    for (int i = s.config.n_res - 1; i >= 0; --i) student.push_back(output_at(fake, i));
    losses::ConsistencyOptions co;
    co.alpha = s.config.distill_alpha;
    const losses::ConsistencyLoss c = losses::consistency(student, target, s.lpips, co);
    out.mse = c.mse.item();
    out.lpips = c.lpips.defined() ? c.lpips.item() : 0.0;
    loss = loss + c.total;
  }
  double total = loss.item();
  s.backward_averaged(loss, opt.parameters(), {&out.g, &out.mse, &out.lpips, &total});
  if (!finite_step(total, opt.parameters())) return false;
  opt.step();
  return true;
}

// The maps NoiseMode::random draws from `rng` for a batch of `batch` (every layer; Generator::noise_for).
inline std::vector<Var> random_noise(const models::Generator& g, std::int64_t batch, Rng& rng) {
  std::vector<Var> maps;
  for (int l = 0; l < g.num_layers(); ++l) {
    const std::int64_t n = g.noise_size(l);
    Rng at(rng.seed());
    at.reserve(4 * rng.reserve(static_cast<std::uint64_t>(batch * n * n)));
    maps.emplace_back(randn({batch, 1, n, n}, at, g.dtype(), g.device()));
  }
  return maps;
}

// Stage 1: the lazy path-length regulariser on batch / batch_shrink fresh samples (`batch`: the global batch);
// `mean` is the running mean (updated only on success). With several ranks the latents, noise maps and
// projections of the whole path batch are drawn as one process draws them, each rank keeps its contiguous
// shard, and the running mean is updated with the mean path length over all ranks.
inline bool path_step(const StepContext& s, std::int64_t batch, Rng& rng, optim::Adam& opt, double& mean,
                      StepLosses& out) {
  const std::int64_t b = std::max<std::int64_t>(1, batch / s.config.pl_batch_shrink);
  Latents lat = draw_latents(s.g, b, s.config.mixing, rng);
  models::SynthesisOptions so;
  std::vector<std::int64_t> rows;
  if (s.ranks() == 1) {
    so.noise = models::NoiseMode::random;
    so.rng = &rng;
  } else {
    rows = s.rows(b, 1);
    lat.z1 = Var(take_rows(lat.z1.data(), rows));
    if (lat.z2.defined()) lat.z2 = Var(take_rows(lat.z2.data(), rows));
    so.noise = models::NoiseMode::given;
    for (const Var& n : random_noise(s.g, b, rng)) so.noise_maps.emplace_back(take_rows(n.data(), rows));
  }
  opt.zero_grad();
  const Var wplus = styles(s.g, lat);
  const Var fake = s.g.synthesize(wplus, s.g.full_config(), so).image;
  losses::PathLengthResult r;
  if (s.ranks() == 1) {
    r = losses::path_length(fake, wplus, mean, rng, s.config.pl_decay);
  } else {
    // As the Rng overload draws y, for the global batch.
    const double inv = 1.0 / std::sqrt(static_cast<double>(fake.size(2) * fake.size(3)));
    const Tensor y_all =
        Var(Var(randn({b, fake.size(1), fake.size(2), fake.size(3)}, rng, fake.dtype(), fake.device())) * inv).data();
    r = losses::path_length(fake, wplus, mean, take_rows(y_all, rows), s.config.pl_decay, [&](double m) {
      s.comm->all_reduce_mean(&m, 1);
      return m;
    });
  }
  const Var loss = r.penalty * (s.config.pl_weight * s.config.pl_interval);
  out.path = r.penalty.item();
  out.path_mean = r.mean;
  double total = loss.item();
  s.backward_averaged(loss, opt.parameters(), {&out.path, &total});
  if (!finite_step(total, opt.parameters()) || !std::isfinite(r.mean)) return false;
  opt.step();
  mean = r.mean;
  return true;
}

// One whole iteration (the order of the official tools/train_gan.py): D step; R1 every r1_interval
// iterations; G step; path length every pl_interval iterations in stage 1. Stops at the first failure.
// With several ranks `real` is this rank's shard (rows s.rows(global batch, stddev group)) and the draws are
// made for the global batch, then sharded the same way.
inline bool train_iteration(const StepContext& s, const std::vector<Tensor>& real, optim::Adam& g_opt, optim::Adam& d_opt,
                            double& mean_path_length, StepLosses& out) {
  const std::int64_t batch = real[0].size(0) * s.ranks();
  Rng d_rng = stream(s.config.seed, s.iteration, Stream::d_step);
  const StepDraws d_draws = shard(s, draw_step(s, batch, d_rng));
  if (!d_step(s, real, d_draws, d_opt, out)) return false;
  if (s.config.r1_gamma > 0 && s.iteration % s.config.r1_interval == 0) {
    Rng rng = stream(s.config.seed, s.iteration, Stream::r1);
    if (!r1_step(s, real, static_cast<int>(rng.uniform_int(static_cast<std::uint32_t>(s.n_res()))), d_draws.config,
                 d_opt, out))
      return false;
  }
  Rng g_rng = stream(s.config.seed, s.iteration, Stream::g_step);
  if (!g_step(s, shard(s, draw_step(s, batch, g_rng)), g_opt, d_opt.parameters(), out)) return false;
  if (s.stage == 1 && s.config.pl_weight > 0 && s.iteration % s.config.pl_interval == 0) {
    Rng rng = stream(s.config.seed, s.iteration, Stream::path);
    if (!path_step(s, batch, rng, g_opt, mean_path_length, out)) return false;
  }
  return true;
}

}  // namespace train
ANYCOST_NAMESPACE_END
