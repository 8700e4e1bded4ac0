// losses::path_length against the official g_path_regularize through the official generator (float64,
// tests/data/lpips/path_length.safetensors, tools/golden/make_path_length_goldens.py): penalty, running mean,
// lengths and the penalty's gradient for every generator parameter (a double backward through the generator).
#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>

#include "losses/losses_test_support.hpp"
#include "support/compare.hpp"

using namespace anycost;
using namespace anycost::test;

namespace {
struct PathLengthRun {
  models::Generator g;
  losses::PathLengthResult r;
  Var wplus;
};

PathLengthRun run_path_length(const std::map<std::string, Tensor>& f, DType dt) {
  models::Generator g = models::load_generator(data_path("generator/model.safetensors"));
  nn::to_dtype(g, dt);
  Var w(fixture_at(f, "wplus").to(dt), true);
  models::SynthesisOptions o;
  o.noise = models::NoiseMode::given;
  for (int l = 0; l < g.num_layers(); ++l) o.noise_maps.emplace_back(fixture_at(f, "noise_" + std::to_string(l)).to(dt));
  Var img = g.synthesize(w, g.full_config(), o).image;
  auto r = losses::path_length(img, w, fixture_at(f, "mean_in").item(), fixture_at(f, "y"));
  return {g, r, w};
}
}  // namespace

TEST_CASE("path_length matches the official regulariser, with parameter gradients", "[losses][path_length]") {
  const auto f = lpips_fixture("path_length.safetensors");
  for (DType dt : {DType::float64, DType::float32}) {
    INFO(dt);
    PathLengthRun run = run_path_length(f, dt);
    // Measured: float64 agrees to ~1e-13 relative; float32 to ~1e-6.
    const double tol = dt == DType::float64 ? 1e-10 : 2e-5;
    CHECK(run.r.penalty.item() == Approx(fixture_at(f, "penalty").item()).epsilon(tol));
    CHECK(run.r.mean == Approx(fixture_at(f, "mean").item()).epsilon(tol));
    CHECK_ALLCLOSE(run.r.lengths, fixture_at(f, "lengths"), tol, tol);
    std::vector<std::string> names;
    std::vector<Var> params;
    nn::visit_parameters(run.g, [&](const std::string& n, Var& p) {
      names.push_back(n);
      params.push_back(p);
    });
    const std::vector<Var> grads = grad({run.r.penalty}, params, {}, {.allow_unused = true});
    int compared = 0;
    for (std::size_t i = 0; i < names.size(); ++i) {
      INFO(names[i]);
      const auto it = f.find("grad." + names[i]);
      if (it == f.end()) {  // no gradient in PyTorch: none or zero here
        if (grads[i].defined()) CHECK(max_abs(grads[i].data()) < 1e-12);
        continue;
      }
      ++compared;
      REQUIRE(grads[i].defined());
      const double scale = std::max(max_abs(it->second), 1e-30);
      CHECK_ALLCLOSE(grads[i].data(), it->second, dt == DType::float64 ? 1e-8 : 1e-3,
                     (dt == DType::float64 ? 1e-9 : 1e-3) * scale);
    }
    CHECK(compared == 48);
  }
}

TEST_CASE("path_length: drawn projection, errors", "[losses][path_length]") {
  models::Generator g = models::load_generator(data_path("generator/model.safetensors"));
  Rng rng(4);
  Var w(randn({2, g.n_style(), g.style_dim()}, rng), true);
  Var img = g.synthesize(w, g.full_config(), {.noise = models::NoiseMode::none}).image;
  Rng a(9), b(9);
  auto r1 = losses::path_length(img, w, 0.0, a);
  auto r2 = losses::path_length(img, w, 0.0, b);
  CHECK(r1.penalty.item() == r2.penalty.item());
  CHECK(r1.mean == Approx(0.01 * mean(Var(r1.lengths)).item()));
  CHECK(r1.penalty.requires_grad());
  CHECK_THROWS_WITH(losses::path_length(img, w.detach(), 0.0, rng), Catch::Contains("must require grad"));
  CHECK_THROWS_WITH(losses::path_length(img, w, 0.0, Tensor::zeros({1, 3, 32, 32})),
                    Catch::Contains("projection [1, 3, 32, 32] does not match"));
  CHECK_THROWS_WITH(losses::path_length(img, Var(randn({3, g.n_style(), 16}, rng), true), 0.0, rng),
                    Catch::Contains("W+ must be [B, n_style, style_dim]"));
}
