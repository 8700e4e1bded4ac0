// One stage-1 training iteration, part by part, against the same iteration on LibTorch in the same process
// (same weights, same batch, same latents and noise maps, same thread count):
//   d_step  fakes from G without gradient, the logistic D loss on real and fake, backward, Adam on D
//   d_r1    d_step, then the lazy R1 step: (gamma/2) * 16 * R1 by double backward through D, Adam on D
//   g_step  the non-saturating G loss through D (D frozen), backward, Adam on G
//   g_pl    g_step, then the lazy path-length step on batch/2: double backward through G, Adam on G
// Ours runs the trainer's own code (train/steps.hpp: d_step, r1_step, g_step, path_step, which also check
// that the loss and every gradient are finite before Adam steps). LibTorch runs the same maths on
// TorchGenerator / TorchDiscriminator (copies of our weights, checked to agree before timing) in the
// official code's formulation ("torch": per-sample weights, grouped convolutions) and with modulated
// activations ("torch_act"). Grads are released before each step on both sides (set_to_none).
// Model: examples/configs/emoji64.json (64x64, style_dim 128, n_mlp 4, widths 128,128,128,64,32; G and D),
// at batch 4 and 16. Names: <case>/b<B>/<impl>.
//
// Reported per case: ms per iteration, img/s (batch / time), ours / LibTorch (the faster formulation), the
// process CPU time of an iteration (all threads) and its ratio, and the
// peak tensor memory of one iteration above what was live before it: ours from core/storage.hpp's counters,
// LibTorch from a counting allocator in front of its CPU allocator (support/torch_memory.hpp). Neither
// counts oneDNN / BLAS internal buffers or our scratch arenas.
//
//   OMP_WAIT_POLICY=passive bench_train [--threads=N] [google-benchmark flags]
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
#include <string>
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

enum class Case { d_step, d_r1, g_step, g_pl };
constexpr Case kCases[] = {Case::d_step, Case::d_r1, Case::g_step, Case::g_pl};
const char* case_name(Case c) {
  switch (c) {
    case Case::d_step: return "d_step";
    case Case::d_r1: return "d_r1";
    case Case::g_step: return "g_step";
    default: return "g_pl";
  }
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

// Everything one batch size needs: both models of both libraries, their optimisers, the fixed draws.
struct Bench {
  train::TrainConfig config;
  std::int64_t batch = 0;
  models::Generator g;
  models::Discriminator d;
  std::optional<optim::Adam> g_opt, d_opt;
  std::vector<Tensor> real;  // stage 1: one batch at R
  std::optional<train::StepDraws> draws;  // (SubnetConfig has no empty state)
  double mean_path = 0;
#if defined(ANYCOST_BENCH_WITH_TORCH)
  std::unique_ptr<bench::TorchGenerator> tg;
  std::unique_ptr<bench::TorchDiscriminator> td;
  std::unique_ptr<torch::optim::Adam> tg_opt, td_opt;
  torch::Tensor t_real, t_z1, t_z2;
  std::vector<torch::Tensor> t_noise;
  double t_mean_path = 0;
#endif

  train::StepContext context() const { return {config, 1, 0, g, d, nullptr, nullptr}; }
};

std::unique_ptr<Bench> make_bench(const train::TrainConfig& config, std::int64_t batch) {
  auto b = std::make_unique<Bench>();
  b->config = config;
  b->batch = batch;
  b->g = models::Generator(config.generator, config.seed);
  // The trainer's stage-1 D (train/trainer.hpp: d_config).
  models::DiscriminatorConfig dc = models::DiscriminatorConfig::matching(config.generator, 1, false);
  dc.channel_multiplier = config.d_channel_multiplier;
  dc.channel_max = config.d_channel_max;
  dc.channels = config.d_channels;
  b->d = models::Discriminator(dc, config.seed + 1);
  for (const optim::NamedParameter& p : optim::named_parameters(b->g)) Var(p.var).set_requires_grad(true);
  for (const optim::NamedParameter& p : optim::named_parameters(b->d)) Var(p.var).set_requires_grad(true);
  b->g_opt.emplace(optim::named_parameters(b->g), config.adam);
  b->d_opt.emplace(optim::named_parameters(b->d), config.adam);
  Rng rng(5);
  // Real images: uniform in [-1, 1] (the data's range).
  b->real = {Var(Var(rand({batch, 3, b->g.resolution(), b->g.resolution()}, rng)) * 2.0 - 1.0).data()};
  b->draws.emplace(train::draw_step(b->context(), batch, rng));
#if defined(ANYCOST_BENCH_WITH_TORCH)
  b->tg = std::make_unique<bench::TorchGenerator>(b->g);
  b->td = std::make_unique<bench::TorchDiscriminator>(b->d);
  const auto adam = torch::optim::AdamOptions(config.adam.lr)
                        .betas({config.adam.beta1, config.adam.beta2})
                        .eps(config.adam.eps);
  b->tg_opt = std::make_unique<torch::optim::Adam>(b->tg->parameters(), adam);
  b->td_opt = std::make_unique<torch::optim::Adam>(b->td->parameters(), adam);
  b->t_real = to_torch(b->real[0]);
  b->t_z1 = to_torch(b->draws->latents.z1.data());
  if (b->draws->latents.z2.defined()) b->t_z2 = to_torch(b->draws->latents.z2.data());
  for (const Var& n : b->draws->noise) b->t_noise.push_back(to_torch(n.data()));
#endif
  return b;
}

// ---- ours: the trainer's steps ----
bool ours_step(Bench& b, Case c, std::int64_t iteration) {
  const train::StepContext s = b.context();
  train::StepLosses out;
  bool ok = true;
  if (c == Case::d_step || c == Case::d_r1) {
    ok = train::d_step(s, b.real, *b.draws, *b.d_opt, out);
    if (c == Case::d_r1) ok = train::r1_step(s, b.real, 0, b.draws->config, *b.d_opt, out) && ok;
  } else {
    ok = train::g_step(s, *b.draws, *b.g_opt, b.d_opt->parameters(), out);
    if (c == Case::g_pl) {
      Rng rng = train::stream(b.config.seed, iteration, train::Stream::path);
      ok = train::path_step(s, b.batch, rng, *b.g_opt, b.mean_path, out) && ok;
    }
  }
  return ok;
}

#if defined(ANYCOST_BENCH_WITH_TORCH)
using Formulation = bench::TorchGenerator::Formulation;

// W+ as train::styles builds it: w1 everywhere, or rows [0, inject) from w1 and the rest from w2.
torch::Tensor t_styles(const Bench& b, const torch::Tensor& z1, const torch::Tensor& z2, int inject) {
  const std::int64_t n = b.tg->n_style(), batch = z1.size(0), dim = z1.size(1);
  const torch::Tensor w1 = b.tg->map(z1).unsqueeze(1);
  if (!z2.defined()) return w1.expand({batch, n, dim});
  const torch::Tensor w2 = b.tg->map(z2).unsqueeze(1);
  return torch::cat({w1.expand({batch, inject, dim}), w2.expand({batch, n - inject, dim})}, 1);
}

torch::Tensor t_fake(const Bench& b, Formulation f) {
  return b.tg->synthesize(t_styles(b, b.t_z1, b.t_z2, b.draws->latents.inject), b.g.full_config(), f, b.t_noise).back();
}

// The R1 penalty: mean over the batch of |d sum D(x) / dx|^2, with the graph of the gradient kept.
torch::Tensor t_r1(const Bench& b) {
  const torch::Tensor x = b.t_real.detach().requires_grad_(true);
  const torch::Tensor logits = b.td->forward(x);
  const torch::Tensor g = torch::autograd::grad({logits.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  return g.pow(2).flatten(1).sum(1).mean();
}

void torch_step(Bench& b, Case c, Formulation f) {
  if (c == Case::d_step || c == Case::d_r1) {
    torch::Tensor fake;
    {
      torch::NoGradGuard no_grad;
      fake = t_fake(b, f);
    }
    release_grads(b.td->parameters());
    const torch::Tensor loss = torch::softplus(-b.td->forward(b.t_real)).mean() + torch::softplus(b.td->forward(fake)).mean();
    loss.backward();
    b.td_opt->step();
    if (c == Case::d_r1) {
      release_grads(b.td->parameters());
      (t_r1(b) * (b.config.r1_gamma / 2 * b.config.r1_interval)).backward();
      b.td_opt->step();
    }
    return;
  }
  set_requires_grad(b.td->parameters(), false);  // D is frozen in the G step, as the official code does
  release_grads(b.tg->parameters());
  const torch::Tensor loss = torch::softplus(-b.td->forward(t_fake(b, f))).mean();
  loss.backward();
  b.tg_opt->step();
  set_requires_grad(b.td->parameters(), true);
  if (c != Case::g_pl) return;
  // Path length (train::path_step's maths) on batch / shrink fresh latents and fresh noise.
  const std::int64_t pb = std::max<std::int64_t>(1, b.batch / b.config.pl_batch_shrink);
  const std::int64_t dim = b.g.style_dim();
  const bool mix = torch::rand({1}).item<double>() < b.config.mixing;
  const int inject = 1 + static_cast<int>(torch::randint(b.tg->n_style() - 1, {1}).item<std::int64_t>());
  release_grads(b.tg->parameters());
  const torch::Tensor wplus =
      t_styles(b, torch::randn({pb, dim}), mix ? torch::randn({pb, dim}) : torch::Tensor(), inject);
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

// Checks, before any step: D logits on the real batch, R1 penalty, and G's image from the step's draws (both
// formulations). Exits with a message when one differs by more than 1e-3 of its scale.
void check_agreement(const Bench& b) {
  std::vector<std::pair<std::string, double>> checks;
  {
    NoGradGuard no_grad;
    torch::NoGradGuard t_no_grad;
    checks.emplace_back("D logits", relative_diff(b.d.forward(Var(b.real[0])).data(), b.td->forward(b.t_real)));
    const Tensor img = b.g.synthesize(train::styles(b.g, b.draws->latents), b.g.full_config(),
                                      train::given_noise(*b.draws, false))
                           .image.data();
    checks.emplace_back("G image (torch)", relative_diff(img, t_fake(b, Formulation::reference)));
    checks.emplace_back("G image (torch_act)", relative_diff(img, t_fake(b, Formulation::activations)));
  }
  const Var r1 = losses::r1(Var(b.real[0]), [&](const Var& x) { return b.d.forward(x); });
  const torch::Tensor t_penalty = t_r1(b);
  std::printf("check b%lld R1 penalty: ours %.6g, LibTorch %.6g\n", static_cast<long long>(b.batch), r1.item(),
              t_penalty.item<double>());
  checks.emplace_back("R1 penalty", relative_diff(r1.data(), t_penalty));
  bool ok = true;
  for (const auto& [what, diff] : checks) {
    std::printf("check b%lld %-20s ours vs LibTorch: relative max diff %.2e\n", static_cast<long long>(b.batch),
                what.c_str(), diff);
    ok = ok && diff < 1e-3;
  }
  if (!ok) {
    std::fprintf(stderr, "bench_train: the LibTorch reference does not compute what ours computes; not timing\n");
    std::exit(1);
  }
}
#endif

// Peak tensor bytes of one step above what was live before it (run outside the timing).
double ours_peak_mib(Bench& b, Case c) {
  reset_host_peak_memory();
  const std::size_t base = host_memory_stats().allocated_bytes;
  (void)ours_step(b, c, 0);
  return mib(static_cast<double>(host_memory_stats().peak_allocated_bytes - base));
}

void bench_ours(benchmark::State& state, Bench* b, Case c) {
  (void)ours_step(*b, c, 0);  // Adam state and first-touch pages outside the timing
  const double peak = ours_peak_mib(*b, c);
  std::int64_t it = 1, failed = 0;
  for (auto _ : state)
    if (!ours_step(*b, c, ++it)) ++failed;
  state.counters["img/s"] = benchmark::Counter(static_cast<double>(b->batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_MiB"] = peak;
  state.counters["nonfinite"] = static_cast<double>(failed);  // steps the finiteness check skipped (no Adam)
}

#if defined(ANYCOST_BENCH_WITH_TORCH)
void bench_torch(benchmark::State& state, Bench* b, Case c, Formulation f) {
  bench::TorchMemory& mem = bench::TorchMemory::install();
  torch_step(*b, c, f);
  mem.reset_peak();
  const std::size_t base = mem.allocated();
  torch_step(*b, c, f);
  const double peak = mib(static_cast<double>(mem.peak() - base));
  for (auto _ : state) torch_step(*b, c, f);
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
    std::printf("\n%-7s %5s | %9s %9s %9s | %7s %7s | %6s | %8s %8s %6s | %9s %9s\n", "case", "batch", "ours ms",
                "torch ms", "t_act ms", "ours/s", "torch/s", "ratio", "ours cpu", "ref cpu", "ratio", "ours MiB",
                "torch MiB");
    std::printf("%s\n", std::string(124, '-').c_str());
    for (Case c : kCases)
      for (std::int64_t batch : batches) {
        const std::string base = std::string(case_name(c)) + "/b" + std::to_string(batch) + "/";
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
        std::printf("%-7s %5lld | %9.1f %9s %9s | %7.1f %7s | %6s | %8.1f %8s %6s | %9.1f %9s\n", case_name(c),
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
  std::vector<std::unique_ptr<Bench>> benches;
  for (std::int64_t batch : batches) {
    benches.push_back(make_bench(config, batch));
#if defined(ANYCOST_BENCH_WITH_TORCH)
    check_agreement(*benches.back());
#endif
  }
  for (Case c : kCases)
    for (const auto& bp : benches) {
      Bench* b = bp.get();
      const std::string base = std::string(case_name(c)) + "/b" + std::to_string(b->batch) + "/";
      benchmark::RegisterBenchmark((base + "anycost").c_str(), bench_ours, b, c)
          ->Unit(benchmark::kMillisecond)
          ->MeasureProcessCPUTime()
          ->UseRealTime();
#if defined(ANYCOST_BENCH_WITH_TORCH)
      benchmark::RegisterBenchmark((base + "torch").c_str(), bench_torch, b, c, Formulation::reference)
          ->Unit(benchmark::kMillisecond)
          ->MeasureProcessCPUTime()
          ->UseRealTime();
      benchmark::RegisterBenchmark((base + "torch_act").c_str(), bench_torch, b, c, Formulation::activations)
          ->Unit(benchmark::kMillisecond)
          ->MeasureProcessCPUTime()
          ->UseRealTime();
#endif
    }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  TrainReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_summary(batches);
  benchmark::Shutdown();
  return 0;
}
