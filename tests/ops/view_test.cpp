#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;
using anycost::test::sq;

// Views are linear, so each check squares the result: the second-order check then differentiates the view's
// backward with respect to the incoming gradient.
TEST_CASE("views: first and second derivatives", "[view]") {
  const Tensor x = rand64({2, 3, 4}, 1);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(narrow(v[0], 2, 1, 2)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(narrow(v[0], -3, 1, 1)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(reshape(v[0], {4, -1})); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(flatten(v[0])); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(permute(v[0], {2, 0, 1})); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(transpose(v[0], 0, -1)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(unsqueeze(v[0], 1)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(squeeze(narrow(v[0], 1, 2, 1), 1)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(select(v[0], 2, 3)); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(contiguous(transpose(v[0], 1, 2))); }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(expand(narrow(v[0], 0, 0, 1), {3, 3, 4})); }, x);
  // Chains: a non-contiguous view reshaped (copy in contiguous()), narrowed twice, permuted back.
  CHECK_GRADIENTS([](const std::vector<Var>& v) {
    return sq(reshape(contiguous(permute(narrow(narrow(v[0], 1, 1, 2), 2, 0, 3), {2, 0, 1})), {3, 4}));
  }, x);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(reshape(transpose(v[0], 0, 1), {3, 2, 2, 2})); }, x);
}

TEST_CASE("cat: first and second derivatives, values and a repeated input", "[view]") {
  const Tensor a = rand64({2, 3, 4}, 2), b = rand64({2, 1, 4}, 3), c = rand64({2, 3, 2}, 4);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(cat({v[0], v[1]}, 1)); }, a, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(cat({v[0], v[1], v[0]}, -2)); }, a, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(cat({v[1], v[0]}, 2)); }, c, a);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return sq(cat({transpose(v[0], 0, 1), v[0]}, 0)); },
                  rand64({3, 3}, 5));
  const Tensor y = cat({Var(a), Var(b)}, 1).data();
  REQUIRE(y.shape() == Shape{2, 4, 4});
  CHECK(y.narrow(1, 0, 3).contiguous().to_vector<double>() == a.to_vector<double>());
  CHECK(y.narrow(1, 3, 1).contiguous().to_vector<double>() == b.to_vector<double>());
  // A constant input gets no gradient; the others still do.
  Var va(a, true);
  auto g = grad({sum(cat({va, Var(b)}, 1))}, {va});
  CHECK(g[0].data().to_vector<double>() == std::vector<double>(24, 1.0));
  CHECK_FALSE(cat({Var(a), Var(b)}, 1).requires_grad());
}

TEST_CASE("view values and storage sharing", "[view]") {
  const Tensor x = rand64({2, 3, 4}, 6);
  const Var v(x);
  CHECK(narrow(v, 2, 1, 2).data().storage() == x.storage());
  CHECK(permute(v, {1, 2, 0}).data().storage() == x.storage());
  CHECK(reshape(v, {6, 4}).data().storage() == x.storage());
  CHECK(select(v, 0, 1).data().to_vector<double>() == x.narrow(0, 1, 1).contiguous().to_vector<double>());
  CHECK(unsqueeze(v, -1).shape() == Shape{2, 3, 4, 1});
  CHECK(squeeze(unsqueeze(v, 0), 0).shape() == Shape{2, 3, 4});
  CHECK(contiguous(v).data().storage() == x.storage());  // contiguous already: the same tensor
  const Var t = transpose(v, 1, 2);
  const Var c = contiguous(t);
  CHECK(c.data().is_contiguous());
  CHECK(c.data().storage() != x.storage());
  CHECK(c.data().to_vector<double>() == t.data().to_vector<double>());
  // The gradient of a narrow lands in the matching region of the input's gradient, zeros elsewhere.
  Var w(x, true);
  backward(sum(narrow(w, 1, 1, 1) * 3.0));
  const auto g = w.grad().data().to_vector<double>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) CHECK(g[(i * 3 + j) * 4 + k] == (j == 1 ? 3.0 : 0.0));
}

TEST_CASE("view errors name the op and the shapes", "[view]") {
  Var x(Tensor::zeros({2, 3, 4}));
  CHECK_THROWS_WITH(narrow(x, 1, 2, 2), Catch::Contains("narrow") && Catch::Contains("[2, 4)") &&
                                            Catch::Contains("[2, 3, 4]"));
  CHECK_THROWS_WITH(narrow(x, 3, 0, 1), Catch::Contains("narrow") && Catch::Contains("dim 3"));
  CHECK_THROWS_WITH(reshape(x, {5, 5}), Catch::Contains("reshape") && Catch::Contains("[5, 5]"));
  CHECK_THROWS_WITH(reshape(transpose(x, 0, 2), {24}), Catch::Contains("contiguous()"));
  CHECK_THROWS_WITH(permute(x, {0, 1, 1}), Catch::Contains("permute") && Catch::Contains("repeated"));
  CHECK_THROWS_AS(permute(x, {0, 1}), ShapeError);
  CHECK_THROWS_AS(transpose(x, 0, 3), ShapeError);
  CHECK_THROWS_WITH(squeeze(x, 1), Catch::Contains("squeeze") && Catch::Contains("[2, 3, 4]"));
  CHECK_THROWS_AS(unsqueeze(x, 4), ShapeError);
  CHECK_THROWS_WITH(select(x, 0, 2), Catch::Contains("select") && Catch::Contains("index 2") &&
                                        Catch::Contains("[2, 3, 4]"));
  CHECK_THROWS_AS(select(x, 0, -1), ShapeError);
  CHECK_THROWS_WITH(expand(x, {2, 2, 4}), Catch::Contains("expand") && Catch::Contains("[2, 3, 4]"));
  CHECK_THROWS_WITH(cat({}, 0), Catch::Contains("cat") && Catch::Contains("no inputs"));
  CHECK_THROWS_WITH(cat({x, Var(Tensor::zeros({2, 3}))}, 0),
                    Catch::Contains("cat") && Catch::Contains("input 1") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(cat({x, Var(Tensor::zeros({2, 2, 4}))}, 2),
                    Catch::Contains("cat") && Catch::Contains("[2, 2, 4]") && Catch::Contains("dim 2"));
  CHECK_THROWS_WITH(cat({x, Var(Tensor::zeros({2, 3, 4}, DType::float64))}, 0),
                    Catch::Contains("cat") && Catch::Contains("dtype"));
  CHECK_THROWS_AS(cat({x, Var(test::fake_cuda({2, 3, 4}))}, 0), DeviceError);
  CHECK_THROWS_AS(cat({x}, 3), ShapeError);
}
