// Editing: the linear SVM, edit directions recovered from scores of a known direction, directions sampled from
// a generator with a predictor, and W+ edits.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "anycost/core/rng.hpp"
#include "anycost/editing.hpp"
#include "anycost/models/checkpoint.hpp"
#include "anycost/ops/random.hpp"

using namespace anycost;

TEST_CASE("svm: separates two clouds with the maximum-margin normal") {
  // Points at x = ±(2 + u), y anywhere: the best separator is the line x = 0, normal (1, 0).
  Rng rng(1);
  std::vector<double> x;
  std::vector<int> y;
  for (int i = 0; i < 200; ++i) {
    const int label = i % 2 ? 1 : -1;
    x.push_back(label * (2 + rng.uniform()));
    x.push_back(10 * (rng.uniform() - 0.5));
    y.push_back(label);
  }
  const editing::LinearSvm svm = editing::fit_linear_svm(x, y, 2);
  const double norm = std::hypot(svm.w[0], svm.w[1]);
  CHECK(svm.w[0] / norm > 0.999);
  CHECK(std::abs(svm.b) < 0.1);
  for (int i = 0; i < 200; ++i) CHECK((svm.decision(&x[2 * i]) > 0) == (y[i] > 0));
  CHECK_THROWS_WITH(editing::fit_linear_svm(x, std::vector<int>(200, 1), 2), Catch::Contains("both classes"));
  CHECK_THROWS_WITH(editing::fit_linear_svm(x, y, 3), Catch::Contains("are not 200 rows of 3"));
}

TEST_CASE("directions: the direction along which a score grows is recovered") {
  // Latents N(0, I) in 16 dimensions, score = <x, u> + noise for a known unit u.
  const std::int64_t n = 4000, dim = 16;
  Rng rng(2);
  const std::vector<double> latents = randn({n, dim}, rng, DType::float64).to_vector<double>();
  std::vector<double> u(dim, 0.0);
  u[3] = 0.6, u[7] = -0.8;
  std::vector<double> scores(n);
  for (std::int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (std::int64_t j = 0; j < dim; ++j) s += latents[i * dim + j] * u[j];
    scores[i] = s + 0.1 * (rng.uniform() - 0.5);
  }
  editing::DirectionOptions o;
  o.fraction = 0.05;
  const editing::Direction d = editing::fit_direction("test", latents, scores, dim, o);
  double cos = 0, len = 0;
  for (std::int64_t j = 0; j < dim; ++j) cos += d.d[j] * u[j], len += d.d[j] * d.d[j];
  CHECK(len == Approx(1.0));
  CHECK(cos > 0.95);
  CHECK(d.val_accuracy > 0.95);
  CHECK(d.per_class == 200);
  scores[5] = std::nan("");
  CHECK_THROWS_WITH(editing::fit_direction("test", latents, scores, dim, o), Catch::Contains("not finite"));
  CHECK_THROWS_WITH(editing::fit_direction("few", std::vector<double>(50 * dim), std::vector<double>(50), dim),
                    Catch::Contains("need >= 4"));
}

TEST_CASE("apply_edits: moves the first n_change rows by the summed edits, and no others") {
  Rng rng(3);
  const Tensor w = randn({2, 4, 3}, rng);
  const std::vector<editing::Edit> edits{{{1, 0, 0}, 0.5}, {{0, 0, 1}, -2.0}};
  const Tensor e = editing::apply_edits(w, edits, 2);
  const std::vector<float> a = w.to_vector<float>(), b = e.to_vector<float>();
  for (int i = 0; i < 2; ++i)
    for (int r = 0; r < 4; ++r)
      for (int j = 0; j < 3; ++j) {
        const std::size_t k = static_cast<std::size_t>((i * 4 + r) * 3 + j);
        const double want = r < 2 ? (j == 0 ? 0.5 : j == 2 ? -2.0 : 0.0) : 0.0;
        CHECK(b[k] - a[k] == Approx(want).margin(1e-6));
      }
  CHECK_THROWS_WITH(editing::apply_edits(w, {{{1, 0}, 1.0}}), Catch::Contains("a direction has 2 values"));
  CHECK_THROWS_WITH(editing::apply_edits(w, edits, 5), Catch::Contains("exceeds the 4 W+ rows"));
}

TEST_CASE("sample_directions: moving along a found direction raises the predictor's score") {
  models::Generator g = models::load_generator(ANYCOST_TEST_DATA_DIR "/generator/model.safetensors");
  // Two attributes of the render: its brightness and its red-minus-blue balance.
  const auto predictor = [](const Var& images) {
    const Var m = mean(images, {2, 3});  // [B, 3]
    const Var red = narrow(m, 1, 0, 1), blue = narrow(m, 1, 2, 1);
    return cat({mean(m, {1}, true), red - blue}, 1);
  };
  editing::SampleDirectionOptions o;
  o.samples = 800;
  o.batch = 200;
  o.mean_samples = 200;
  o.fit.fraction = 0.1;
  std::int64_t last = 0;
  o.on_batch = [&](std::int64_t done, std::int64_t total) {
    CHECK(done > last);
    CHECK(total == 800);
    last = done;
  };
  const std::vector<editing::Direction> dirs = editing::sample_directions(g, predictor, {"bright", "red"}, o);
  REQUIRE(dirs.size() == 2);
  CHECK(last == 800);
  NoGradGuard no_grad;
  Rng rng(9);
  const Var w = g.map(Var(randn({64, g.style_dim()}, rng)));
  const Tensor before = predictor(g.synthesize(g.broadcast_styles(w), g.channel_table().full()).image).data();
  for (std::size_t k = 0; k < 2; ++k) {
    INFO(dirs[k].name << ": validation accuracy " << dirs[k].val_accuracy);
    CHECK(dirs[k].val_accuracy > 0.8);
    const Tensor d = Tensor::from_vector(dirs[k].d, {1, g.style_dim()}).to(DType::float32);
    const Var moved = w + Var(d) * 3.0;
    const Tensor after = predictor(g.synthesize(g.broadcast_styles(moved), g.channel_table().full()).image).data();
    const double gain = mean(Var(after.narrow(1, static_cast<std::int64_t>(k), 1)) -
                             Var(before.narrow(1, static_cast<std::int64_t>(k), 1)))
                            .data()
                            .item();
    CHECK(gain > 0);
  }
  CHECK_THROWS_WITH(editing::sample_directions(g, predictor, {"only-one"}, o), Catch::Contains("the predictor gave"));
}
