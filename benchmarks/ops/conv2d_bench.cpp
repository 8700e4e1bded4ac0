// 2-D convolutions: 3×3 stride-1 forward and forward + backward (Winograd where it pays, im2col + GEMM
// otherwise), and the generator's stride-2 up-convolution.
#include <benchmark/benchmark.h>

#include <anycost/anycost.hpp>

#include "cases.hpp"

namespace anycost::bench {
namespace {

const Conv2dParams same3x3{1, 1, 1, 1, 1};

void conv_forward(benchmark::State& st, ConvCase c) {
  Rng rng(1);
  const Var x(randn({c.n, c.c, c.hw, c.hw}, rng)), w(randn({c.c, c.c, 3, 3}, rng));
  NoGradGuard no_grad;
  for (auto _ : st) {
    Var y = conv2d(x, w, same3x3);
    benchmark::DoNotOptimize(y.data().raw_data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(conv_flops(c), benchmark::Counter::kIsIterationInvariantRate);
}

// y = conv2d(x, w), then the input and weight gradients of <y, gy>.
void conv_forward_backward(benchmark::State& st, ConvCase c) {
  Rng rng(1);
  const Var x(randn({c.n, c.c, c.hw, c.hw}, rng), true), w(randn({c.c, c.c, 3, 3}, rng), true);
  const Var gy(randn({c.n, c.c, c.hw, c.hw}, rng));
  for (auto _ : st) {
    Var y = conv2d(x, w, same3x3);
    backward(y, gy);
    benchmark::DoNotOptimize(x.grad().data().raw_data());
    x.zero_grad();
    w.zero_grad();
  }
  st.counters["GFLOP/s"] = benchmark::Counter(3 * conv_flops(c), benchmark::Counter::kIsIterationInvariantRate);
}

void up_conv(benchmark::State& st, ConvCase c) {
  Rng rng(1);
  const Var z(randn({c.n, c.c, c.hw, c.hw}, rng)), w(randn({c.c, c.c, 3, 3}, rng));
  NoGradGuard no_grad;
  for (auto _ : st) {
    Var y = conv_transpose2d(z, w, {2, 2, 0, 0, 1});
    benchmark::DoNotOptimize(y.data().raw_data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(conv_flops(c), benchmark::Counter::kIsIterationInvariantRate);
}

const int registered = [] {
  for (const ConvCase& c : conv_cases) {
    benchmark::RegisterBenchmark(bench_name("conv2d_3x3_fwd", c.name, "anycost").c_str(), conv_forward, c)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    if (c.backward)
      benchmark::RegisterBenchmark(bench_name("conv2d_3x3_fwd_bwd", c.name, "anycost").c_str(), conv_forward_backward, c)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  }
  for (const ConvCase& c : up_conv_cases)
    benchmark::RegisterBenchmark(bench_name("conv_transpose2d_3x3_s2", c.name, "anycost").c_str(), up_conv, c)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  return 0;
}();

}  // namespace
}  // namespace anycost::bench
