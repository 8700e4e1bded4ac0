#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;
using anycost::test::sq;

TEST_CASE("expand and sum_to: first and second derivatives", "[broadcast]") {
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(expand(v[0], {2, 3, 4})); }, rand64({3, 1}, 1));
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(expand(v[0], {2, 3})); }, rand64({}, 2));
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum_to(v[0], {3, 1})); }, rand64({2, 3, 4}, 3));
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum_to(v[0], {})); }, rand64({2, 3}, 4));
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(sum_to(v[0], {1, 4})); }, rand64({2, 3, 4}, 5));
}

TEST_CASE("sum_to sums over broadcast dims and keeps the rest", "[broadcast]") {
  const Tensor x = rand64({2, 3, 4}, 6);
  const auto xv = x.to_vector<double>();
  const Tensor s = sum_to(Var(x), {3, 1}).data();
  REQUIRE(s.shape() == Shape{3, 1});
  for (int j = 0; j < 3; ++j) {
    double acc = 0;
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) acc += xv[(i * 3 + j) * 4 + k];
    CHECK(s.to_vector<double>()[j] == Approx(acc).epsilon(1e-14));
  }
  CHECK(sum_to(Var(x), {2, 3, 4}).data().storage() == x.storage());  // same shape: identity
  const Tensor e = expand(Var(x.narrow(2, 0, 1)), {5, 2, 3, 4}).data();
  CHECK(e.strides()[0] == 0);
  CHECK(e.storage() == x.storage());
  // Reducing an empty tensor gives zeros.
  CHECK(sum_to(Var(Tensor::zeros({0, 3})), {1, 3}).data().to_vector<float>() == std::vector<float>(3, 0.0f));
}

TEST_CASE("expand and sum_to reject shapes that are not broadcasts", "[broadcast]") {
  Var x(Tensor::zeros({2, 3}));
  CHECK_THROWS_WITH(sum_to(x, {4}), Catch::Contains("sum_to") && Catch::Contains("[2, 3]") && Catch::Contains("[4]"));
  CHECK_THROWS_AS(sum_to(x, {1, 2, 3}), ShapeError);
  CHECK_THROWS_WITH(expand(x, {3, 3}), Catch::Contains("expand") && Catch::Contains("[2, 3]") &&
                                           Catch::Contains("[3, 3]"));
  CHECK_THROWS_AS(expand(x, {3}), ShapeError);
}
