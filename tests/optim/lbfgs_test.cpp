// L-BFGS on functions with known minima.
#include <catch2/catch.hpp>

#include <vector>

#include "anycost/optim/lbfgs.hpp"

using namespace anycost;

TEST_CASE("lbfgs: minimises the Rosenbrock function from the textbook start") {
  // f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1); start (-1.2, 1) (Nocedal & Wright).
  const auto f = [](const std::vector<double>& v, std::vector<double>& g) {
    const double x = v[0], y = v[1];
    g = {-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)};
    return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x);
  };
  std::vector<double> x{-1.2, 1.0};
  optim::LbfgsOptions o;
  o.max_iterations = 200;
  int calls = 0;
  const optim::LbfgsResult r = optim::lbfgs_minimize(f, x, o, [&](int, double) { ++calls; });
  CHECK(x[0] == Approx(1.0).margin(1e-5));
  CHECK(x[1] == Approx(1.0).margin(1e-5));
  CHECK(r.value < 1e-10);
  CHECK(r.iterations == calls);
  CHECK(r.iterations < 100);  // quasi-Newton: tens of iterations, where gradient descent needs thousands
}

TEST_CASE("lbfgs: a convex quadratic is solved in about n iterations, and bad options are refused") {
  // f = 0.5 x'Ax - b'x with A = diag(1..8): minimum at x_i = b_i / A_ii.
  const int n = 8;
  const auto f = [&](const std::vector<double>& v, std::vector<double>& g) {
    double s = 0;
    g.assign(n, 0);
    for (int i = 0; i < n; ++i) {
      s += 0.5 * (i + 1) * v[i] * v[i] - v[i];
      g[i] = (i + 1) * v[i] - 1;
    }
    return s;
  };
  std::vector<double> x(n, 0.0);
  const optim::LbfgsResult r = optim::lbfgs_minimize(f, x);
  for (int i = 0; i < n; ++i) CHECK(x[i] == Approx(1.0 / (i + 1)).margin(1e-6));
  CHECK(r.iterations <= 2 * n);
  optim::LbfgsOptions bad;
  bad.c1 = 0.95;  // c1 must be below c2
  CHECK_THROWS_WITH(optim::lbfgs_minimize(f, x, bad), Catch::Contains("invalid options"));
}
