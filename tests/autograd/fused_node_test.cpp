#include <cmath>
#include <string>

#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;

namespace {
// Builds an expression over locals and returns it: the expression holds its leaves by value, so it must stay
// valid after every named input is gone (run this file under ASan: see tests/hygiene/README.md).
auto make_expression(std::uint64_t seed, Var a) {
  Var b(rand64({257}, seed + 1));
  Tensor c = rand64({257}, seed + 2);
  return lrelu(a * b + Var(c), 0.2) * 2.0 - exp(a) / (1.0 + square(b));
}

std::vector<double> reference_values(std::uint64_t seed) {
  const auto a = rand64({257}, seed).to_vector<double>(), b = rand64({257}, seed + 1).to_vector<double>(),
             c = rand64({257}, seed + 2).to_vector<double>();
  std::vector<double> out(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double t = a[i] * b[i] + c[i];
    out[i] = (t > 0 ? t : 0.2 * t) * 2.0 - std::exp(a[i]) / (1.0 + b[i] * b[i]);
  }
  return out;
}
}  // namespace

TEST_CASE("an expression returned from a helper outlives its named inputs", "[fused]") {
  auto e = make_expression(7, Var(rand64({257}, 7), true));  // the leaf Var is a temporary
  // Churn the allocator so that freed inputs (if the expression dangled) would be overwritten.
  std::vector<Tensor> churn;
  for (int i = 0; i < 16; ++i) churn.push_back(Tensor::full({257}, -1e30, DType::float64));
  Var y = e;
  CHECK_ALLCLOSE(y.data(), Tensor::from_vector(reference_values(7), {257}), 1e-14, 1e-14);
  Var y2 = e;  // evaluating the same expression twice gives the same values
  CHECK(y2.data().to_vector<double>() == y.data().to_vector<double>());
  // Its graph reaches the (now unnamed) leaf.
  REQUIRE(y.grad_fn());
  auto* acc = dynamic_cast<AccumulateGrad*>(y.grad_fn()->next_edges[0].fn.get());
  REQUIRE(acc != nullptr);
  backward(sum(y));
  const auto a = rand64({257}, 7).to_vector<double>(), b = rand64({257}, 8).to_vector<double>(),
             c = rand64({257}, 9).to_vector<double>();
  const auto g = acc->leaf.lock()->grad.data().to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double t = a[i] * b[i] + c[i];
    CHECK(g[i] == Approx((t > 0 ? 1.0 : 0.2) * b[i] * 2.0 - std::exp(a[i]) / (1.0 + b[i] * b[i])).epsilon(1e-12));
  }
}

TEST_CASE("an expression captures its leaves' values when it is built", "[fused]") {
  Var a(Tensor::full({3}, 2.0, DType::float64));
  Var b(Tensor::full({3}, 5.0, DType::float64));
  auto e = a * b + 1.0;
  a = Var(Tensor::full({3}, 100.0, DType::float64));  // rebinding the name does not change the expression
  CHECK(Var(e).data().to_vector<double>() == std::vector<double>(3, 11.0));
  b.data().copy_(Tensor::full({3}, 6.0, DType::float64));  // but the data is shared, not copied
  CHECK(Var(e).data().to_vector<double>() == std::vector<double>(3, 13.0));
}

TEST_CASE("a fused expression is one node with one edge per leaf occurrence", "[fused]") {
  Var x(rand64({4, 5}, 1), true), y(rand64({5}, 2), true);
  Var c(rand64({4, 5}, 3));  // a constant operand
  Var out = x * x + exp(y) * c - 3.0 / x;
  REQUIRE(out.grad_fn());
  CHECK(std::string(out.grad_fn()->name()) == "FusedElementwise");
  const auto& edges = out.grad_fn()->next_edges;
  REQUIRE(edges.size() == 5);
  CHECK(edges[0].fn == edges[1].fn);  // x twice
  CHECK(edges[0].fn == edges[4].fn);  // and a third time
  CHECK(edges[2].fn != edges[0].fn);  // y
  CHECK_FALSE(edges[3].valid());      // c needs no gradient
  auto g = grad({sum(out)}, {x, y}, {}, {.retain_graph = true});
  const auto xv = x.data().to_vector<double>(), gx = g[0].data().to_vector<double>();
  for (std::size_t i = 0; i < xv.size(); ++i) CHECK(gx[i] == Approx(2 * xv[i] + 3.0 / (xv[i] * xv[i])));
  CHECK(g[1].shape() == Shape{5});  // reduced back to the broadcast leaf's shape
  // Gradients under create_graph are fused nodes too.
  Var gc = grad({sum(out)}, {x}, {}, {.create_graph = true})[0];
  REQUIRE(gc.grad_fn());
  CHECK(std::string(gc.grad_fn()->name()) == "FusedElementwise");
}

TEST_CASE("nothing is recorded when no operand needs a gradient", "[fused]") {
  Var a(rand64({3}, 1)), b(rand64({3}, 2));
  Var y = a * b + 1.0;
  CHECK_FALSE(y.requires_grad());
  CHECK(y.is_leaf());
}

TEST_CASE("a backward pass without retain_graph frees the saved operands", "[fused]") {
  Var x(rand64({8}, 1), true);
  Tensor c = rand64({8}, 2);
  const long before = c.storage().use_count();
  Var y = sum(exp(x) * Var(c));
  CHECK(c.storage().use_count() > before);  // saved by the node
  backward(y, {}, {.retain_graph = true});
  CHECK(c.storage().use_count() > before);  // retained
  backward(y);
  CHECK(c.storage().use_count() == before);  // released while y is still alive
  CHECK_THROWS_WITH(backward(y), Catch::Contains("FusedElementwise") && Catch::Contains("freed"));
}

TEST_CASE("an in-place change to any saved operand is detected", "[fused]") {
  Var x(rand64({4}, 1), true);
  Tensor c = rand64({4}, 2);
  Var y = sum(x * Var(c));
  c.zero_();  // a constant operand, but d/dx needs it
  CHECK_THROWS_WITH(backward(y), Catch::Contains("operand 1") && Catch::Contains("modified in place"));
}

TEST_CASE("fused expressions: first and second derivatives of broadcast and strided leaves", "[fused]") {
  // Leaves that are views: transposed, narrowed and a rank-0 scalar, broadcast together.
  auto f = [](const std::vector<Var>& v) {
    Var t = transpose(v[0], 0, 1);    // [3, 4] viewed as [4, 3]
    Var n = narrow(v[1], 1, 1, 3);    // [4, 5] narrowed to [4, 3]
    return Var(t * n + sigmoid(v[2] * t) - v[2] / (2.0 + square(n)));
  };
  CHECK_GRADIENTS(f, rand64({3, 4}, 1), rand64({4, 5}, 2), rand64({}, 3));
}
