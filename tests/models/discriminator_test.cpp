// The discriminators against the official PyTorch models (fixtures of tools/golden/make_discriminator_goldens.py):
// logits of the single- and multi-resolution (conditioned) D at every input resolution, architecture code and
// batch 1/2/4/8, in float32 and float64; checkpoint round trips and errors; stage transfer; bad inputs.
//
// Tolerances (measured with ANYCOST_REPORT_TOLERANCES=1 ./test_models "[discriminator]", the worst
// |logit - reference| over all cases): float32 3.3e-7 (tolerance 1e-5 + 1e-6 relative), float64 7.8e-16
// (tolerance 1e-12).
#include <anycost/anycost.hpp>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "support/discriminator_golden.hpp"

using namespace anycost;
using namespace anycost::models;
using anycost::test::discriminator_golden;
using anycost::test::max_abs_diff;

namespace {
const char* const code_names[] = {"u0.25", "u0.5", "u0.75", "u1", "flex"};

Discriminator as_dtype(const Discriminator& d, DType dtype) {
  Discriminator out = nn::deep_copy(d);
  nn::to_dtype(out, dtype);
  return out;
}
}  // namespace

TEST_CASE("Discriminator fixtures: architecture inferred from the official state dicts", "[discriminator]") {
  const auto& gold = discriminator_golden();
  CHECK(gold.single.resolution() == 32);
  CHECK_FALSE(gold.single.multi_res());
  CHECK_FALSE(gold.single.conditioned());
  CHECK(gold.single.input_resolutions() == std::vector<int>{32});
  CHECK(gold.single.config().channels == std::vector<int>{16, 16, 16, 8});
  CHECK(gold.multi.n_inputs() == 3);
  CHECK(gold.multi.conditioned());
  CHECK(gold.multi.arch_dim() == 32);
  CHECK(gold.multi.input_resolutions() == std::vector<int>{32, 16, 8});
  // The reference's own table (channel_multiplier 1/64, channel_max 16) gives the same widths.
  DiscriminatorConfig c{.resolution = 32, .channel_multiplier = 1.0 / 64, .channel_max = 16};
  CHECK(c.table().widths() == gold.multi.config().channels);
  CHECK(DiscriminatorConfig::matching(gold.g.config(), 3, true).arch_dim == 32);
  CHECK(DiscriminatorConfig::matching(gold.g.config(), 3, true).channels == std::vector<int>{16, 16, 16, 8});
}

TEST_CASE("Discriminator logits match the official models", "[discriminator][parity]") {
  const auto& gold = discriminator_golden();
  for (DType dtype : {DType::float32, DType::float64}) {
    const double atol = dtype == DType::float32 ? 1e-5 : 1e-12, rtol = dtype == DType::float32 ? 1e-6 : 0;
    const Discriminator single = as_dtype(gold.single, dtype), multi = as_dtype(gold.multi, dtype);
    NoGradGuard no_grad;
    double worst = 0;
    for (std::int64_t b : {1, 2, 4, 8}) {
      const std::string key = "single_b" + std::to_string(b);
      INFO(key << " " << dtype);
      const Var y = single.forward(gold.images(32, b, dtype));
      const auto r = test::compare_close(y.data(), gold[key], rtol, atol);
      CHECK(r.ok);
      worst = std::max(worst, r.max_abs_error);
      for (int res : {32, 16, 8})
        for (const char* c : code_names) {
          const std::string k = "multi_r" + std::to_string(res) + "_" + c + "_b" + std::to_string(b);
          INFO(k);
          const Var ym = multi.forward(gold.images(res, b, dtype), gold.var(std::string("code_") + c, dtype));
          const auto rm = test::compare_close(ym.data(), gold[k], rtol, atol);
          CHECK(rm.ok);
          worst = std::max(worst, rm.max_abs_error);
        }
    }
    test::report_error(std::string("discriminator logits, ") + (dtype == DType::float32 ? "float32" : "float64"),
                       worst);
  }
}

TEST_CASE("Discriminator: the architecture code changes the logits, codes are shared by the batch",
          "[discriminator]") {
  const auto& gold = discriminator_golden();
  NoGradGuard no_grad;
  const Var x = gold.images(16, 4, DType::float32);
  const Var a = gold.multi.forward(x, gold.var("code_u1", DType::float32));
  const Var b = gold.multi.forward(x, gold.var("code_u0.25", DType::float32));
  CHECK(max_abs_diff(a.data(), b.data()) > 1e-3);
  // [arch_dim] and [1, arch_dim] are the same code.
  const Var c = gold.multi.forward(x, Var(gold["code_u1"].to(DType::float32).reshape({32})));
  CHECK(max_abs_diff(a.data(), c.data()) == 0);
}

TEST_CASE("Discriminator forward is thread-safe", "[discriminator]") {
  const auto& gold = discriminator_golden();
  const Var x = gold.images(32, 4, DType::float32), code = gold.var("code_flex", DType::float32);
  Tensor expected;
  {
    NoGradGuard g;
    expected = gold.multi.forward(x, code).data();
  }
  std::vector<Tensor> got(4);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&, i] {
      NoGradGuard g;
      got[static_cast<std::size_t>(i)] = gold.multi.forward(x, code).data();
    });
  for (auto& t : ts) t.join();
  for (const Tensor& t : got) CHECK(max_abs_diff(t, expected) == 0);
}

TEST_CASE("Discriminator bad inputs are rejected by name", "[discriminator][errors]") {
  const auto& gold = discriminator_golden();
  const Var code = gold.var("code_u1", DType::float32);
  Rng rng(1);
  CHECK_THROWS_WITH(gold.multi.forward(Var(randn({2, 3, 4, 4}, rng)), code),
                    Catch::Contains("input resolution 4 is not one of {32, 16, 8}"));
  CHECK_THROWS_WITH(gold.single.forward(Var(randn({2, 3, 16, 16}, rng))),
                    Catch::Contains("input resolution 16 is not one of {32}"));
  CHECK_THROWS_WITH(gold.multi.forward(Var(randn({2, 1, 16, 16}, rng)), code), Catch::Contains("are not [B, 3, r, r]"));
  CHECK_THROWS_WITH(gold.multi.forward(Var(randn({2, 3, 16, 16}, rng))),
                    Catch::Contains("conditioned and needs an architecture code of length 32"));
  CHECK_THROWS_WITH(gold.multi.forward(Var(randn({2, 3, 16, 16}, rng)), Var(Tensor::zeros({1, 30}))),
                    Catch::Contains("architecture code [1, 30] is not [1, 32]"));
  CHECK_THROWS_WITH(gold.single.forward(Var(randn({2, 3, 32, 32}, rng)), code),
                    Catch::Contains("unconditioned discriminator"));
  CHECK_THROWS_WITH(gold.single.forward(Var(randn({6, 3, 32, 32}, rng))),
                    Catch::Contains("batch 6 is not divisible by the group size 4"));
  CHECK_THROWS_WITH(gold.single.forward(Var(randn({2, 3, 32, 32}, rng, DType::float64))),
                    Catch::Contains("images are float64"));
  CHECK_THROWS_AS(Discriminator(DiscriminatorConfig{.resolution = 24}), ValueError);
  CHECK_THROWS_WITH(Discriminator(DiscriminatorConfig{.resolution = 32, .n_inputs = 1, .arch_dim = 32}),
                    Catch::Contains("n_inputs must be > 1"));
  CHECK_THROWS_WITH(Discriminator(DiscriminatorConfig{.resolution = 32, .n_inputs = 4}),
                    Catch::Contains("n_inputs 4 outside [1, 3]"));
  CHECK_THROWS_WITH(Discriminator(DiscriminatorConfig{.resolution = 32, .channels = {8, 8, 8}}),
                    Catch::Contains("describe a 16x16 discriminator"));
}

TEST_CASE("Discriminator checkpoints round-trip and reject bad state dicts", "[discriminator][checkpoint]") {
  const auto dir = std::filesystem::temp_directory_path() / "anycost_disc_ckpt_test";
  std::filesystem::create_directories(dir);
  for (const DiscriminatorConfig& cfg :
       {DiscriminatorConfig{.resolution = 16, .channels = {8, 12, 6}},
        DiscriminatorConfig{.resolution = 32, .channels = {8, 8, 12, 6}, .n_inputs = 2},
        DiscriminatorConfig{.resolution = 32, .channels = {8, 8, 12, 6}, .n_inputs = 3, .arch_dim = 12}}) {
    const Discriminator d(cfg, 7);
    const auto path = dir / "d.safetensors";
    save_discriminator(path, d);
    const Discriminator e = load_discriminator(path);
    CHECK(e.config().resolution == cfg.resolution);
    CHECK(e.config().channels == cfg.channels);
    CHECK(e.n_inputs() == cfg.n_inputs);
    CHECK(e.arch_dim() == cfg.arch_dim);
    const auto a = discriminator_state(d), b = discriminator_state(e);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].first == b[i].first);
      CHECK(max_abs_diff(a[i].second, b[i].second) == 0);
    }
  }
  // Errors name the problem.
  const Discriminator d(DiscriminatorConfig{.resolution = 16, .channels = {8, 8, 8}, .n_inputs = 2, .arch_dim = 4}, 3);
  StateTensors st;
  for (const auto& [k, v] : discriminator_state(d)) st[k] = v;
  {
    StateTensors m = st;
    m.erase("final_linear.1.bias");
    CHECK_THROWS_WITH(discriminator_from_state(m), Catch::Contains("missing 1 tensor") &&
                                                       Catch::Contains("'final_linear.1.bias'"));
    m = st;
    m.erase("blocks.1.conv2.0.kernel");  // constant blur kernels may be absent
    CHECK(discriminator_from_state(m).arch_dim() == 4);
    m = st;
    m["blocks.9.extra"] = Tensor::zeros({2});
    CHECK_THROWS_WITH(discriminator_from_state(m), Catch::Contains("1 unexpected tensor") &&
                                                       Catch::Contains("'blocks.9.extra'"));
    m = st;
    m["final_conv.1.bias"] = Tensor::zeros({7});
    CHECK_THROWS_WITH(discriminator_from_state(m), Catch::Contains("tensor 'final_conv.1.bias' has shape [7]") &&
                                                       Catch::Contains("needs [8]"));
    m = st;
    m["blocks.1.conv1.1.weight_mapping.weight"] = Tensor::zeros({8, 5});
    // arch_dim is read from the last block, so the first block is the one that does not fit.
    CHECK_THROWS_WITH(discriminator_from_state(m), Catch::Contains("'blocks.0.conv1.1.weight_mapping.weight' has shape [8, 4]") &&
                                                       Catch::Contains("needs [8, 5]"));
    m = st;
    m["final_linear.0.bias"] = Tensor::zeros({8}, DType::float64);
    CHECK_THROWS_WITH(discriminator_from_state(m), Catch::Contains("expected float32"));
    CHECK_THROWS_WITH(discriminator_from_state(StateTensors{{"style.1.weight", Tensor::zeros({4, 4})}}),
                      Catch::Contains("not an anycost discriminator checkpoint"));
  }
  // A truncated file is rejected by the safetensors reader.
  const auto path = dir / "t.safetensors";
  save_discriminator(path, d);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 5);
  CHECK_THROWS_AS(load_discriminator(path), FormatError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("Stage transfer: to_multi_res keeps the full-resolution logits, to_conditioned starts near them",
          "[discriminator][transfer]") {
  const auto& gold = discriminator_golden();
  NoGradGuard no_grad;
  Rng rng(11);
  const Discriminator multi = to_multi_res(gold.single, 3, rng);
  CHECK(multi.input_resolutions() == std::vector<int>{32, 16, 8});
  CHECK_FALSE(multi.conditioned());
  const Var x = gold.images(32, 8, DType::float32);
  const Tensor y_single = gold.single.forward(x).data();
  CHECK(max_abs_diff(multi.forward(x).data(), y_single) == 0);
  // Copies, not shared: changing the source leaves the result alone.
  CHECK(multi.blocks[0].conv1.conv.weight.data().raw_data() != gold.single.blocks[0].conv1.conv.weight.data().raw_data());
  // The new fromRGB layers are random (N(0, 1) weights, zero biases) and usable.
  CHECK(test::max_abs(multi.from_rgb[1].conv.weight.data()) > 0.5);
  CHECK(test::max_abs(multi.from_rgb[1].act->bias.data()) == 0);
  CHECK(multi.forward(gold.images(16, 4, DType::float32)).shape() == Shape{4, 1});

  const Discriminator cond = to_conditioned(multi, 32, rng);
  CHECK(cond.arch_dim() == 32);
  CHECK(max_abs_diff(cond.final_linear0.weight.data(), multi.final_linear0.weight.data()) == 0);
  CHECK(max_abs_diff(cond.blocks[2].conv1.act->bias.data(), multi.blocks[2].conv1.act->bias.data()) == 0);
  // FiLM starts at scale 1 + A g + a, shift B g + b with U(+-1/sqrt(32)) weights: near the identity per layer
  // (a code with 8 ones moves each channel's scale by ~0.3 rms), but six modulated layers compound. Measured
  // over the five codes with this fixture (ANYCOST_REPORT_TOLERANCES=1): the largest logit change is 1.03 x
  // max |logit| of the source D, so the conditioned D starts correlated with, not equal to, its source.
  double worst = 0;
  for (const char* c : code_names) {
    const Tensor y = cond.forward(x, gold.var(std::string("code_") + c, DType::float32)).data();
    worst = std::max(worst, max_abs_diff(y, y_single) / test::max_abs(y_single));
  }
  test::report_error("to_conditioned: logit change relative to max |logit|", worst);
  CHECK(worst > 0);
  CHECK(worst < 2.0);
  // Per layer: |A g + a| <= (ones in g + 1) / sqrt(32) for U(+-1/sqrt(32)) weights.
  const nn::FilmParams f = cond.blocks[2].conv1.modulate->params(gold.var("code_u1", DType::float32));
  CHECK(test::max_abs(Var(f.scale - 1.0).data()) <= 9 / std::sqrt(32.0));
  CHECK(test::max_abs(Var(f.scale - 1.0).data()) > 0);
  CHECK_THROWS_WITH(to_multi_res(multi, 3, rng), Catch::Contains("already a multi-resolution"));
  CHECK_THROWS_WITH(to_conditioned(gold.single, 32, rng), Catch::Contains("unconditioned multi-resolution"));
}

TEST_CASE("Discriminator works with deep_copy, dtype moves and optim::parameters", "[discriminator]") {
  const auto& gold = discriminator_golden();
  Discriminator d = nn::deep_copy(gold.multi);
  CHECK(d.final_conv.conv.weight.data().raw_data() != gold.multi.final_conv.conv.weight.data().raw_data());
  const auto params = optim::named_parameters(d);
  CHECK(params.size() == 51);  // 3 fromRGB x 2, block 0: 5, blocks 1-2: 5 + 3 x 4 each, 2 + 4 final
  CHECK(params.front().name == "convs.0.0.weight");
  CHECK(nn::parameter_count(d) > 10000);
}

// Registered by tests/models/CMakeLists.txt ("models: converter round trip") after
// tools/convert_checkpoint.py --self-test has converted the `d` entry of a training checkpoint that holds the
// official DiscriminatorMultiRes fixture: loaded here and compared with PyTorch's logits.
TEST_CASE("A discriminator converted by tools/convert_checkpoint.py --entry d loads and matches PyTorch",
          "[.converted]") {
  const char* dir = std::getenv("ANYCOST_CONVERTED_DIR");
  REQUIRE(dir != nullptr);
  const Discriminator d = load_discriminator(std::filesystem::path(dir) / "tiny_discriminator.safetensors");
  CHECK(d.n_inputs() == 3);
  CHECK(d.arch_dim() == 32);
  const auto& gold = discriminator_golden();
  NoGradGuard no_grad;
  for (int r : {32, 16, 8}) {
    const Var y = d.forward(gold.images(r, 4, DType::float32), gold.var("code_flex", DType::float32));
    CHECK(max_abs_diff(y.data(), gold["multi_r" + std::to_string(r) + "_flex_b4"]) < 1e-4);
  }
}
