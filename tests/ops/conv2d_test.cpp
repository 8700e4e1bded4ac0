#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;

TEST_CASE("conv2d family: first and second derivatives", "[conv2d]") {
  const Tensor x = rand64({2, 4, 6, 5}, 1), w = rand64({3, 4, 3, 3}, 2), wg = rand64({4, 2, 3, 3}, 3);
  for (Conv2dParams p : {Conv2dParams{1, 1, 1, 1, 1}, Conv2dParams{2, 2, 1, 1, 1}, Conv2dParams{2, 2, 0, 0, 1}}) {
    CHECK_GRADIENTS([p](const std::vector<Var>& v) { return conv2d(v[0], v[1], p); }, x, w);
  }
  Conv2dParams grouped{1, 1, 1, 1, 2};
  CHECK_GRADIENTS([grouped](const std::vector<Var>& v) { return conv2d(v[0], v[1], grouped); }, x, wg);
  const Tensor z = rand64({2, 3, 3, 4}, 4), wt = rand64({3, 2, 3, 3}, 5);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv_transpose2d(v[0], v[1], {2, 2, 0, 0, 1}); }, z, wt);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv_transpose2d(v[0], v[1], {2, 2, 1, 1, 1}, 1, 1); }, z, wt);
  const Tensor gy = rand64({2, 3, 3, 3}, 6);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv2d_weight(v[0], v[1], {3, 4, 3, 3}, {2, 2, 1, 1, 1}); },
                  x.narrow(3, 0, 5), gy);
}

TEST_CASE("conv2d matches a direct loop, including a sliced weight", "[conv2d]") {
  Rng rng(7);
  const Tensor x = randn({1, 3, 5, 5}, rng, DType::float64), wfull = randn({4, 6, 3, 3}, rng, DType::float64);
  const Tensor w = wfull.narrow(0, 0, 2).narrow(1, 0, 3);  // a prefix slice, used in place
  const Tensor y = conv2d(Var(x), Var(w), {1, 1, 1, 1, 1}).data();
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 5; ++j) {
        double acc = 0;
        for (int c = 0; c < 3; ++c)
          for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) {
              const int yi = i + a - 1, xj = j + b - 1;
              if (yi < 0 || yi >= 5 || xj < 0 || xj >= 5) continue;
              acc += x.data<double>()[(c * 5 + yi) * 5 + xj] * wfull.data<double>()[((o * 6 + c) * 3 + a) * 3 + b];
            }
        CHECK(y.data<double>()[(o * 5 + i) * 5 + j] == Approx(acc).epsilon(1e-12));
      }
}

TEST_CASE("conv2d rejects mismatched shapes", "[conv2d]") {
  Var x(Tensor::zeros({1, 3, 8, 8})), w(Tensor::zeros({4, 2, 3, 3}));
  CHECK_THROWS_WITH(conv2d(x, w), Catch::Contains("conv2d") && Catch::Contains("3 channels"));
  Var big(Tensor::zeros({4, 3, 9, 9}));
  CHECK_THROWS_AS(conv2d(x, big), ShapeError);
}
