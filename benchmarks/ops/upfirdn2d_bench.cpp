// upfirdn2d with StyleGAN2's separable 4×4 blur: the ToRGB skip upsample and the up-convolution's blur.
#include <benchmark/benchmark.h>

#include <vector>

#include <anycost/anycost.hpp>

#include "cases.hpp"

namespace anycost::bench {
namespace {

Tensor blur_kernel(int up) {
  const float k1[4] = {1, 3, 3, 1};
  std::vector<float> k;
  for (float a : k1)
    for (float b : k1) k.push_back(a * b / 64.0f * static_cast<float>(up * up));
  return Tensor::from_vector(k, {4, 4});
}

void upfirdn(benchmark::State& st, UpFirDnCase c) {
  Rng rng(1);
  const Var x(randn({c.n, c.c, c.hw, c.hw}, rng));
  const Tensor k = blur_kernel(c.up);
  const UpFirDnParams p = UpFirDnParams::make(c.up, 1, c.pad0, c.pad1);
  NoGradGuard no_grad;
  for (auto _ : st) {
    Var y = upfirdn2d(x, k, p);
    benchmark::DoNotOptimize(y.data().raw_data());
  }
}

const int registered = [] {
  for (const UpFirDnCase& c : upfirdn_cases)
    benchmark::RegisterBenchmark(bench_name("upfirdn2d", c.name, "anycost").c_str(), upfirdn, c)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  return 0;
}();

}  // namespace
}  // namespace anycost::bench
