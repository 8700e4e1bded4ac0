// The gradient checker is itself tested: a check that cannot fail proves nothing.
#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;

namespace {
// y = x, but the backward doubles the gradient: a wrong first derivative.
class DoublingBackward final : public Node {
 public:
  std::vector<Var> apply(std::vector<Var>& g) override { return {Var(g[0] * 2.0)}; }
  const char* name() const override { return "DoublingBackward"; }
};
Var wrong_identity(const Var& x) {
  if (!any_requires_grad({&x})) return Var(x.data());
  return record(x.data(), std::make_shared<DoublingBackward>(), {&x});
}

// y = x^2 with the right gradient computed on plain tensors: correct to first order, but the backward is not
// recorded, so second derivatives vanish where they should not.
class DetachedSquareBackward final : public Node {
 public:
  explicit DetachedSquareBackward(Tensor x) : x_(std::move(x)) {}
  std::vector<Var> apply(std::vector<Var>& g) override {
    return {Var(evaluate_tensor(expr::Leaf<Var>{g[0]} * expr::Leaf<Var>{Var(x_)} * 2.0))};
  }
  const char* name() const override { return "DetachedSquareBackward"; }

 private:
  Tensor x_;
};
Var detached_square(const Var& x) {
  Tensor y = Var(square(Var(x.data()))).data();
  if (!any_requires_grad({&x})) return Var(y);
  return record(y, std::make_shared<DetachedSquareBackward>(x.data()), {&x});
}
}  // namespace

TEST_CASE("check_grad reports a wrong first derivative, naming the input and element", "[gradcheck]") {
  const Tensor x = rand64({3}, 1);
  const auto r = check_grad([](const std::vector<Var>& v) { return Var(square(wrong_identity(v[0]))); }, {x});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("check_grad") && Catch::Contains("input 0") && Catch::Contains("element"));
  CHECK(r.max_abs_error > 0.1);
  // The correct op passes with a tiny error.
  const auto good = check_grad([](const std::vector<Var>& v) { return Var(square(v[0])); }, {x});
  CHECK(good.ok);
  CHECK(good.max_abs_error < 1e-7);
}

TEST_CASE("check_grad_grad reports a backward that is not differentiable", "[gradcheck]") {
  const Tensor x = rand64({4}, 2);
  auto f = [](const std::vector<Var>& v) { return detached_square(v[0]); };
  CHECK(check_grad(f, {x}).ok);  // first order is right
  const auto r = check_grad_grad(f, {x});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("check_grad_grad") && Catch::Contains("input 0"));
  CHECK(check_grad_grad([](const std::vector<Var>& v) { return Var(square(v[0])); }, {x}).ok);
}

TEST_CASE("check_grad catches a gradient that reaches the wrong input", "[gradcheck]") {
  // f(a, b) = a * b, but the "gradient" of b is routed through a detached copy: b looks unused.
  const auto r = check_grad([](const std::vector<Var>& v) { return Var(v[0] * v[1].detach()); },
                            {rand64({3}, 3), rand64({3}, 4)});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("input 1"));
}

TEST_CASE("gradcheck inputs must be contiguous float64 CPU tensors", "[gradcheck]") {
  auto f = [](const std::vector<Var>& v) { return Var(exp(v[0])); };
  CHECK_THROWS_WITH(check_grad(f, {Tensor::ones({2})}), Catch::Contains("gradcheck") && Catch::Contains("float64"));
  CHECK_THROWS_AS(check_grad_grad(f, {rand64({2, 3}, 5).transpose(0, 1)}), ValueError);
  // Tolerances are honoured: an absurdly tight one fails even a correct gradient.
  GradcheckOptions tight;
  tight.atol = 0;
  tight.rtol = 1e-15;
  CHECK_FALSE(check_grad(f, {rand64({3}, 6)}, tight).ok);
}
