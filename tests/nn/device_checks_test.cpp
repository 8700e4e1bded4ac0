// Every entry point of nn/ that takes tensors rejects an input on another device than its parameters with
// DeviceError, naming the layer, before any data is touched; a dtype mismatch stays a ShapeError. The
// "other device" is test::fake_cuda (host memory labelled cuda:0), so this runs in CPU-only builds.
#include "support/gradcheck.hpp"

#include <anycost/nn.hpp>

using namespace anycost;
using namespace anycost::nn;

namespace {
Var on_gpu(const Shape& s) { return Var(test::fake_cuda(s)); }
}  // namespace

TEST_CASE("nn layers raise DeviceError for an input on another device", "[nn][device]") {
  Rng rng(1);
  const Var x(randn({2, 4, 4, 4}, rng)), style(randn({2, 4}, rng)), noise(randn({2, 1, 4, 4}, rng));

  EqualLinear<Activation::lrelu> fc(4, 3, rng);
  CHECK_THROWS_WITH(fc.forward(on_gpu({2, 4})), Catch::Contains("EqualLinear: input is on cuda:0, the parameters on cpu"));
  CHECK_THROWS_AS(fc.forward_rows(on_gpu({2, 4}), 2), DeviceError);

  MappingNetwork mapping(4, 2, 0.01, rng);
  CHECK_THROWS_AS(mapping.forward(on_gpu({2, 4})), DeviceError);
  CHECK_THROWS_WITH(mapping.forward(on_gpu({2, 4})), Catch::Contains("MappingNetwork: latent is on cuda:0"));

  ModulatedConv2d<Kernel{3}, Resample::up, Demod::on> mconv(4, 4, 4, rng);
  CHECK_THROWS_AS(mconv.forward(on_gpu({2, 4, 4, 4}), style, OutChannels{2}), DeviceError);
  CHECK_THROWS_WITH(mconv.forward_parts(x, on_gpu({2, 4}), OutChannels{2}),
                    Catch::Contains("ModulatedConv2d: style is on cuda:0"));

  NoiseInjection inject(rng, DType::float32);
  CHECK_THROWS_AS(inject.forward(on_gpu({2, 4, 4, 4}), noise), DeviceError);
  CHECK_THROWS_WITH(inject.forward(x, on_gpu({2, 1, 4, 4})), Catch::Contains("noise map is on cuda:0"));

  FusedLeakyReLU act(4, rng, DType::float32);
  CHECK_THROWS_AS(act.forward(on_gpu({2, 4, 4, 4})), DeviceError);

  StyledConv<Resample::none> sconv(4, 4, 4, rng);
  CHECK_THROWS_AS(sconv.forward(on_gpu({2, 4, 4, 4}), style, OutChannels{4}, noise), DeviceError);
  CHECK_THROWS_AS(sconv.forward(x, on_gpu({2, 4}), OutChannels{4}, noise), DeviceError);
  CHECK_THROWS_WITH(sconv.forward(x, style, OutChannels{4}, on_gpu({2, 1, 4, 4})),
                    Catch::Contains("StyledConv: noise map is on cuda:0"));

  ToRGB<Skip::upsample> rgb(4, 4, rng);
  CHECK_THROWS_AS(rgb.forward(on_gpu({2, 4, 4, 4}), style), DeviceError);
  CHECK_THROWS_AS(rgb.forward(x, on_gpu({2, 4})), DeviceError);
  CHECK_THROWS_WITH(rgb.forward(x, style, on_gpu({2, 3, 2, 2})), Catch::Contains("ToRGB: skip image is on cuda:0"));
  ToRGB<Skip::none> rgb1(4, 4, rng);
  CHECK_THROWS_AS(rgb1.forward(on_gpu({2, 4, 4, 4}), style), DeviceError);

  const Tensor k = make_blur_kernel(4.0);
  CHECK_THROWS_AS(blur(on_gpu({2, 4, 4, 4}), k, 1, 1), DeviceError);
  CHECK_THROWS_AS(upsample2x(on_gpu({2, 4, 4, 4}), k), DeviceError);

  // The same inputs on the right device go through (the checks above are not vacuous).
  CHECK(sconv.forward(x, style, OutChannels{4}, noise).shape() == Shape{2, 4, 4, 4});
  CHECK(rgb.forward(x, style, Var(randn({2, 3, 2, 2}, rng))).shape() == Shape{2, 3, 4, 4});
  CHECK(blur(x, k, 1, 1).shape() == Shape{2, 4, 3, 3});
}

TEST_CASE("nn layers keep dtype mismatches a ShapeError, separate from the device", "[nn][device]") {
  Rng rng(2);
  const Var x(randn({2, 4, 4, 4}, rng)), style(randn({2, 4}, rng));
  StyledConv<Resample::none> sconv(4, 4, 4, rng);
  CHECK_THROWS_AS(sconv.forward(Var(x.data().to(DType::float64)), style, OutChannels{4}, Var()), ShapeError);
  CHECK_THROWS_AS(sconv.forward(x, style, OutChannels{4}, Var(Tensor::zeros({2, 1, 4, 4}, DType::float64))),
                  ShapeError);
  CHECK_THROWS_WITH(check_noise_map(Var(test::fake_cuda({2, 1, 4, 4}, DType::float64)), Shape{2, 4, 4, 4},
                                    DType::float32, Device::cpu(), "who"),
                    Catch::Contains("who: noise map is float64, features are float32"));
}
