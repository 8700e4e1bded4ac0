// TrainConfig parsing: defaults are the official recipe, every key is read, and bad input names the key.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "anycost/train/config.hpp"

using namespace anycost;
using train::parse_train_config;
using nlohmann::json;

namespace {
json minimal() { return json::parse(R"({"steps": {"1": 10}})"); }

std::string error_of(const json& j) {
  try {
    (void)parse_train_config(j);
  } catch (const ValueError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("train config: defaults are the official recipe") {
  const train::TrainConfig c = parse_train_config(minimal());
  CHECK(c.adam.lr == 0.002);
  CHECK(c.adam.beta1 == 0.0);
  CHECK(c.adam.beta2 == 0.99);
  CHECK_FALSE(c.lazy_regularization);
  CHECK(c.mixing == 0.9);
  CHECK(c.r1_gamma == 10.0);
  CHECK(c.r1_interval == 16);
  CHECK(c.pl_weight == 2.0);
  CHECK(c.pl_interval == 8);
  CHECK(c.pl_batch_shrink == 2);
  CHECK(c.pl_decay == 0.01);
  CHECK(c.n_res == 4);
  CHECK(c.n_sampled_res == 2);
  CHECK(c.distill_alpha == 2.0);
  CHECK(c.min_channel == 8);
  CHECK(c.divided_by == 4);
  CHECK(c.generator.lr_mlp == 0.01);
  // Half-life 10 kimg at batch 32: 0.5^(32/10000).
  train::TrainConfig b = c;
  b.batch = 32;
  CHECK(b.ema_beta() == Approx(0.997784).epsilon(1e-6));
}

TEST_CASE("train config: the stage schedule") {
  const train::TrainConfig c = parse_train_config(json::parse(
      R"({"steps": {"1": 5, "2": 0, "3": 7}, "generator": {"resolution": 64, "channels": [32, 32, 32, 16, 8]},
          "multi_res": {"n_res": 3}})"));
  CHECK(c.total_steps() == 12);
  CHECK(c.stage_at(0) == 1);
  CHECK(c.stage_at(4) == 1);
  CHECK(c.stage_at(5) == 3);
  CHECK(c.stage_at(11) == 3);
  CHECK(c.stage_begin(3) == 5);
  CHECK(c.resolutions(1) == std::vector<int>{64});
  CHECK(c.resolutions(3) == std::vector<int>{64, 32, 16});
}

TEST_CASE("train config: every value is read") {
  const train::TrainConfig c = parse_train_config(json::parse(R"({
    "steps": {"1": 1, "2": 2, "3": 3}, "batch": 8, "seed": 7, "mixing": 0.5,
    "generator": {"resolution": 16, "style_dim": 32, "n_mlp": 2, "channels": [16, 16, 8], "lr_mlp": 0.1},
    "discriminator": {"channels": [16, 16, 8]},
    "optimizer": {"lr": 0.001, "beta1": 0.1, "beta2": 0.9, "eps": 1e-6, "lazy_regularization": true},
    "r1": {"gamma": 1, "interval": 4}, "path_length": {"weight": 1, "interval": 2, "batch_shrink": 4, "decay": 0.1},
    "multi_res": {"n_res": 2, "n_sampled": 1},
    "channels": {"sampler": "flexible", "min_channel": 4, "divided_by": 2, "sort_samples": 100},
    "distill": {"alpha": 1.5}, "ema": {"half_life_kimg": 2},
    "checkpoint": {"every": 3, "keep": 2}, "samples": {"every": 4, "n": 2}, "log": {"every_seconds": 0},
    "data": {"workers": 1, "prefetch": 2, "cache_mb": 0, "xflip": false}})"));
  CHECK(c.batch == 8);
  CHECK(c.seed == 7);
  CHECK(c.mixing == 0.5);
  CHECK(c.generator.channels == std::vector<int>{16, 16, 8});
  CHECK(c.generator.lr_mlp == 0.1);
  CHECK(c.d_channels == std::vector<int>{16, 16, 8});
  CHECK(c.adam.eps == 1e-6);
  CHECK(c.lazy_regularization);
  CHECK(c.r1_interval == 4);
  CHECK(c.pl_batch_shrink == 4);
  CHECK(c.n_sampled_res == 1);
  CHECK(c.sampler == train::ChannelSampler::flexible);
  CHECK(c.sort_samples == 100);
  CHECK(c.distill_alpha == 1.5);
  CHECK(c.ema_half_life_kimg == 2);
  CHECK(c.checkpoint_keep == 2);
  CHECK(c.sample_count == 2);
  CHECK(c.workers == 1);
  CHECK_FALSE(c.xflip);
}

TEST_CASE("train config: bad input names the key and the problem") {
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "r1": {"gama": 10}})")),
             Catch::Contains("unknown key 'r1.gama'") && Catch::Contains("gamma"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "bacth": 4})")), Catch::Contains("unknown key 'bacth'"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "batch": "4"})")),
             Catch::Contains("batch must be a number"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "batch": 2.5})")), Catch::Contains("must be an integer"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "mixing": 1.5})")),
             Catch::Contains("mixing is 1.5, must be in [0, 1]"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 0}})")), Catch::Contains("steps gives no iterations"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"4": 10}})")), Catch::Contains("unknown key 'steps.4'"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "batch": 6})")),
             Catch::Contains("batch 6 is not divisible"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "channels": {"sampler": "random"}})")),
             Catch::Contains("channels.sampler is 'random'"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "generator": {"resolution": 48}})")),
             Catch::Contains("generator") && Catch::Contains("48"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "generator": {"resolution": 32, "channels": [8, 8]}})")),
             Catch::Contains("generator"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "discriminator": {"channels": [8, 8]}})")),
             Catch::Contains("discriminator.channels lists 2 widths"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"1": 10}, "multi_res": {"n_res": 2, "n_sampled": 3}})")),
             Catch::Contains("n_sampled (3) exceeds"));
  CHECK_THAT(error_of(json::parse(R"({"steps": {"3": 10}, "multi_res": {"n_res": 4}})")),
             Catch::Contains("goes below 8x8"));
  CHECK_THAT(error_of(json::parse(R"([1, 2])")), Catch::Contains("must be a JSON object"));
}

TEST_CASE("train config: files, JSON errors and relative paths") {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "anycost_train_config_test";
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "good.json") << R"({
      // comments are allowed
      "steps": {"2": 3}, "multi_res": {"n_res": 2}, "init": {"generator": "g.safetensors", "teacher": "/abs/t.safetensors"},
      "distill": {"lpips": "weights/vgg.safetensors"}})";
    std::ofstream(dir / "bad.json") << R"({"steps": {"1": 3},)";
  }
  const train::TrainConfig c = train::load_train_config(dir / "good.json");
  CHECK(c.init_generator == dir / "g.safetensors");
  CHECK(c.init_teacher == std::filesystem::path("/abs/t.safetensors"));
  CHECK(c.lpips == dir / "weights/vgg.safetensors");
  CHECK_THROWS_WITH(train::load_train_config(dir / "bad.json"),
                    Catch::Contains("bad.json' is not valid JSON"));
  CHECK_THROWS_AS(train::load_train_config(dir / "missing.json"), IoError);
  std::filesystem::remove_all(dir);
}
