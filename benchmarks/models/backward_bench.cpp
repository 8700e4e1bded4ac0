// Generator backward at uniform channel ratios 1, 0.5 and 0.25: the training step of a sliced student, whose
// parameters are prefix views of the full weights. Reports, per ratio, the backward time (manual timing: the
// forward is not counted) and two peaks of host tensor memory (core/storage.hpp's counters):
//   peak_MiB      the whole step (forward + backward) above what was allocated before it,
//   bwd_peak_MiB  the backward pass above what the forward left alive (graph, saved tensors),
//   bwd_alloc_MiB every byte the backward pass allocates (memory traffic: gradients, temporaries).
// The gradients land in full-size .grad tensors at every ratio (one per parameter, as any optimiser needs);
// what a sliced backward must not do is move full-size zeros for every slice on the way. Two ways to start
// a step: .grad released (zero_grad(): the first slice gradient allocates it again) and, suffix /keep_grad,
// .grad kept and zeroed in place (a sliced backward then allocates nothing full-size).
//
// Models: res64 (64x64, style_dim 256, channel_max 256; batch 8) and cfgF256 (256x256, config-F channels;
// batch 1). Names: <model>/r<ratio>/b<B>[/keep_grad].
//
//   bench_backward [--threads=N] [google-benchmark flags]   (main: benchmarks/support/bench_main.cpp)
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <anycost/anycost.hpp>
#include <anycost/models.hpp>

using namespace anycost;
using namespace anycost::models;

namespace {

struct Case {
  std::string name;
  GeneratorConfig config;
  int batch;
};

std::vector<Case> cases() {
  GeneratorConfig small;
  small.resolution = 64;
  small.style_dim = 256;
  small.n_mlp = 8;
  small.channel_max = 256;
  GeneratorConfig cfgf;
  cfgf.resolution = 256;
  return {{"res64", small, 8}, {"cfgF256", cfgf, 1}};
}

struct Model {
  Generator g;
  std::vector<Var> params;
  Var z;
  Tensor weights;  // fixed per-pixel weights of the scalar loss
};

std::shared_ptr<Model> make_model(const Case& c) {
  auto m = std::make_shared<Model>();
  m->g = Generator(c.config, 7);
  nn::visit_parameters(m->g, [&](const std::string&, Var& p) {
    p.set_requires_grad(true);
    m->params.push_back(p);
  });
  Rng rng(11);
  m->z = Var(randn({c.batch, c.config.style_dim}, rng));
  m->weights = randn({c.batch, 3, c.config.resolution, c.config.resolution}, rng);
  return m;
}

double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

void run(benchmark::State& state, const std::shared_ptr<Model>& m, double ratio, bool keep_grad) {
  const SubnetConfig cfg = m->g.channel_table().uniform(ratio);
  for (const Var& p : m->params) p.set_grad(keep_grad ? Var(Tensor::zeros(p.shape(), p.dtype())) : Var());
  double peak = 0, bwd_peak = 0, bwd_alloc = 0;
  for (auto _ : state) {
    for (const Var& p : m->params) {  // a fresh step
      if (keep_grad)
        p.grad().data().zero_();
      else
        p.zero_grad();
    }
    const std::size_t base = host_memory_stats().allocated_bytes;
    reset_host_peak_memory();
    Var loss = sum(m->g.generate(m->z, cfg).image * Var(m->weights));
    const std::size_t after_forward = host_memory_stats().allocated_bytes;
    const std::size_t forward_peak = host_memory_stats().peak_allocated_bytes;
    reset_host_peak_memory();
    const std::size_t total_before = host_memory_stats().total_allocated_bytes;
    const auto t0 = std::chrono::steady_clock::now();
    backward(loss);
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    const std::size_t backward_peak = host_memory_stats().peak_allocated_bytes;
    peak = mib(std::max(forward_peak, backward_peak) - base);
    bwd_peak = mib(backward_peak - after_forward);
    bwd_alloc = mib(host_memory_stats().total_allocated_bytes - total_before);
    benchmark::DoNotOptimize(m->params.front().grad());
  }
  state.counters["peak_MiB"] = peak;
  state.counters["bwd_peak_MiB"] = bwd_peak;
  state.counters["bwd_alloc_MiB"] = bwd_alloc;
}

// Models are built on first use, so that --benchmark_filter runs only what it names.
const std::shared_ptr<Model>& model(const Case& c) {
  static std::map<std::string, std::shared_ptr<Model>> made;
  auto& m = made[c.name];
  if (!m) m = make_model(c);
  return m;
}

const bool registered = [] {
  for (const Case& c : cases()) {
    for (const bool keep : {false, true}) {
      for (const double r : {1.0, 0.5, 0.25}) {
        char name[96];
        std::snprintf(name, sizeof name, "%s/r%.2f/b%d%s", c.name.c_str(), r, c.batch, keep ? "/keep_grad" : "");
        benchmark::RegisterBenchmark(name, [c, r, keep](benchmark::State& s) { run(s, model(c), r, keep); })
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond)
            ->MinTime(1.0);
      }
    }
  }
  return true;
}();

}  // namespace
