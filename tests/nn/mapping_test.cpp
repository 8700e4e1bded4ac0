// EqualLinear, PixelNorm and the mapping network: values against a direct computation, first and second
// derivatives, ConstantInput slicing, state names.
#include "support/gradcheck.hpp"

#include <anycost/nn.hpp>

using namespace anycost;
using namespace anycost::nn;
using anycost::test::rand64;

TEST_CASE("EqualLinear applies the equalised learning rate and the fused activation", "[nn][linear]") {
  Rng rng(1);
  EqualLinear<Activation::lrelu> fc(3, 2, rng, 0.5, 0.01, DType::float64);
  CHECK(fc.scale() == Approx(0.01 / std::sqrt(3.0)));
  const Tensor x = rand64({4, 3}, 2);
  const Tensor y = fc.forward(Var(x)).data();
  const auto w = fc.weight.data().to_vector<double>(), b = fc.bias.data().to_vector<double>();
  for (int n = 0; n < 4; ++n)
    for (int o = 0; o < 2; ++o) {
      double acc = b[o] * 0.01;
      for (int i = 0; i < 3; ++i) acc += x.data<double>()[n * 3 + i] * w[o * 3 + i] * 0.01 / std::sqrt(3.0);
      const double expect = (acc > 0 ? acc : 0.2 * acc) * std::sqrt(2.0);
      CHECK(y.data<double>()[n * 2 + o] == Approx(expect).epsilon(1e-12));
    }
  // forward_rows computes a prefix of the outputs (the BLAS may sum in another order for another width).
  const Tensor y1 = fc.forward_rows(Var(x), 1).data();
  REQUIRE(y1.shape() == Shape{4, 1});
  for (int n = 0; n < 4; ++n) CHECK(y1.data<double>()[n] == Approx(y.data<double>()[n * 2]).epsilon(1e-13));
  // Leading dims are kept.
  CHECK(fc.forward(Var(rand64({2, 5, 3}, 3))).shape() == Shape{2, 5, 2});
  CHECK_THROWS_WITH(fc.forward(Var(rand64({4, 5}, 3))), Catch::Contains("does not end in 3 features"));
}

TEST_CASE("Mapping network: names, values and derivatives", "[nn][mapping][gradcheck]") {
  Rng rng(2);
  MappingNetwork m(4, 2, 0.01, rng, DType::float64);
  std::vector<std::string> names;
  visit_parameters(m, [&](const std::string& n, Var&) { names.push_back(n); }, "style");
  CHECK(names == std::vector<std::string>{"style.1.weight", "style.1.bias", "style.2.weight", "style.2.bias"});
  // PixelNorm makes the mapping invariant to the scale of z.
  const Tensor z = rand64({3, 4}, 4);
  const Tensor a = m.forward(Var(z)).data();
  const Tensor b = m.forward(Var(z) * 7.0).data();
  for (int i = 0; i < 12; ++i) CHECK(a.data<double>()[i] == Approx(b.data<double>()[i]).epsilon(1e-7));  // up to the 1e-8 in PixelNorm
  // Derivatives with respect to z and every parameter (biases made non-zero first).
  Rng prng(9);
  std::vector<Tensor> in{z};
  visit_parameters(m, [&](const std::string&, Var& p) { in.push_back(randn(p.shape(), prng, DType::float64)); });
  auto f = [&](const std::vector<Var>& v) {
    MappingNetwork l = m;
    std::size_t i = 1;
    visit_parameters(l, [&](const std::string&, Var& p) { p = v[i++]; });
    return l.forward(v[0]);
  };
  CHECK_GRADIENTS(f, in[0], in[1], in[2], in[3], in[4]);
}

TEST_CASE("ConstantInput slices its channels as a view", "[nn][input]") {
  Rng rng(3);
  ConstantInput c(6, 4, rng);
  const Var y = c.forward(3, OutChannels{4});
  CHECK(y.shape() == Shape{3, 4, 4, 4});
  CHECK(y.data().storage() == c.input.data().storage());
  CHECK(y.data().data<float>()[16 * 3 + 5] == c.input.data().data<float>()[16 * 3 + 5]);
  CHECK_THROWS_WITH(c.forward(1, OutChannels{7}), Catch::Contains("7 channels"));
}

TEST_CASE("Module helpers: deep copies, dtype and parameter counts", "[nn][module]") {
  Rng rng(4);
  StyledConv<Resample::up> layer(4, 3, 5, rng);
  CHECK(parameter_count(layer) == 3 * 4 * 9 + 4 * 5 + 4 + 1 + 3);
  StyledConv<Resample::up> copy = deep_copy(layer);
  CHECK(copy.conv.weight.data().storage() != layer.conv.weight.data().storage());
  CHECK(copy.conv.blur_kernel.storage() != layer.conv.blur_kernel.storage());
  to_dtype(copy, DType::float64);
  CHECK(copy.conv.weight.dtype() == DType::float64);
  CHECK(copy.conv.blur_kernel.dtype() == DType::float64);
  CHECK(copy.conv.weight.requires_grad());
  set_requires_grad(copy, false);
  CHECK_FALSE(copy.activate.bias.requires_grad());
  std::vector<std::string> buffers;
  visit_buffers(layer, [&](const std::string& n, Tensor& k) {
    buffers.push_back(n);
    CHECK(k.shape() == Shape{4, 4});
    CHECK(k.to_vector<float>()[5] == Approx(4.0 * 9 / 64));
  });
  CHECK(buffers == std::vector<std::string>{"conv.blur.kernel"});
}
