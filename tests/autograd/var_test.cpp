#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;

TEST_CASE("Var: leaves, results and handles", "[var]") {
  Var undefined;
  CHECK_FALSE(undefined.defined());
  CHECK_FALSE(undefined.requires_grad());
  CHECK(undefined.is_leaf());
  CHECK_THROWS_WITH(undefined.data(), Catch::Contains("undefined"));
  CHECK_THROWS_AS(undefined.shape(), ValueError);

  Tensor t = rand64({2, 3}, 1);
  Var leaf(t, true);
  CHECK(leaf.data().storage() == t.storage());  // no copy
  CHECK(leaf.is_leaf());
  CHECK(leaf.requires_grad());
  CHECK(leaf.shape() == Shape{2, 3});
  CHECK(leaf.size(-1) == 3);
  CHECK(leaf.dim() == 2);
  CHECK(leaf.numel() == 6);
  CHECK(leaf.dtype() == DType::float64);
  CHECK(leaf.device() == Device::cpu());
  Var copy = leaf;  // a handle: same variable
  CHECK(same(copy, leaf));
  CHECK_FALSE(same(Var(t, true), leaf));

  Var result = leaf * 2.0;
  CHECK_FALSE(result.is_leaf());
  CHECK(result.requires_grad());
  CHECK(result.grad_fn() != nullptr);
  CHECK_THROWS_WITH(result.set_requires_grad(false), Catch::Contains("only leaves"));
  Var plain(t);
  CHECK_FALSE(plain.requires_grad());
  plain.set_requires_grad(true);
  CHECK(plain.requires_grad());
  CHECK(Var(Tensor::scalar(4.0)).item() == 4.0);
}

TEST_CASE("Var: grad slots", "[var]") {
  Var x(rand64({3}, 2), true);
  CHECK_FALSE(x.grad().defined());
  x.set_grad(Var(Tensor::ones({3}, DType::float64)));
  CHECK(x.grad().data().to_vector<double>() == std::vector<double>(3, 1.0));
  backward(sum(x * 2.0));  // accumulates onto the gradient that was set
  CHECK(x.grad().data().to_vector<double>() == std::vector<double>(3, 3.0));
  CHECK_THROWS_WITH(x.set_grad(Var(Tensor::ones({4}))), Catch::Contains("set_grad") && Catch::Contains("[4]") &&
                                                            Catch::Contains("[3]"));
  x.set_grad(Var());
  CHECK_FALSE(x.grad().defined());
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  CHECK_FALSE(Var().grad().defined());
  CHECK_THROWS_AS(Var().set_grad(Var()), ValueError);
}
