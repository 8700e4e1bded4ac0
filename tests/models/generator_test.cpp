// The generator against the PyTorch reference (tools/reference/anycost_generator.py, fixtures written by
// tools/golden/make_generator_goldens.py), both modulation paths, sub-networks in one graph, second-order
// gradients through the whole generator, noise modes, concurrency and configuration errors.
#include "models/models_test_support.hpp"

#include <map>
#include <thread>

using namespace anycost;
using namespace anycost::models;
using anycost::test::generator_data;
using anycost::test::max_abs;
using anycost::test::max_abs_diff;

namespace {

struct Golden {
  Generator g = load_generator(generator_data("model.safetensors"));
  io::SafetensorsFile cases = io::load_safetensors(generator_data("cases.safetensors"));
  const Tensor& operator[](const std::string& k) const { return cases.at(k); }
  Var z() const { return Var(cases.at("z")); }
};

const Golden& golden() {
  static const Golden gold;
  return gold;
}

constexpr double image_tolerance = 1e-4;

}  // namespace

TEST_CASE("Generator fixtures: the checkpoint describes the expected architecture", "[generator][parity]") {
  const Generator& g = golden().g;
  CHECK(g.resolution() == 32);
  CHECK(g.style_dim() == 16);
  CHECK(g.config().n_mlp == 2);
  CHECK(g.config().lr_mlp == 0.01);
  CHECK(g.channel_table().widths() == std::vector<int>{32, 24, 16, 16});
  CHECK(g.n_style() == 8);
  CHECK(g.num_layers() == 7);
}

TEST_CASE("Generator matches the PyTorch reference", "[generator][parity]") {
  NoGradGuard no_grad;
  const Golden& gold = golden();
  const Generator& g = gold.g;
  const ChannelTable& t = g.channel_table();
  CHECK(max_abs_diff(g.map(gold.z()).data(), gold["w"]) < 1e-4 * std::max(1.0, max_abs(gold["w"])));

  auto image = [&](const SubnetConfig& cfg, GenerateOptions opts = {}, const Var& latents = {}) {
    return g.generate(latents.defined() ? latents : gold.z(), cfg, opts).image.data();
  };
  for (nn::ModulationPath path :
       {nn::ModulationPath::automatic, nn::ModulationPath::weights, nn::ModulationPath::activations}) {
    INFO("modulation path " << static_cast<int>(path));
    GenerateOptions opts;
    opts.synthesis.path = path;
    opts.synthesis.return_rgbs = true;
    const SynthesisResult full = g.generate(gold.z(), t.full(), opts);
    CHECK(max_abs_diff(full.image.data(), gold["full"]) < image_tolerance);
    REQUIRE(full.rgbs.size() == 4);
    CHECK(max_abs_diff(full.rgbs[0].data(), gold["full_rgb_4"]) < image_tolerance);
    CHECK(max_abs_diff(full.rgbs[1].data(), gold["full_rgb_8"]) < image_tolerance);
    CHECK(max_abs_diff(full.rgbs[2].data(), gold["full_rgb_16"]) < image_tolerance);
    opts.synthesis.return_rgbs = false;

    for (double ratio : {0.5, 0.25}) {
      const std::string name = ratio == 0.5 ? "0.5" : "0.25";
      const SubnetConfig cfg = t.uniform(ratio);
      CHECK(cfg.channels() == test::as_ints(gold["channels_uniform_" + name]));
      CHECK(max_abs_diff(image(cfg, opts), gold["uniform_" + name]) < image_tolerance);
    }
    const SubnetConfig flex = t.flexible(test::as_ints(gold["channels_flexible"]));
    CHECK(max_abs_diff(image(flex, opts), gold["flexible"]) < image_tolerance);
    CHECK(max_abs_diff(image(t.full(16), opts), gold["half_res"]) < image_tolerance);

    GenerateOptions trunc = opts;
    trunc.truncation = 0.5;
    trunc.w_avg = Var(gold["w_avg"]);
    CHECK(max_abs_diff(image(t.full(), trunc), gold["truncation_0.5"]) < image_tolerance);
    // generate() returns the W+ it rendered (truncated here): synthesizing it again gives the same image.
    const SynthesisResult tr = g.generate(gold.z(), t.full(), trunc);
    REQUIRE(tr.wplus.shape() == Shape{gold.z().size(0), g.n_style(), g.style_dim()});
    CHECK(max_abs_diff(g.synthesize(tr.wplus, t.full(), trunc.synthesis).image.data(), tr.image.data()) == 0);

    GenerateOptions mix = opts;
    mix.inject_index = 3;
    const Var z2 = cat({unsqueeze(gold.z(), 1), unsqueeze(Var(gold["z2"]), 1)}, 1);
    CHECK(max_abs_diff(image(t.full(), mix, z2), gold["mixing_3"]) < image_tolerance);

    GenerateOptions wplus = opts;
    wplus.input = LatentSpace::w;
    CHECK(max_abs_diff(image(t.uniform(0.5), wplus, Var(gold["wplus_in"])), gold["wplus"]) < image_tolerance);

    GenerateOptions given = opts;
    given.synthesis.noise = NoiseMode::given;
    for (int l = 0; l < g.num_layers(); ++l) given.synthesis.noise_maps.emplace_back(gold["noise_" + std::to_string(l)]);
    CHECK(max_abs_diff(image(t.full(), given), gold["given_noise"]) < image_tolerance);
  }
}

TEST_CASE("Batch-1 fast path (modulated activations) equals the general path", "[generator]") {
  NoGradGuard no_grad;
  const Generator g = test::random_generator({.resolution = 32, .style_dim = 24, .n_mlp = 2, .channel_max = 48}, 3);
  Rng rng(4);
  for (std::int64_t batch : {1, 2}) {
    const Var z(randn({batch, 24}, rng));
    for (const SubnetConfig& cfg : {g.full_config(), g.channel_table().uniform(0.25), g.channel_table().full(16)}) {
      SynthesisOptions general, fast;
      general.path = nn::ModulationPath::weights;
      fast.path = nn::ModulationPath::activations;
      const Var wp = g.broadcast_styles(g.map(z));
      const Tensor a = g.synthesize(wp, cfg, general).image.data();
      const Tensor b = g.synthesize(wp, cfg, fast).image.data();
      INFO("batch " << batch << ", config " << cfg.describe());
      CHECK(max_abs_diff(a, b) <= 1e-5 * std::max(1.0, max_abs(a)));
    }
  }
}

TEST_CASE("Prepared inference constants give the same numbers and are never used stale", "[generator][prepared]") {
  Generator g = test::random_generator({.resolution = 32, .style_dim = 12, .n_mlp = 2, .channel_max = 24}, 9);
  Rng rng(10);
  const Var z(randn({2, 12}, rng));
  const PreparedGenerator prepared = g.prepare();
  REQUIRE(prepared.conv.size() == g.blocks.size());
  CHECK(prepared.conv1.weight_sq.shape() == Shape{24, 24});
  CHECK(prepared.conv_up[0].weight_t.shape() == Shape{24, 24, 3, 3});
  for (nn::ModulationPath path : {nn::ModulationPath::automatic, nn::ModulationPath::activations}) {
    for (const SubnetConfig& cfg : {g.full_config(), g.channel_table().flexible({20, 16, 24, 8, 12, 24, 8, 16}, 32)}) {
      NoGradGuard no_grad;
      GenerateOptions plain, with;
      plain.synthesis.path = with.synthesis.path = path;
      with.synthesis.prepared = &prepared;
      const Tensor a = g.generate(z, cfg, plain).image.data(), b = g.generate(z, cfg, with).image.data();
      INFO(cfg.describe());
      CHECK(max_abs_diff(a, b) <= 1e-5 * std::max(1.0, max_abs(a)));
    }
  }
  // Gradients still reach the weights when they require grad: the constants are not used then.
  GenerateOptions with;
  with.synthesis.prepared = &prepared;
  with.synthesis.path = nn::ModulationPath::activations;
  backward(sum(g.generate(z, g.full_config(), with).image));
  const Tensor g_prepared = g.blocks[0].conv_up.conv.weight.grad().data().clone();
  nn::visit_parameters(g, [](const std::string&, Var& p) { p.zero_grad(); });
  with.synthesis.prepared = nullptr;
  backward(sum(g.generate(z, g.full_config(), with).image));
  CHECK(max_abs_diff(g_prepared, g.blocks[0].conv_up.conv.weight.grad().data()) == 0);
  // A weight changed in place after prepare(): its stale constants are ignored.
  NoGradGuard no_grad;
  g.blocks[1].conv.conv.weight.data().copy_(randn(g.blocks[1].conv.conv.weight.shape(), rng));
  g.blocks[0].conv_up.conv.weight.data().copy_(randn(g.blocks[0].conv_up.conv.weight.shape(), rng));
  GenerateOptions plain;
  plain.synthesis.path = with.synthesis.path = nn::ModulationPath::activations;
  with.synthesis.prepared = &prepared;
  CHECK(max_abs_diff(g.generate(z, g.full_config(), plain).image.data(),
                     g.generate(z, g.full_config(), with).image.data()) == 0);
  // Constants of another generator are rejected.
  const Generator other = test::random_generator({.resolution = 16, .style_dim = 12, .n_mlp = 2, .channel_max = 24}, 1);
  const PreparedGenerator foreign = other.prepare();
  with.synthesis.prepared = &foreign;
  CHECK_THROWS_WITH(g.generate(z, g.full_config(), with), Catch::Contains("prepared constants belong"));
}

TEST_CASE("Lower resolutions are the intermediate ToRGB images, layers above never run", "[generator]") {
  NoGradGuard no_grad;
  const Generator& g = golden().g;
  SynthesisOptions opts;
  opts.return_rgbs = true;
  const Var wp = g.broadcast_styles(g.map(golden().z()));
  const SynthesisResult full = g.synthesize(wp, g.full_config(), opts);
  for (int r = 4, i = 0; r <= 32; r *= 2, ++i) {
    const Tensor low = g.synthesize(wp, g.channel_table().full(r)).image.data();
    CHECK(low.shape() == Shape{2, 3, r, r});
    CHECK(max_abs_diff(low, full.rgbs[static_cast<std::size_t>(i)].data()) == 0);
  }
  CHECK(g.macs(g.channel_table().full(16)).arithmetic < g.macs(g.full_config()).arithmetic);
}

TEST_CASE("Teacher and student in one graph sum their gradients into the shared parameters", "[generator][grad]") {
  Generator g = test::random_generator({.resolution = 16, .style_dim = 6, .n_mlp = 1, .channel_max = 8}, 5,
                                       DType::float64);
  Rng rng(6);
  const Var z(randn({2, 6}, rng, DType::float64));
  const SubnetConfig teacher = g.full_config(), student = g.channel_table().flexible({8, 4, 6, 3, 5, 2}, 8);
  const Tensor r1 = randn({2, 3, 16, 16}, rng, DType::float64), r2 = randn({2, 3, 8, 8}, rng, DType::float64);
  auto grads = [&](bool t, bool s) {
    nn::visit_parameters(g, [](const std::string&, Var& p) { p.zero_grad(); });
    Var total(Tensor::zeros({}, DType::float64));
    if (t) total = total + sum(g.generate(z, teacher).image * Var(r1));
    if (s) total = total + sum(g.generate(z, student).image * Var(r2));
    backward(total);
    std::map<std::string, std::vector<double>> out;
    nn::visit_parameters(g, [&](const std::string& name, Var& p) {
      out[name] = p.grad().defined() ? p.grad().data().to_vector<double>() : std::vector<double>(p.numel(), 0.0);
    });
    return out;
  };
  auto both = grads(true, true), only_t = grads(true, false), only_s = grads(false, true);
  double worst = 0, student_above = 0;
  for (const auto& [name, a] : both) {
    const auto &b = only_t[name], &c = only_s[name];
    for (std::size_t j = 0; j < a.size(); ++j) worst = std::max(worst, std::abs(a[j] - (b[j] + c[j])));
    if (name.rfind("convs.2", 0) == 0 || name.rfind("convs.3", 0) == 0 || name.rfind("to_rgbs.1", 0) == 0)
      for (double v : c) student_above = std::max(student_above, std::abs(v));  // above the student's 8x8
  }
  CHECK(worst < 1e-10);
  CHECK(student_above == 0);
  // The student reaches only the prefix of a sliced layer: conv1 computes 4 of its 8 channels.
  const auto& conv1_grad = only_s["conv1.conv.weight"];  // [1, 8, 8, 3, 3]
  double used = 0, unused = 0;
  for (std::size_t j = 0; j < conv1_grad.size(); ++j) (j < 4 * 8 * 9 ? used : unused) += std::abs(conv1_grad[j]);
  CHECK(used > 0);
  CHECK(unused == 0);
}

TEST_CASE("Path-length style second-order gradients through the whole generator", "[generator][grad]") {
  // pl(theta) = sum (d <G(w+), y> / d w+)^2, differentiated with respect to parameters (create_graph), against
  // central differences of pl.
  Generator g = test::random_generator({.resolution = 8, .style_dim = 4, .n_mlp = 1, .channel_max = 4}, 7,
                                       DType::float64);
  Rng rng(8);
  const Tensor w = randn({2, g.n_style(), 4}, rng, DType::float64), y = randn({2, 3, 8, 8}, rng, DType::float64);
  for (nn::ModulationPath path : {nn::ModulationPath::weights, nn::ModulationPath::activations}) {
    SynthesisOptions opts;
    opts.path = path;
    auto pl = [&](bool create_graph) {
      const Var wp(w, true);
      const Var out = sum(g.synthesize(wp, g.full_config(), opts).image * Var(y));
      const Var gw = grad({out}, {wp}, {}, {.create_graph = create_graph})[0];
      return Var(sum(square(gw)));
    };
    nn::visit_parameters(g, [](const std::string&, Var& p) { p.zero_grad(); });
    backward(pl(true));
    for (const char* name : {"convs.0.conv.weight", "convs.1.noise.weight", "to_rgbs.0.conv.modulation.weight",
                             "conv1.activate.bias"}) {
      Var* param = nullptr;
      nn::visit_parameters(g, [&](const std::string& n, Var& p) {
        if (n == name) param = &p;
      });
      REQUIRE(param);
      const double analytic = param->grad().data().to_vector<double>()[1 % param->numel()];
      double* v = param->data().data<double>() + 1 % param->numel();
      const double v0 = *v, eps = 1e-6;
      *v = v0 + eps;
      const double fp = pl(false).item();
      *v = v0 - eps;
      const double fm = pl(false).item();
      *v = v0;
      INFO(name << " path " << static_cast<int>(path));
      CHECK(analytic == Approx((fp - fm) / (2 * eps)).epsilon(1e-5).margin(1e-7));
    }
  }
}

TEST_CASE("Noise modes: fixed buffers, seeded random maps, none", "[generator][noise]") {
  NoGradGuard no_grad;
  const Generator& g = golden().g;
  const Var wp = g.broadcast_styles(g.map(golden().z()));
  auto run = [&](NoiseMode mode, std::uint64_t seed, int res) {
    Rng rng(seed);
    SynthesisOptions o;
    o.noise = mode;
    o.rng = &rng;
    o.return_rgbs = true;
    return g.synthesize(wp, g.channel_table().full(res), o);
  };
  const Tensor a = run(NoiseMode::random, 1, 32).image.data(), b = run(NoiseMode::random, 1, 32).image.data();
  CHECK(max_abs_diff(a, b) == 0);
  CHECK(max_abs_diff(a, run(NoiseMode::random, 2, 32).image.data()) > 1e-3);
  CHECK(max_abs_diff(a, run(NoiseMode::fixed, 1, 32).image.data()) > 1e-3);
  // A seed draws the same maps whatever the output resolution.
  CHECK(max_abs_diff(run(NoiseMode::random, 1, 32).rgbs[2].data(), run(NoiseMode::random, 1, 16).image.data()) == 0);
  CHECK(max_abs_diff(a, run(NoiseMode::none, 1, 32).image.data()) > 1e-3);
  SynthesisOptions no_rng;
  no_rng.noise = NoiseMode::random;
  CHECK_THROWS_WITH(g.synthesize(wp, g.full_config(), no_rng), Catch::Contains("needs SynthesisOptions::rng"));
  SynthesisOptions few;
  few.noise = NoiseMode::given;
  few.noise_maps = {Var(Tensor::zeros({1, 1, 4, 4}))};
  CHECK_THROWS_WITH(g.synthesize(wp, g.full_config(), few), Catch::Contains("1 noise maps given"));
}

TEST_CASE("A const generator serves several threads at different configurations", "[generator][threads]") {
  const Generator& g = golden().g;
  const SubnetConfig cfgs[] = {g.full_config(), g.channel_table().uniform(0.25, 16), g.channel_table().uniform(0.5)};
  Tensor serial[3], parallel[3];
  {
    NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i) serial[i] = g.generate(golden().z(), cfgs[i]).image.data();
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      NoGradGuard no_grad;  // grad mode is per thread
      for (int rep = 0; rep < 3; ++rep) parallel[i] = g.generate(golden().z(), cfgs[i]).image.data();
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 3; ++i) CHECK(max_abs_diff(serial[i], parallel[i]) == 0);
}

TEST_CASE("Configurations are validated once, with clear errors", "[generator][config]") {
  const Generator& g = golden().g;
  const ChannelTable& t = g.channel_table();
  CHECK_THROWS_WITH(t.flexible({32, 32, 24, 24, 16, 16, 16}), Catch::Contains("7 channel entries") &&
                                                                   Catch::Contains("has 8"));
  CHECK_THROWS_WITH(t.flexible({32, 32, 24, 25, 16, 16, 16, 16}),
                    Catch::Contains("entry 3 (convs.1, resolution 8) has 25 channels, allowed 1 to 24"));
  CHECK_THROWS_WITH(t.flexible({32, 32, 24, 24, 16, 16, 16, 0}), Catch::Contains("has 0 channels"));
  CHECK_THROWS_WITH(t.full(12), Catch::Contains("resolution 12 is not a power of two in [4, 32]"));
  CHECK_THROWS_WITH(t.full(64), Catch::Contains("resolution 64"));
  CHECK_THROWS_WITH(t.uniform(0.0), Catch::Contains("ratio 0 is outside (0, 1]"));
  CHECK_THROWS_WITH(t.uniform(1.5), Catch::Contains("outside (0, 1]"));
  // A configuration made for another model is rejected at the call.
  const ChannelTable other = ChannelTable::stylegan2(32, 2, 64);
  CHECK_THROWS_WITH(g.synthesize(g.broadcast_styles(g.map(golden().z())), other.full()),
                    Catch::Contains("Generator::synthesize") && Catch::Contains("allowed 1 to 32"));
  CHECK_THROWS_WITH(g.synthesize(Var(Tensor::zeros({2, 7, 16})), t.full()), Catch::Contains("is not [B, 8, 16]"));
  CHECK_THROWS_WITH(g.generate(Var(Tensor::zeros({2, 3, 16})), t.full()), Catch::Contains("3 latents per sample"));
  GenerateOptions trunc;
  trunc.truncation = 0.7;
  CHECK_THROWS_WITH(g.generate(golden().z(), t.full(), trunc), Catch::Contains("needs the mean w"));
  CHECK_THROWS_WITH(GeneratorConfig{.resolution = 48}.validate(), Catch::Contains("resolution 48"));
}

TEST_CASE("Channel table and uniform configurations of config-F", "[generator][config]") {
  const ChannelTable t = ChannelTable::stylegan2(1024);
  CHECK(t.widths() == std::vector<int>{512, 512, 512, 512, 512, 256, 128, 64, 32});
  CHECK(t.n_entries() == 18);
  CHECK(t.org_mult() == 2.0);
  const std::vector<std::vector<int>> expected = {
      {512, 512, 512, 512, 512, 256, 128, 64, 32},  // 1.0
      {512, 512, 512, 512, 384, 192, 96, 48, 24},   // 0.75
      {512, 512, 512, 512, 256, 128, 64, 32, 16},   // 0.5
      {512, 512, 512, 256, 128, 64, 32, 16, 8}};    // 0.25
  const double ratios[] = {1.0, 0.75, 0.5, 0.25};
  for (int k = 0; k < 4; ++k) {
    const SubnetConfig c = t.uniform(ratios[k]);
    for (int e = 0; e < 18; ++e) CHECK(c.channels(e) == expected[k][static_cast<std::size_t>(e < 2 ? 0 : (e - 2) / 2 + 1)]);
  }
  CHECK(t.entry_resolution(0) == 4);
  CHECK(t.entry_resolution(2) == 8);
  CHECK(t.entry_resolution(17) == 1024);
  // The per-layer sampler stays on the ratio grid, above the uniform-0.25 floor, in multiples of 4.
  Rng rng(3);
  const SubnetConfig floor = t.uniform(0.25);
  for (int rep = 0; rep < 50; ++rep) {
    const SubnetConfig s = t.sample_flexible(rng);
    for (int e = 0; e < 18; ++e) {
      const int c = s.channels(e), full = t.entry_width(e);
      CHECK(c >= floor.channels(e));
      CHECK(c % 4 == 0);
      CHECK((c * 4 == full || c * 2 == full || c * 4 == full * 3 || c == full));
    }
  }
}
