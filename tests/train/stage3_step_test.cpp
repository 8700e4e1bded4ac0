// One complete stage-3 iteration (D step, R1 step, G step with the consistency loss, EMA) against the same
// iteration run by the official PyTorch modules (tools/golden/make_train_step_goldens.py, float64 on the
// float32 weights): the same models, real images, latents, noise maps, sub-networks and sampled resolutions.
//
// The gradients of the D and G steps are compared directly (each element within 1e-4 of the tensor's largest
// gradient). Adam's first step from zero state moves each weight by lr * g / (|g| + eps), i.e. by +-lr
// wherever the gradient is not tiny, so the weights after a step compare the sign of every gradient element:
// an element may differ only where float32 and float64 disagree on the sign of a near-zero gradient (counted,
// at most 1 in 10^3), every other element within 1e-6 plus 4 float32 ulps of its value (the mapping weights
// are ~100, where an ulp is ~1e-5).
#include <catch2/catch.hpp>

#include "anycost/train.hpp"

using namespace anycost;

namespace {

const io::SafetensorsFile& golden() {
  static const io::SafetensorsFile f =
      io::load_safetensors(std::filesystem::path(ANYCOST_TEST_DATA_DIR) / "train" / "stage3_step.safetensors");
  return f;
}

models::StateTensors with_prefix(const std::string& prefix) {
  models::StateTensors out;
  for (const auto& [k, t] : golden().tensors)
    if (k.compare(0, prefix.size(), prefix) == 0) out.emplace(k.substr(prefix.size()), t.clone());
  return out;
}

int scalar(const std::string& key) { return static_cast<int>(golden().at(key).item()); }

train::StepDraws draws(const models::Generator& g, const std::string& step) {
  const models::SubnetConfig cfg = g.channel_table().uniform(golden().at(step + ".ratio").item());
  train::StepDraws d{{Var(golden().at(step + ".z1")), Var(golden().at(step + ".z2")), scalar(step + ".inject")},
                     cfg,
                     step == "dstep" ? g.channel_table().uniform(golden().at("dstep.real_ratio").item()) : cfg,
                     {},
                     {}};
  for (int l = 0; l < g.num_layers(); ++l) d.noise.emplace_back(golden().at(step + ".noise_" + std::to_string(l)));
  for (double v : golden().at(step + ".picked").to_vector<double>()) d.picked.push_back(static_cast<int>(v));
  // The architecture code is the official get_g_arch of the same configuration.
  CHECK(models::arch_code(d.config).to_vector<float>() == golden().at(step + ".arch").to_vector<float>());
  if (step == "dstep")
    CHECK(models::arch_code(d.real_config).to_vector<float>() == golden().at("dstep.real_arch").to_vector<float>());
  return d;
}

template <class M>
void check_weights(const M& m, const std::string& prefix) {
  std::size_t elements = 0, sign_flips = 0;
  double worst = 0;
  nn::visit_parameters(const_cast<M&>(m), [&](const std::string& name, Var& p) {
    const std::vector<double> got = p.data().to_vector<double>(), want = golden().at(prefix + name).to_vector<double>();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double e = std::abs(got[i] - want[i]), ulps4 = 4 * std::ldexp(std::abs(want[i]), -23);
      ++elements;
      if (e > 1e-6 + ulps4) ++sign_flips; else worst = std::max(worst, e);
    }
  });
  INFO(prefix << ": " << sign_flips << " of " << elements << " elements differ by more than 1e-6 + 4 ulps (largest other "
              << "error "
              << worst << ")");
  CHECK(elements > 0);
  CHECK(sign_flips * 1000 <= elements);
}

// The gradient each parameter holds against the one the official step consumed.
template <class M>
void check_gradients(const M& m, const std::string& prefix) {
  std::size_t tensors = 0;
  nn::visit_parameters(const_cast<M&>(m), [&](const std::string& name, Var& p) {
    REQUIRE(p.grad().defined());
    const std::vector<double> got = p.grad().data().to_vector<double>(),
                              want = golden().at(prefix + name).to_vector<double>();
    REQUIRE(got.size() == want.size());
    double scale = 0, worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) scale = std::max(scale, std::abs(want[i]));
    for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
    INFO(prefix << name << ": largest |grad| " << scale << ", largest error " << worst);
    CHECK(worst <= 1e-4 * scale + 1e-7);
    ++tensors;
  });
  CHECK(tensors > 0);
}

}  // namespace

TEST_CASE("a stage-3 iteration matches the official modules step by step", "[train][parity]") {
  train::TrainConfig c = train::parse_train_config(nlohmann::json::parse(R"({
    "generator": {"resolution": 16, "style_dim": 32, "n_mlp": 2, "channels": [32, 32, 16]},
    "discriminator": {"channels": [32, 32, 16]}, "steps": {"3": 1}, "batch": 4,
    "multi_res": {"n_res": 2, "n_sampled": 2}})"));
  models::Generator g = models::generator_from_state(with_prefix("g."));
  models::Generator teacher = nn::deep_copy(g), g_ema = nn::deep_copy(g);
  models::Discriminator d = models::discriminator_from_state(with_prefix("d."));
  REQUIRE(d.conditioned());
  REQUIRE(d.input_resolutions() == std::vector<int>{16, 8});
  optim::Adam g_opt(optim::named_parameters(g), c.adam), d_opt(optim::named_parameters(d), c.adam);
  optim::Ema ema(optim::named_parameters(g), optim::named_parameters(g_ema), c.ema_beta());
  const train::StepContext ctx{c, 3, 0, g, d, &teacher, nullptr};
  const std::vector<Tensor> real{golden().at("real_16"), golden().at("real_8")};
  train::StepLosses l;

  REQUIRE(train::d_step(ctx, real, draws(g, "dstep"), d_opt, l));
  CHECK(l.d == Approx(golden().at("loss.d").item()).epsilon(1e-5));
  check_gradients(d, "grad_d.");
  check_weights(d, "after_d.");

  const train::StepDraws dd = draws(g, "dstep");
  REQUIRE(train::r1_step(ctx, real, scalar("r1.index"), dd.config, d_opt, l));
  CHECK(l.r1 == Approx(golden().at("loss.r1").item()).epsilon(1e-4));
  check_weights(d, "after_r1.");

  REQUIRE(train::g_step(ctx, draws(g, "gstep"), g_opt, d_opt.parameters(), l));
  CHECK(l.g == Approx(golden().at("loss.g_adv").item()).epsilon(1e-5));
  CHECK(l.mse == Approx(golden().at("loss.mse").item()).epsilon(1e-5));
  check_gradients(g, "grad_g.");
  check_weights(g, "after_g.");

  ema.update();
  check_weights(g_ema, "ema.");
}
