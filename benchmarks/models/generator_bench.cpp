// Generator inference: ms per image of every uniform sub-network (ratios 1, 0.75, 0.5, 0.25) at every output
// resolution, batch 1 and 8 (on a GPU: 1 and 16), for two models:
//   res64    64x64, style_dim 256, n_mlp 8, channel_max 256 (the CLI's built-in model)
//   cfgF256  256x256 with config-F channels (style_dim 512, n_mlp 8, channel_max 512)
// side by side with the same generator on LibTorch ops (same weights, same fixed noise) in two
// formulations: "torch" = the official code's (per-sample weights, grouped conv), "torch_act" = modulated
// activations. Benchmarks are named <model>/r<ratio>/res<R>/b<B>/<impl>; impls: anycost, torch, torch_act.
//
// At the end: the usual ratio table, then a summary per model and batch: ms/image of ours, of the faster
// LibTorch formulation, their ratio, the official PyTorch code's published CPU times where known (2 threads,
// batch 1, OpenBLAS: cfgF256 527/373/252/84 ms, res64 49/38/27/13.8 ms at ratios 1/0.75/0.5/0.25), our
// speed-up over our own full model, and the GFLOP/s of our true arithmetic (models/macs.hpp) as a share of
// the measured single-precision GEMM peak (OpenBLAS or Eigen, the GEMM the library uses, 2048^3).
//
//   bench_models [--threads=N] [--device=cpu|cuda] [--quick] [google-benchmark flags]
//   --quick: only the model's own resolution and 1/2 resolution, batch 1 (a smoke run).
//   --device=cuda: our generator on the GPU (each iteration waits for the device), checked against the CPU
//   first; LibTorch stays on the CPU (Debian's has no CUDA), so its impls do not run and the ratios against
//   PyTorch CUDA come from tools/gpu/torch_generator_bench.py + tools/gpu/ratios.py (tools/gpu/check.sh).
//   Without a GPU it prints a notice and exits 0.
// On a machine shared with other work, run with OMP_WAIT_POLICY=passive (both libraries use libgomp while
// OpenBLAS runs its own threads; spinning OpenMP workers otherwise steal its cores).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <anycost/anycost.hpp>
#include <anycost/models.hpp>

#include "models/torch_generator.hpp"
#include "support/ratio_table.hpp"

#if defined(ANYCOST_BENCH_WITH_TORCH)
#include <ATen/Parallel.h>
#endif

using namespace anycost;
using namespace anycost::models;

namespace {

struct ModelSpec {
  std::string name;
  GeneratorConfig config;
  std::map<double, double> official_ms;  // batch 1, model resolution
};

std::vector<ModelSpec> model_specs() {
  GeneratorConfig small;
  small.resolution = 64;
  small.style_dim = 256;
  small.n_mlp = 8;
  small.channel_max = 256;
  GeneratorConfig cfgf;
  cfgf.resolution = 256;
  return {{"res64", small, {{1.0, 49}, {0.75, 38}, {0.5, 27}, {0.25, 13.8}}},
          {"cfgF256", cfgf, {{1.0, 527}, {0.75, 373}, {0.5, 252}, {0.25, 84}}}};
}

// Deterministic weights without the cost of millions of normal draws: uniform values with unit variance
// (biases small, modulation biases around 1, mapping weights / lr_mlp as the reference stores them).
Generator make_generator(const GeneratorConfig& cfg) {
  Generator g(cfg, nn::Init::none());
  Rng rng(42);
  g.visit_state([&](const std::string& name, auto& x) {
    Tensor u = rand(x.shape(), rng);
    double scale = std::sqrt(12.0), shift = -0.5;
    if (name.find("bias") != std::string::npos) scale *= 0.1;
    if (name.rfind("style.", 0) == 0 && name.find("weight") != std::string::npos) scale /= cfg.lr_mlp;
    Tensor v = Var((Var(u) + shift) * scale).data();
    if (name.find("modulation.bias") != std::string::npos) v = Var(Var(v) + 1.0).data();
    if (name.find("kernel") != std::string::npos) return;  // blur kernels keep their values
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>)
      x = Var(v, true);
    else
      x = v;
  });
  return g;
}

struct Model {
  ModelSpec spec;
  Generator g;
  PreparedGenerator prepared = {};  // inference constants, made once as the CLI and the studio do
#if defined(ANYCOST_BENCH_WITH_TORCH)
  std::unique_ptr<bench::TorchGenerator> torch = {};
#endif
};

std::vector<std::unique_ptr<Model>>& models_store() {
  static std::vector<std::unique_ptr<Model>> m;
  return m;
}

double giga_true_flops(const Model& m, const SubnetConfig& cfg) {
  return 2.0 * static_cast<double>(m.g.macs(cfg).arithmetic) / 1e9;
}

// Waits for the work queued on a GPU (launches are asynchronous: the clock must stop when it is done).
void finish(Device device) {
  if (device.is_cuda()) cuda::synchronize(device.index);
}

void bench_anycost(benchmark::State& state, const Model* m, SubnetConfig cfg, std::int64_t batch) {
  NoGradGuard no_grad;
  const Device device = m->g.device();
  Rng rng(1);
  const Var z(randn({batch, m->g.style_dim()}, rng, DType::float32, device));
  GenerateOptions opts;
  opts.synthesis.prepared = &m->prepared;
  if (device.is_cuda()) {  // fills the caching allocator outside the timing
    (void)m->g.generate(z, cfg, opts);
    finish(device);
  }
  for (auto _ : state) {
    Var img = m->g.generate(z, cfg, opts).image;
    benchmark::DoNotOptimize(img.data().raw_data());
    finish(device);
  }
  state.counters["ms/image"] = benchmark::Counter(static_cast<double>(batch) * 1e-3 * static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["GFLOP/s"] = benchmark::Counter(giga_true_flops(*m, cfg) * 1e9 * static_cast<double>(batch),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

#if defined(ANYCOST_BENCH_WITH_TORCH)
void bench_torch(benchmark::State& state, const Model* m, SubnetConfig cfg, std::int64_t batch,
                 bench::TorchGenerator::Formulation f) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(1);
  const torch::Tensor z = torch::randn({batch, m->g.style_dim()});
  for (auto _ : state) {
    torch::Tensor img = m->torch->generate(z, cfg, f);
    benchmark::DoNotOptimize(img.data_ptr());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(giga_true_flops(*m, cfg) * 1e9 * static_cast<double>(batch),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
#endif

std::string ratio_name(double r) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "r%.2f", r);
  return buf;
}

// Single-precision GEMM throughput of the library's GEMM on `device` (the CPU's BLAS or cuBLAS), 2048^3, in
// GFLOP/s.
double gemm_peak(Device device) {
  const std::int64_t n = 2048;
  const bool host = device.is_cpu();
  std::vector<float> a(host ? static_cast<std::size_t>(n * n) : 0, 1.0f), b(a), c(a);
  NoGradGuard no_grad;
  const Var ag = host ? Var() : Var(Tensor::ones({n, n}, DType::float32, device));
  auto run = [&] {
    if (host)
      backend::cpu::gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    else
      (void)matmul(ag, ag);
    finish(device);
  };
  run();
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * static_cast<double>(n * n * n) / s / 1e9);
  }
  return best;
}

// The ratio table's reporter, also keeping each run's median wall time for the summary.
class GeneratorReporter : public bench::RatioReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    RatioReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred || r.run_type != Run::RT_Iteration) continue;
      const std::string name = r.run_name.function_name;
      seconds_[name].push_back(r.GetAdjustedRealTime() / 1e3);  // the benchmarks report milliseconds
    }
  }
  // Median seconds per iteration of "<group>/<impl>", 0 when it did not run.
  double median_seconds(const std::string& group, const std::string& impl) const {
    const auto it = seconds_.find(group + "/" + impl);
    if (it == seconds_.end() || it->second.empty()) return 0;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }

 private:
  std::map<std::string, std::vector<double>> seconds_;
};

// Checks that the LibTorch generator computes what ours computes (so the comparison is like for like).
void check_torch_agrees(const Model& m) {
#if defined(ANYCOST_BENCH_WITH_TORCH)
  NoGradGuard no_grad;
  torch::NoGradGuard tno_grad;
  Rng rng(3);
  const Tensor z = randn({2, m.g.style_dim()}, rng);
  for (const SubnetConfig& cfg : {m.g.full_config(), m.g.channel_table().uniform(0.25, m.g.resolution() / 2)}) {
    const std::vector<float> ours = m.g.generate(Var(z), cfg).image.data().to_vector<float>();
    const torch::Tensor tz = torch::from_blob(const_cast<float*>(z.data<float>()), {2, m.g.style_dim()}).clone();
    for (auto f : {bench::TorchGenerator::Formulation::reference, bench::TorchGenerator::Formulation::activations}) {
      const torch::Tensor t = m.torch->generate(tz, cfg, f).contiguous();
      double worst = 0, scale = 0;
      for (std::size_t i = 0; i < ours.size(); ++i) {
        worst = std::max(worst, static_cast<double>(std::abs(ours[i] - t.data_ptr<float>()[i])));
        scale = std::max(scale, static_cast<double>(std::abs(ours[i])));
      }
      std::printf("check %s %s vs LibTorch (%s): max abs diff %.2e (max |image| %.2f)\n", m.spec.name.c_str(),
                  cfg.describe().c_str(), f == bench::TorchGenerator::Formulation::reference ? "reference" : "activations",
                  worst, scale);
    }
  }
#else
  (void)m;
#endif
}

// Checks that the GPU computes what the CPU computes (the timings are of the right computation).
void check_device_agrees(const Generator& cpu, const Generator& gpu, const std::string& name) {
  NoGradGuard no_grad;
  Rng rng(3);
  const Tensor z = randn({2, cpu.style_dim()}, rng);
  for (const SubnetConfig& cfg : {cpu.full_config(), cpu.channel_table().uniform(0.25, cpu.resolution() / 2)}) {
    const Tensor a = cpu.generate(Var(z), cfg).image.data();
    const Tensor b = gpu.generate(Var(z.to(gpu.device())), cfg).image.data().to(Device::cpu());
    const std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::abs(x[i] - y[i])));
      scale = std::max(scale, static_cast<double>(std::abs(x[i])));
    }
    std::printf("check %s %s on %s vs CPU: max abs diff %.2e (max |image| %.2f)\n", name.c_str(),
                cfg.describe().c_str(), anycost::detail::concat(gpu.device()).c_str(), worst, scale);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  bool quick = false;
  Device device = Device::cpu();
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      threads = std::atoi(argv[i] + 10);
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strncmp(argv[i], "--device=", 9) == 0) {
      try {
        device = parse_device(argv[i] + 9);
      } catch (const ValueError& e) {
        std::fprintf(stderr, "bench_models: %s\n", e.what());
        return 2;
      }
    } else {
      args.push_back(argv[i]);
    }
  }
  const bool on_cpu = device.is_cpu();
  const std::string device_name = anycost::detail::concat(device);
  if (!on_cpu && device.index >= cuda::device_count()) {
    std::printf("bench_models: --device=%s: no such CUDA device (%s); nothing to run\n", device_name.c_str(),
                cuda::is_available() ? "fewer devices present" : cuda::unavailable_reason());
    return 0;
  }
  // A GPU needs a larger batch to fill it.
  const std::vector<std::int64_t> batches = on_cpu ? std::vector<std::int64_t>{1, 8} : std::vector<std::int64_t>{1, 16};
  set_num_threads(threads);
#if defined(ANYCOST_BENCH_WITH_TORCH)
  at::set_num_threads(threads);
#endif
  // Large allocations from the heap rather than fresh mmap()s (both libraries allocate every feature map;
  // the anycost CLI does the same).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  const double peak = gemm_peak(device);
  const char* torch_note =
#if defined(ANYCOST_BENCH_WITH_TORCH)
      on_cpu ? ", LibTorch side by side" : ", LibTorch (CPU only) skipped";
#else
      ", LibTorch not found";
#endif
  std::printf("bench_models: %s, %d threads, GEMM peak %.1f GFLOP/s (sgemm 2048^3)%s\n", device_name.c_str(),
              threads, peak, torch_note);

  for (const ModelSpec& spec : model_specs()) {
    auto m = std::make_unique<Model>(Model{spec, make_generator(spec.config)});
    if (!on_cpu) {
      const Generator cpu = nn::deep_copy(m->g);
      m->g.to(device);
      check_device_agrees(cpu, m->g, spec.name);
    }
    m->prepared = m->g.prepare();
#if defined(ANYCOST_BENCH_WITH_TORCH)
    if (on_cpu) m->torch = std::make_unique<bench::TorchGenerator>(m->g);
#endif
    if (on_cpu) check_torch_agrees(*m);
    models_store().push_back(std::move(m));
  }
  for (const auto& mp : models_store()) {
    const Model* m = mp.get();
    for (std::int64_t batch : batches) {
      if (quick && batch != 1) continue;
      for (double ratio : {1.0, 0.75, 0.5, 0.25})
        for (int r = 4; r <= m->g.resolution(); r *= 2) {
          if (quick && r < m->g.resolution() / 2) continue;
          const SubnetConfig cfg = m->g.channel_table().uniform(ratio, r);
          const std::string base = m->spec.name + "/" + ratio_name(ratio) + "/res" + std::to_string(r) + "/b" +
                                   std::to_string(batch) + "/";
          benchmark::RegisterBenchmark((base + "anycost").c_str(), bench_anycost, m, cfg, batch)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
#if defined(ANYCOST_BENCH_WITH_TORCH)
          if (on_cpu) {
            benchmark::RegisterBenchmark((base + "torch").c_str(), bench_torch, m, cfg, batch,
                                         bench::TorchGenerator::Formulation::reference)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
            benchmark::RegisterBenchmark((base + "torch_act").c_str(), bench_torch, m, cfg, batch,
                                         bench::TorchGenerator::Formulation::activations)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
          }
#endif
        }
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  GeneratorReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratio_table(stdout);

  // ---- summary: per model and batch, ms/image ----
  std::printf("\nSummary on %s (ms per image; LibTorch = the faster of its two formulations; official = the "
              "reference PyTorch code's published 2-thread CPU time, CPU runs only)\n",
              device_name.c_str());
  std::printf("%-8s %-6s %-6s %5s %10s %10s %7s %9s %8s %10s %9s %8s\n", "model", "batch", "ratio", "res", "anycost",
              "LibTorch", "ratio", "official", "vs off.", "vs full", "GFLOP/s", "of peak");
  for (const auto& mp : models_store()) {
    const Model& m = *mp;
    for (std::int64_t batch : batches) {
      double full_ms = 0;
      for (double ratio : {1.0, 0.75, 0.5, 0.25})
        for (int r = m.g.resolution(); r >= 4; r /= 2) {
          const std::string base = m.spec.name + "/" + ratio_name(ratio) + "/res" + std::to_string(r) + "/b" +
                                   std::to_string(batch);
          const double ours = reporter.median_seconds(base, "anycost");
          if (ours <= 0) continue;
          const double t1 = reporter.median_seconds(base, "torch"), t2 = reporter.median_seconds(base, "torch_act");
          const double theirs = t1 > 0 && t2 > 0 ? std::min(t1, t2) : std::max(t1, t2);
          const double ms = ours * 1e3 / static_cast<double>(batch), tms = theirs * 1e3 / static_cast<double>(batch);
          if (ratio == 1.0 && r == m.g.resolution()) full_ms = ms;
          const SubnetConfig cfg = m.g.channel_table().uniform(ratio, r);
          const double gflops = giga_true_flops(m, cfg) / (ms * 1e-3);
          char tbuf[16] = "-", rbuf[16] = "-", obuf[16] = "-", vbuf[16] = "-", fbuf[16] = "-";
          if (theirs > 0) {
            std::snprintf(tbuf, sizeof tbuf, "%.2f", tms);
            std::snprintf(rbuf, sizeof rbuf, "%.2f", ms / tms);
          }
          const auto off = m.spec.official_ms.find(ratio);
          if (on_cpu && batch == 1 && r == m.g.resolution() && off != m.spec.official_ms.end()) {
            std::snprintf(obuf, sizeof obuf, "%.1f", off->second);
            std::snprintf(vbuf, sizeof vbuf, "%.2fx", off->second / ms);
          }
          if (full_ms > 0) std::snprintf(fbuf, sizeof fbuf, "%.2fx", full_ms / ms);
          std::printf("%-8s %-6lld %-6.2f %5d %10.2f %10s %7s %9s %8s %10s %9.1f %7.1f%%\n", m.spec.name.c_str(),
                      static_cast<long long>(batch), ratio, r, ms, tbuf, rbuf, obuf, vbuf, fbuf, gflops,
                      100 * gflops / peak);
        }
    }
  }
  benchmark::Shutdown();
  return 0;
}
