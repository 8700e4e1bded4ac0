// evaluation::Classifier: shapes, the input preparation, save/load round trip and its errors, the stable
// multi-label loss, a few Adam steps that learn synthetic labels, and train_classifier end to end on a
// generated image folder.
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

ClassifierConfig tiny_config() { return {16, {4, 8}, {"a", "b", "c"}}; }

}  // namespace

TEST_CASE("classifier: shapes and input preparation", "[eval][classifier]") {
  Rng rng(1);
  const Classifier c(tiny_config(), nn::Init(rng));
  CHECK(c.feature_dim() == 8);
  CHECK(c.n_labels() == 3);
  Rng data(2);
  const Var x(randn({5, 3, 16, 16}, data));
  CHECK(c.features(x).shape() == Shape{5, 8});
  CHECK(c.forward(x).shape() == Shape{5, 3});
  CHECK_THROWS_WITH(c.features(Var(randn({1, 3, 8, 8}, data))), Catch::Contains("are not [B, 3, 16, 16]"));
  // classifier_input: clamp to [-1, 1], bilinear (align_corners = false) to the classifier's size.
  const Var big(Tensor::full({1, 3, 8, 8}, 3.0));
  const Tensor in = classifier_input(big, 16).data();
  CHECK(in.shape() == Shape{1, 3, 16, 16});
  CHECK(in.to_vector<float>() == std::vector<float>(3 * 16 * 16, 1.0f));
  // 2x downsampling with align_corners = false averages pixel pairs.
  const Tensor ramp = Tensor::from_vector<float>({-1, 0, 0.5f, 1}, {1, 1, 1, 4}).expand({1, 3, 4, 4}).contiguous();
  const Tensor half = classifier_input(Var(ramp), 2).data();
  CHECK(half.to_vector<float>()[0] == Approx(-0.5));
  CHECK(half.to_vector<float>()[1] == Approx(0.75));
  CHECK_THROWS_AS(Classifier({16, {4, 8, 8, 8, 8}, {"a"}}, nn::Init(rng)), ValueError);  // 16 < 2^5
  CHECK_THROWS_AS(Classifier({16, {4}, {}}, nn::Init(rng)), ValueError);
}

TEST_CASE("classifier: save and load round trip, errors", "[eval][classifier]") {
  anycost_test::TempDir dir;
  Rng rng(4);
  const Classifier c(tiny_config(), nn::Init(rng));
  save_classifier(dir.path() / "c.safetensors", c, {{"note", "hello"}});
  const Classifier d = load_classifier(dir.path() / "c.safetensors");
  CHECK(d.labels() == c.labels());
  CHECK(d.resolution() == 16);
  CHECK(d.config().channels == std::vector<int>{4, 8});
  const auto a = models::module_state(c), b = models::module_state(d);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].first == b[i].first);
    CHECK(a[i].second.to_vector<float>() == b[i].second.to_vector<float>());
  }
  Rng data(5);
  const Var x(randn({2, 3, 16, 16}, data));
  CHECK(c.forward(x).data().to_vector<float>() == d.forward(x).data().to_vector<float>());
  CHECK(io::load_safetensors(dir.path() / "c.safetensors").metadata.at("note") == "hello");

  // Not a classifier: a generator checkpoint, a missing tensor, a wrong shape.
  const auto gen = std::filesystem::path(ANYCOST_TEST_DATA_DIR) / "generator" / "model.safetensors";
  CHECK_THROWS_WITH(load_classifier(gen), Catch::Contains("expected 'anycost-classifier'") ||
                                              Catch::Contains("no metadata 'format'"));
  auto st = models::module_state(c);
  const std::map<std::string, std::string> meta{
      {"format", "anycost-classifier"}, {"resolution", "16"}, {"labels", R"(["a","b","c"])"}};
  std::vector<std::pair<std::string, Tensor>> missing(st.begin(), st.end() - 1);
  io::save_safetensors(dir.path() / "missing.safetensors", missing, meta);
  CHECK_THROWS_WITH(load_classifier(dir.path() / "missing.safetensors"), Catch::Contains("missing 1 tensor") &&
                                                                           Catch::Contains("head.bias"));
  io::save_safetensors(dir.path() / "labels.safetensors", st,
                       {{"format", "anycost-classifier"}, {"resolution", "16"}, {"labels", R"(["a","b"])"}});
  CHECK_THROWS_WITH(load_classifier(dir.path() / "labels.safetensors"), Catch::Contains("'head.weight' has shape"));
  io::save_safetensors(dir.path() / "meta.safetensors", st,
                       {{"format", "anycost-classifier"}, {"resolution", "x"}, {"labels", "[]"}});
  CHECK_THROWS_WITH(load_classifier(dir.path() / "meta.safetensors"), Catch::Contains("bad metadata"));
}

TEST_CASE("classifier: the multi-label loss is stable and matches BCE", "[eval][classifier]") {
  const Var x(Tensor::from_vector<double>({-200, -2, 0, 3, 200, 200}, {2, 3}));
  const Var y(Tensor::from_vector<double>({1, 0, 1, 1, 0, 1}, {2, 3}));
  double expected = 0;
  const std::vector<double> xs = x.data().to_vector<double>(), ys = y.data().to_vector<double>();
  for (std::size_t i = 0; i < 6; ++i) {
    const double p = 1 / (1 + std::exp(-xs[i]));
    // -log p, -log(1 - p), written so that the saturated entries stay exact.
    expected += ys[i] > 0 ? (xs[i] < -50 ? -xs[i] : -std::log(p)) : (xs[i] > 50 ? xs[i] : -std::log1p(-p));
  }
  CHECK(bce_with_logits(x, y).item() == Approx(expected / 6).epsilon(1e-12));
  CHECK_THROWS_AS(bce_with_logits(x, Var(Tensor::zeros({3, 2}, DType::float64))), ShapeError);
}

TEST_CASE("classifier: a few Adam steps learn synthetic labels", "[eval][classifier]") {
  // Labels: mean red > 0, left half brighter than the right, mean blue > mean green.
  Rng rng(7);
  const Tensor images = randn({16, 3, 16, 16}, rng);
  Tensor y = Tensor::zeros({16, 3});
  for (std::int64_t i = 0; i < 16; ++i) {
    const Tensor img = images.select(0, i);
    double red = 0, left = 0, right = 0, green = 0, blue = 0;
    for (std::int64_t py = 0; py < 16; ++py)
      for (std::int64_t px = 0; px < 16; ++px) {
        const float* p = img.data<float>();
        const double r = p[(0 * 16 + py) * 16 + px], g = p[(1 * 16 + py) * 16 + px], b = p[(2 * 16 + py) * 16 + px];
        red += r;
        green += g;
        blue += b;
        (px < 8 ? left : right) += r + g + b;
      }
    y.data<float>()[i * 3 + 0] = red > 0;
    y.data<float>()[i * 3 + 1] = left > right;
    y.data<float>()[i * 3 + 2] = blue > green;
  }
  Rng init(8);
  Classifier c(tiny_config(), nn::Init(init));
  optim::Adam opt(optim::named_parameters(c), {.lr = 1e-2});
  const double first = classifier_step(c, opt, images, y);
  double last = first;
  for (int i = 0; i < 60; ++i) last = classifier_step(c, opt, images, y);
  INFO("loss " << first << " -> " << last);
  CHECK(last < 0.6 * first);  // measured: 0.80 -> 0.51 after 40 steps
}

TEST_CASE("classifier: train_classifier on a generated folder, naming unlabelled images are named", "[eval][classifier]") {
  anycost_test::TempDir dir;
  const auto files = test::write_image_folder(dir.path() / "images", 24, 16, 3);
  // Label "wide": the file index is even; skin tone index % 6. (Arbitrary: the point is the plumbing.)
  std::ofstream labels(dir.path() / "labels.json");
  labels << R"({"images": [)";
  for (std::size_t i = 0; i < files.size(); ++i)
    labels << (i ? "," : "") << R"({"file": "images/)" << files[i].filename().string() << R"(", "skin_tone": )"
           << i % 6 << R"(, "categories": [)" << (i % 2 == 0 ? R"("even")" : "") << "]}";
  labels << "]}";
  labels.close();
  const Labels l = read_labels(dir.path() / "labels.json");
  const io::ImageFolder folder({dir.path() / "images", {16}});
  ClassifierTrainOptions o;
  o.channels = {4, 8};
  o.epochs = 2;
  o.batch = 8;
  o.holdout = 0.25;
  int epoch_ends = 0;
  const ClassifierTrainResult r = train_classifier(folder, l, o, [&](const ClassifierProgress& p) {
    epoch_ends += p.epoch_end;
    CHECK(std::isfinite(p.loss));
  });
  CHECK(epoch_ends == 2);
  CHECK(r.n_heldout == 6);
  CHECK(r.n_train == 18);
  REQUIRE(r.heldout.labels.size() == 7);
  CHECK(r.heldout.labels[0].name == "even");
  for (const LabelAccuracy& a : r.heldout.labels) {
    CHECK(a.accuracy >= 0);
    CHECK(a.accuracy <= 1);
    CHECK(a.majority >= 0);
    CHECK(a.majority <= 1);
  }
  // Deterministic for a seed.
  const ClassifierTrainResult again = train_classifier(folder, l, o);
  CHECK(models::module_state(again.classifier)[0].second.to_vector<float>() ==
        models::module_state(r.classifier)[0].second.to_vector<float>());

  // An image without a label.
  test::write_image_folder(dir.path() / "images", 25, 16, 3);
  const io::ImageFolder more({dir.path() / "images", {16}});
  CHECK_THROWS_WITH(train_classifier(more, l, o), Catch::Contains("1 of 25 images") && Catch::Contains("img_0024.png"));
}
