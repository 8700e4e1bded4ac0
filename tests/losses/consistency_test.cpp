// losses::consistency against the official distillation loss (tools/train_gan.py with lpips' VGG, seeded
// trunk, shipped heads; tests/data/lpips/consistency.safetensors): loss values and gradients with respect to
// the student images at four resolutions, the <= max-size LPIPS rule (32 here in place of 256), MSE alone.
#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>

#include "losses/losses_test_support.hpp"
#include "support/compare.hpp"

using namespace anycost;
using namespace anycost::test;

TEST_CASE("consistency matches the official distillation loss, values and student gradients",
          "[losses][consistency]") {
  const auto f = lpips_fixture("consistency.safetensors");
  for (DType dt : {DType::float64, DType::float32}) {
    INFO(dt);
    const losses::Lpips lp = golden_lpips(losses::LpipsNet::vgg, dt);
    std::vector<Var> students;
    for (int r : {16, 32, 64, 128}) students.emplace_back(fixture_at(f, "s_" + std::to_string(r)).to(dt), true);
    Var teacher(fixture_at(f, "t").to(dt), true);
    const losses::ConsistencyLoss l = losses::consistency(students, teacher, &lp, {.alpha = 2.0, .lpips_max_size = 32});
    const double tol = dt == DType::float64 ? 1e-10 : 1e-5;  // measured: ~1e-15 / ~2e-7
    CHECK(l.mse.item() == Approx(fixture_at(f, "mse").item()).epsilon(tol));
    CHECK(l.lpips.item() == Approx(fixture_at(f, "lpips").item()).epsilon(tol));
    CHECK(l.total.item() == Approx(fixture_at(f, "total").item()).epsilon(tol));
    const std::vector<Var> g = grad({l.total}, students);
    for (std::size_t i = 0; i < students.size(); ++i) {
      const Tensor expected = fixture_at(f, "g_" + std::to_string(students[i].size(3)));
      CHECK_ALLCLOSE(g[i].data(), expected, 1e-5, (dt == DType::float64 ? 1e-6 : 1e-3) * max_abs(expected));
    }
  }
}

TEST_CASE("consistency without LPIPS is alpha times the MSE, errors", "[losses][consistency]") {
  Rng rng(1);
  Var t(randn({2, 3, 16, 16}, rng, DType::float64));
  Var s8(randn({2, 3, 8, 8}, rng, DType::float64), true), s16(randn({2, 3, 16, 16}, rng, DType::float64), true);
  const auto l = losses::consistency({s8, s16}, t, nullptr, {.alpha = 3.0});
  CHECK_FALSE(l.lpips.defined());
  const double mse8 = mean(square(s8 - resize_bilinear(t, 8, 8, AlignCorners::yes))).item();
  const double mse16 = mean(square(s16 - t)).item();
  CHECK(l.mse.item() == Approx(mse8 + mse16).epsilon(1e-14));
  CHECK(l.total.item() == Approx(3.0 * (mse8 + mse16)).epsilon(1e-14));
  // No gradient flows into the teacher.
  Var tg(t.data(), true);
  CHECK_FALSE(grad({losses::consistency({s16}, tg, nullptr).total}, {s16, tg}, {}, {.allow_unused = true})[1].defined());
  CHECK_THROWS_WITH(losses::consistency({}, t, nullptr), Catch::Contains("no student images"));
  CHECK_THROWS_WITH(losses::consistency({Var(randn({2, 3, 32, 32}, rng, DType::float64))}, t, nullptr),
                    Catch::Contains("is larger than the teacher image"));
  CHECK_THROWS_WITH(losses::consistency({Var(randn({1, 3, 8, 8}, rng, DType::float64))}, t, nullptr),
                    Catch::Contains("batch and channels must agree"));
}
