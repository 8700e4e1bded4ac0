#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;

namespace {
Tensor positive64(const Shape& s, std::uint64_t seed) {
  Rng rng(seed);
  return Var(abs(Var(randn(s, rng, DType::float64))) + 0.5).data();
}
}  // namespace

TEST_CASE("unary functions: first and second derivatives", "[elementwise]") {
  const Tensor x = rand64({3, 4}, 1), p = positive64({3, 4}, 2);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(-v[0]); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(exp(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(log(v[0])); }, p);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(sqrt(v[0])); }, p);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(rsqrt(v[0])); }, p);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(square(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(reciprocal(v[0])); }, p);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(abs(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(sigmoid(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(softplus(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(tanh(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(lrelu(v[0], 0.2)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(clamp(v[0], -0.5, 0.5)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(pow(v[0], 2.5)); }, p);
}

TEST_CASE("binary operators with broadcasting and scalars", "[elementwise]") {
  const Tensor a = rand64({2, 3, 4}, 3), b = rand64({3, 1}, 4), c = positive64({4}, 5);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[0] + v[1]); }, a, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[0] - v[1]); }, a, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[0] * v[1]); }, a, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[0] / v[1]); }, a, c);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(2.0 * v[0] - v[0] / 3.0 + 1.0); }, a);
}

TEST_CASE("fused chains: one node, correct derivatives to second order", "[elementwise]") {
  const Tensor a = rand64({4, 5}, 6), b = rand64({4, 5}, 7), c = rand64({5}, 8);
  auto f = [](const std::vector<Var>& v) { return Var(lrelu(v[0] * v[1] + v[2], 0.2) * std::sqrt(2.0)); };
  CHECK_GRADIENTS(f, a, b, c);
  auto g = [](const std::vector<Var>& v) { return Var(exp(-square(v[0])) * sigmoid(v[1] * v[0]) / (1.0 + square(v[2]))); };
  CHECK_GRADIENTS(g, a, b, c);

  Var x(a, true), y(b, true), z(c, true);
  Var out = lrelu(x * y + z, 0.2) * std::sqrt(2.0);
  REQUIRE(out.grad_fn());
  CHECK(std::string(out.grad_fn()->name()) == "FusedElementwise");
  CHECK(out.grad_fn()->next_edges.size() == 3);
  // The same value computed op by op.
  Var t1 = x * y;
  Var t2 = t1 + z;
  Var t3 = lrelu(t2, 0.2);
  Var t4 = t3 * std::sqrt(2.0);
  const auto fused = out.data().to_vector<double>(), stepwise = t4.data().to_vector<double>();
  for (std::size_t i = 0; i < fused.size(); ++i) CHECK(fused[i] == Approx(stepwise[i]).epsilon(1e-14));
}

TEST_CASE("elementwise errors name the problem", "[elementwise]") {
  Var a(Tensor::zeros({2, 3})), b(Tensor::zeros({4}));
  CHECK_THROWS_WITH(Var(a + b), Catch::Contains("cannot be broadcast") && Catch::Contains("[2, 3]"));
  Var c(Tensor::zeros({2, 3}, DType::float64));
  CHECK_THROWS_AS(Var(a * c), ShapeError);
}
