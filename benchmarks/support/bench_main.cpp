// Main of the benchmark executables: sets one thread count for anycost and LibTorch (--threads=N, default 2),
// runs the Google Benchmark suite and prints the ours/LibTorch ratio table at the end.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <anycost/anycost.hpp>

#include "support/ratio_table.hpp"

#if defined(ANYCOST_BENCH_WITH_TORCH)
#include <ATen/Parallel.h>
#endif

int main(int argc, char** argv) {
  int threads = 2;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0)
      threads = std::atoi(argv[i] + 10);
    else
      args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  anycost::set_num_threads(threads);
#if defined(ANYCOST_BENCH_WITH_TORCH)
  at::set_num_threads(threads);
  const char* torch_note = "LibTorch reference in the same process";
#else
  const char* torch_note = "LibTorch not found: no reference column";
#endif
#if defined(ANYCOST_USE_BLAS)
  const char* gemm = "system BLAS";
#else
  const char* gemm = "Eigen";
#endif
  std::printf("anycost benchmarks: %d threads, GEMM on %s, SIMD kernels: %s; %s\n", threads, gemm,
              anycost::backend::cpu::simd::active_isa_name(), torch_note);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  anycost::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratio_table(stdout);
  benchmark::Shutdown();
  return 0;
}
