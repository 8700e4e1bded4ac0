// Every op on CPU and CUDA from the same random inputs: value, gradient and gradient of the gradient compared
// (cuda_test.hpp). Tolerances are normalised mean squared errors, per op, kept here: float32 ops agree to about
// 1e-12 (elementwise), 1e-11 (reductions, GEMM-based ops); float64 to about 1e-26.
#include "cuda/cuda_test.hpp"

using namespace anycost;
using anycost::test::compare_devices;
using anycost::test::randn_cpu;
using anycost::test::Tolerance;

namespace {
// float32 tolerances per family (NMSE).
constexpr Tolerance elementwise_tol{1e-11, 1e-11, 1e-10};
constexpr Tolerance reduce_tol{1e-11, 1e-11, 1e-10};
constexpr Tolerance gemm_tol{1e-10, 1e-10, 1e-9};  // different summation order, FP32 accumulation
constexpr Tolerance f64_tol{1e-24, 1e-24, 1e-23};
}  // namespace

TEST_CASE("fused elementwise expressions match across devices", "[cuda][elementwise]") {
  ANYCOST_REQUIRE_GPU();
  const Tensor a = randn_cpu({4, 1, 6}, 1), b = randn_cpu({3, 6}, 2), c = randn_cpu({4, 3, 6}, 3);
  compare_devices(
      "lrelu(a*b + c) * sqrt(2), broadcast",
      [](const std::vector<Var>& v) { return Var(lrelu(v[0] * v[1] + v[2], 0.2) * std::sqrt(2.0)); }, {a, b, c},
      elementwise_tol);
  compare_devices(
      "smooth unary functions",
      [](const std::vector<Var>& v) {
        const Var p = eval(exp(v[0] * 0.5) + 0.1);  // positive
        return Var(log(p) + sqrt(p) + rsqrt(p) + square(v[1]) + reciprocal(p) + sigmoid(v[0]) + softplus(v[1]) +
                   tanh(v[2]) + pow(p, 1.7) - v[0] / (p + 1.0));
      },
      {a, b, c}, elementwise_tol);
  compare_devices(
      "kinks: abs, sign, clamp, relu",
      [](const std::vector<Var>& v) { return Var(abs(v[0]) * sign(v[1]) + clamp(v[2], -0.5, 0.5) + relu(v[0])); },
      {a, b, c}, elementwise_tol);
  // Non-contiguous leaves (a transposed view) and a long expression (more leaves, deeper stack).
  const Tensor m = randn_cpu({6, 5}, 4);
  compare_devices(
      "transposed leaf, many leaves",
      [](const std::vector<Var>& v) {
        const Var t = transpose(v[0], 0, 1);  // [5, 6]
        return Var(t * v[1] + t * t * v[1] - v[1] / (t * t + 1.0) + t * 3.0 - v[1] * v[1] * t + tanh(t - v[1]));
      },
      {m, randn_cpu({5, 6}, 5)}, elementwise_tol);
  // Derivatives of a deep chain outgrow one program (64 instructions): they run in parts.
  compare_devices(
      "deep chain, second order in parts",
      [](const std::vector<Var>& v) {
        const Var& x = v[0];
        return Var(tanh(sigmoid(exp(tanh(x * 0.5 + 0.1) * 0.3) - 1.0) * 2.0 + 0.2) * tanh(x));
      },
      {a}, elementwise_tol);
  compare_devices(
      "float64", [](const std::vector<Var>& v) { return Var(lrelu(v[0] * v[1] + v[2], 0.2) * exp(v[0])); },
      {a.to(DType::float64), b.to(DType::float64), c.to(DType::float64)}, f64_tol);
}

TEST_CASE("reductions match across devices", "[cuda][reduce]") {
  ANYCOST_REQUIRE_GPU();
  const Tensor x = randn_cpu({4, 8, 9, 7}, 10);
  for (const std::vector<int>& dims : std::vector<std::vector<int>>{{0}, {1}, {3}, {0, 2, 3}, {1, 2}, {}}) {
    compare_devices(
        "sum", [dims](const std::vector<Var>& v) { return sum(v[0], dims, true); }, {x}, reduce_tol);
    compare_devices(
        "mean", [dims](const std::vector<Var>& v) { return mean(v[0], dims); }, {x}, reduce_tol);
  }
  // A long full reduction (split over blocks, second pass over partial sums) and a strided input.
  const Tensor big = randn_cpu({1 << 20}, 11);
  compare_devices("sum of 2^20", [](const std::vector<Var>& v) { return sum(v[0]); }, {big}, reduce_tol, false);
  compare_devices(
      "sum of a permuted view",
      [](const std::vector<Var>& v) { return sum(permute(v[0], {2, 0, 3, 1}), {1, 3}); }, {x}, reduce_tol);
  compare_devices(
      "broadcast gradient (sum_to)", [](const std::vector<Var>& v) { return Var(v[0] * v[1]); },
      {randn_cpu({1, 8, 1, 1}, 12), x}, reduce_tol);
  compare_devices(
      "float64 sum", [](const std::vector<Var>& v) { return sum(v[0], {0, 2}); }, {x.to(DType::float64)}, f64_tol);
}

TEST_CASE("matmul and linear match across devices", "[cuda][gemm]") {
  ANYCOST_REQUIRE_GPU();
  compare_devices(
      "matmul 2-D", [](const std::vector<Var>& v) { return matmul(v[0], v[1]); },
      {randn_cpu({33, 17}, 20), randn_cpu({17, 45}, 21)}, gemm_tol);
  compare_devices(
      "matmul batched", [](const std::vector<Var>& v) { return matmul(v[0], v[1]); },
      {randn_cpu({3, 9, 17}, 22), randn_cpu({3, 17, 5}, 23)}, gemm_tol);
  compare_devices(
      "matmul batched x shared", [](const std::vector<Var>& v) { return matmul(v[0], v[1]); },
      {randn_cpu({3, 9, 17}, 24), randn_cpu({17, 5}, 25)}, gemm_tol);
  compare_devices(
      "matmul transposed operands",
      [](const std::vector<Var>& v) { return matmul(transpose(v[0], 0, 1), transpose(v[1], 0, 1)); },
      {randn_cpu({17, 9}, 26), randn_cpu({5, 17}, 27)}, gemm_tol);
  compare_devices(
      "linear with bias, sliced weight",
      [](const std::vector<Var>& v) { return linear(v[0], narrow(narrow(v[1], 0, 0, 12), 1, 0, 16), v[2]); },
      {randn_cpu({7, 16}, 28), randn_cpu({20, 24}, 29), randn_cpu({12}, 30)}, gemm_tol);
  compare_devices(
      "matmul float64", [](const std::vector<Var>& v) { return matmul(v[0], v[1]); },
      {randn_cpu({3, 9, 17}, 31, DType::float64), randn_cpu({3, 17, 5}, 32, DType::float64)}, f64_tol);
}

TEST_CASE("conv2d family matches across devices", "[cuda][conv2d]") {
  ANYCOST_REQUIRE_GPU();
  const Tensor x = randn_cpu({3, 8, 11, 10}, 40);
  for (Conv2dParams p : {Conv2dParams{1, 1, 1, 1, 1}, Conv2dParams{2, 2, 1, 1, 1}, Conv2dParams{1, 2, 0, 1, 1},
                         Conv2dParams{1, 1, 1, 1, 2}, Conv2dParams{1, 1, 1, 1, 8}}) {
    const Tensor w = randn_cpu({16, 8 / p.groups, 3, 3}, 41);
    compare_devices("conv2d", [p](const std::vector<Var>& v) { return conv2d(v[0], v[1], p); }, {x, w}, gemm_tol);
  }
  compare_devices(
      "conv2d 1x1", [](const std::vector<Var>& v) { return conv2d(v[0], v[1]); }, {x, randn_cpu({5, 8, 1, 1}, 42)},
      gemm_tol);
  compare_devices(
      "conv2d with a prefix-sliced weight",
      [](const std::vector<Var>& v) { return conv2d(v[0], narrow(narrow(v[1], 0, 0, 6), 1, 0, 8), {1, 1, 1, 1, 1}); },
      {x, randn_cpu({16, 12, 3, 3}, 43)}, gemm_tol);
  // The fused modulated convolution of StyleGAN2: batch folded into groups.
  compare_devices(
      "grouped conv, batch in groups",
      [](const std::vector<Var>& v) { return conv2d(v[0], v[1], {1, 1, 1, 1, 3}); },
      {randn_cpu({1, 24, 9, 9}, 44), randn_cpu({18, 8, 3, 3}, 45)}, gemm_tol);
  compare_devices(
      "conv_transpose2d stride 2",
      [](const std::vector<Var>& v) { return conv_transpose2d(v[0], v[1], {2, 2, 0, 0, 1}); },
      {randn_cpu({2, 6, 5, 4}, 46), randn_cpu({6, 4, 3, 3}, 47)}, gemm_tol);
  compare_devices(
      "conv_transpose2d grouped, output padding",
      [](const std::vector<Var>& v) { return conv_transpose2d(v[0], v[1], {2, 2, 1, 1, 2}, 1, 1); },
      {randn_cpu({2, 6, 5, 4}, 48), randn_cpu({6, 3, 3, 3}, 49)}, gemm_tol);
  compare_devices(
      "conv2d_weight",
      [](const std::vector<Var>& v) { return conv2d_weight(v[0], v[1], {12, 8, 3, 3}, {2, 2, 1, 1, 1}); },
      {x, randn_cpu({3, 12, 6, 5}, 50)}, gemm_tol);
  compare_devices(
      "conv2d float64", [](const std::vector<Var>& v) { return conv2d(v[0], v[1], {1, 1, 1, 1, 2}); },
      {x.to(DType::float64), randn_cpu({12, 4, 3, 3}, 51, DType::float64)}, f64_tol);
}

TEST_CASE("upfirdn2d matches across devices", "[cuda][upfirdn2d]") {
  ANYCOST_REQUIRE_GPU();
  const Tensor x = randn_cpu({2, 5, 9, 8}, 60);
  const Tensor blur = Tensor::from_vector<float>({1, 3, 3, 1, 3, 9, 9, 3, 3, 9, 9, 3, 1, 3, 3, 1}, {4, 4});
  const Tensor k = randn_cpu({3, 5}, 61);
  for (const UpFirDnParams& p : {UpFirDnParams::make(1, 1, 2, 1), UpFirDnParams::make(2, 1, 2, 1),
                                 UpFirDnParams::make(1, 2, 1, 1), UpFirDnParams{1, 1, -1, 1, 0, -1}}) {
    compare_devices(
        "upfirdn2d 4x4", [&blur, p](const std::vector<Var>& v) { return upfirdn2d(v[0], blur.to(v[0].device()), p); },
        {x}, elementwise_tol);
  }
  compare_devices(
      "upfirdn2d 3x5, up 3 down 2",
      [&k](const std::vector<Var>& v) { return upfirdn2d(v[0], k.to(v[0].device()), {3, 2, 1, 2, -1, 3}); }, {x},
      elementwise_tol);
  compare_devices(
      "upfirdn2d float64",
      [&blur](const std::vector<Var>& v) {
        return upfirdn2d(v[0], blur.to(DType::float64).to(v[0].device()), UpFirDnParams::make(2, 1, 2, 1));
      },
      {x.to(DType::float64)}, f64_tol);
}

TEST_CASE("views and copies match across devices", "[cuda][view]") {
  ANYCOST_REQUIRE_GPU();
  const Tensor x = randn_cpu({4, 6, 5}, 70);
  compare_devices(
      "narrow + permute + contiguous",
      [](const std::vector<Var>& v) { return contiguous(permute(narrow(v[0], 1, 1, 4), {2, 0, 1})); }, {x},
      elementwise_tol);
  compare_devices(
      "cat", [](const std::vector<Var>& v) { return cat({v[0], v[1]}, 1); }, {x, randn_cpu({4, 2, 5}, 71)},
      elementwise_tol);
}

namespace {
// randn rounded to multiples of 1/2: most windows hold tied maxima, so the tie rule decides where gradients go.
Tensor tied_cpu(const Shape& s, std::uint64_t seed) {
  Tensor t = randn_cpu(s, seed);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = std::round(p[i] * 2.0f) / 2.0f;
  return t;
}
}  // namespace

TEST_CASE("max_pool2d matches across devices", "[cuda][pool]") {
  ANYCOST_REQUIRE_GPU();
  struct Case {
    const char* name;
    Shape shape;
    int kernel, stride, padding;
  };
  // LPIPS pools with AlexNet's 3x3 stride 2 (overlapping windows) and VGG16's 2x2 stride 2; odd sizes leave the
  // last row and column outside every window (floor mode). Squared so that the gradient depends on x and the
  // double backward runs the gather and the scatter again.
  const std::vector<Case> cases = {{"alexnet 3x3 stride 2", {2, 5, 13, 11}, 3, 2, 0},
                                   {"vgg 2x2 stride 2", {2, 4, 9, 7}, 2, 2, 0},
                                   {"3x3 stride 2 padding 1", {1, 3, 8, 9}, 3, 2, 1},
                                   {"3x3 stride 1 padding 1", {2, 2, 7, 5}, 3, 1, 1}};
  std::uint64_t seed = 80;
  for (const Case& c : cases) {
    auto f = [c](const std::vector<Var>& v) { return Var(square(max_pool2d(v[0], c.kernel, c.stride, c.padding))); };
    compare_devices(c.name, f, {randn_cpu(c.shape, seed++)}, elementwise_tol);
    compare_devices(std::string(c.name) + ", tied maxima", f, {tied_cpu(c.shape, seed++)}, elementwise_tol);
  }
  compare_devices(
      "float64 alexnet 3x3 stride 2",
      [](const std::vector<Var>& v) { return Var(square(max_pool2d(v[0], 3, 2))); },
      {randn_cpu({2, 3, 15, 13}, seed++, DType::float64)}, f64_tol);
}

TEST_CASE("max_pool2d on the device: ties and NaN go where the CPU sends them", "[cuda][pool]") {
  ANYCOST_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  // One plane of equal values but a NaN at (2, 2): of the 2x3 windows (3x3, stride 2), the four at rows and
  // columns 0-2 and 2-4 take the NaN, the other two their first element.
  Tensor t = Tensor::full({1, 1, 5, 7}, 1.0, DType::float64);
  t.data<double>()[2 * 7 + 2] = std::nan("");
  const Tensor r = randn_cpu({1, 1, 2, 3}, 90, DType::float64);
  const Var xc(t, true), xg(t.to(gpu), true);
  const Var yc = max_pool2d(xc, 3, 2), yg = max_pool2d(xg, 3, 2);
  const std::vector<double> vc = yc.data().to_vector<double>(), vg = yg.data().to(Device::cpu()).to_vector<double>();
  REQUIRE(vc.size() == vg.size());
  int nans = 0;
  for (std::size_t i = 0; i < vc.size(); ++i) {
    CHECK(std::isnan(vc[i]) == std::isnan(vg[i]));
    if (std::isnan(vc[i]))
      ++nans;
    else
      CHECK(vc[i] == vg[i]);
  }
  CHECK(nans == 4);
  backward(sum(yc * Var(r)));
  backward(sum(yg * Var(r.to(gpu))));
  const std::vector<double> gc = xc.grad().data().to_vector<double>();
  const std::vector<double> gg = xg.grad().data().to(Device::cpu()).to_vector<double>();
  CHECK(gg == gc);
  const std::vector<double> rv = r.to_vector<double>();
  CHECK(gc[2 * 7 + 2] == rv[0] + rv[1] + rv[3] + rv[4]);  // summed in output order, as both devices do
  CHECK(gc[0 * 7 + 4] == rv[2]);
  CHECK(gc[2 * 7 + 4] == rv[5]);
  CHECK(gc[0] == 0.0);  // first in window (0, 0), but the NaN wins there
}
