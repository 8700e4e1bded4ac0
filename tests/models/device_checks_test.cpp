// Every entry point of models/ that takes tensors rejects one on another device than the generator with
// DeviceError, before any data is touched (test::fake_cuda: host memory labelled cuda:0, so this runs in
// CPU-only builds); dtype mismatches stay a ShapeError.
#include "models/models_test_support.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using namespace anycost::models;

namespace {
Var on_gpu(const Shape& s) { return Var(test::fake_cuda(s)); }
}  // namespace

TEST_CASE("Generator entry points raise DeviceError for inputs on another device", "[generator][device]") {
  const Generator g(GeneratorConfig{.resolution = 8, .style_dim = 4, .n_mlp = 1, .channels = {4, 4}}, 1);
  const SubnetConfig cfg = g.full_config();
  REQUIRE(g.n_style() == 4);
  Rng rng(2);
  const Var z(randn({2, 4}, rng));

  CHECK_THROWS_AS(g.map(on_gpu({2, 4})), DeviceError);
  CHECK_THROWS_AS(g.generate(on_gpu({2, 4}), cfg), DeviceError);
  GenerateOptions in_w;
  in_w.input = LatentSpace::w;
  CHECK_THROWS_WITH(g.generate(on_gpu({2, 4}), cfg, in_w),
                    Catch::Contains("Generator::broadcast_styles: latent is on cuda:0, the generator on cpu"));
  in_w.inject_index = 1;
  CHECK_THROWS_AS(g.generate(on_gpu({2, 2, 4}), cfg, in_w), DeviceError);  // style mixing
  GenerateOptions trunc;
  trunc.truncation = 0.7;
  trunc.w_avg = on_gpu({4});
  CHECK_THROWS_WITH(g.generate(z, cfg, trunc), Catch::Contains("Generator::truncate: mean w is on cuda:0"));
  CHECK_THROWS_AS(Generator::truncate(g.map(z), on_gpu({4}), 0.5), DeviceError);

  CHECK_THROWS_AS(g.broadcast_styles(on_gpu({2, 4})), DeviceError);
  CHECK_THROWS_AS(g.broadcast_styles(on_gpu({2, 1, 4})), DeviceError);
  CHECK_THROWS_AS(g.broadcast_styles(on_gpu({2, 4, 4})), DeviceError);
  CHECK_THROWS_AS(g.mix_styles(on_gpu({2, 4}), z, 1), DeviceError);
  CHECK_THROWS_AS(g.mix_styles(z, on_gpu({2, 4}), 1), DeviceError);

  CHECK_THROWS_WITH(g.synthesize(on_gpu({2, 4, 4}), cfg), Catch::Contains("Generator::synthesize: W+ is on cuda:0"));
  const Var wplus = g.broadcast_styles(g.map(z));
  SynthesisOptions given;
  given.noise = NoiseMode::given;
  given.noise_maps = g.make_noise(2, rng);
  given.noise_maps[2] = on_gpu({2, 1, 8, 8});
  CHECK_THROWS_AS(g.synthesize(wplus, cfg, given), DeviceError);
  // A dtype mismatch is a ShapeError, not a DeviceError.
  CHECK_THROWS_AS(g.synthesize(Var(wplus.data().to(DType::float64)), cfg), ShapeError);
  // On the generator's device every call above goes through.
  given.noise_maps = g.make_noise(2, rng);
  CHECK(g.synthesize(wplus, cfg, given).image.shape() == Shape{2, 3, 8, 8});
  trunc.w_avg = Var(Tensor::zeros({4}));
  CHECK(g.generate(z, cfg, trunc).image.shape() == Shape{2, 3, 8, 8});
}

TEST_CASE("generator_from_state rejects tensors on different devices", "[generator][device][checkpoint]") {
  const Generator g(GeneratorConfig{.resolution = 8, .style_dim = 4, .n_mlp = 1, .channels = {4, 4}}, 1);
  StateTensors st;
  for (const auto& [name, t] : generator_state(g)) st.emplace(name, t);
  CHECK_NOTHROW(generator_from_state(st));
  st["conv1.conv.weight"] = test::fake_cuda(st.at("conv1.conv.weight").shape());
  CHECK_THROWS_AS(generator_from_state(st), DeviceError);
  CHECK_THROWS_WITH(generator_from_state(st), Catch::Contains("'conv1.conv.weight' is on cuda:0"));
}
