// One complete training iteration on CUDA against the same iteration on the CPU: stage 3 (a sampled
// sub-network, the conditioned multi-resolution D, R1 by double backward, the G step with the consistency loss
// against a frozen teacher, EMA) and stage 1 (single-resolution D, path length by double backward). Every
// parameter tensor after the iteration agrees within a bound relative to how far the iteration moved it. Built into
// test_cuda and test_cuda_emulated.
#include "cuda/cuda_test.hpp"
#include "models/models_test_support.hpp"

using namespace anycost;
using anycost::test::on_cpu;

namespace {

struct Models {
  models::Generator g, g_ema, teacher;
  models::Discriminator d;
};

Models make_models(const train::TrainConfig& c, int stage) {
  Models m;
  m.g = models::Generator(c.generator, 21);
  m.g_ema = nn::deep_copy(m.g);
  if (stage > 1) m.teacher = nn::deep_copy(m.g);
  models::DiscriminatorConfig dc = models::DiscriminatorConfig::matching(c.generator, stage == 1 ? 1 : c.n_res, stage == 3);
  dc.channels = c.d_channels;
  m.d = models::Discriminator(dc, 22);
  return m;
}

Models on_device(const Models& m, Device dev) {
  Models out{nn::deep_copy(m.g), nn::deep_copy(m.g_ema), m.teacher.blocks.empty() ? models::Generator() : nn::deep_copy(m.teacher),
             nn::deep_copy(m.d)};
  out.g.to(dev);
  out.g_ema.to(dev);
  if (!out.teacher.blocks.empty()) out.teacher.to(dev);
  out.d.to(dev);
  return out;
}

// Runs iteration `it` of `stage` on `m` in place; returns the losses.
train::StepLosses iterate(Models& m, const train::TrainConfig& c, int stage, std::int64_t it,
                          const std::vector<Tensor>& real) {
  optim::Adam g_opt(optim::named_parameters(m.g), c.adam), d_opt(optim::named_parameters(m.d), c.adam);
  optim::Ema ema(optim::named_parameters(m.g), optim::named_parameters(m.g_ema), c.ema_beta());
  const train::StepContext ctx{c, stage, it, m.g, m.d, m.teacher.blocks.empty() ? nullptr : &m.teacher, nullptr};
  std::vector<Tensor> dev_real;
  for (const Tensor& t : real) dev_real.push_back(t.to(m.g.device()));
  double mean = 0.5;
  train::StepLosses l;
  REQUIRE(train::train_iteration(ctx, dev_real, g_opt, d_opt, mean, l));
  ema.update();
  return l;
}

template <class M>
void check_close(M& cpu, M& gpu, const M& before, const char* what) {
  std::vector<std::pair<std::string, Tensor>> a, b, o;
  auto collect = [](auto& v) {
    return [&v](const std::string& n, const Var& p) { v.emplace_back(n, on_cpu(p)); };
  };
  nn::visit_parameters(cpu, collect(a));
  nn::visit_parameters(gpu, collect(b));
  nn::visit_parameters(const_cast<M&>(before), collect(o));
  REQUIRE(a.size() == b.size());
  double moved_total = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double moved = test::l2_diff(a[i].second, o[i].second);
    const double diff = test::l2_diff(b[i].second, a[i].second);
    moved_total += moved;
    INFO(what << " " << a[i].first << ": moved " << moved << ", |CUDA - CPU| " << diff << " (L2 norms)");
    // Norms, not the largest element: Adam divides by sqrt(v), so where a gradient is near zero, float
    // rounding of the two devices' gradients moves that one weight by a visible fraction of lr (a single
    // element was seen 1.5% of the largest move apart); a wrong gradient moves many.
    CHECK(diff <= 1e-2 * moved + 1e-6);
  }
  CHECK(moved_total > 0);
}

// Uniform in [-1, 1), like real images.
Tensor images(const Shape& shape, Rng& rng) {
  const Var v = Var(rand(shape, rng)) * 2.0 - 1.0;
  return v.data();
}

train::TrainConfig tiny(int stage) {
  nlohmann::json j = nlohmann::json::parse(R"({
    "generator": {"resolution": 16, "style_dim": 16, "n_mlp": 2, "channels": [32, 32, 16]},
    "discriminator": {"channels": [32, 32, 16]}, "batch": 4, "seed": 5,
    "r1": {"interval": 1}, "path_length": {"interval": 1}, "multi_res": {"n_res": 2}})");
  j["steps"] = {{std::to_string(stage), 1}};
  return train::parse_train_config(j);
}

}  // namespace

TEST_CASE("A training iteration on CUDA updates the weights as on the CPU", "[cuda][train]") {
  ANYCOST_REQUIRE_GPU();
  for (int stage : {1, 3}) {
    INFO("stage " << stage);
    const train::TrainConfig c = tiny(stage);
    Rng rng(7);
    const Tensor real16 = images({4, 3, 16, 16}, rng), real8 = images({4, 3, 8, 8}, rng);
    const Models start = make_models(c, stage);
    Models cpu = on_device(start, Device::cpu()), gpu = on_device(start, Device::cuda());
    const train::StepLosses lc = iterate(cpu, c, stage, 0, {real16, real8});
    const train::StepLosses lg = iterate(gpu, c, stage, 0, {real16, real8});
    CHECK(lg.d == Approx(lc.d).epsilon(1e-4));
    CHECK(lg.g == Approx(lc.g).epsilon(1e-4));
    CHECK(lg.r1 == Approx(lc.r1).epsilon(1e-3));
    if (stage == 1) CHECK(lg.path == Approx(lc.path).epsilon(1e-3));
    if (stage == 3) CHECK(lg.mse == Approx(lc.mse).epsilon(1e-4));
    check_close(cpu.g, gpu.g, start.g, "G");
    check_close(cpu.d, gpu.d, start.d, "D");
    check_close(cpu.g_ema, gpu.g_ema, start.g_ema, "g_ema");
  }
}
