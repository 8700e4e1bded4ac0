// resize_bilinear against torch.nn.functional.interpolate (tests/data/lpips/ops.json, both align_corners
// conventions), gradients to second order, bad inputs, and the matmul formulation's speed at 256 -> 128.
#include <catch2/catch.hpp>

#include <chrono>

#include <anycost/anycost.hpp>

#include "support/golden.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using namespace anycost::test;

TEST_CASE("resize_bilinear matches torch interpolate, values and input gradients", "[ops][resize]") {
  const Json doc = load_golden("lpips/ops.json");
  int seen = 0;
  for (const Json& c : doc.at("cases")) {
    const std::string name = c.at("name");
    if (name.rfind("resize_", 0) != 0) continue;
    ++seen;
    const AlignCorners align = c.at("align_corners").get<bool>() ? AlignCorners::yes : AlignCorners::no;
    for (DType dt : {DType::float64, DType::float32}) {
      INFO(name << " " << dt);
      Var x(golden_tensor(doc.at("inputs").at("resize"), dt), true);
      Var y = resize_bilinear(x, c.at("out_h"), c.at("out_w"), align);
      const double tol = dt == DType::float64 ? 2e-7 : 1e-6;  // goldens hold float32-rounded values
      CHECK_ALLCLOSE(y.data(), golden_tensor(c.at("out")), tol, tol);
      Var s = sum(y * Var(golden_tensor(c.at("r"), dt)));
      backward(s);
      CHECK_ALLCLOSE(x.grad().data(), golden_tensor(c.at("grad")), tol, 10 * tol);
    }
  }
  CHECK(seen == 8);
}

TEST_CASE("resize_bilinear is differentiable to second order", "[ops][resize]") {
  auto up = [](const std::vector<Var>& x) { return sq(resize_bilinear(x[0], 5, 7, AlignCorners::yes)); };
  auto down = [](const std::vector<Var>& x) { return sq(resize_bilinear(x[0], 2, 3, AlignCorners::no)); };
  CHECK_GRADIENTS(up, rand64({1, 2, 3, 4}, 1));
  CHECK_GRADIENTS(down, rand64({2, 1, 5, 4}, 2));
}

TEST_CASE("resize_bilinear: same size is the identity, bad inputs throw", "[ops][resize]") {
  Rng rng(3);
  Var x(randn({1, 3, 4, 4}, rng));
  CHECK(same(resize_bilinear(x, 4, 4, AlignCorners::yes), x));
  CHECK_THROWS_WITH(resize_bilinear(Var(randn({3, 4, 4}, rng)), 2, 2, AlignCorners::yes),
                    Catch::Contains("resize_bilinear: expects an NCHW input"));
  CHECK_THROWS_WITH(resize_bilinear(x, 0, 2, AlignCorners::no), Catch::Contains("must be at least 1x1"));
}

TEST_CASE("resize_bilinear: 256 -> 128 through matmul is fast", "[ops][resize]") {
  Rng rng(4);
  Var x(randn({4, 3, 256, 256}, rng), true);
  const auto t0 = std::chrono::steady_clock::now();
  Var y = resize_bilinear(x, 128, 128, AlignCorners::yes);
  backward(sum(y));
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  WARN("resize_bilinear [4,3,256,256] -> 128x128 forward + backward: " << ms << " ms");
  CHECK(ms < 500);
  // Every output is a convex combination: the gradient of sum(y) sums to the number of outputs.
  CHECK(sum(x.grad()).item() == Approx(4.0 * 3 * 128 * 128).epsilon(1e-5));
}

TEST_CASE("upscale_nearest repeats every pixel k x k, is the identity at k = 1 and refuses bad inputs", "[ops][resize]") {
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
  const Tensor y = upscale_nearest(x, 2);
  REQUIRE(y.shape() == Shape{1, 1, 4, 6});
  CHECK(y.to_vector<float>() == std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3,  //
                                                   4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6});
  CHECK(upscale_nearest(x, 1).to_vector<float>() == x.to_vector<float>());
  CHECK_THROWS_WITH(upscale_nearest(Tensor::zeros({2, 3}), 2), Catch::Contains("expected [N, C, H, W]"));
  CHECK_THROWS_WITH(upscale_nearest(x, 0), Catch::Contains("a factor >= 1"));
}
