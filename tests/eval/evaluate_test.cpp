// evaluation::evaluate and its parts: PSNR and the consistency target, the configuration list, reading g_ema
// from a training checkpoint, and a whole report on the small test generator (rows, floors, JSON).
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <anycost/anycost.hpp>

#include "io/io_test_support.hpp"

#include "support/image_folder_fixture.hpp"

using namespace anycost;
using namespace anycost::evaluation;

namespace {

const std::filesystem::path test_generator = std::filesystem::path(ANYCOST_TEST_DATA_DIR) / "generator" / "model.safetensors";

}  // namespace

TEST_CASE("consistency: PSNR, the target convention, the meter", "[eval][consistency]") {
  CHECK(psnr_from_mse(4.0) == Approx(0.0).margin(1e-12));
  CHECK(psnr_from_mse(0.04) == Approx(20.0).epsilon(1e-12));
  CHECK(std::isinf(psnr_from_mse(0.0)));
  Rng rng(1);
  const Var full(clamp(Var(randn({2, 3, 16, 16}, rng)) * 0.5, -0.9, 0.9));
  CHECK(same(consistency_target(full, 16), full));
  const Tensor t8 = consistency_target(full, 8).data();
  CHECK(t8.to_vector<float>() == resize_bilinear(full, 8, 8, AlignCorners::yes).data().to_vector<float>());

  ConsistencyMeter m;
  m.add(Var(full + 0.1), full);  // within [-1, 1]: MSE 0.01 on every image
  CHECK(m.count() == 2);
  CHECK(m.mse() == Approx(0.01).epsilon(1e-5));
  CHECK(m.psnr() == Approx(10 * std::log10(400.0)).epsilon(1e-5));
  CHECK_FALSE(m.has_lpips());
  // Values outside [-1, 1] are clamped first.
  ConsistencyMeter clamped;
  clamped.add(Var(Tensor::full({1, 3, 4, 4}, 5.0)), Var(Tensor::full({1, 3, 4, 4}, 1.0)));
  CHECK(std::isinf(clamped.psnr()));
  // LPIPS (random weights here): zero for identical images, positive otherwise, any resolution.
  const losses::Lpips lp(losses::LpipsNet::alex, 11);  // seeded weights
  ConsistencyMeter same_images, different;
  same_images.add(Var(t8), full, &lp);
  CHECK(same_images.lpips() == Approx(0.0).margin(1e-6));
  different.add(Var(randn({2, 3, 8, 8}, rng)), full, &lp);
  CHECK(different.lpips() > 0);
}

TEST_CASE("attribute agreement: per-label fraction of same-sign logits, and its errors", "[eval][consistency]") {
  AttributeAgreement m;
  CHECK(std::isnan(m.mean()));
  // Label 0: images 0 and 1 agree (a logit of 0 counts as absent), image 2 does not; label 1: images 0, 2.
  m.add(Tensor::from_vector<float>({1.0f, -2.0f, 0.0f, 5.0f}, {2, 2}), Tensor::from_vector<float>({3.0f, -0.5f, -3.0f, -1.0f}, {2, 2}));
  m.add(Tensor::from_vector<float>({-1.0f, 1.0f}, {1, 2}), Tensor::from_vector<float>({1.0f, 2.0f}, {1, 2}));
  CHECK(m.count() == 3);
  REQUIRE(m.per_attribute().size() == 2);
  CHECK(m.per_attribute()[0] == Approx(2.0 / 3));
  CHECK(m.per_attribute()[1] == Approx(2.0 / 3));
  CHECK(m.mean() == Approx(2.0 / 3));
  CHECK_THROWS_WITH(m.add(Tensor::from_vector<float>({1.0f, 2.0f, 3.0f}, {1, 3}), Tensor::from_vector<float>({1.0f, 2.0f, 3.0f}, {1, 3})),
                    Catch::Contains("3 attributes, earlier batches had 2"));
  CHECK_THROWS_AS(m.add(Tensor::from_vector<float>({1.0f, 2.0f}, {1, 2}), Tensor::from_vector<float>({1.0f}, {1, 1})), ShapeError);
}

TEST_CASE("eval_configs: ratios at full resolution, full width below, and the grid", "[eval][evaluate]") {
  const auto key = [](const std::vector<EvalConfig>& v) {
    std::vector<std::pair<double, int>> out;
    for (const auto& c : v) out.emplace_back(c.ratio, c.resolution);
    return out;
  };
  using P = std::vector<std::pair<double, int>>;
  CHECK(key(eval_configs({0.5, 1, 0.25, 0.75}, {16, 64, 32}, 64, false)) ==
        P{{1, 64}, {0.75, 64}, {0.5, 64}, {0.25, 64}, {1, 32}, {1, 16}});
  CHECK(key(eval_configs({1, 0.5}, {64, 32}, 64, true)) == P{{1, 64}, {0.5, 64}, {1, 32}, {0.5, 32}});
  CHECK(key(eval_configs({0.5}, {64, 32}, 64, false)) == P{{0.5, 64}, {1, 32}});
  CHECK(key(eval_configs({}, {}, 64, false)) == P{{1, 64}});
}

TEST_CASE("load_eval_generator: a generator file or the g_ema of a training checkpoint", "[eval][evaluate]") {
  anycost_test::TempDir dir;
  std::string text;
  const models::Generator g = load_eval_generator(test_generator, &text);
  CHECK(text == test_generator.string());
  std::vector<std::pair<std::string, Tensor>> ckpt;
  for (const auto& [k, t] : models::generator_state(g)) {
    ckpt.emplace_back("g." + k, t);
    ckpt.emplace_back("g_ema." + k, Tensor::full(t.shape(), 0.5));
  }
  ckpt.emplace_back("d.convs.0.0.weight", Tensor::zeros({2, 3, 1, 1}));
  io::save_safetensors(dir.path() / "ckpt.safetensors", ckpt,
                       {{"format", "anycost-train"}, {"stage", "2"}, {"iteration", "26751"}, {"lr_mlp", "0.01"}});
  const models::Generator e = load_eval_generator(dir.path() / "ckpt.safetensors", &text);
  CHECK(text.find("g_ema of training checkpoint") == 0);
  CHECK(text.find("(stage 2, iteration 26751)") != std::string::npos);
  CHECK(e.config().channels == g.config().channels);
  CHECK(e.style.layers.front().weight.data().to_vector<float>().front() == 0.5f);
}

TEST_CASE("evaluate: a small report, deterministic, JSON", "[eval][evaluate]") {
  anycost_test::TempDir dir;
  test::write_image_folder(dir.path() / "real", 12, 32, 5);
  const io::ImageFolder real({dir.path() / "real", {32, 16}});
  const models::Generator g = models::load_generator(test_generator);
  Rng rng(2);
  const Classifier c({16, {4, 8}, {"a", "b"}}, nn::Init(rng));
  const std::vector<EvalConfig> configs = eval_configs({1, 0.5}, {32, 16}, 32, false);
  EvalOptions o;
  o.n = 10;
  o.batch = 4;
  o.latency_runs = 1;
  int calls = 0;
  const EvalReport r = evaluate(g, c, real, configs, o, nullptr, [&](const EvalProgress&) { ++calls; });
  CHECK(calls == 3 + 3);  // 12 real and 10 generated images in batches of 4
  REQUIRE(r.rows.size() == 3);
  CHECK(r.rows[0].is_full);
  CHECK(r.rows[0].resolution == 32);
  CHECK_FALSE(r.rows[1].is_full);
  CHECK(r.rows[1].ratio == 0.5);
  CHECK(r.rows[2].resolution == 16);
  CHECK(r.rows[2].macs.arithmetic < r.rows[0].macs.arithmetic);
  for (const EvalRow& row : r.rows) {
    CHECK(row.fd > -1e-9);
    CHECK(std::isfinite(row.fd));
    CHECK(row.latency_ms > 0);
    CHECK(std::isnan(row.lpips));
    if (!row.is_full) {
      CHECK(std::isfinite(row.psnr));
      CHECK(row.attribute_agreement >= 0);
      CHECK(row.attribute_agreement <= 1);
      REQUIRE(row.attribute_agreement_per_label.size() == 2);
      // 10 images: every per-label agreement is a multiple of 1/10, and the mean is their mean.
      for (double v : row.attribute_agreement_per_label) CHECK(v * 10 == Approx(std::round(v * 10)).margin(1e-9));
      CHECK(row.attribute_agreement == Approx((row.attribute_agreement_per_label[0] + row.attribute_agreement_per_label[1]) / 2));
    } else {
      CHECK(std::isnan(row.attribute_agreement));
    }
  }
  CHECK(r.labels == std::vector<std::string>{"a", "b"});
  REQUIRE(r.floors.size() == 2);
  CHECK(r.floors[0].resolution == 32);
  CHECK(r.floors[0].n_a + r.floors[0].n_b == 12);
  CHECK(r.n_real == 12);
  // The same seed with the configurations in another order: the same numbers.
  const EvalReport again = evaluate(g, c, real, {configs[2], configs[0], configs[1]}, o);
  CHECK(again.rows[1].fd == Approx(r.rows[0].fd).epsilon(1e-9));
  CHECK(again.rows[2].psnr == Approx(r.rows[1].psnr).epsilon(1e-9));
  CHECK(again.rows[0].psnr == Approx(r.rows[2].psnr).epsilon(1e-9));

  const std::string table = markdown_table(r);
  CHECK(table.find("| 1.00 | 32 |") != std::string::npos);
  CHECK(table.find("| 0.50 | 32 |") != std::string::npos);
  CHECK(table.find("(reference)") != std::string::npos);
  write_eval_json(dir.path() / "r.json", r, {{"model", "m"}});
  std::ifstream in(dir.path() / "r.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  CHECK(j["model"] == "m");
  CHECK(j["configurations"].size() == 3);
  CHECK(j["configurations"][0]["psnr_db"].is_null());
  CHECK(j["configurations"][1]["psnr_db"].get<double>() == Approx(r.rows[1].psnr));
  CHECK(j["real_floor"][1]["resolution"] == 16);
  CHECK(j["configurations"][0]["attribute_agreement"].is_null());
  CHECK(j["configurations"][1]["attribute_agreement_per_label"]["b"].get<double>() ==
        Approx(r.rows[1].attribute_agreement_per_label[1]));

  // A resolution the folder does not hold, a ratio out of range.
  CHECK_THROWS_WITH(evaluate(g, c, real, {{1.0, 8}}, o), Catch::Contains("not prepared at 8x8"));
  CHECK_THROWS_AS(evaluate(g, c, real, {{1.5, 32}}, o), ValueError);
}
