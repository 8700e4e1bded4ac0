#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;
using anycost::test::sq;

namespace {
Tensor blur_kernel(double scale) {
  const double a[4] = {1, 3, 3, 1};
  std::vector<double> k;
  for (double i : a)
    for (double j : a) k.push_back(i * j / 64.0 * scale);
  return Tensor::from_vector(k, {4, 4});
}

// upfirdn2d from its definition, one step at a time: zero-stuff, pad (negative crops), convolve with the
// kernel (correlate with it rotated by 180 degrees), keep every down-th sample.
Tensor upfirdn2d_reference(const Tensor& x, const Tensor& k, const UpFirDnParams& p) {
  const std::int64_t n = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const std::int64_t kh = k.size(0), kw = k.size(1);
  const auto xv = x.contiguous().to_vector<double>(), kv = k.contiguous().to_vector<double>();
  const std::int64_t uh = h * p.up, uw = w * p.up;
  const std::int64_t ph = uh + p.pad_y0 + p.pad_y1, pw = uw + p.pad_x0 + p.pad_x1;
  const std::int64_t fh = ph - kh + 1, fw = pw - kw + 1;
  const std::int64_t ho = (fh - 1) / p.down + 1, wo = (fw - 1) / p.down + 1;
  std::vector<double> out;
  for (std::int64_t c = 0; c < n; ++c) {
    std::vector<double> up(static_cast<std::size_t>(uh * uw), 0.0);
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j) up[(i * p.up) * uw + j * p.up] = xv[(c * h + i) * w + j];
    std::vector<double> pad(static_cast<std::size_t>(ph * pw), 0.0);
    for (std::int64_t i = 0; i < ph; ++i)
      for (std::int64_t j = 0; j < pw; ++j) {
        const std::int64_t si = i - p.pad_y0, sj = j - p.pad_x0;
        if (si >= 0 && si < uh && sj >= 0 && sj < uw) pad[i * pw + j] = up[si * uw + sj];
      }
    for (std::int64_t i = 0; i < ho; ++i)
      for (std::int64_t j = 0; j < wo; ++j) {
        double acc = 0;
        for (std::int64_t a = 0; a < kh; ++a)
          for (std::int64_t b = 0; b < kw; ++b)
            acc += pad[(i * p.down + a) * pw + j * p.down + b] * kv[(kh - 1 - a) * kw + (kw - 1 - b)];
        out.push_back(acc);
      }
  }
  return Tensor::from_vector(out, {x.size(0), x.size(1), ho, wo});
}

struct Config {
  const char* what;
  Tensor kernel;
  UpFirDnParams p;
};
std::vector<Config> configs() {
  return {
      {"G up-conv blur (1, 1, pad 1 1)", blur_kernel(4), UpFirDnParams::make(1, 1, 1, 1)},
      {"G ToRGB skip upsample (2, 1, pad 2 1)", blur_kernel(4), UpFirDnParams::make(2, 1, 2, 1)},
      {"D 3x3 pre-blur (1, 1, pad 2 2)", blur_kernel(1), UpFirDnParams::make(1, 1, 2, 2)},
      {"D 1x1 pre-blur (1, 1, pad 1 1)", blur_kernel(1), UpFirDnParams::make(1, 1, 1, 1)},
      {"downsample by 2", blur_kernel(1), UpFirDnParams::make(1, 2, 1, 1)},
      {"asymmetric kernel, up 2, down 3, negative pads", rand64({3, 2}, 2), UpFirDnParams{2, 3, 1, 0, -1, 2}},
      {"crop on both sides", rand64({2, 3}, 3), UpFirDnParams{1, 1, -1, -1, 1, -2}},
      {"up 3 with a 1x1 kernel", Tensor::full({1, 1}, 2.0, DType::float64), UpFirDnParams::make(3, 1, 0, 0)},
  };
}
}  // namespace

TEST_CASE("upfirdn2d: StyleGAN2 configurations, first and second derivatives", "[upfirdn2d]") {
  const Tensor x = rand64({1, 2, 5, 4}, 1);
  for (const Config& c : configs()) {
    INFO(c.what);
    const Tensor k = c.kernel;
    const UpFirDnParams p = c.p;
    auto f = [k, p](const std::vector<Var>& v) { return sq(upfirdn2d(v[0], k, p)); };
    CHECK_GRADIENTS(f, x);
  }
  // A float32 kernel applied to a float64 input is converted, not misread.
  const Tensor k32 = blur_kernel(4).to(DType::float32);
  auto f32k = [k32](const std::vector<Var>& v) { return sq(upfirdn2d(v[0], k32, UpFirDnParams::make(2, 1, 2, 1))); };
  CHECK_GRADIENTS(f32k, x);
}

TEST_CASE("upfirdn2d matches its definition", "[upfirdn2d]") {
  const Tensor x = rand64({2, 3, 6, 5}, 4);
  for (const Config& c : configs()) {
    INFO(c.what);
    CHECK_ALLCLOSE(upfirdn2d(Var(x), c.kernel, c.p).data(), upfirdn2d_reference(x, c.kernel, c.p), 1e-13, 1e-13);
  }
  // Different pads per axis, and a non-contiguous input.
  const UpFirDnParams p{2, 1, 3, 0, 1, 2};
  const Tensor xt = x.transpose(2, 3);
  CHECK_ALLCLOSE(upfirdn2d(Var(xt), blur_kernel(4), p).data(), upfirdn2d_reference(xt, blur_kernel(4), p), 1e-13,
                 1e-13);
  // The kernel is convolved (not correlated): an impulse reproduces the kernel, not its mirror image.
  Tensor impulse = Tensor::zeros({1, 1, 3, 3}, DType::float64);
  impulse.data<double>()[4] = 1.0;
  const Tensor k = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor y = upfirdn2d(Var(impulse), k, UpFirDnParams{1, 1, 0, 1, 1, 1}).data();
  REQUIRE(y.shape() == Shape{1, 1, 3, 3});
  CHECK(y.to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6, 0, 0, 0});
}

TEST_CASE("upfirdn2d output sizes follow the reference formula", "[upfirdn2d]") {
  Var x(Tensor::ones({1, 1, 8, 8}));
  CHECK(upfirdn2d(x, blur_kernel(4), UpFirDnParams::make(2, 1, 2, 1)).shape() == Shape{1, 1, 16, 16});
  CHECK(upfirdn2d(x, blur_kernel(4), UpFirDnParams::make(1, 1, 1, 1)).shape() == Shape{1, 1, 7, 7});
  CHECK(upfirdn2d(x, blur_kernel(1), UpFirDnParams::make(1, 1, 2, 2)).shape() == Shape{1, 1, 9, 9});
  CHECK(upfirdn2d(x, blur_kernel(1), UpFirDnParams::make(1, 1, 1, 1)).shape() == Shape{1, 1, 7, 7});
  CHECK(upfirdn2d(x, blur_kernel(1), UpFirDnParams::make(1, 2, 1, 1)).shape() == Shape{1, 1, 4, 4});
  // A constant image stays constant away from the borders (the kernel sums to 1, 4 with up=2 zero-stuffing).
  const Tensor y = upfirdn2d(x, blur_kernel(4), UpFirDnParams::make(2, 1, 2, 1)).data();
  CHECK(y.to_vector<float>()[8 * 16 + 8] == Approx(1.0f));
  const Tensor z = upfirdn2d(x, blur_kernel(1), UpFirDnParams::make(1, 1, 2, 2)).data();
  CHECK(z.to_vector<float>()[4 * 9 + 4] == Approx(1.0f));
}

TEST_CASE("upfirdn2d rejects bad arguments, naming the op and the shapes", "[upfirdn2d]") {
  Var x(Tensor::zeros({1, 1, 4, 4}));
  CHECK_THROWS_WITH(upfirdn2d(Var(Tensor::zeros({1, 4, 4})), blur_kernel(1), {}),
                    Catch::Contains("upfirdn2d") && Catch::Contains("[1, 4, 4]"));
  CHECK_THROWS_WITH(upfirdn2d(x, Tensor::zeros({4}), {}), Catch::Contains("upfirdn2d") && Catch::Contains("kernel") &&
                                                              Catch::Contains("[4]"));
  CHECK_THROWS_AS(upfirdn2d(x, Tensor::zeros({0, 3}), {}), ShapeError);
  CHECK_THROWS_WITH(upfirdn2d(x, blur_kernel(1), UpFirDnParams::make(0, 1, 0, 0)),
                    Catch::Contains("upfirdn2d") && Catch::Contains("up (0)"));
  CHECK_THROWS_AS(upfirdn2d(x, blur_kernel(1), UpFirDnParams::make(1, 0, 0, 0)), ValueError);
  CHECK_THROWS_WITH(upfirdn2d(x, Tensor::zeros({5, 5}), {}),
                    Catch::Contains("upfirdn2d") && Catch::Contains("empty output") && Catch::Contains("[5, 5]"));
  CHECK_THROWS_AS(upfirdn2d(x, blur_kernel(1), UpFirDnParams::make(1, 1, -3, -3)), ShapeError);
  CHECK_THROWS_WITH(upfirdn2d(x, test::fake_cuda({4, 4}), {}), Catch::Contains("upfirdn2d") && Catch::Contains("cuda:0"));
  CHECK_THROWS_AS(upfirdn2d(x, test::fake_cuda({4, 4}), {}), DeviceError);
}
