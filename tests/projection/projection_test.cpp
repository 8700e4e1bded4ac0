// Projection: W+ recovered from a generator's own renders, the sub-generator term, bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "anycost/models/checkpoint.hpp"
#include "anycost/nn/module.hpp"
#include "anycost/projection.hpp"

using namespace anycost;

namespace {
models::Generator small_generator() {
  models::Generator g = models::load_generator(ANYCOST_TEST_DATA_DIR "/generator/model.safetensors");
  nn::set_requires_grad(g, false);
  return g;
}
}  // namespace

TEST_CASE("project: recovers a render of the generator, with L-BFGS and with Adam") {
  const models::Generator g = small_generator();
  // The target: the render of a W+ a little away from the mean, so that it lies in the model's range.
  Rng rng(3);
  NoGradGuard outer;  // building the target needs no graph; project() turns gradients on for itself
  const Tensor w_mean = g.mean_w(2000, rng).data();
  const Tensor w_true = Var(Var(w_mean.reshape({1, 1, g.style_dim()}).expand({2, g.n_style(), g.style_dim()})) +
                            Var(randn({2, g.n_style(), g.style_dim()}, rng)) * 0.3)
                            .data();
  const Tensor target = g.synthesize(Var(w_true), g.channel_table().full()).image.data();

  for (projection::Optimizer opt : {projection::Optimizer::lbfgs, projection::Optimizer::adam}) {
    INFO((opt == projection::Optimizer::lbfgs ? "L-BFGS" : "Adam"));
    projection::ProjectOptions o;
    o.optimizer = opt;
    o.steps = opt == projection::Optimizer::lbfgs ? 30 : 150;
    o.mean_samples = 2000;
    int seen = 0;
    o.on_step = [&](const projection::ProjectStep& s) { CHECK(s.step == ++seen); };
    const projection::ProjectResult r = projection::project(g, target, o);
    REQUIRE(r.history.size() == static_cast<std::size_t>(seen));
    const double first = r.history.front().mse, last = r.history.back().mse;
    CHECK(last < 0.1 * first);  // a tenth of the starting error or better
    CHECK(r.wplus.shape() == Shape{2, g.n_style(), g.style_dim()});
    // The returned image is the render of the returned latent, and matches the target as reported.
    const Tensor again = g.synthesize(Var(r.wplus), g.channel_table().full()).image.data();
    const std::vector<float> a = again.to_vector<float>(), b = r.image.to_vector<float>();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == Approx(b[i]).margin(1e-5));
    CHECK(mean(square(Var(r.image) - Var(target))).data().item() == Approx(r.mse).epsilon(1e-6));
    CHECK(r.mse <= last * 1.001);  // the last step did not make it worse
  }
}

TEST_CASE("project: the sub-generator term makes previews of the latent closer to the image") {
  const models::Generator g = small_generator();
  Rng rng(5);
  const Tensor target = Var(Var(randn({1, 3, 32, 32}, rng)) * 0.5).data();  // not in the model's range: a real test
  const models::SubnetConfig quarter = g.channel_table().uniform(0.25);
  const auto preview_mse = [&](double sub_weight) {
    projection::ProjectOptions o;
    o.steps = 20;
    o.mean_samples = 500;
    o.sub_weight = sub_weight;
    if (sub_weight > 0) o.sub_configs = {quarter};
    const projection::ProjectResult r = projection::project(g, target, o);
    NoGradGuard no_grad;
    const Tensor p = g.synthesize(Var(r.wplus), quarter).image.data();
    return mean(square(Var(p) - Var(target))).data().item();
  };
  CHECK(preview_mse(4.0) < preview_mse(0.0));
}

TEST_CASE("project: bad input is refused by name") {
  const models::Generator g = small_generator();
  projection::ProjectOptions o;
  o.steps = 1;
  o.mean_samples = 10;
  CHECK_THROWS_WITH(projection::project(g, Tensor::zeros({1, 3, 16, 16}), o),
                    Catch::Contains("the target must be [N, 3, 32, 32]"));
  Tensor nan = Tensor::zeros({1, 3, 32, 32});
  nan.data<float>()[7] = std::nanf("");
  CHECK_THROWS_WITH(projection::project(g, nan, o), Catch::Contains("NaN or Inf"));
  o.sub_weight = 1;
  CHECK_THROWS_WITH(projection::project(g, Tensor::zeros({1, 3, 32, 32}), o), Catch::Contains("needs sub_configs"));
  o.sub_weight = 0;
  o.init = Var(Tensor::zeros({1, 3, g.style_dim()}));
  CHECK_THROWS_WITH(projection::project(g, Tensor::zeros({1, 3, 32, 32}), o), Catch::Contains("init has shape"));
}
