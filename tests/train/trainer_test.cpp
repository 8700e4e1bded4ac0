// The trainer end to end on a 16x16 model and a generated image folder: all three stages run and write their
// outputs, a stopped run resumes to the same weights bit for bit, non-finite values roll back, bad input is
// refused by name, checkpoints are never non-finite and never half-written.
#include <catch2/catch.hpp>

#include <atomic>
#include <sstream>

#include "io/io_test_support.hpp"
#include "support/image_folder_fixture.hpp"

#include "anycost/train.hpp"

using namespace anycost;
using anycost_test::TempDir;

namespace {

nlohmann::json tiny_config() {
  return nlohmann::json::parse(R"({
    "generator": {"resolution": 16, "style_dim": 32, "n_mlp": 2, "channels": [32, 32, 16]},
    "discriminator": {"channels": [32, 32, 16]},
    "steps": {"1": 3, "2": 2, "3": 3}, "batch": 4, "seed": 3,
    "r1": {"interval": 2}, "path_length": {"interval": 2},
    "multi_res": {"n_res": 2, "n_sampled": 2},
    "channels": {"sort_samples": 64},
    "checkpoint": {"every": 2, "keep": 2}, "samples": {"every": 4, "n": 2}, "log": {"every_seconds": 0},
    "data": {"workers": 1, "prefetch": 2}})");
}

struct Run {
  TempDir dir;
  std::filesystem::path data = dir / "data", out = dir / "run";
  std::ostringstream log;
  Run() { anycost::test::write_image_folder(data, 12, 24, /*seed=*/5); }

  train::TrainerOptions options(bool resume = false) {
    train::TrainerOptions o;
    o.data = data;
    o.out = out;
    o.resume = resume;
    o.log = &log;
    return o;
  }
};

train::TrainConfig parse(const nlohmann::json& j) { return train::parse_train_config(j); }

// Every parameter and buffer of two models, bit for bit.
template <class M>
void require_identical(const M& a, const M& b) {
  std::vector<std::pair<std::string, Tensor>> ta, tb;
  a.visit_state([&](const std::string& n, const auto& x) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>) ta.emplace_back(n, x.data()); else ta.emplace_back(n, x);
  });
  b.visit_state([&](const std::string& n, const auto& x) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>) tb.emplace_back(n, x.data()); else tb.emplace_back(n, x);
  });
  REQUIRE(ta.size() == tb.size());
  for (std::size_t i = 0; i < ta.size(); ++i) {
    INFO(ta[i].first);
    REQUIRE(ta[i].first == tb[i].first);
    REQUIRE(ta[i].second.template to_vector<float>() == tb[i].second.template to_vector<float>());
  }
}

}  // namespace

TEST_CASE("trainer: three stages on a tiny model write checkpoints, samples and the final models") {
  Run r;
  train::Trainer t(parse(tiny_config()), r.options());
  CHECK(t.run() == 8);
  const train::TrainState& s = t.state();
  CHECK(s.stage == 3);
  CHECK(s.d.conditioned());
  CHECK(s.d.input_resolutions() == std::vector<int>{16, 8});
  CHECK(s.has_teacher());
  CHECK(std::isfinite(s.mean_path_length));
  CHECK(s.mean_path_length > 0);  // stage 1 ran the path-length step
  const std::string log = r.log.str();
  INFO(log);
  CHECK_THAT(log, Catch::Contains("stage 1: StyleGAN2") && Catch::Contains("stage 2: multi-resolution") &&
                      Catch::Contains("stage 3: adaptive channels") && Catch::Contains("WARNING: no LPIPS"));
  CHECK_THAT(log, Catch::Contains("img/s") && Catch::Contains("ETA") && Catch::Contains(" r1 ") &&
                      Catch::Contains(" path ") && Catch::Contains(" mse "));
  // keep = 2: the newest two of the checkpoints at 0, 2, 4, 6, 8.
  const auto ckpts = train::list_checkpoints(t.checkpoint_dir());
  REQUIRE(ckpts.size() == 2);
  CHECK(ckpts.back().filename() == "ckpt-000000008.safetensors");
  CHECK(std::filesystem::exists(r.out / "samples" / "iter-000000004.png"));
  CHECK(std::filesystem::exists(r.out / "samples" / "iter-000000008.png"));
  CHECK(std::filesystem::exists(r.out / "config.json"));
  const models::Generator g = models::load_generator(r.out / "generator.safetensors");
  require_identical(g, s.g_ema);
  const models::Discriminator d = models::load_discriminator(r.out / "discriminator.safetensors");
  CHECK(d.conditioned());
  // What `anycost export` takes out of the newest checkpoint: g_ema, g and the stage-3 teacher, by name.
  require_identical(train::load_train_generator(ckpts.back(), "g_ema"), s.g_ema);
  require_identical(train::load_train_generator(ckpts.back(), "g"), s.g);
  require_identical(train::load_train_generator(ckpts.back(), "teacher"), s.teacher);
  CHECK_THROWS_WITH(train::load_train_generator(ckpts.back(), "d"), Catch::Contains("no generator 'd'"));
  CHECK_THROWS_WITH(train::load_train_generator(r.out / "generator.safetensors", "g_ema"),
                    Catch::Contains("is not an anycost training checkpoint"));
  // The final model runs at every width.
  NoGradGuard no_grad;
  Rng rng(1);
  const Var z(randn({2, 32}, rng));
  for (double ratio : {1.0, 0.5, 0.25}) {
    const Tensor img = g.generate(z, g.channel_table().uniform(ratio)).image.data();
    CHECK(std::isfinite(sum(Var(img)).item()));
  }
}

TEST_CASE("trainer: a stopped run resumes to the same weights, bit for bit") {
  Run a;
  train::Trainer full(parse(tiny_config()), a.options());
  full.run();

  Run b;
  std::atomic<bool> stop{false};
  {
    train::TrainerOptions o = b.options();
    o.stop = &stop;
    o.inspect = [&](std::int64_t it, train::StepLosses&) {
      if (it == 2) stop = true;  // stops before iteration 3 (inside stage 1, before a checkpoint is due)
    };
    train::Trainer first(parse(tiny_config()), o);
    CHECK(first.run() == 3);
  }
  CHECK_THAT(b.log.str(), Catch::Contains("stopping at iteration 3"));
  train::Trainer second(parse(tiny_config()), b.options(/*resume=*/true));
  CHECK_THAT(b.log.str(), Catch::Contains("resumed from") && Catch::Contains("at iteration 3"));
  CHECK(second.run() == 8);
  require_identical(second.state().g, full.state().g);
  require_identical(second.state().g_ema, full.state().g_ema);
  require_identical(second.state().d, full.state().d);
  CHECK(second.state().mean_path_length == full.state().mean_path_length);
  CHECK(second.state().data.epoch == full.state().data.epoch);
  CHECK(second.state().data.index == full.state().data.index);
}

TEST_CASE("trainer: a non-finite loss rolls back, skips the batch and goes on") {
  Run r;
  train::TrainerOptions o = r.options();
  int seen5 = 0;
  o.inspect = [&](std::int64_t it, train::StepLosses& l) {
    if (it == 5) {
      ++seen5;
      l.g = std::nan("");
    }
  };
  train::Trainer t(parse(tiny_config()), o);
  CHECK(t.run() == 8);
  CHECK(seen5 == 1);
  CHECK(t.state().skipped == std::vector<std::int64_t>{5});
  CHECK_THAT(r.log.str(), Catch::Contains("iteration 5: non-finite value") &&
                              Catch::Contains("ckpt-000000004.safetensors and skipping this batch"));
  // The skip list is part of the state: a resumed run skips the same batch.
  const train::TrainState back = train::load_train_state(t.checkpoint_dir() / "ckpt-000000008.safetensors", t.config());
  CHECK(back.skipped == std::vector<std::int64_t>{5});
}

TEST_CASE("trainer: three non-finite iterations in a row stop the run") {
  Run r;
  train::TrainerOptions o = r.options();
  o.inspect = [&](std::int64_t it, train::StepLosses& l) {
    if (it >= 3 && it <= 5) l.d = INFINITY;
  };
  train::Trainer t(parse(tiny_config()), o);
  try {
    t.run();
    FAIL("did not stop");
  } catch (const train::TrainingError& e) {
    CHECK_THAT(e.what(), Catch::Contains("iterations 3, 4 and 5 in a row gave non-finite") &&
                             Catch::Contains("last good checkpoint"));
  }
  // The run folder is still usable: the newest checkpoint (iteration 4, written after 3 was skipped) resumes.
  train::Trainer again(parse(tiny_config()), r.options(/*resume=*/true));
  CHECK(again.state().iteration == 4);
  CHECK(again.state().skipped == std::vector<std::int64_t>{3});
}

TEST_CASE("trainer: bad input is refused by name") {
  Run r;
  {
    train::Trainer t(parse(tiny_config()), r.options());
  }
  // An existing run is never overwritten.
  CHECK_THROWS_WITH(train::Trainer(parse(tiny_config()), r.options()),
                    Catch::Contains("already holds a run") && Catch::Contains("--resume"));
  // A resumed run must keep its config (only its length and cadence may change).
  nlohmann::json changed = tiny_config();
  changed["batch"] = 8;
  CHECK_THROWS_WITH(train::Trainer(parse(changed), r.options(true)), Catch::Contains("config differs"));
  nlohmann::json longer = tiny_config();
  longer["steps"]["3"] = 5;
  CHECK_NOTHROW(train::Trainer(parse(longer), r.options(true)));
  // An empty data folder.
  TempDir empty;
  train::TrainerOptions o = r.options();
  o.data = empty.path();
  o.out = empty / "run";
  CHECK_THROWS_WITH(train::Trainer(parse(tiny_config()), o), Catch::Contains(empty.path().string()));
  // Resume without a run.
  o.data = r.data;
  o.resume = true;
  CHECK_THROWS_WITH(train::Trainer(parse(tiny_config()), o), Catch::Contains("no checkpoint"));
}

TEST_CASE("trainer: resume skips a corrupt newest checkpoint, and checkpoints are never non-finite") {
  Run r;
  {
    nlohmann::json j = tiny_config();
    j["steps"] = {{"1", 4}};
    train::Trainer t(parse(j), r.options());
    t.run();
  }
  nlohmann::json j = tiny_config();
  j["steps"] = {{"1", 4}};
  const auto ckpts = train::list_checkpoints(r.out / "checkpoints");
  REQUIRE(ckpts.size() == 2);
  const std::string bytes = anycost_test::read_bytes(ckpts.back());
  anycost_test::write_bytes(ckpts.back(), bytes.substr(0, bytes.size() / 2));  // truncated
  CHECK_THROWS_AS(train::load_train_state(ckpts.back(), parse(j)), FormatError);
  train::Trainer t(parse(j), r.options(true));
  CHECK(t.state().iteration == 2);
  CHECK_THAT(r.log.str(), Catch::Contains("cannot use checkpoint") && Catch::Contains("ckpt-000000004"));

  // A non-finite parameter: nothing is written and the existing file is untouched.
  train::TrainState s = train::load_train_state(ckpts.front(), parse(j));
  const std::string before = anycost_test::read_bytes(ckpts.front());
  const Tensor& p = optim::named_parameters(s.d).front().var.data();
  p.copy_(Tensor::full(p.shape(), NAN));
  CHECK_THROWS_WITH(train::save_train_state(ckpts.front(), s, parse(j)), Catch::Contains("non-finite value"));
  CHECK(anycost_test::read_bytes(ckpts.front()) == before);
  // Not a training checkpoint.
  CHECK_THROWS_WITH(train::load_train_state(r.out / "generator.safetensors", parse(j)),
                    Catch::Contains("not an anycost training checkpoint"));
}

TEST_CASE("trainer: hostile checkpoints (NaN state, bad metadata, a stored config beyond the limits) are FormatErrors") {
  Run r;
  nlohmann::json j = tiny_config();
  j["steps"] = {{"1", 2}};
  {
    train::Trainer t(parse(j), r.options());
    t.run();
  }
  const auto ckpts = train::list_checkpoints(r.out / "checkpoints");
  REQUIRE(!ckpts.empty());
  const io::SafetensorsFile good = io::load_safetensors(ckpts.back());
  // `good` with tensor `name` (when given) holding a NaN and metadata `key` (when given) set to `value`.
  auto edited = [&](const std::string& file, const std::string& name, const std::string& key, const std::string& value) {
    std::vector<std::pair<std::string, Tensor>> items;
    for (const std::string& n : good.names) {
      Tensor t = good.at(n).clone();
      if (n == name) t.data<float>()[0] = NAN;
      items.emplace_back(n, t);
    }
    std::map<std::string, std::string> meta = good.metadata;
    if (value == "<erase>") meta.erase(key); else if (!key.empty()) meta[key] = value;
    const auto path = r.dir / file;
    io::save_safetensors(path, items, meta);
    return path;
  };
  auto load_error = [&](const std::filesystem::path& p) {
    return anycost_test::message_of<FormatError>([&] { train::load_train_state(p, parse(j)); });
  };
  CHECK_THAT(load_error(edited("g_nan.safetensors", "g.style.1.weight", "", "")),
             Catch::Contains("g_nan.safetensors' (g): tensor 'style.1.weight' holds NaN at [0, 0]"));
  std::string adam_key;
  for (const std::string& n : good.names)
    if (n.rfind("g_optim.", 0) == 0 && good.at(n).dtype() == DType::float32 && good.at(n).numel() > 0) adam_key = n;
  REQUIRE(!adam_key.empty());
  CHECK_THAT(load_error(edited("adam_nan.safetensors", adam_key, "", "")),
             Catch::Contains("tensor '" + adam_key + "' holds NaN"));
  // Metadata: an unreadable list used to escape as std::invalid_argument ("stoll"), a missing one as
  // std::out_of_range ("map::at").
  CHECK_THAT(load_error(edited("skipped_text.safetensors", "", "skipped", "1,x")),
             Catch::Contains("metadata skipped = '1,x' is not a list of non-negative integers"));
  CHECK_THAT(load_error(edited("skipped_missing.safetensors", "", "skipped", "<erase>")),
             Catch::Contains("no metadata 'skipped'"));
  CHECK(train::load_train_state(edited("skipped_ok.safetensors", "", "skipped", "1,3"), parse(j)).skipped ==
        std::vector<std::int64_t>{1, 3});
  // The stored config is parsed within the limits of a config file (train_config_limits).
  const std::string deep = "{\"steps\": " + std::string(100, '[') + std::string(100, ']') + "}";
  CHECK_THAT(load_error(edited("deep.safetensors", "", "config", deep)),
             Catch::Contains("deep.safetensors': stored config: nested deeper than 8 levels"));
  const std::string big = "{\"steps\": {\"1\": 2}, \"pad\": \"" + std::string(1u << 20, 'x') + "\"}";
  CHECK_THAT(load_error(edited("big.safetensors", "", "config", big)),
             Catch::Contains("big.safetensors': stored config: ") && Catch::Contains("more than the limit of 1048576"));
  CHECK_THAT(anycost_test::message_of<FormatError>(
                 [&] { train::stored_config(io::load_safetensors(edited("not_json.safetensors", "", "config", "{\"steps\":"))); }),
             Catch::Contains("stored config is not valid JSON"));

  // A resumed run skips a hostile newest checkpoint, with a warning naming it, and resumes from the one before.
  const auto newest = train::checkpoint_path(r.out / "checkpoints", 99);
  std::filesystem::copy_file(r.dir / "adam_nan.safetensors", newest);
  train::Trainer t(parse(j), r.options(true));
  CHECK(t.state().iteration == 2);
  CHECK_THAT(r.log.str(), Catch::Contains("cannot use checkpoint " + newest.string()) && Catch::Contains("holds NaN"));
}
