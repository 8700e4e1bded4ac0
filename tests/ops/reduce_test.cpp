#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;
using anycost::test::sq;

TEST_CASE("sum and mean: first and second derivatives", "[reduce]") {
  const Tensor x = rand64({2, 3, 4}, 1);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum(v[0], {1})); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum(v[0], {0, 2})); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum(v[0], {-1}, true)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum(v[0], {2, 0}, true)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(mean(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(mean(v[0], {1, 2})); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(mean(v[0], {0}, true)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum(transpose(v[0], 0, 2), {1})); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum(v[0] * v[0], {1})); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum(v[0])); }, rand64({}, 2));  // rank 0
}

TEST_CASE("sum and mean compute the right values and shapes", "[reduce]") {
  const Tensor x = rand64({2, 3, 4}, 3);
  const auto xv = x.to_vector<double>();
  auto at = [&](int i, int j, int k) { return xv[(i * 3 + j) * 4 + k]; };
  const Var v(x);
  CHECK(sum(v).shape() == Shape{});
  CHECK(sum(v, {1}).shape() == Shape{2, 4});
  CHECK(sum(v, {1}, true).shape() == Shape{2, 1, 4});
  CHECK(mean(v, {0, -1}).shape() == Shape{3});
  CHECK(sum(v, {}, true).shape() == Shape{1, 1, 1});
  double total = 0;
  for (double a : xv) total += a;
  CHECK(sum(v).item() == Approx(total).epsilon(1e-14));
  CHECK(mean(v).item() == Approx(total / 24).epsilon(1e-14));
  const auto s1 = sum(v, {1}).data().to_vector<double>();
  const auto m02 = mean(v, {0, 2}).data().to_vector<double>();
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) CHECK(s1[i * 4 + k] == Approx(at(i, 0, k) + at(i, 1, k) + at(i, 2, k)).epsilon(1e-14));
  for (int j = 0; j < 3; ++j) {
    double acc = 0;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) acc += at(i, j, k);
    CHECK(m02[j] == Approx(acc / 8).epsilon(1e-14));
  }
  // Reductions over strided views read through the strides.
  const auto st = sum(transpose(v, 0, 2), {0}).data().to_vector<double>();  // [3, 2]: sum over k
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 2; ++i) {
      double acc = 0;
      for (int k = 0; k < 4; ++k) acc += at(i, j, k);
      CHECK(st[j * 2 + i] == Approx(acc).epsilon(1e-14));
    }
  // float32 sums accumulate in double: a long sum of 0.1f stays accurate.
  const Tensor tenths = Tensor::full({1 << 20}, 0.1);
  CHECK(sum(Var(tenths)).item() == Approx(0.1f * (1 << 20)).epsilon(1e-6));
  // Summing an empty extent gives zeros.
  CHECK(sum(Var(Tensor::zeros({2, 0})), {1}).data().to_vector<float>() == std::vector<float>{0.0f, 0.0f});
}

TEST_CASE("reduction errors name the op and the dims", "[reduce]") {
  Var x(Tensor::zeros({2, 3}));
  CHECK_THROWS_WITH(sum(x, {2}), Catch::Contains("sum") && Catch::Contains("dim 2"));
  CHECK_THROWS_WITH(mean(x, {-3}), Catch::Contains("dim -3"));
  CHECK_THROWS_WITH(sum(x, {1, 1}), Catch::Contains("sum") && Catch::Contains("repeated"));
  CHECK_THROWS_WITH(mean(x, {0, -2}), Catch::Contains("mean") && Catch::Contains("repeated"));
  CHECK_THROWS_WITH(mean(Var(Tensor::zeros({2, 0})), {1}), Catch::Contains("mean") && Catch::Contains("empty"));
}
