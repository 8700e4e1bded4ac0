// Elementwise work: a 5-op chain fused into one loop (one Var assignment) against the same ops materialised
// one by one, and the autodiff overhead per recorded op on a 1-element tensor.
#include <benchmark/benchmark.h>

#include <anycost/anycost.hpp>

#include "cases.hpp"

namespace anycost::bench {
namespace {

struct ChainInputs {
  Var a, b, c;
  ChainInputs() {
    Rng rng(1);
    a = Var(randn({chain_elements}, rng));
    b = Var(randn({chain_elements}, rng));
    c = Var(randn({chain_elements}, rng));
  }
};

void set_bandwidth(benchmark::State& st) {
  // Three inputs read and one output written per element.
  st.counters["GB/s"] = benchmark::Counter(4.0 * sizeof(float) * chain_elements,
                                           benchmark::Counter::kIsIterationInvariantRate);
}

void chain_fused(benchmark::State& st) {
  const ChainInputs in;
  NoGradGuard no_grad;
  for (auto _ : st) {
    Var y = clamp(lrelu(in.a * in.b + in.c, 0.2) * chain_gain, -256.0, 256.0);
    benchmark::DoNotOptimize(y.data().raw_data());
  }
  set_bandwidth(st);
}

void chain_unfused(benchmark::State& st) {
  const ChainInputs in;
  NoGradGuard no_grad;
  for (auto _ : st) {
    Var t1 = in.a * in.b;
    Var t2 = t1 + in.c;
    Var t3 = lrelu(t2, 0.2);
    Var t4 = t3 * chain_gain;
    Var y = clamp(t4, -256.0, 256.0);
    benchmark::DoNotOptimize(y.data().raw_data());
  }
  set_bandwidth(st);
}

// Every assignment records one graph node; the backward pass runs one node per op.
void autodiff_chain(benchmark::State& st) {
  const Var x(Tensor::full({1}, 0.5), true);
  for (auto _ : st) {
    Var y = x;
    for (int i = 0; i < autodiff_chain_ops; ++i) y = i % 2 ? Var(y * 1.0001) : Var(y + 0.001);
    backward(y);
    benchmark::DoNotOptimize(x.grad().data().raw_data());
    x.zero_grad();
  }
  st.counters["ops"] = autodiff_chain_ops;
}

const int registered = [] {
  const std::string chain = "5op_1M_f32";
  benchmark::RegisterBenchmark(bench_name("elementwise_chain", chain, "anycost").c_str(), chain_fused)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(bench_name("elementwise_chain", chain, "anycost_unfused").c_str(), chain_unfused)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(
      bench_name("autodiff_fwd_bwd", "chain" + std::to_string(autodiff_chain_ops) + "_1elem", "anycost").c_str(),
      autodiff_chain)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  return 0;
}();

}  // namespace
}  // namespace anycost::bench
