// The whole generator on CUDA against the same weights on the CPU: images of every kind of sub-network
// (uniform, flexible, lower resolution), truncation, style mixing, seeded noise, prepared inference
// constants, both modulation paths, batch 1 and 3, then first- and second-order gradients (a path-length
// penalty). Images agree within 1e-4; gradients within a bound relative to their size. Built into test_cuda
// and test_cuda_emulated.
#include "cuda/cuda_test.hpp"
#include "models/models_test_support.hpp"

using namespace anycost;
using namespace anycost::models;
using anycost::test::max_abs;
using anycost::test::max_abs_diff;

namespace {

constexpr double image_tolerance = 1e-4;  // absolute, as for the PyTorch parity of tests/models
constexpr double grad_tolerance = 1e-4;   // max |diff| / max |CPU gradient|
constexpr double grad2_tolerance = 1e-3;  // the same, second order (longer float32 chains)

// Channels that shrink with the ratio at 16 and 32 (a table capped everywhere would make every uniform
// sub-network the full one).
const GeneratorConfig small_config{.resolution = 32, .style_dim = 16, .n_mlp = 2, .channels = {32, 32, 24, 16}};

// The same generator twice: on the CPU and an independent copy on the GPU.
struct Pair {
  Generator cpu, gpu;
};
Pair make_pair(std::uint64_t seed) {
  Pair p{test::random_generator(small_config, seed), {}};
  p.gpu = nn::deep_copy(p.cpu);
  p.gpu.to(Device::cuda());
  return p;
}

Var& parameter(Generator& g, const std::string& name) {
  Var* found = nullptr;
  nn::visit_parameters(g, [&](const std::string& n, Var& p) {
    if (n == name) found = &p;
  });
  REQUIRE(found);
  return *found;
}

// Parameters whose gradients are compared: one of every kind, at every depth. The path-length penalty takes
// these; the first-order check adds the mapping network and a ToRGB bias, on which d image / d W+ does not
// depend.
const std::vector<std::string> synthesis_params = {"input.input",
                                                   "conv1.conv.weight",
                                                   "conv1.activate.bias",
                                                   "convs.0.conv.weight",
                                                   "convs.1.noise.weight",
                                                   "convs.3.conv.modulation.weight",
                                                   "to_rgbs.0.conv.modulation.weight",
                                                   "to_rgbs.2.conv.weight"};

std::vector<Var> parameters(Generator& g, const std::vector<std::string>& names) {
  std::vector<Var> v;
  for (const std::string& n : names) v.push_back(parameter(g, n));
  return v;
}

void check_grads(const std::vector<std::string>& names, const std::vector<Var>& cpu, const std::vector<Var>& gpu,
                 double tolerance) {
  REQUIRE(cpu.size() == names.size());
  REQUIRE(gpu.size() == names.size());
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    REQUIRE(cpu[i].defined());
    REQUIRE(gpu[i].defined());
    CHECK(gpu[i].device() == Device::cuda());
    const double scale = max_abs(cpu[i].data());
    const double diff = max_abs_diff(gpu[i].data(), cpu[i].data());
    INFO("gradient of " << names[i] << ": max |CPU| " << scale << ", max |CUDA - CPU| " << diff);
    CHECK(scale > 0);  // every compared input reaches the loss
    CHECK(diff <= tolerance * scale);
  }
}

}  // namespace

TEST_CASE("The generator on CUDA makes the CPU's images", "[cuda][generator]") {
  ANYCOST_REQUIRE_GPU();
  Pair m = make_pair(3);
  REQUIRE(m.gpu.device() == Device::cuda());
  m.gpu.visit_state([](const std::string& name, const auto& x) {
    INFO(name);
    CHECK(x.device() == Device::cuda());
  });
  CHECK(m.cpu.device() == Device::cpu());  // the copy moved, not the original

  NoGradGuard no_grad;
  const ChannelTable& t = m.cpu.channel_table();
  const std::vector<std::pair<std::string, SubnetConfig>> configs = {
      {"full", t.full()},
      {"uniform 0.5", t.uniform(0.5)},
      {"uniform 0.25", t.uniform(0.25)},
      {"flexible", t.flexible({20, 32, 12, 28, 24, 8, 16, 4})},
      {"half resolution", t.full(16)},
      {"uniform 0.25 at 8", t.uniform(0.25, 8)}};
  REQUIRE(configs[2].second.channels() != configs[0].second.channels());

  const PreparedGenerator prep_cpu = m.cpu.prepare(), prep_gpu = m.gpu.prepare();
  Rng rng(4);
  const Var w_avg_cpu = m.cpu.mean_w(300, rng, 128);
  rng = Rng(4);
  const Var w_avg_gpu = m.gpu.mean_w(300, rng, 128);
  CHECK(w_avg_gpu.device() == Device::cuda());
  CHECK(max_abs_diff(w_avg_gpu.data(), w_avg_cpu.data()) <= 1e-4 * std::max(1.0, max_abs(w_avg_cpu.data())));

  for (std::int64_t batch : {1, 3}) {
    const Tensor z = test::randn_cpu({batch, m.cpu.style_dim()}, 10 + static_cast<std::uint64_t>(batch));
    const Tensor z2 = test::randn_cpu({batch, 2, m.cpu.style_dim()}, 20 + static_cast<std::uint64_t>(batch));
    for (nn::ModulationPath path :
         {nn::ModulationPath::weights, nn::ModulationPath::activations, nn::ModulationPath::automatic}) {
      // Runs one generation on both devices and compares every returned image.
      auto compare = [&](const std::string& what, const SubnetConfig& cfg, GenerateOptions oc, GenerateOptions og,
                         const Tensor& latents) {
        INFO("batch " << batch << ", path " << static_cast<int>(path) << ", " << what << ": " << cfg.describe());
        oc.synthesis.path = og.synthesis.path = path;
        oc.synthesis.return_rgbs = og.synthesis.return_rgbs = true;
        const SynthesisResult c = m.cpu.generate(Var(latents), cfg, oc);
        const SynthesisResult g = m.gpu.generate(Var(latents.to(Device::cuda())), cfg, og);
        REQUIRE(g.image.device() == Device::cuda());
        REQUIRE(g.image.shape() == Shape{batch, 3, cfg.resolution(), cfg.resolution()});
        REQUIRE(g.rgbs.size() == c.rgbs.size());
        CHECK(max_abs(c.image.data()) > 0.1);  // a real image, not a constant the test cannot tell apart
        for (std::size_t i = 0; i < c.rgbs.size(); ++i) {
          const double d = max_abs_diff(g.rgbs[i].data(), c.rgbs[i].data());
          INFO("image " << i << " of " << c.rgbs.size() << ": max |CUDA - CPU| " << d << ", max |CPU| "
                        << max_abs(c.rgbs[i].data()));
          CHECK(d <= image_tolerance);
        }
        return c.image.data();
      };

      std::vector<Tensor> seen;
      for (const auto& [name, cfg] : configs) seen.push_back(compare(name, cfg, {}, {}, z));

      GenerateOptions pc, pg;  // the inference constants the CLI and the benchmarks use
      pc.synthesis.prepared = &prep_cpu;
      pg.synthesis.prepared = &prep_gpu;
      compare("prepared", t.uniform(0.5), pc, pg, z);

      GenerateOptions tc, tg;
      tc.truncation = tg.truncation = 0.6;
      tc.w_avg = w_avg_cpu;
      tg.w_avg = w_avg_gpu;
      const Tensor truncated = compare("truncation 0.6", t.full(), tc, tg, z);
      CHECK(max_abs_diff(truncated, seen[0]) > 1e-3);

      GenerateOptions mix;
      mix.inject_index = 3;
      compare("style mixing at 3", t.uniform(0.5), mix, mix, z2);

      // Seeded noise: Philox draws the same maps on both devices.
      Rng rc(7), rg(7);
      GenerateOptions nc, ng;
      nc.synthesis.noise = ng.synthesis.noise = NoiseMode::random;
      nc.synthesis.rng = &rc;
      ng.synthesis.rng = &rg;
      const Tensor noisy = compare("random noise", t.full(), nc, ng, z);
      CHECK(max_abs_diff(noisy, seen[0]) > 1e-3);  // the noise weights matter
    }
  }
}

TEST_CASE("Generator gradients on CUDA equal the CPU's, to second order", "[cuda][generator][grad]") {
  ANYCOST_REQUIRE_GPU();
  Pair m = make_pair(5);
  const SubnetConfig cfg = m.cpu.channel_table().flexible({24, 32, 16, 28, 24, 12, 16, 8});
  const std::int64_t batch = 2;
  const Tensor z = test::randn_cpu({batch, m.cpu.style_dim()}, 30);
  const Tensor y = test::randn_cpu({batch, 3, 32, 32}, 31);  // a fixed projection of the image

  for (nn::ModulationPath path : {nn::ModulationPath::weights, nn::ModulationPath::activations}) {
    INFO("path " << static_cast<int>(path));
    GenerateOptions opts;
    opts.synthesis.path = path;
    // First order: d <G(z), y> / d (parameters, latents).
    auto first = [&](Generator& g) {
      const Device d = g.device();
      const Var zv(z.to(d), true);
      const Var loss = sum(g.generate(zv, cfg, opts).image * Var(y.to(d)));
      std::vector<Var> inputs = parameters(g, synthesis_params);
      inputs.push_back(parameter(g, "to_rgbs.2.bias"));
      inputs.push_back(parameter(g, "style.1.weight"));
      inputs.push_back(zv);
      return grad({loss}, inputs);
    };
    std::vector<std::string> names = synthesis_params;
    names.insert(names.end(), {"to_rgbs.2.bias", "style.1.weight", "latents z"});
    check_grads(names, first(m.cpu), first(m.gpu), grad_tolerance);

    // Second order, StyleGAN2's path-length penalty: |d <G(w+), y> / d w+|^2, differentiated w.r.t. the
    // parameters through the gradient graph.
    auto path_length = [&](Generator& g) {
      const Device d = g.device();
      const Var wp(g.broadcast_styles(g.map(Var(z.to(d)))).data().contiguous(), true);
      const Var out = sum(g.synthesize(wp, cfg, opts.synthesis).image * Var(y.to(d)));
      const Var gw = grad({out}, {wp}, {}, {.create_graph = true})[0];
      return grad({sum(square(gw))}, parameters(g, synthesis_params));
    };
    check_grads(synthesis_params, path_length(m.cpu), path_length(m.gpu), grad2_tolerance);
  }
}

TEST_CASE("A generator on CUDA refuses host access and CPU inputs", "[cuda][generator]") {
  ANYCOST_REQUIRE_GPU();
  const Pair m = make_pair(6);
  NoGradGuard no_grad;
  const Tensor z = test::randn_cpu({1, m.cpu.style_dim()}, 40);
  const Tensor img = m.gpu.generate(Var(z.to(Device::cuda())), m.gpu.full_config()).image.data();
  CHECK_THROWS_AS(img.data<float>(), DeviceError);
  CHECK_THROWS_AS(m.gpu.input.input.data().data<float>(), DeviceError);
  CHECK(img.to(Device::cpu()).shape() == Shape{1, 3, 32, 32});
  CHECK_THROWS_AS(m.gpu.generate(Var(z), m.gpu.full_config()), DeviceError);  // CPU latents
  const Var wp = m.cpu.broadcast_styles(m.cpu.map(Var(z)));
  CHECK_THROWS_AS(m.gpu.synthesize(wp, m.gpu.full_config()), DeviceError);
  CHECK_THROWS_WITH(m.gpu.synthesize(wp, m.gpu.full_config()), Catch::Contains("W+ is on cpu, the generator on cuda"));
}
