// Encoder training (projection/encoder_train.hpp) on the small test generator: a few Adam steps of the
// consistency-aware objective lower the reconstruction error of held-out samples below the mean-w guess's,
// and bad options are refused.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "anycost/models/checkpoint.hpp"
#include "anycost/models/encoder.hpp"
#include "anycost/nn/module.hpp"
#include "anycost/projection.hpp"

using namespace anycost;

namespace {
models::Generator encoder_test_generator() {
  models::Generator g = models::load_generator(ANYCOST_TEST_DATA_DIR "/generator/model.safetensors");
  nn::set_requires_grad(g, false);
  return g;
}
models::Encoder small_encoder(const models::Generator& g, std::uint64_t seed) {
  Rng rng(seed);
  return models::Encoder(models::EncoderConfig{.blocks = {1, 1}, .base_width = 4, .resolution = 16,
                                               .n_style = g.n_style(), .style_dim = static_cast<int>(g.style_dim())},
                         rng);
}
}  // namespace

TEST_CASE("train_encoder: a few steps lower the reconstruction error below the mean-w guess", "[encoder_train]") {
  const models::Generator g = encoder_test_generator();
  models::Encoder e = small_encoder(g, 1);
  projection::EncoderTrainOptions o;
  o.steps = 24;
  o.batch = 3;
  o.lr = 3e-3;
  o.sub_ratios = {0.5};
  o.mean_samples = 1000;
  o.log_every_seconds = 0;  // a report every step
  std::vector<projection::EncoderTrainProgress> reports;
  projection::train_encoder(e, g, o, [&](const projection::EncoderTrainProgress& p) { reports.push_back(p); });
  REQUIRE(reports.size() == 24);
  CHECK(reports.back().step == 24);
  CHECK(reports.back().eta_seconds == 0);
  CHECK(reports.front().loss.sub_mse > 0);
  // Training-batch losses vary with their random samples too much to compare a few steps; the held-out
  // reconstruction below is the measure.
  for (const projection::EncoderTrainProgress& p : reports) CHECK((std::isfinite(p.loss.total) && p.loss.total > 0));
  CHECK(e.bn1.num_batches_tracked.item() == 24);

  const projection::EncoderEvaluation ev = projection::evaluate_encoder(e, g, 8, 99);
  INFO("held-out MSE " << ev.mse << " (PSNR " << ev.psnr << "), mean-w guess " << ev.mean_w_mse << " (PSNR "
                       << ev.mean_w_psnr << ")");
  CHECK(ev.mse < ev.mean_w_mse);
}

TEST_CASE("train_encoder: bad options are refused up front", "[encoder_train]") {
  const models::Generator g = encoder_test_generator();
  models::Encoder e = small_encoder(g, 2);
  projection::EncoderTrainOptions o;
  o.steps = 1;
  o.batch = 1;
  CHECK_THROWS_AS(projection::train_encoder(e, g, o), ValueError);  // batch statistics of one image
  o.batch = 2;
  o.sub_ratios = {1.5};
  CHECK_THROWS_AS(projection::train_encoder(e, g, o), ValueError);
  Rng rng(3);
  models::Encoder wrong(models::EncoderConfig{.blocks = {1}, .base_width = 2, .resolution = 8, .n_style = 3,
                                              .style_dim = 4},
                        rng);
  o.sub_ratios = {0.5};
  CHECK_THROWS_AS(projection::train_encoder(wrong, g, o), ShapeError);
}
