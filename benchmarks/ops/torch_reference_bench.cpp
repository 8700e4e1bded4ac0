// The LibTorch side of bench_ops: the same items as the anycost files, run in the same process with the
// same thread count. upfirdn2d is timed as PyTorch users run it on CPU (the reference implementation's
// pure-PyTorch form: zero-stuff by reshape and pad, pad, then a depthwise conv2d with the flipped kernel).
#if defined(ANYCOST_BENCH_WITH_TORCH)

#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "cases.hpp"

namespace anycost::bench {
namespace {

void gemm(benchmark::State& st, int n) {
  at::manual_seed(1);
  const at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
  for (auto _ : st) {
    at::Tensor c = at::mm(a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}

void conv_forward(benchmark::State& st, ConvCase c) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({c.n, c.c, c.hw, c.hw}), w = at::randn({c.c, c.c, 3, 3});
  for (auto _ : st) {
    at::Tensor y = at::conv2d(x, w, {}, 1, 1);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(conv_flops(c), benchmark::Counter::kIsIterationInvariantRate);
}

void conv_forward_backward(benchmark::State& st, ConvCase c) {
  at::manual_seed(1);
  at::Tensor x = at::randn({c.n, c.c, c.hw, c.hw}).set_requires_grad(true);
  at::Tensor w = at::randn({c.c, c.c, 3, 3}).set_requires_grad(true);
  const at::Tensor gy = at::randn({c.n, c.c, c.hw, c.hw});
  for (auto _ : st) {
    at::Tensor y = at::conv2d(x, w, {}, 1, 1);
    y.backward(gy);
    benchmark::DoNotOptimize(x.grad().data_ptr());
    x.mutable_grad().reset();
    w.mutable_grad().reset();
  }
  st.counters["GFLOP/s"] = benchmark::Counter(3 * conv_flops(c), benchmark::Counter::kIsIterationInvariantRate);
}

void up_conv(benchmark::State& st, ConvCase c) {
  at::manual_seed(1);
  const at::Tensor z = at::randn({c.n, c.c, c.hw, c.hw}), w = at::randn({c.c, c.c, 3, 3});
  for (auto _ : st) {
    at::Tensor y = at::conv_transpose2d(z, w, {}, 2, 0);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(conv_flops(c), benchmark::Counter::kIsIterationInvariantRate);
}

at::Tensor upfirdn2d_native(const at::Tensor& x, const at::Tensor& k, int up, int pad0, int pad1) {
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor t = x.reshape({n * c, h, 1, w, 1});
  t = at::constant_pad_nd(t, {0, up - 1, 0, 0, 0, up - 1}).reshape({n * c, 1, h * up, w * up});
  t = at::constant_pad_nd(t, {pad0, pad1, pad0, pad1});
  t = at::conv2d(t, at::flip(k, {0, 1}).reshape({1, 1, k.size(0), k.size(1)}));
  return t.reshape({n, c, t.size(2), t.size(3)});
}

void upfirdn(benchmark::State& st, UpFirDnCase c) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({c.n, c.c, c.hw, c.hw});
  const at::Tensor k1 = at::tensor({1.0f, 3.0f, 3.0f, 1.0f});
  const at::Tensor k = at::outer(k1, k1) / 64.0 * static_cast<double>(c.up * c.up);
  for (auto _ : st) {
    at::Tensor y = upfirdn2d_native(x, k, c.up, c.pad0, c.pad1);
    benchmark::DoNotOptimize(y.data_ptr());
  }
}

void chain(benchmark::State& st) {
  at::manual_seed(1);
  const at::Tensor a = at::randn({chain_elements}), b = at::randn({chain_elements}), c = at::randn({chain_elements});
  for (auto _ : st) {
    at::Tensor y = at::clamp(at::leaky_relu(a * b + c, 0.2) * chain_gain, -256.0, 256.0);
    benchmark::DoNotOptimize(y.data_ptr());
  }
  st.counters["GB/s"] = benchmark::Counter(4.0 * sizeof(float) * chain_elements,
                                           benchmark::Counter::kIsIterationInvariantRate);
}

void autodiff_chain(benchmark::State& st) {
  at::Tensor x = at::full({1}, 0.5).set_requires_grad(true);
  for (auto _ : st) {
    at::Tensor y = x;
    for (int i = 0; i < autodiff_chain_ops; ++i) y = i % 2 ? y * 1.0001 : y + 0.001;
    y.backward();
    benchmark::DoNotOptimize(x.grad().data_ptr());
    x.mutable_grad().reset();
  }
  st.counters["ops"] = autodiff_chain_ops;
}

template <class F, class... A>
void add(const std::string& name, benchmark::TimeUnit unit, F f, A... args) {
  benchmark::RegisterBenchmark(name.c_str(), f, args...)->UseRealTime()->Unit(unit);
}

const int registered = [] {
  for (int n : gemm_sizes)
    add(bench_name("gemm", std::to_string(n) + "x" + std::to_string(n) + "x" + std::to_string(n), "torch"),
        benchmark::kMillisecond, gemm, n);
  for (const ConvCase& c : conv_cases) {
    add(bench_name("conv2d_3x3_fwd", c.name, "torch"), benchmark::kMillisecond, conv_forward, c);
    if (c.backward)
      add(bench_name("conv2d_3x3_fwd_bwd", c.name, "torch"), benchmark::kMillisecond, conv_forward_backward, c);
  }
  for (const ConvCase& c : up_conv_cases)
    add(bench_name("conv_transpose2d_3x3_s2", c.name, "torch"), benchmark::kMillisecond, up_conv, c);
  for (const UpFirDnCase& c : upfirdn_cases)
    add(bench_name("upfirdn2d", c.name, "torch"), benchmark::kMicrosecond, upfirdn, c);
  add(bench_name("elementwise_chain", "5op_1M_f32", "torch"), benchmark::kMicrosecond, chain);
  add(bench_name("autodiff_fwd_bwd", "chain" + std::to_string(autodiff_chain_ops) + "_1elem", "torch"),
      benchmark::kMicrosecond, autodiff_chain);
  return 0;
}();

}  // namespace
}  // namespace anycost::bench

#endif  // ANYCOST_BENCH_WITH_TORCH
