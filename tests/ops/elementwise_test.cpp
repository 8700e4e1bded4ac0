#include <array>
#include <cmath>
#include <functional>

#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::positive64;
using anycost::test::rand64;

namespace {
// Points at least 0.05 away from 0 and from the clamp bounds, where abs/sign/lrelu/clamp are not smooth.
Tensor away_from_kinks(const Shape& s, std::uint64_t seed) {
  auto v = rand64(s, seed).to_vector<double>();
  for (double& x : v)
    for (double k : {0.0, -0.5, 0.5})
      if (std::abs(x - k) < 0.05) x = k + (x < k ? -0.05 : 0.05);
  return Tensor::from_vector(v, s);
}

// Applies a scalar function to every element (the reference for forward values).
Tensor map64(const Tensor& t, const std::function<double(double)>& f) {
  auto v = t.to_vector<double>();
  for (double& x : v) x = f(x);
  return Tensor::from_vector(v, t.shape());
}
}  // namespace

TEST_CASE("unary functions: first and second derivatives", "[elementwise]") {
  const Tensor x = away_from_kinks({3, 4}, 1), p = positive64({3, 4}, 2);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(-v[0]); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(exp(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(log(v[0])); }, p);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(sqrt(v[0])); }, p);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(rsqrt(v[0])); }, p);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(square(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(reciprocal(v[0])); }, p);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(abs(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(sign(v[0]) * v[0]); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(sigmoid(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(softplus(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(softplus(v[0] * 40.0)); }, x);  // both branches
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(tanh(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(lrelu(v[0], 0.2)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(lrelu(v[0] * v[0] - 0.3, 0.01)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(relu(v[0]) * v[0]); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(clamp(v[0], -0.5, 0.5) * v[0]); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(pow(v[0], 2.5)); }, p);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(pow(v[0], -1.5)); }, p);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(pow(v[0], 3.0)); }, x);  // integer power, negatives
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return eval(exp(v[0] * 0.5)); }, x);
}

TEST_CASE("unary functions compute the right values", "[elementwise]") {
  const Tensor x = away_from_kinks({5, 7}, 3), p = positive64({5, 7}, 4);
  const double tol = 1e-15;
  CHECK_ALLCLOSE(Var(exp(Var(x))).data(), map64(x, [](double a) { return std::exp(a); }), tol, 0.0);
  CHECK_ALLCLOSE(Var(log(Var(p))).data(), map64(p, [](double a) { return std::log(a); }), tol, tol);
  CHECK_ALLCLOSE(Var(rsqrt(Var(p))).data(), map64(p, [](double a) { return 1 / std::sqrt(a); }), tol, 0.0);
  CHECK_ALLCLOSE(Var(sigmoid(Var(x))).data(), map64(x, [](double a) { return 1 / (1 + std::exp(-a)); }), tol, 0.0);
  CHECK_ALLCLOSE(Var(softplus(Var(x) * 50.0)).data(), map64(x, [](double a) { return std::log1p(std::exp(50 * a)); }),
                 1e-13, 1e-300);
  CHECK_ALLCLOSE(Var(tanh(Var(x))).data(), map64(x, [](double a) { return std::tanh(a); }), tol, 0.0);
  CHECK_ALLCLOSE(Var(lrelu(Var(x), 0.2)).data(), map64(x, [](double a) { return a > 0 ? a : 0.2 * a; }), 0.0, 0.0);
  CHECK_ALLCLOSE(Var(relu(Var(x))).data(), map64(x, [](double a) { return a > 0 ? a : 0.0; }), 0.0, 0.0);
  CHECK_ALLCLOSE(Var(clamp(Var(x), -0.5, 0.5)).data(), map64(x, [](double a) { return std::clamp(a, -0.5, 0.5); }),
                 0.0, 0.0);
  CHECK_ALLCLOSE(Var(sign(Var(x))).data(), map64(x, [](double a) { return a > 0 ? 1.0 : -1.0; }), 0.0, 0.0);
  CHECK_ALLCLOSE(Var(pow(Var(p), 2.5)).data(), map64(p, [](double a) { return std::pow(a, 2.5); }), tol, 0.0);
  // Softplus does not overflow for large arguments.
  const Tensor big = Tensor::from_vector<float>({-200.0f, 0.0f, 200.0f}, {3});
  CHECK_ALLCLOSE(Var(softplus(Var(big))).data(), Tensor::from_vector<double>({0.0, std::log(2.0), 200.0}, {3}), 1e-7,
                 0.0);
  // Derivatives at the kinks follow PyTorch: lrelu'(0) = slope, clamp' = 1 on the bounds, |x|'(0) = 0.
  Var k(Tensor::from_vector<double>({0.0, -0.5, 0.5}, {3}), true);
  CHECK(grad({sum(lrelu(k, 0.2))}, {k})[0].data().to_vector<double>()[0] == 0.2);
  CHECK(grad({sum(clamp(k, -0.5, 0.5))}, {k})[0].data().to_vector<double>() == std::vector<double>{1, 1, 1});
  CHECK(grad({sum(abs(k))}, {k})[0].data().to_vector<double>()[0] == 0.0);
}

TEST_CASE("binary operators with broadcasting and scalars on either side", "[elementwise]") {
  const Tensor a = rand64({2, 3, 4}, 3), b = rand64({3, 1}, 4), c = positive64({4}, 5), s = rand64({}, 6);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[0] + v[1]); }, a, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[0] - v[1]); }, a, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[1] - v[0]); }, a, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[0] * v[1]); }, a, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[0] / v[1]); }, a, c);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[1] / v[0]); }, a, c);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[0] * v[1]); }, a, s);  // rank-0 operand
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(2.0 * v[0] - v[0] / 3.0 + 1.0); }, a);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(1.0 - v[0]); }, a);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(2.0 / v[0]); }, c);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(-(v[0] * 3) + 2); }, a);  // int scalars
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return Var(v[0] * 0.5f); }, a);       // float scalar
}

TEST_CASE("fused chains: one node, correct derivatives to second order", "[elementwise]") {
  const Tensor a = rand64({4, 5}, 6), b = rand64({4, 5}, 7), c = rand64({5}, 8), d = positive64({4, 1}, 9);
  auto f = [](const std::vector<Var>& v) { return Var(lrelu(v[0] * v[1] + v[2], 0.2) * std::sqrt(2.0)); };
  CHECK_GRADIENTS(f, a, b, c);
  auto g = [](const std::vector<Var>& v) {
    return Var(exp(-square(v[0])) * sigmoid(v[1] * v[0]) / (1.0 + square(v[2])));
  };
  CHECK_GRADIENTS(g, a, b, c);
  // The same Var several times, four leaves with three broadcast shapes, scalars on both sides.
  auto h = [](const std::vector<Var>& v) {
    return Var(2.0 - v[0] * v[0] * v[1] / v[3] + tanh(v[0] - v[2]) * 0.5 + log(v[3] + square(v[0])) / 3.0);
  };
  CHECK_GRADIENTS(h, a, b, c, d);
  // A deep chain (depth 16): every level differentiates through the ones below.
  auto deep = [](const std::vector<Var>& v) {
    const Var& x = v[0];
    return Var(tanh(sigmoid(exp(tanh(x * 0.5 + 0.1) * 0.3) - 1.0) * 2.0 + 0.2) * tanh(x));
  };
  CHECK_GRADIENTS(deep, a);

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
  CHECK(std::string(t4.grad_fn()->name()) == "FusedElementwise");
  CHECK_ALLCLOSE(out.data(), t4.data(), 1e-15, 0.0);
}

TEST_CASE("the CPU evaluator handles every layout of leaves", "[elementwise]") {
  // Long rows (several 256-element blocks plus a remainder), broadcast inner dims, strided (transposed) inner
  // dims and a strided output, each against a plain loop.
  const std::int64_t rows = 3, cols = 700;
  const Tensor a = rand64({rows, cols}, 10);
  const Tensor b = rand64({cols, rows}, 11);    // used transposed: inner stride 3
  const Tensor c = rand64({rows, 1}, 12);       // broadcast along the row: inner stride 0
  const Tensor d = rand64({rows, cols * 2}, 13);  // narrowed: rows of a larger buffer
  Var y = Var(a) * transpose(Var(b), 0, 1) + Var(c) - narrow(Var(d), 1, 5, cols) * 0.25;
  const auto av = a.to_vector<double>(), bv = b.to_vector<double>(), cv = c.to_vector<double>(),
             dv = d.to_vector<double>();
  std::vector<double> ref(rows * cols);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      ref[i * cols + j] = av[i * cols + j] * bv[j * rows + i] + cv[i] - dv[i * cols * 2 + 5 + j] * 0.25;
  CHECK_ALLCLOSE(y.data(), Tensor::from_vector(ref, {rows, cols}), 1e-15, 1e-15);
  // Every leaf strided (no unit-stride operand at all), in float32.
  const Tensor p = rand64({cols, rows}, 14).to(DType::float32), q = rand64({cols, rows}, 15).to(DType::float32);
  Var z = exp(transpose(Var(p), 0, 1)) * transpose(Var(q), 0, 1);
  const auto pv = p.to_vector<float>(), qv = q.to_vector<float>();
  std::vector<double> ref2(rows * cols);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) ref2[i * cols + j] = std::exp(pv[j * rows + i]) * qv[j * rows + i];
  CHECK_ALLCLOSE(z.data(), Tensor::from_vector(ref2, {rows, cols}), 1e-6, 1e-6);
  CHECK(z.dtype() == DType::float32);
  // Large enough to be split over threads.
  const Tensor big = rand64({64, 1100}, 16);
  CHECK_ALLCLOSE(Var(square(Var(big))).data(), map64(big, [](double v) { return v * v; }), 0.0, 0.0);
  // Empty operands give empty results.
  CHECK(Var(exp(Var(Tensor::zeros({0, 3})))).shape() == Shape{0, 3});
}

TEST_CASE("elementwise errors name the problem", "[elementwise]") {
  Var a(Tensor::zeros({2, 3})), b(Tensor::zeros({4}));
  CHECK_THROWS_WITH(Var(a + b), Catch::Contains("cannot be broadcast") && Catch::Contains("[2, 3]") &&
                                    Catch::Contains("[4]"));
  CHECK_THROWS_AS(Var(exp(a) * b), ShapeError);
  Var c(Tensor::zeros({2, 3}, DType::float64));
  CHECK_THROWS_AS(Var(a * c), ShapeError);
  CHECK_THROWS_WITH(Var(a * c), Catch::Contains("operand 1") && Catch::Contains("float64") &&
                                    Catch::Contains("float32"));
  Var g(test::fake_cuda({2, 3}));
  CHECK_THROWS_AS(Var(a + g), DeviceError);
  CHECK_THROWS_WITH(Var(a + g), Catch::Contains("operand 1") && Catch::Contains("cuda:0") && Catch::Contains("cpu"));
  CHECK_THROWS_WITH(Var(a * Var()), Catch::Contains("operand 1 is undefined"));
  CHECK_THROWS_WITH(Var(Var() * 2.0), Catch::Contains("operand 0 is undefined"));
}

TEST_CASE("placeholders bind the I-th tensor wherever they appear in the tree", "[elementwise][placeholders]") {
  const Tensor a = rand64({2, 3}, 10), b = rand64({2, 3}, 11), c = positive64({2, 3}, 12);
  constexpr expr::Arg<0> A;
  constexpr expr::Arg<1> B;
  constexpr expr::Arg<2> C;
  // Leaves in position order are C, A, B, A: the binding goes by index, not by position.
  static_assert(expr::arg_indices<decltype(C / (A - 2.0 * B) + A)>() == std::array<int, 4>{2, 0, 1, 0});
  Tensor out = Tensor::empty({2, 3}, DType::float64);
  expr::evaluate_into(out, C / (A - 2.0 * B) + A, a, b, c);
  const Tensor want = Var(Var(c) / (Var(a) - 2.0 * Var(b)) + Var(a)).data();
  CHECK_ALLCLOSE(out, want, 0.0, 0.0);
  // The builder form names the placeholders in the order of the tensors.
  Tensor out2 = Tensor::empty({2, 3}, DType::float64);
  expr::evaluate_into(out2, [](auto X, auto Y, auto Z) { return Z / (X - 2.0 * Y) + X; }, a, b, c);
  CHECK_ALLCLOSE(out2, want, 0.0, 0.0);
  // In place, as the optimisers update their state: m <- 0.9 m + 0.1 g.
  const Tensor m = a.clone();
  expr::evaluate_into(m, [](auto M, auto G) { return 0.9 * M + 0.1 * G; }, m, b);
  CHECK_ALLCLOSE(m, Var(0.9 * Var(a) + 0.1 * Var(b)).data(), 0.0, 0.0);
}
