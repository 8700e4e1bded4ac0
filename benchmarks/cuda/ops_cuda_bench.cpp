// Each CUDA op timed with CUDA events on the library's current stream (Google Benchmark manual time). Names are
// "<group>/<case>/anycost"; tools/gpu/torch_ops_bench.py times the same "<group>/<case>" with PyTorch CUDA, and
// tools/gpu/ratios.py prints ours / PyTorch. The "flop" counter (per iteration) gives GFLOP/s in the ratio table.
#include <benchmark/benchmark.h>

#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

#include <anycost/anycost.hpp>

using namespace anycost;

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw DeviceError(std::string(what) + ": " + cudaGetErrorString(e));
}

// Times f with CUDA events around each call (a warm-up call first, outside the timing).
void time_gpu(benchmark::State& state, const std::function<void()>& f, double flop = 0) {
  const auto stream = static_cast<cudaStream_t>(cuda::current_stream());
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  f();
  cuda::synchronize();
  for (auto _ : state) {
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    f();
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    state.SetIterationTime(ms * 1e-3);
  }
  if (flop > 0) state.counters["flop"] = flop;
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

Tensor gpu_randn(const Shape& s, std::uint64_t seed) {
  Rng rng(seed);
  return randn(s, rng, DType::float32, Device::cuda());
}

void register_all() {
  auto reg = [](const std::string& name, std::function<void(benchmark::State&)> fn) {
    benchmark::RegisterBenchmark((name + "/anycost").c_str(), [fn](benchmark::State& s) { fn(s); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  };

  // ---- GEMM --------------------------------------------------------------------------------------------
  for (int n : {512, 2048}) {
    reg("gemm/" + std::to_string(n) + "^3", [n](benchmark::State& s) {
      const Var a(gpu_randn({n, n}, 1)), b(gpu_randn({n, n}, 2));
      time_gpu(s, [&] { (void)matmul(a, b); }, 2.0 * n * n * n);
    });
  }
  reg("gemm/batched_8x512^3", [](benchmark::State& s) {
    const Var a(gpu_randn({8, 512, 512}, 3)), b(gpu_randn({8, 512, 512}, 4));
    time_gpu(s, [&] { (void)matmul(a, b); }, 2.0 * 8 * 512 * 512 * 512);
  });

  // ---- convolutions: a StyleGAN2 generator block (n4, 3x3, padding 1) ---------------------------------
  struct ConvCase {
    const char* name;
    std::int64_t n, c, hw;
  };
  for (ConvCase c : {ConvCase{"n4_c512_16x16", 4, 512, 16}, ConvCase{"n4_c256_64x64", 4, 256, 64},
                     ConvCase{"n4_c64_256x256", 4, 64, 256}}) {
    const double flop = 2.0 * c.n * c.c * c.c * 9 * c.hw * c.hw;
    reg(std::string("conv2d/") + c.name, [c, flop](benchmark::State& s) {
      const Var x(gpu_randn({c.n, c.c, c.hw, c.hw}, 5)), w(gpu_randn({c.c, c.c, 3, 3}, 6));
      time_gpu(s, [&] { (void)conv2d(x, w, {1, 1, 1, 1, 1}); }, flop);
    });
    reg(std::string("conv2d_input_grad/") + c.name, [c, flop](benchmark::State& s) {
      const Var g(gpu_randn({c.n, c.c, c.hw, c.hw}, 7)), w(gpu_randn({c.c, c.c, 3, 3}, 8));
      time_gpu(s, [&] { (void)conv_transpose2d(g, w, {1, 1, 1, 1, 1}); }, flop);
    });
    reg(std::string("conv2d_weight_grad/") + c.name, [c, flop](benchmark::State& s) {
      const Var x(gpu_randn({c.n, c.c, c.hw, c.hw}, 9)), g(gpu_randn({c.n, c.c, c.hw, c.hw}, 10));
      time_gpu(s, [&] { (void)conv2d_weight(x, g, {c.c, c.c, 3, 3}, {1, 1, 1, 1, 1}); }, flop);
    });
  }
  // The fused modulated convolution: batch folded into groups.
  reg("conv2d/modulated_n4_c512_32x32", [](benchmark::State& s) {
    const Var x(gpu_randn({1, 4 * 512, 32, 32}, 11)), w(gpu_randn({4 * 512, 512, 3, 3}, 12));
    time_gpu(s, [&] { (void)conv2d(x, w, {1, 1, 1, 1, 4}); }, 2.0 * 4 * 512 * 512 * 9 * 32 * 32);
  });

  // ---- upfirdn2d -------------------------------------------------------------------------------------------
  const Tensor blur = Tensor::from_vector<float>({1, 3, 3, 1, 3, 9, 9, 3, 3, 9, 9, 3, 1, 3, 3, 1}, {4, 4}).to(Device::cuda());
  reg("upfirdn2d/blur_n4_c256_64x64", [blur](benchmark::State& s) {
    const Var x(gpu_randn({4, 256, 64, 64}, 13));
    time_gpu(s, [&] { (void)upfirdn2d(x, blur, UpFirDnParams::make(1, 1, 2, 1)); });
  });
  reg("upfirdn2d/up2_n4_c256_64x64", [blur](benchmark::State& s) {
    const Var x(gpu_randn({4, 256, 64, 64}, 14));
    time_gpu(s, [&] { (void)upfirdn2d(x, blur, UpFirDnParams::make(2, 1, 2, 1)); });
  });
  reg("upfirdn2d/down2_n4_c256_128x128", [blur](benchmark::State& s) {
    const Var x(gpu_randn({4, 256, 128, 128}, 15));
    time_gpu(s, [&] { (void)upfirdn2d(x, blur, UpFirDnParams::make(1, 2, 1, 1)); });
  });

  // ---- fused elementwise, reductions, copies, random ------------------------------------------------------
  reg("elementwise/bias_lrelu_n4_c256_64x64", [](benchmark::State& s) {
    const Var x(gpu_randn({4, 256, 64, 64}, 16)), b(gpu_randn({1, 256, 1, 1}, 17));
    time_gpu(s, [&] { (void)Var(lrelu(x + b, 0.2) * std::sqrt(2.0)); });
  });
  reg("elementwise/mul_add_16M", [](benchmark::State& s) {
    const Var a(gpu_randn({1 << 24}, 18)), b(gpu_randn({1 << 24}, 19)), c(gpu_randn({1 << 24}, 20));
    time_gpu(s, [&] { (void)Var(a * b + c); });
  });
  reg("sum/channels_n4_c256_64x64", [](benchmark::State& s) {
    const Var x(gpu_randn({4, 256, 64, 64}, 21));
    time_gpu(s, [&] { (void)sum(x, {0, 2, 3}); });
  });
  reg("sum/all_16M", [](benchmark::State& s) {
    const Var x(gpu_randn({1 << 24}, 22));
    time_gpu(s, [&] { (void)sum(x); });
  });
  reg("copy/permute_n4_c256_64x64", [](benchmark::State& s) {
    const Tensor x = gpu_randn({4, 256, 64, 64}, 23);
    time_gpu(s, [&] { (void)x.permute({0, 2, 3, 1}).contiguous(); });
  });
  // Thrust's fill and reverse copy (kernels/sequence.cuh): against PyTorch's, to confirm they keep up with
  // hand-written kernels. sum/* are the hand-written keepdim sums kept over CUB's device reductions.
  reg("fill/16M", [](benchmark::State& s) {
    time_gpu(s, [&] { (void)Tensor::full({1 << 24}, 0.5, DType::float32, Device::cuda()); });
  });
  reg("copy/flip_4096x4096", [](benchmark::State& s) {
    const Tensor x = gpu_randn({4096, 4096}, 25);
    time_gpu(s, [&] { (void)detail::flip_kernel(x); });
  });
  reg("randn/16M", [](benchmark::State& s) {
    Rng rng(24);
    time_gpu(s, [&] { (void)randn({1 << 24}, rng, DType::float32, Device::cuda()); });
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (!cuda::is_available()) {
    std::printf("anycost CUDA benchmarks: no CUDA device (%s); nothing to run\n", cuda::unavailable_reason());
    return 0;
  }
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf("anycost CUDA benchmarks on %s (%d SMs), CUDA-event timing on the current stream\n", prop.name,
              prop.multiProcessorCount);
  const NoGradGuard no_grad;  // op timings, no graph recording
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  cuda::synchronize();
  cuda::empty_cache();
  return 0;
}
