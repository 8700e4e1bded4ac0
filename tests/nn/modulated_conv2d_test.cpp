// ModulatedConv2d, StyledConv and ToRGB: both modulation paths against each other and against a direct
// loop, slices as views, first and second derivatives (double precision) of every layer kind with respect
// to inputs, styles and parameters, and errors for bad inputs.
#include "support/compare.hpp"
#include "support/gradcheck.hpp"

#include <anycost/nn.hpp>

using namespace anycost;
using namespace anycost::nn;
using anycost::test::max_abs_diff;
using anycost::test::rand64;

namespace {

// A copy of `layer` whose parameters are v[first], v[first+1], ... (visit order), so a gradient check can
// differentiate with respect to them.
template <class Layer>
Layer with_parameters(const Layer& layer, const std::vector<Var>& v, std::size_t first) {
  Layer l = layer;
  std::size_t i = first;
  visit_parameters(l, [&](const std::string&, Var& p) { p = v.at(i++); });
  return l;
}

template <class Layer>
std::vector<Tensor> parameter_values(Layer& layer) {
  std::vector<Tensor> out;
  visit_parameters(layer, [&](const std::string&, Var& p) { out.push_back(p.data().clone()); });
  return out;
}

// Random values for every parameter (biases and noise weights included, which start at 0 or 1).
template <class Layer>
void randomize(Layer& layer, std::uint64_t seed) {
  Rng rng(seed);
  visit_parameters(layer, [&](const std::string&, Var& p) {
    p = Var(randn(p.shape(), rng, p.dtype()), true);
  });
}

}  // namespace

TEST_CASE("ModulatedConv2d matches a direct per-sample loop (StyleGAN2 Eqs. 1-3)", "[nn][modconv]") {
  Rng rng(3);
  ModulatedConv2d<Kernel{3}, Resample::none, Demod::on> conv(4, 5, 6, rng, DType::float64);
  randomize(conv, 11);
  const Tensor x = rand64({2, 3, 5, 5}, 1), st = rand64({2, 6}, 2);  // 3 of 4 input channels
  const Tensor y = conv.forward(Var(x), Var(st), OutChannels{4}).data();
  REQUIRE(y.shape() == Shape{2, 4, 5, 5});
  const auto w = conv.weight.data().to_vector<double>();  // [1, 5, 4, 3, 3]
  const auto mw = conv.modulation.weight.data().to_vector<double>(), mb = conv.modulation.bias.data().to_vector<double>();
  const double c = 1.0 / std::sqrt(4.0 * 9);
  for (int n = 0; n < 2; ++n) {
    double s[3];
    for (int i = 0; i < 3; ++i) {
      double acc = 0;
      for (int j = 0; j < 6; ++j) acc += st.data<double>()[n * 6 + j] * mw[i * 6 + j] / std::sqrt(6.0);
      s[i] = acc + mb[i];
    }
    for (int o = 0; o < 4; ++o) {
      double wm[3][9], ss = 0;
      for (int i = 0; i < 3; ++i)
        for (int t = 0; t < 9; ++t) {
          wm[i][t] = c * w[(o * 4 + i) * 9 + t] * s[i];
          ss += wm[i][t] * wm[i][t];
        }
      const double d = 1.0 / std::sqrt(ss + 1e-8);
      for (int yy = 0; yy < 5; ++yy)
        for (int xx = 0; xx < 5; ++xx) {
          double acc = 0;
          for (int i = 0; i < 3; ++i)
            for (int a = 0; a < 3; ++a)
              for (int b = 0; b < 3; ++b) {
                const int iy = yy + a - 1, ix = xx + b - 1;
                if (iy < 0 || iy >= 5 || ix < 0 || ix >= 5) continue;
                acc += x.data<double>()[((n * 3 + i) * 5 + iy) * 5 + ix] * wm[i][a * 3 + b] * d;
              }
          CHECK(y.data<double>()[((n * 4 + o) * 5 + yy) * 5 + xx] == Approx(acc).epsilon(1e-10).margin(1e-12));
        }
    }
  }
}

TEST_CASE("Modulating activations gives the numbers of modulating weights", "[nn][modconv]") {
  Rng rng(5);
  ModulatedConv2d<Kernel{3}, Resample::none, Demod::on> plain(8, 6, 7, rng);
  ModulatedConv2d<Kernel{3}, Resample::up, Demod::on> up(8, 6, 7, rng);
  ModulatedConv2d<Kernel{1}, Resample::none, Demod::off> rgb(8, 3, 7, rng);
  for (std::int64_t batch : {1, 3}) {
    const Var x(randn({batch, 5, 6, 6}, rng)), st(randn({batch, 7}, rng));
    auto same = [&](const auto& layer, OutChannels k) {
      const Tensor a = layer.forward(x, st, k, ModulationPath::weights).data();
      const Tensor b = layer.forward(x, st, k, ModulationPath::activations).data();
      const Tensor c = layer.forward(x, st, k, ModulationPath::automatic).data();
      INFO("batch " << batch << ", " << k);
      CHECK(max_abs_diff(a, b) < 1e-5);
      CHECK(max_abs_diff(a, c) < 1e-5);
      return a;
    };
    CHECK(same(plain, OutChannels{4}).shape() == Shape{batch, 4, 6, 6});
    CHECK(same(up, OutChannels{6}).shape() == Shape{batch, 6, 12, 12});
    CHECK(same(rgb, OutChannels{3}).shape() == Shape{batch, 3, 6, 6});
  }
}

TEST_CASE("The up-convolution with its blur in one pass equals the two ops", "[nn][modconv]") {
  // up_conv_blur runs fused without a gradient to record (inputs of 16x16 and more, rank-1 kernel); the
  // reference is the two ops in double. Odd widths end rows in partial vectors; groups as the weights path
  // uses them; a prefix-sliced weight is read in place.
  Rng rng(9);
  struct Case {
    std::int64_t n, cin, cout, h, w;
    int groups;
  };
  for (const Case c :
       {Case{1, 5, 7, 16, 16, 1}, Case{1, 4, 6, 17, 23, 1}, Case{2, 6, 4, 19, 16, 2}, Case{1, 3, 3, 7, 9, 1}}) {
    const Tensor x = randn({c.n, c.cin, c.h, c.w}, rng);
    const Tensor w_full = randn({c.cin + 2, c.cout / c.groups + 3, 3, 3}, rng);
    const Tensor w = w_full.narrow(0, 0, c.cin).narrow(1, 0, c.cout / c.groups);
    const Tensor k = make_blur_kernel(4.0);
    const Var x64(x.to(DType::float64)), w64(w.to(DType::float64));
    const Tensor k64 = k.to(DType::float64);
    const Tensor want = blur(conv_transpose2d(x64, w64, {2, 2, 0, 0, c.groups}), k64, 1, 1).data();
    INFO(c.n << "x" << c.cin << "x" << c.h << "x" << c.w << " -> " << c.cout << ", groups " << c.groups);
    NoGradGuard no_grad;
    const Tensor got = up_conv_blur(Var(x), Var(w), c.groups, k).data();
    REQUIRE(got.shape() == Shape{c.n, c.cout, 2 * c.h, 2 * c.w});
    CHECK(max_abs_diff(got, want) < 1e-5 * (1 + max_abs_diff(want, Tensor::zeros(want.shape(), DType::float64))));
    CHECK(max_abs_diff(up_conv_blur(x64, w64, c.groups, k64).data(), want) < 1e-12);
  }
  // A kernel that is not rank 1 takes the two ops.
  const Tensor x = randn({1, 2, 16, 16}, rng), w = randn({2, 3, 3, 3}, rng), k = randn({4, 4}, rng);
  NoGradGuard no_grad;
  const Tensor two_ops = blur(conv_transpose2d(Var(x), Var(w), {2, 2, 0, 0, 1}), k, 1, 1).data();
  CHECK(max_abs_diff(up_conv_blur(Var(x), Var(w), 1, k).data(), two_ops) == 0);
}

TEST_CASE("The automatic path follows the cost of each layer", "[nn][modconv]") {
  using Conv = ModulatedConv2d<Kernel{3}, Resample::none, Demod::on>;
  using Rgb = ModulatedConv2d<Kernel{1}, Resample::none, Demod::off>;
  CHECK(Conv::choose_path(1, 512, 512, 4, 4) == ModulationPath::activations);       // tiny maps, wide layer
  CHECK(Conv::choose_path(1, 128, 128, 256, 256) == ModulationPath::weights);       // big maps, narrow layer
  CHECK(Rgb::choose_path(1, 512, 3, 64, 64) == ModulationPath::weights);            // ToRGB: 3 outputs
}

TEST_CASE("Sub-network slices are views of the full parameters", "[nn][modconv]") {
  Rng rng(1);
  ModulatedConv2d<Kernel{3}, Resample::none, Demod::on> conv(8, 6, 4, rng);
  const Var w = conv.weight_slice(3, 5);
  CHECK(w.shape() == Shape{3, 5, 3, 3});
  CHECK(w.data().storage() == conv.weight.data().storage());  // no copy
  CHECK(w.data().data<float>()[9] == conv.weight.data().data<float>()[9]);  // w[0, 1] = full[0, 1]
  CHECK(w.data().stride(0) == 8 * 9);
  // A gradient through the slice lands in the matching block of the full parameter, zeros elsewhere.
  const Var x(randn({1, 5, 4, 4}, rng)), st(randn({1, 4}, rng));
  backward(sum(conv.forward(x, st, OutChannels{3})));
  const Tensor g = conv.weight.grad().data();
  REQUIRE(g.shape() == conv.weight.shape());
  const auto gv = g.to_vector<float>();
  double inside = 0, outside = 0;
  for (int o = 0; o < 6; ++o)
    for (int i = 0; i < 8; ++i)
      for (int t = 0; t < 9; ++t) (o < 3 && i < 5 ? inside : outside) += std::abs(gv[(o * 8 + i) * 9 + t]);
  CHECK(inside > 0);
  CHECK(outside == 0);
}

TEST_CASE("Modulated convolution: first and second derivatives", "[nn][modconv][gradcheck]") {
  Rng rng(7);
  for (ModulationPath path : {ModulationPath::weights, ModulationPath::activations}) {
    INFO("path " << static_cast<int>(path));
    ModulatedConv2d<Kernel{3}, Resample::none, Demod::on> conv(4, 3, 3, rng, DType::float64);
    randomize(conv, 21);
    std::vector<Tensor> in{rand64({2, 3, 4, 4}, 1), rand64({2, 3}, 2)};  // 3 of 4 input channels
    for (const Tensor& p : parameter_values(conv)) in.push_back(p);
    auto f = [&](const std::vector<Var>& v) {
      return with_parameters(conv, v, 2).forward(v[0], v[1], OutChannels{2}, path);
    };
    CHECK_GRADIENTS(f, in[0], in[1], in[2], in[3], in[4]);
  }
}

TEST_CASE("Up-convolution with blur: first and second derivatives", "[nn][modconv][gradcheck]") {
  Rng rng(8);
  for (ModulationPath path : {ModulationPath::weights, ModulationPath::activations}) {
    INFO("path " << static_cast<int>(path));
    ModulatedConv2d<Kernel{3}, Resample::up, Demod::on> conv(3, 3, 3, rng, DType::float64);
    randomize(conv, 22);
    std::vector<Tensor> in{rand64({2, 3, 3, 3}, 3), rand64({2, 3}, 4)};
    for (const Tensor& p : parameter_values(conv)) in.push_back(p);
    auto f = [&](const std::vector<Var>& v) {
      return with_parameters(conv, v, 2).forward(v[0], v[1], OutChannels{2}, path);
    };
    CHECK_GRADIENTS(f, in[0], in[1], in[2], in[3], in[4]);
  }
}

TEST_CASE("StyledConv (noise, bias, activation): first and second derivatives", "[nn][styled][gradcheck]") {
  Rng rng(9);
  StyledConv<Resample::up> layer(3, 3, 2, rng, DType::float64);
  randomize(layer, 23);
  std::vector<Tensor> in{rand64({2, 3, 2, 2}, 5), rand64({2, 2}, 6), rand64({2, 1, 4, 4}, 7)};
  for (const Tensor& p : parameter_values(layer)) in.push_back(p);
  REQUIRE(in.size() == 8);  // conv.weight, modulation.{weight,bias}, noise.weight, activate.bias
  auto f = [&](const std::vector<Var>& v) {
    return with_parameters(layer, v, 3).forward(v[0], v[1], OutChannels{2}, v[2]);
  };
  CHECK_GRADIENTS(f, in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]);
}

TEST_CASE("ToRGB with the upsampled skip: first and second derivatives", "[nn][to_rgb][gradcheck]") {
  Rng rng(10);
  for (ModulationPath path : {ModulationPath::weights, ModulationPath::activations}) {
    INFO("path " << static_cast<int>(path));
    ToRGB<Skip::upsample> layer(4, 3, rng, DType::float64);
    randomize(layer, 24);
    std::vector<Tensor> in{rand64({2, 3, 4, 4}, 8), rand64({2, 3}, 9), rand64({2, 3, 2, 2}, 10)};
    for (const Tensor& p : parameter_values(layer)) in.push_back(p);
    REQUIRE(in.size() == 7);  // bias, conv.weight, conv.modulation.{weight,bias}
    auto f = [&](const std::vector<Var>& v) { return with_parameters(layer, v, 3).forward(v[0], v[1], v[2], path); };
    CHECK_GRADIENTS(f, in[0], in[1], in[2], in[3], in[4], in[5], in[6]);
  }
}

TEST_CASE("ToRGB adds the skip image upsampled by the [1,3,3,1] filter", "[nn][to_rgb]") {
  Rng rng(2);
  ToRGB<Skip::upsample> layer(2, 3, rng);
  const Var x(Tensor::zeros({1, 2, 4, 4})), st(randn({1, 3}, rng));
  const Tensor skip = Tensor::ones({1, 3, 2, 2});
  const Tensor y = layer.forward(x, st, Var(skip)).data();
  // A constant image upsamples to the same constant away from the border (the kernel sums to 4 = 2x2).
  CHECK(y.data<float>()[1 * 4 + 1] == Approx(1.0f));
  CHECK(y.data<float>()[2 * 4 + 2] == Approx(1.0f));
}

TEST_CASE("Modulated layers reject bad inputs with clear errors", "[nn][errors]") {
  Rng rng(4);
  StyledConv<Resample::none> layer(8, 6, 4, rng);
  const Var x(randn({2, 8, 4, 4}, rng)), st(randn({2, 4}, rng)), noise(randn({2, 1, 4, 4}, rng));
  CHECK_THROWS_WITH(layer.forward(Var(randn({2, 9, 4, 4}, rng)), st, OutChannels{6}, noise),
                    Catch::Contains("9 channels") && Catch::Contains("at most 8"));
  CHECK_THROWS_WITH(layer.forward(x, st, OutChannels{7}, noise), Catch::Contains("7 output channels"));
  CHECK_THROWS_WITH(layer.forward(x, st, OutChannels{0}, noise), Catch::Contains("0 output channels"));
  CHECK_THROWS_WITH(layer.forward(x, Var(randn({2, 5}, rng)), OutChannels{6}, noise), Catch::Contains("style"));
  CHECK_THROWS_WITH(layer.forward(x, st, OutChannels{6}, Var(randn({2, 1, 8, 8}, rng))),
                    Catch::Contains("noise map") && Catch::Contains("[2 or 1, 1, 4, 4]"));
  CHECK_THROWS_AS(layer.forward(Var(x.data().to(DType::float64)), st, OutChannels{6}, noise), ShapeError);
  ToRGB<Skip::upsample> rgb(6, 4, rng);
  CHECK_THROWS_WITH(rgb.forward(Var(randn({2, 6, 8, 8}, rng)), st, Var(randn({2, 3, 8, 8}, rng))),
                    Catch::Contains("skip image"));
}
