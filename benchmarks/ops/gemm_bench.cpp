// GEMM: square float matrix products through anycost::matmul (the system BLAS when anycost::blas is linked,
// Eigen otherwise).
#include <benchmark/benchmark.h>

#include <anycost/anycost.hpp>

#include "cases.hpp"

namespace anycost::bench {
namespace {

void gemm(benchmark::State& st, int n) {
  Rng rng(1);
  const Var a(randn({n, n}, rng)), b(randn({n, n}, rng));
  NoGradGuard no_grad;
  for (auto _ : st) {
    Var c = matmul(a, b);
    benchmark::DoNotOptimize(c.data().raw_data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}

const int registered = [] {
  for (int n : gemm_sizes) {
    const std::string item = std::to_string(n) + "x" + std::to_string(n) + "x" + std::to_string(n);
    benchmark::RegisterBenchmark(bench_name("gemm", item, "anycost").c_str(), gemm, n)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  return 0;
}();

}  // namespace
}  // namespace anycost::bench
