// The discriminator's layers: minibatch stddev (against a direct computation, first and second order
// gradient checks, group errors), AdaptiveModulate (FiLM: gradient checks of first and second order w.r.t.
// input, code and its linear layers), EqualConv2d and ConvLayer shapes and names.
#include <anycost/anycost.hpp>

#include <cmath>

#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using namespace anycost::nn;

TEST_CASE("minibatch_stddev: group statistics by slot b mod (B / G)", "[minibatch_stddev]") {
  Rng rng(1);
  const Tensor x = randn({8, 3, 2, 2}, rng, DType::float64);
  const Var y = minibatch_stddev(Var(x), 4);
  REQUIRE(y.shape() == Shape{8, 4, 2, 2});
  const auto v = x.to_vector<double>(), out = y.data().to_vector<double>();
  // slot m = b % 2 groups samples {m, m + 2, m + 4, m + 6}.
  for (int m = 0; m < 2; ++m) {
    double acc = 0;
    for (int e = 0; e < 12; ++e) {
      double mu = 0, var = 0;
      for (int g = 0; g < 4; ++g) mu += v[static_cast<std::size_t>((m + 2 * g) * 12 + e)] / 4;
      for (int g = 0; g < 4; ++g) var += std::pow(v[static_cast<std::size_t>((m + 2 * g) * 12 + e)] - mu, 2) / 4;
      acc += std::sqrt(var + 1e-8) / 12;
    }
    for (int g = 0; g < 4; ++g)
      for (int p = 0; p < 4; ++p) CHECK(out[static_cast<std::size_t>((m + 2 * g) * 16 + 12 + p)] == Approx(acc).epsilon(1e-12));
  }
  // The input channels pass through unchanged.
  CHECK(out[5] == v[5]);
  // Batch smaller than the group: G = B.
  CHECK(minibatch_stddev(Var(randn({2, 3, 2, 2}, rng)), 4).shape() == Shape{2, 4, 2, 2});
  CHECK_THROWS_WITH(minibatch_stddev(Var(randn({6, 3, 2, 2}, rng)), 4),
                    Catch::Contains("batch 6 is not divisible by the group size 4"));
  CHECK_THROWS_AS(minibatch_stddev(Var(randn({6, 3, 2}, rng)), 4), ShapeError);
}

TEST_CASE("minibatch_stddev: first and second order gradients", "[minibatch_stddev][gradcheck]") {
  auto f = [](const std::vector<Var>& in) { return test::sq(minibatch_stddev(in[0], 4)); };
  CHECK_GRADIENTS(f, test::rand64({8, 2, 2, 2}, 3));
  auto g = [](const std::vector<Var>& in) { return test::sq(minibatch_stddev(in[0], 4)); };
  CHECK_GRADIENTS(g, test::rand64({3, 2, 2, 2}, 4));
}

TEST_CASE("AdaptiveModulate: FiLM value and gradients of first and second order", "[adaptive_modulate][gradcheck]") {
  Rng rng(2);
  const AdaptiveModulate m(3, 5, Init(rng), DType::float64);
  // PyTorch's default nn.Linear init: U(-1/sqrt(5), 1/sqrt(5)).
  CHECK(test::max_abs(m.weight_mapping.weight.data()) <= 1 / std::sqrt(5.0));
  CHECK(test::max_abs(m.bias_mapping.bias.data()) <= 1 / std::sqrt(5.0));
  CHECK(test::max_abs(m.weight_mapping.weight.data()) > 0.1);
  const Tensor x = test::rand64({2, 3, 2, 2}, 5), code = test::rand64({1, 5}, 6);
  const Var y = m.forward(Var(x), Var(code));
  // y = x * (1 + Wg g + bg) + (Wb g + bb), per channel.
  const auto gamma = Var(linear(Var(code), m.weight_mapping.weight, m.weight_mapping.bias)).data().to_vector<double>();
  const auto beta = Var(linear(Var(code), m.bias_mapping.weight, m.bias_mapping.bias)).data().to_vector<double>();
  const auto xv = x.to_vector<double>(), yv = y.data().to_vector<double>();
  for (std::size_t i = 0; i < xv.size(); ++i) {
    const std::size_t c = (i / 4) % 3;
    CHECK(yv[i] == Approx(xv[i] * (1 + gamma[c]) + beta[c]).epsilon(1e-12));
  }
  auto f = [](const std::vector<Var>& in) {
    AdaptiveModulate l;
    l.weight_mapping.weight = in[2];
    l.weight_mapping.bias = in[3];
    l.bias_mapping.weight = in[4];
    l.bias_mapping.bias = in[5];
    return test::sq(l.forward(in[0], in[1]));
  };
  CHECK_GRADIENTS(f, x, test::rand64({5}, 7), test::rand64({3, 5}, 8), test::rand64({3}, 9), test::rand64({3, 5}, 10),
                  test::rand64({3}, 11));
  CHECK_THROWS_WITH(m.forward(Var(x), Var(Tensor::zeros({2, 5}, DType::float64))),
                    Catch::Contains("architecture code [2, 5] is not [5] or [1, 5]"));
  CHECK_THROWS_WITH(m.forward(Var(x), Var()), Catch::Contains("architecture code is missing"));
  CHECK_THROWS_WITH(m.forward(Var(x), Var(Tensor::zeros({5}))), Catch::Contains("architecture code is float32"));
}

TEST_CASE("ConvLayer: blur pads, shapes, state names, ResBlock halves the resolution", "[conv_layer]") {
  Rng rng(4);
  const ConvLayer down3(4, 6, 3, true, true, 0, Init(rng), DType::float64);
  const ConvLayer down1(4, 6, 1, true, false, 5, Init(rng), DType::float64);
  const Var x(randn({2, 4, 8, 8}, rng, DType::float64));
  CHECK(down3.forward(x).shape() == Shape{2, 6, 4, 4});
  CHECK(down1.forward(x, Var(Tensor::zeros({5}, DType::float64))).shape() == Shape{2, 6, 4, 4});
  std::vector<std::string> names;
  down1.visit_state([&](const std::string& n, const auto&) { names.push_back(n); });
  CHECK(names == std::vector<std::string>{"0.kernel", "1.weight", "2.weight_mapping.weight", "2.weight_mapping.bias",
                                          "2.bias_mapping.weight", "2.bias_mapping.bias"});
  CHECK_THROWS_WITH(down3.forward(x, Var(Tensor::zeros({5}, DType::float64))), Catch::Contains("without modulation"));
  const ResBlock rb(4, 6, 0, Init(rng), DType::float64);
  CHECK(rb.forward(x).shape() == Shape{2, 6, 4, 4});
  CHECK_THROWS_AS(rb.forward(Var(randn({2, 4, 7, 7}, rng, DType::float64))), ShapeError);
  // Gradients of a conditioned block to second order (the path R1 differentiates).
  const ResBlock mb(2, 3, 4, Init(rng), DType::float64);
  auto f = [&mb](const std::vector<Var>& in) { return test::sq(mb.forward(in[0], in[1])); };
  CHECK_GRADIENTS(f, test::rand64({1, 2, 4, 4}, 12), test::rand64({4}, 13));
}
