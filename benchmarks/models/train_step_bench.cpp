// One training iteration of each stage, part by part, against the same iteration on LibTorch in the same
// process (same weights, same batch, same latents and noise maps, same thread count):
//   d_step     fakes from G without gradient, the logistic D loss on real and fake, backward, Adam on D
//   d_r1       d_step, then the lazy R1 step: (gamma/2) * 16 * R1 by double backward through D, Adam on D
//   g_step     the non-saturating G loss through D (D frozen), backward, Adam on G
//   g_pl       g_step, then the lazy path-length step on batch/2: double backward through G, Adam on G
//   s2_d_step  stage 2: the multi-resolution D (one fromRGB per input: R, R/2, R/4); G returns all its RGB
//              outputs; the D loss summed over 2 of the 3 inputs (fixed: R and R/4, where the trainer samples 2)
//   s2_d_r1    s2_d_step, then R1 on the real images at R/2 (the trainer draws one of the 3)
//   s2_g_step  the G loss at R and R/4, plus distillation: alpha * the sum over R, R/2, R/4 of the MSE between
//              G's outputs and the frozen teacher's image (resized, align corners) on the same latents and noise
//   s3_d_step  stage 3: the multi-resolution D conditioned by the architecture code (FiLM in its last two
//              blocks); the fakes from the sub-network at uniform ratio 0.5 with its code, the real images with
//              another code (ratio 0.75; the trainer draws it)
//   s3_d_r1    s3_d_step, then R1 at R/2 with the fake step's code (ratio 0.5)
//   s3_g_step  the 0.5 sub-network's G step through the conditioned D, with the consistency MSE against the
//              full-width teacher (the trainer samples a ratio out of 0.25, 0.5, 0.75, 1 per step)
// Stages 2-3 have no path-length step, and no LPIPS here (the emoji64 config trains with the MSE alone). The
// teacher is a separately initialised generator, so the consistency loss and its gradient are not zero.
// Ours runs the trainer's own code (train/steps.hpp: d_step, r1_step, g_step, path_step, which also check
// that the loss and every gradient are finite before Adam steps), with the trainer's D of each stage
// (train/trainer.hpp: d_config). LibTorch runs the same maths on TorchGenerator / TorchDiscriminator (copies
// of our weights, checked to agree before timing: D logits at every input, G's outputs, and every loss of
// the steps, ours taken from the steps themselves run with a learning rate of 0) in the official code's
// formulation ("torch": per-sample weights, grouped convolutions) and with modulated activations
// ("torch_act"). Grads are released before each step on both sides (set_to_none).
// Model: examples/configs/emoji64.json (64x64, style_dim 128, n_mlp 4, widths 128,128,128,64,32; G and D;
// n_res 3, alpha 2), at batch 4 and 16. Names: <case>/b<B>/<impl>.
//
// Reported per case: ms per iteration, img/s (batch / time), ours / LibTorch (the faster formulation), the
// process CPU time of an iteration (all threads) and its ratio, and the
// peak tensor memory of one iteration above what was live before it: ours from core/storage.hpp's counters,
// LibTorch from a counting allocator in front of its CPU allocator (support/torch_memory.hpp). Neither
// counts oneDNN / BLAS internal buffers or our scratch arenas. Only the stages the filter selects are built.
//
//   OMP_WAIT_POLICY=passive bench_train [--threads=N] [google-benchmark flags, e.g. --benchmark_filter=s3]
//
// Results: see README.md, "## Benchmarks".
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <anycost/anycost.hpp>
#include <anycost/models.hpp>
#include <anycost/train.hpp>

#include "models/torch_discriminator.hpp"
#include "models/torch_generator.hpp"
#include "support/torch_memory.hpp"

#if defined(ANYCOST_BENCH_WITH_TORCH)
#include <ATen/Parallel.h>
#endif

using namespace anycost;

namespace {

enum class Kind { d_step, d_r1, g_step, g_pl };
struct Case {
  int stage;
  Kind kind;
};
constexpr Case kCases[] = {{1, Kind::d_step}, {1, Kind::d_r1}, {1, Kind::g_step}, {1, Kind::g_pl},
                           {2, Kind::d_step}, {2, Kind::d_r1}, {2, Kind::g_step},
                           {3, Kind::d_step}, {3, Kind::d_r1}, {3, Kind::g_step}};
constexpr double s3_ratio = 0.5, s3_real_ratio = 0.75;  // the stage-3 sub-network, the real images' code

std::string case_name(Case c) {
  const char* const kinds[] = {"d_step", "d_r1", "g_step", "g_pl"};
  const char* kind = kinds[static_cast<int>(c.kind)];
  return (c.stage == 1 ? std::string() : "s" + std::to_string(c.stage) + "_") + kind;
}

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

#if defined(ANYCOST_BENCH_WITH_TORCH)
torch::Tensor to_torch(const Tensor& t) {
  const Tensor c = t.to(DType::float32).contiguous();
  std::vector<std::int64_t> shape(c.shape().begin(), c.shape().end());
  return torch::from_blob(const_cast<float*>(c.data<float>()), shape, torch::kFloat32).clone();
}

// torch::optim's zero_grad() zeroes in place; ours releases the gradients. Release them on both sides.
void release_grads(const std::vector<torch::Tensor>& params) {
  for (const torch::Tensor& p : params) p.mutable_grad().reset();
}

void set_requires_grad(const std::vector<torch::Tensor>& params, bool on) {
  for (const torch::Tensor& p : params) p.requires_grad_(on);
}
#endif

// Everything one stage at one batch size needs: both models of both libraries, their optimisers, the
// teacher (stages 2-3), the fixed draws.
struct Bench {
  train::TrainConfig config;
  int stage = 1;
  std::int64_t batch = 0;
  models::Generator g, teacher;  // teacher: stages 2-3
  models::Discriminator d;
  std::optional<optim::Adam> g_opt, d_opt;
  std::vector<Tensor> real;  // one batch per D input: R, R/2, ... (n_res)
  std::optional<train::StepDraws> draws;  // (SubnetConfig has no empty state)
  int r1_index = 0;  // the D input R1 runs on
  double mean_path = 0;
#if defined(ANYCOST_BENCH_WITH_TORCH)
  std::unique_ptr<bench::TorchGenerator> tg, t_teacher;
  std::unique_ptr<bench::TorchDiscriminator> td;
  std::unique_ptr<torch::optim::Adam> tg_opt, td_opt;
  std::vector<torch::Tensor> t_real;
  torch::Tensor t_z1, t_z2, t_arch, t_real_arch;  // the codes: stage 3 only
  std::vector<torch::Tensor> t_noise;
  double t_mean_path = 0;
#endif

  train::StepContext context() const { return {config, stage, 0, g, d, stage > 1 ? &teacher : nullptr, nullptr}; }
};

std::unique_ptr<Bench> make_bench(const train::TrainConfig& config, int stage, std::int64_t batch) {
  auto b = std::make_unique<Bench>();
  b->config = config;
  b->stage = stage;
  b->batch = batch;
  b->g = models::Generator(config.generator, config.seed);
  if (stage > 1) b->teacher = models::Generator(config.generator, config.seed + 2);
  // The trainer's D of this stage (train/trainer.hpp: d_config).
  models::DiscriminatorConfig dc =
      models::DiscriminatorConfig::matching(config.generator, stage == 1 ? 1 : config.n_res, stage == 3);
  dc.channel_multiplier = config.d_channel_multiplier;
  dc.channel_max = config.d_channel_max;
  dc.channels = config.d_channels;
  b->d = models::Discriminator(dc, config.seed + 1);
  for (const optim::NamedParameter& p : optim::named_parameters(b->g)) Var(p.var).set_requires_grad(true);
  for (const optim::NamedParameter& p : optim::named_parameters(b->d)) Var(p.var).set_requires_grad(true);
  b->g_opt.emplace(optim::named_parameters(b->g), config.adam);
  b->d_opt.emplace(optim::named_parameters(b->d), config.adam);
  Rng rng(5);
  // Real images: uniform in [-1, 1] (the data's range), at every D input.
  for (int r : b->d.input_resolutions())
    b->real.push_back(Var(Var(rand({batch, 3, r, r}, rng)) * 2.0 - 1.0).data());
  b->draws.emplace(train::draw_step(b->context(), batch, rng));
  if (stage > 1) {  // fixed where the trainer samples (see the header comment)
    const int n = b->context().n_res();
    b->draws->picked = n > 1 ? std::vector<int>{0, n - 1} : std::vector<int>{0};
    b->r1_index = n > 1 ? 1 : 0;
  }
  if (stage == 3) {
    b->draws->config = b->g.channel_table().uniform(s3_ratio);
    b->draws->real_config = b->g.channel_table().uniform(s3_real_ratio);
  }
#if defined(ANYCOST_BENCH_WITH_TORCH)
  b->tg = std::make_unique<bench::TorchGenerator>(b->g);
  if (stage > 1) {
    b->t_teacher = std::make_unique<bench::TorchGenerator>(b->teacher);
    set_requires_grad(b->t_teacher->parameters(), false);
  }
  b->td = std::make_unique<bench::TorchDiscriminator>(b->d);
  const auto adam = torch::optim::AdamOptions(config.adam.lr)
                        .betas({config.adam.beta1, config.adam.beta2})
                        .eps(config.adam.eps);
  b->tg_opt = std::make_unique<torch::optim::Adam>(b->tg->parameters(), adam);
  b->td_opt = std::make_unique<torch::optim::Adam>(b->td->parameters(), adam);
  for (const Tensor& r : b->real) b->t_real.push_back(to_torch(r));
  b->t_z1 = to_torch(b->draws->latents.z1.data());
  if (b->draws->latents.z2.defined()) b->t_z2 = to_torch(b->draws->latents.z2.data());
  for (const Var& n : b->draws->noise) b->t_noise.push_back(to_torch(n.data()));
  if (b->d.conditioned()) {
    b->t_arch = to_torch(models::arch_code(b->draws->config));
    b->t_real_arch = to_torch(models::arch_code(b->draws->real_config));
  }
#endif
  return b;
}

// ---- ours: the trainer's steps ----
bool ours_step(Bench& b, Kind k, std::int64_t iteration, optim::Adam& g_opt, optim::Adam& d_opt,
               train::StepLosses& out) {
  const train::StepContext s = b.context();
  bool ok = true;
  if (k == Kind::d_step || k == Kind::d_r1) {
    ok = train::d_step(s, b.real, *b.draws, d_opt, out);
    if (k == Kind::d_r1) ok = train::r1_step(s, b.real, b.r1_index, b.draws->config, d_opt, out) && ok;
  } else {
    ok = train::g_step(s, *b.draws, g_opt, d_opt.parameters(), out);
    if (k == Kind::g_pl) {
      Rng rng = train::stream(b.config.seed, iteration, train::Stream::path);
      ok = train::path_step(s, b.batch, rng, g_opt, b.mean_path, out) && ok;
    }
  }
  return ok;
}
bool ours_step(Bench& b, Kind k, std::int64_t iteration) {
  train::StepLosses out;
  return ours_step(b, k, iteration, *b.g_opt, *b.d_opt, out);
}

#if defined(ANYCOST_BENCH_WITH_TORCH)
using bench::TorchGenerator;
using Formulation = TorchGenerator::Formulation;

// W+ as train::styles builds it with g's mapping: w1 everywhere, or rows [0, inject) from w1, the rest from w2.
torch::Tensor t_styles(const TorchGenerator& g, const torch::Tensor& z1, const torch::Tensor& z2, int inject) {
  const std::int64_t n = g.n_style(), batch = z1.size(0), dim = z1.size(1);
  const torch::Tensor w1 = g.map(z1).unsqueeze(1);
  if (!z2.defined()) return w1.expand({batch, n, dim});
  const torch::Tensor w2 = g.map(z2).unsqueeze(1);
  return torch::cat({w1.expand({batch, inject, dim}), w2.expand({batch, n - inject, dim})}, 1);
}

// g's RGB outputs 4, ..., R from the step's latents and noise at the sub-network cfg.
std::vector<torch::Tensor> t_outputs(const Bench& b, const TorchGenerator& g, const models::SubnetConfig& cfg,
                                     Formulation f) {
  return g.synthesize(t_styles(g, b.t_z1, b.t_z2, b.draws->latents.inject), cfg, f, b.t_noise);
}

// The D input at index i (side R >> i) among the outputs (train::output_at).
const torch::Tensor& t_output_at(const std::vector<torch::Tensor>& rgbs, int i) {
  return rgbs[rgbs.size() - 1 - static_cast<std::size_t>(i)];
}

// The D loss of train::d_step: the logistic loss summed over the picked inputs; fakes made without gradient.
torch::Tensor t_d_loss(const Bench& b, Formulation f) {
  std::vector<torch::Tensor> fake;
  {
    torch::NoGradGuard no_grad;
    fake = t_outputs(b, *b.tg, b.draws->config, f);
  }
  torch::Tensor loss;
  for (int i : b.draws->picked) {
    const torch::Tensor& real = b.t_real[static_cast<std::size_t>(i)];
    const torch::Tensor l = torch::softplus(-b.td->forward(real, b.t_real_arch)).mean() +
                            torch::softplus(b.td->forward(t_output_at(fake, i), b.t_arch)).mean();
    loss = loss.defined() ? loss + l : l;
  }
  return loss;
}

// The R1 penalty: mean over the batch of |d sum D(x) / dx|^2 at the R1 input, with the graph of the gradient kept.
torch::Tensor t_r1(const Bench& b) {
  const torch::Tensor x = b.t_real[static_cast<std::size_t>(b.r1_index)].detach().requires_grad_(true);
  const torch::Tensor logits = b.td->forward(x, b.t_arch);
  const torch::Tensor g = torch::autograd::grad({logits.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  return g.pow(2).flatten(1).sum(1).mean();
}

// The G loss of train::g_step: non-saturating at the picked inputs, plus (stages 2-3) alpha * the consistency
// MSE (losses/consistency.hpp) of all n_res outputs against the teacher's image, which *mse receives.
torch::Tensor t_g_loss(const Bench& b, Formulation f, torch::Tensor* mse = nullptr) {
  const std::vector<torch::Tensor> fake = t_outputs(b, *b.tg, b.draws->config, f);
  torch::Tensor loss;
  for (int i : b.draws->picked) {
    const torch::Tensor l = torch::softplus(-b.td->forward(t_output_at(fake, i), b.t_arch)).mean();
    loss = loss.defined() ? loss + l : l;
  }
  if (!b.t_teacher) return loss;
  torch::Tensor target, m;
  {
    torch::NoGradGuard no_grad;
    target = t_outputs(b, *b.t_teacher, b.teacher.full_config(), f).back();
  }
  for (int i = b.config.n_res - 1; i >= 0; --i) {
    const torch::Tensor& s = t_output_at(fake, i);
    const torch::Tensor t = s.size(2) == target.size(2) ? target
                                                        : torch::upsample_bilinear2d(target, {s.size(2), s.size(3)},
                                                                                     /*align_corners=*/true);
    const torch::Tensor l = (s - t).pow(2).mean();
    m = m.defined() ? m + l : l;
  }
  if (mse) *mse = m;
  return loss + m * b.config.distill_alpha;
}

void torch_step(Bench& b, Kind k, Formulation f) {
  if (k == Kind::d_step || k == Kind::d_r1) {
    release_grads(b.td->parameters());
    t_d_loss(b, f).backward();
    b.td_opt->step();
    if (k == Kind::d_r1) {
      release_grads(b.td->parameters());
      (t_r1(b) * (b.config.r1_gamma / 2 * b.config.r1_interval)).backward();
      b.td_opt->step();
    }
    return;
  }
  set_requires_grad(b.td->parameters(), false);  // D is frozen in the G step, as the official code does
  release_grads(b.tg->parameters());
  t_g_loss(b, f).backward();
  b.tg_opt->step();
  set_requires_grad(b.td->parameters(), true);
  if (k != Kind::g_pl) return;
  // Path length (train::path_step's maths) on batch / shrink fresh latents and fresh noise.
  const std::int64_t pb = std::max<std::int64_t>(1, b.batch / b.config.pl_batch_shrink);
  const std::int64_t dim = b.g.style_dim();
  const bool mix = torch::rand({1}).item<double>() < b.config.mixing;
  const int inject = 1 + static_cast<int>(torch::randint(b.tg->n_style() - 1, {1}).item<std::int64_t>());
  release_grads(b.tg->parameters());
  const torch::Tensor wplus =
      t_styles(*b.tg, torch::randn({pb, dim}), mix ? torch::randn({pb, dim}) : torch::Tensor(), inject);
  std::vector<torch::Tensor> noise;
  for (const torch::Tensor& n : b.t_noise) noise.push_back(torch::randn({pb, 1, n.size(2), n.size(3)}));
  const torch::Tensor img = b.tg->synthesize(wplus, b.g.full_config(), f, noise).back();
  const torch::Tensor y = torch::randn_like(img) / std::sqrt(static_cast<double>(img.size(2) * img.size(3)));
  const torch::Tensor j =
      torch::autograd::grad({(img * y).sum()}, {wplus}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  const torch::Tensor lengths = j.pow(2).sum(2).mean(1).sqrt();
  b.t_mean_path += b.config.pl_decay * (lengths.mean().item<double>() - b.t_mean_path);
  const torch::Tensor penalty = (lengths - b.t_mean_path).pow(2).mean();
  (penalty * (b.config.pl_weight * b.config.pl_interval)).backward();
  b.tg_opt->step();
}

// Largest |a - b| over largest |a|: the comparison is only fair when both compute the same thing.
double relative_diff(const Tensor& ours, const torch::Tensor& theirs) {
  const std::vector<float> a = ours.to(DType::float32).contiguous().to_vector<float>();
  const torch::Tensor t = theirs.detach().contiguous();
  if (static_cast<std::size_t>(t.numel()) != a.size()) return INFINITY;
  double worst = 0, scale = 1e-12;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(a[i] - t.data_ptr<float>()[i])));
    scale = std::max(scale, static_cast<double>(std::abs(a[i])));
  }
  return worst / scale;
}

// Checks, before any step: D logits on the real batch at every input (with the real images' code), G's
// outputs at every D input from the step's draws (both formulations), and the losses of the timed steps: ours
// as the trainer's steps report them (run with a learning rate of 0: nothing moves), LibTorch's from the
// functions torch_step times. Exits with a message when one differs by more than 1e-3 of its scale.
void check_agreement(Bench& b) {
  struct Check {
    std::string what;
    double diff, ours = NAN, theirs = NAN;
  };
  std::vector<Check> checks;
  const train::StepDraws& draws = *b.draws;
  {
    NoGradGuard no_grad;
    torch::NoGradGuard t_no_grad;
    const Var real_arch = b.context().arch_of(draws.real_config);
    for (std::size_t i = 0; i < b.real.size(); ++i)
      checks.push_back({"D logits r" + std::to_string(b.real[i].size(2)),
                        relative_diff(b.d.forward(Var(b.real[i]), real_arch).data(),
                                      b.td->forward(b.t_real[i], b.t_real_arch))});
    const models::SynthesisResult ours =
        b.g.synthesize(train::styles(b.g, draws.latents), draws.config, train::given_noise(draws, true));
    for (Formulation f : {Formulation::reference, Formulation::activations}) {
      const std::vector<torch::Tensor> theirs = t_outputs(b, *b.tg, draws.config, f);
      double worst = 0;
      for (int i = 0; i < b.context().n_res(); ++i)
        worst = std::max(worst, relative_diff(train::output_at(ours, i).data(), t_output_at(theirs, i)));
      checks.push_back({f == Formulation::reference ? "G images (torch)" : "G images (torch_act)", worst});
    }
  }
  optim::AdamOptions still = b.config.adam;
  still.lr = 0;
  optim::Adam g_still(optim::named_parameters(b.g), still), d_still(optim::named_parameters(b.d), still);
  train::StepLosses ours;
  (void)ours_step(b, Kind::d_r1, 0, g_still, d_still, ours);
  (void)ours_step(b, Kind::g_step, 0, g_still, d_still, ours);
  torch::Tensor t_mse;
  const double t_g = t_g_loss(b, Formulation::reference, &t_mse).item<double>();
  auto scalar = [&](const char* what, double o, double t) {
    checks.push_back({what, std::abs(o - t) / std::max(std::abs(o), 1e-12), o, t});
  };
  scalar("D loss", ours.d, t_d_loss(b, Formulation::reference).item<double>());
  scalar("R1 penalty", ours.r1, t_r1(b).item<double>());
  const double ours_g = ours.g + (b.stage > 1 ? b.config.distill_alpha * ours.mse : 0.0);
  scalar("G loss (total)", ours_g, t_g);
  if (b.stage > 1) scalar("consistency MSE", ours.mse, t_mse.item<double>());
  bool ok = true;
  for (const Check& c : checks) {
    std::printf("check s%d b%-2lld %-20s ours vs LibTorch: relative max diff %.2e", b.stage,
                static_cast<long long>(b.batch), c.what.c_str(), c.diff);
    if (!std::isnan(c.ours)) std::printf("  (ours %.6g, LibTorch %.6g)", c.ours, c.theirs);
    std::printf("\n");
    ok = ok && c.diff < 1e-3;
  }
  if (!ok) {
    std::fprintf(stderr, "bench_train: the LibTorch reference does not compute what ours computes; not timing\n");
    std::exit(1);
  }
}
#endif

// Peak tensor bytes of one step above what was live before it (run outside the timing).
double ours_peak_mib(Bench& b, Kind k) {
  reset_host_peak_memory();
  const std::size_t base = host_memory_stats().allocated_bytes;
  (void)ours_step(b, k, 0);
  return mib(static_cast<double>(host_memory_stats().peak_allocated_bytes - base));
}

void bench_ours(benchmark::State& state, Bench* b, Kind k) {
  (void)ours_step(*b, k, 0);  // Adam state and first-touch pages outside the timing
  const double peak = ours_peak_mib(*b, k);
  std::int64_t it = 1, failed = 0;
  for (auto _ : state)
    if (!ours_step(*b, k, ++it)) ++failed;
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(b->batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_MiB"] = peak;
  state.counters["nonfinite"] = static_cast<double>(failed);  // steps the finiteness check skipped (no Adam)
}

#if defined(ANYCOST_BENCH_WITH_TORCH)
void bench_torch(benchmark::State& state, Bench* b, Kind k, Formulation f) {
  bench::TorchMemory& mem = bench::TorchMemory::install();
  torch_step(*b, k, f);
  mem.reset_peak();
  const std::size_t base = mem.allocated();
  torch_step(*b, k, f);
  const double peak = mib(static_cast<double>(mem.peak() - base));
  for (auto _ : state) torch_step(*b, k, f);
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(b->batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_MiB"] = peak;
}
#endif

// Keeps the fastest repetition of every run and its counters, then prints one row per case and batch.
class TrainReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred || r.run_type != Run::RT_Iteration) continue;
      const double s = r.GetAdjustedRealTime() / 1e3;  // the benchmarks report milliseconds
      Best& best = best_[r.run_name.function_name];
      const double cpu = r.GetAdjustedCPUTime() / 1e3;
      if (best.cpu_seconds <= 0 || cpu < best.cpu_seconds) best.cpu_seconds = cpu;
      if (best.seconds > 0 && best.seconds <= s) continue;
      best.seconds = s;
      const auto peak = r.counters.find("peak_MiB");
      best.peak_mib = peak == r.counters.end() ? 0 : peak->second.value;
    }
  }

  void print_summary(const std::vector<std::int64_t>& batches) const {
    // Wall time (ms, img/s, ratio) and process CPU time (all threads; on a loaded machine the steadier of the
    // two: it leaves out the time spent waiting for a core).
    std::printf("\n%-9s %5s | %9s %9s %9s | %7s %7s | %6s | %8s %8s %6s | %9s %9s\n", "case", "batch", "ours ms",
                "torch ms", "t_act ms", "ours/s", "torch/s", "ratio", "ours cpu", "ref cpu", "ratio", "ours MiB",
                "torch MiB");
    std::printf("%s\n", std::string(126, '-').c_str());
    for (Case c : kCases)
      for (std::int64_t batch : batches) {
        const std::string base = case_name(c) + "/b" + std::to_string(batch) + "/";
        const Best ours = get(base + "anycost"), t = get(base + "torch"), ta = get(base + "torch_act");
        if (ours.seconds <= 0) continue;
        // The faster LibTorch formulation is the reference; its memory is reported with it.
        const Best ref = t.seconds > 0 && (ta.seconds <= 0 || t.seconds <= ta.seconds) ? t : ta;
        const double bs = static_cast<double>(batch);
        char tms[16] = "-", tams[16] = "-", tips[16] = "-", ratio[16] = "-", tmib[16] = "-", tcpu[16] = "-",
             cratio[16] = "-";
        if (t.seconds > 0) std::snprintf(tms, sizeof tms, "%.1f", t.seconds * 1e3);
        if (ta.seconds > 0) std::snprintf(tams, sizeof tams, "%.1f", ta.seconds * 1e3);
        if (ref.seconds > 0) {
          std::snprintf(tips, sizeof tips, "%.1f", bs / ref.seconds);
          std::snprintf(ratio, sizeof ratio, "%.2f", ours.seconds / ref.seconds);
          std::snprintf(tmib, sizeof tmib, "%.1f", ref.peak_mib);
          std::snprintf(tcpu, sizeof tcpu, "%.1f", ref.cpu_seconds * 1e3);
          std::snprintf(cratio, sizeof cratio, "%.2f", ours.cpu_seconds / ref.cpu_seconds);
        }
        std::printf("%-9s %5lld | %9.1f %9s %9s | %7.1f %7s | %6s | %8.1f %8s %6s | %9.1f %9s\n", case_name(c).c_str(),
                    static_cast<long long>(batch), ours.seconds * 1e3, tms, tams, bs / ours.seconds, tips, ratio,
                    ours.cpu_seconds * 1e3, tcpu, cratio, ours.peak_mib, tmib);
      }
  }

 private:
  struct Best {
    double seconds = 0, peak_mib = 0, cpu_seconds = 0;  // wall, peak, CPU time of all the process's threads
  };
  Best get(const std::string& name) const {
    const auto it = best_.find(name);
    return it == best_.end() ? Best{} : it->second;
  }
  std::map<std::string, Best> best_;
};

// Whether --benchmark_filter selects one of the case's benchmarks (Google Benchmark's rule: an extended regex
// searched in the name, negated by a leading '-'), so that only the stages that will run are built and checked.
bool selected(Case c, std::int64_t batch) {
  std::string spec = benchmark::GetBenchmarkFilter();
  if (spec.empty() || spec == "all") return true;
  const bool negative = spec[0] == '-';
  if (negative) spec.erase(0, 1);
  const std::regex re(spec, std::regex::extended);
  for (const char* impl : {"anycost", "torch", "torch_act"})
    if (std::regex_search(case_name(c) + "/b" + std::to_string(batch) + "/" + impl, re) != negative) return true;
  return false;
}

void register_case(Bench* b, Case c) {
  const std::string base = case_name(c) + "/b" + std::to_string(b->batch) + "/";
  auto add = [&](benchmark::internal::Benchmark* r) {
    r->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();
  };
  add(benchmark::RegisterBenchmark((base + "anycost").c_str(), bench_ours, b, c.kind));
#if defined(ANYCOST_BENCH_WITH_TORCH)
  add(benchmark::RegisterBenchmark((base + "torch").c_str(), bench_torch, b, c.kind, Formulation::reference));
  add(benchmark::RegisterBenchmark((base + "torch_act").c_str(), bench_torch, b, c.kind, Formulation::activations));
#endif
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0)
      threads = std::atoi(argv[i] + 10);
    else
      args.push_back(argv[i]);
  }
  set_num_threads(threads);
#if defined(ANYCOST_BENCH_WITH_TORCH)
  at::set_num_threads(threads);
  bench::TorchMemory::install();  // before any LibTorch tensor is made
  torch::manual_seed(1);
#endif
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  const train::TrainConfig config = train::load_train_config(ANYCOST_BENCH_TRAIN_CONFIG);
  const char* omp = std::getenv("OMP_WAIT_POLICY");
  std::printf("bench_train: %s (%dx%d), %d threads, OMP_WAIT_POLICY=%s, SIMD %s%s\n", ANYCOST_BENCH_TRAIN_CONFIG,
              config.generator.resolution, config.generator.resolution, threads, omp ? omp : "(unset)",
              backend::cpu::simd::active_isa_name(),
#if defined(ANYCOST_BENCH_WITH_TORCH)
              ", LibTorch side by side"
#else
              ", LibTorch not found: ours only"
#endif
  );

  const std::vector<std::int64_t> batches{4, 16};
  std::map<std::pair<int, std::int64_t>, std::unique_ptr<Bench>> benches;  // by (stage, batch)
  for (Case c : kCases)
    for (std::int64_t batch : batches) {
      if (!selected(c, batch)) continue;
      std::unique_ptr<Bench>& b = benches[{c.stage, batch}];
      if (!b) {
        b = make_bench(config, c.stage, batch);
#if defined(ANYCOST_BENCH_WITH_TORCH)
        check_agreement(*b);
#endif
      }
      register_case(b.get(), c);
    }
  TrainReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_summary(batches);
  benchmark::Shutdown();
  return 0;
}
