// The projection encoder (models/encoder.hpp, models/encoder_checkpoint.hpp) against PyTorch: a small
// random-weight encoder in the official state_dict layout and its outputs, written by
// tools/golden/make_encoder_goldens.py (plain-PyTorch reference tools/reference/anycost_encoder.py, float64):
// eval-mode outputs, train-mode outputs, parameter and input gradients and the running statistics after one
// train-mode forward. Also: architecture inference, save/load round trip, malformed files, BatchNorm2d
// gradients against finite differences.
#include "models/models_test_support.hpp"

#include <cstdlib>

#include "support/gradcheck.hpp"

using namespace anycost;
using namespace anycost::models;

namespace {
std::filesystem::path encoder_data(const std::string& file) {
  return std::filesystem::path(ANYCOST_TEST_DATA_DIR) / "encoder" / file;
}
std::filesystem::path encoder_temp(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "anycost_encoder_test";
  std::filesystem::create_directories(dir);
  return dir / name;
}
// max |a - e| / max |e|: the error relative to the reference's scale.
double relative_error(const Tensor& a, const Tensor& e) {
  return test::max_abs_diff(a, e) / std::max(test::max_abs(e), 1e-30);
}
}  // namespace

TEST_CASE("An encoder file in the official layout loads with its architecture inferred", "[encoder]") {
  const Encoder e = load_encoder(encoder_data("encoder.safetensors"));
  CHECK(e.config().blocks == std::vector<int>{2, 1, 1});
  CHECK(e.config().base_width == 4);
  CHECK(e.n_style() == 4);
  CHECK(e.style_dim() == 8);
  CHECK(e.resolution() == 32);
  CHECK(e.layers[0][0].has_downsample());
  CHECK_FALSE(e.layers[0][1].has_downsample());
  CHECK(e.layers[1][0].has_downsample());
  CHECK(e.config().feature_dim() == 64);
  CHECK(load_encoder(encoder_data("encoder.safetensors"), 64).resolution() == 64);
}

// The official layout: ResNet-50 (torchvision's trunk, 23,508,032 parameters) with fc 2048 -> 18 x 512 and the
// 321 state_dict entries of the official encoder_*.pt (counted on tools/reference/anycost_encoder.py).
TEST_CASE("The default encoder is the official ResNet-50 layout", "[encoder]") {
  const Encoder e(EncoderConfig{}, nn::Init::none());
  CHECK(e.config().feature_dim() == 2048);
  CHECK(e.fc_weight.shape() == Shape{18 * 512, 2048});
  Encoder m = e;
  std::int64_t trunk = 0;
  nn::visit_parameters(m, [&](const std::string& name, Var& p) {
    if (name.rfind("fc.", 0) != 0) trunk += p.numel();
  });
  CHECK(trunk == 23508032);
  CHECK(nn::parameter_count(m) == 42391616);
  CHECK(module_state(e).size() == 321);
  CHECK(module_state(e).back().first == "mean_latent");
}

TEST_CASE("Encoder outputs match PyTorch in eval and train mode, with gradients and running statistics",
          "[encoder]") {
  const io::SafetensorsFile cases = io::load_safetensors(encoder_data("cases.safetensors"));
  const Tensor x = cases.tensors.at("x");
  for (const DType dtype : {DType::float64, DType::float32}) {
    DYNAMIC_SECTION((dtype == DType::float64 ? "float64" : "float32")) {
      const double tol = dtype == DType::float64 ? 1e-9 : 1e-4;
      Encoder e = load_encoder(encoder_data("encoder.safetensors"));
      nn::to_dtype(e, dtype);
      {
        NoGradGuard no_grad;
        const double err = relative_error(e.forward(Var(x.to(dtype))).data(), cases.tensors.at("eval"));
        INFO("eval-mode relative error " << err);
        CHECK(err < tol);
      }
      const Var xv(x.to(dtype), true);
      std::vector<nn::BatchStats> stats;
      const Var out = e.forward(xv, &stats);
      const double err = relative_error(out.data(), cases.tensors.at("train"));
      INFO("train-mode relative error " << err);
      CHECK(err < tol);

      std::vector<std::string> names;
      std::vector<Var> inputs{xv};
      nn::visit_parameters(e, [&](const std::string& name, Var& p) {
        if (cases.contains("grad." + name)) {
          names.push_back(name);
          inputs.push_back(p);
        }
      });
      REQUIRE(names.size() == 9);
      const std::vector<Var> g = grad({sum(out * Var(cases.tensors.at("r").to(dtype)))}, inputs);
      CHECK(relative_error(g[0].data(), cases.tensors.at("grad.x")) < tol * 10);
      for (std::size_t i = 0; i < names.size(); ++i) {
        const double gerr = relative_error(g[i + 1].data(), cases.tensors.at("grad." + names[i]));
        INFO("gradient of " << names[i] << ": relative error " << gerr);
        CHECK(gerr < tol * 10);
      }

      e.update_running_stats(stats);
      const auto state = module_state(e);
      const StateTensors st(state.begin(), state.end());
      int checked = 0;
      for (const auto& [key, ref] : cases.tensors) {
        if (key.rfind("after.", 0) != 0) continue;
        const double serr = relative_error(st.at(key.substr(6)), ref);
        INFO(key << ": relative error " << serr);
        CHECK(serr < tol);
        ++checked;
      }
      CHECK(checked == 9);
    }
  }
}

TEST_CASE("Encoder files round trip, and bad files name the problem", "[encoder]") {
  Rng rng(3);
  Encoder e(EncoderConfig{.blocks = {1, 1}, .base_width = 2, .resolution = 16, .n_style = 3, .style_dim = 4}, rng);
  e.mean_latent = Tensor::from_vector(std::vector<float>{1, -2, 3, 0.5f}, {4});
  // A fresh encoder (fc at zero) predicts the mean latent in every row.
  Rng xr(4);
  const Tensor x = rand(Shape{2, 3, 16, 16}, xr);
  {
    NoGradGuard no_grad;
    const Tensor w = e.forward(Var(x)).data();
    CHECK(test::max_abs_diff(w, e.mean_latent.reshape({1, 1, 4}).expand({2, 3, 4}).contiguous()) == 0);
  }
  nn::visit_parameters(e, [&](const std::string&, Var& p) { p = Var(randn(p.shape(), rng), true); });
  const auto path = encoder_temp("round_trip.safetensors");
  save_encoder(path, e, {{"note", "test"}});
  const io::SafetensorsFile f = io::load_safetensors(path);
  CHECK(f.metadata.at("format") == "anycost-encoder");
  CHECK(f.metadata.at("resolution") == "16");
  CHECK(f.names.front() == "conv1.weight");
  CHECK(f.contains("layer1.0.downsample.1.num_batches_tracked"));
  CHECK(f.contains("layer2.0.conv3.weight"));
  const Encoder h = load_encoder(path);
  CHECK(h.config().blocks == e.config().blocks);
  NoGradGuard no_grad;
  CHECK(test::max_abs_diff(h.forward(Var(x)).data(), e.forward(Var(x)).data()) == 0);

  auto state = module_state(e);
  const auto write_without = [&](const std::string& drop, const std::string& reshape_key) {
    std::vector<std::pair<std::string, Tensor>> kept;
    for (const auto& [k, t] : state) {
      if (k == drop) continue;
      kept.emplace_back(k, k == reshape_key ? Tensor::zeros({t.numel() + 1}) : t);
    }
    const auto p = encoder_temp("bad.safetensors");
    io::save_safetensors(p, kept, {{"format", "anycost-encoder"}});
    return p;
  };
  const auto message = [](const std::filesystem::path& p) -> std::string {
    try {
      load_encoder(p);
    } catch (const Error& err) {
      return err.what();
    }
    return "no error";
  };
  CHECK_THAT(message(write_without("layer2.0.bn2.running_var", "")),
             Catch::Contains("missing 1 tensor") && Catch::Contains("'layer2.0.bn2.running_var'"));
  CHECK_THAT(message(write_without("", "layer1.0.conv2.weight")),
             Catch::Contains("'layer1.0.conv2.weight' has shape [37]"));
  CHECK_THAT(message(write_without("mean_latent", "")), Catch::Contains("no tensor 'mean_latent'"));
  CHECK_THAT(message(write_without("", "fc.weight")), Catch::Contains("'fc.weight'"));
  CHECK_THROWS_AS(load_encoder(encoder_temp("missing.safetensors")), IoError);
  CHECK_THROWS_AS(e.forward(Var(Tensor::zeros({1, 3, 8, 8}))), ShapeError);
}

// tools/convert_checkpoint.py --self-test (ctest "models: converter round trip") has converted a tiny PyTorch
// encoder saved as {'state_dict': ...} into $ANYCOST_CONVERTED_DIR, with its eval-mode outputs.
TEST_CASE("An encoder converted by tools/convert_checkpoint.py --entry encoder loads and matches PyTorch",
          "[.converted]") {
  const char* dir = std::getenv("ANYCOST_CONVERTED_DIR");
  REQUIRE(dir != nullptr);
  const std::filesystem::path d(dir);
  const Encoder e = load_encoder(d / "tiny_encoder.safetensors");
  CHECK(e.config().blocks == std::vector<int>{1, 2});
  CHECK(e.resolution() == 16);
  CHECK(e.n_style() == 3);
  const io::SafetensorsFile ref = io::load_safetensors(d / "tiny_encoder_reference.safetensors");
  NoGradGuard no_grad;
  CHECK(relative_error(e.forward(Var(ref.at("x"))).data(), ref.at("wplus")) < 1e-4);
}

TEST_CASE("BatchNorm2d: gradients against finite differences, running-statistics update", "[encoder][batch_norm]") {
  Rng rng(5);
  nn::BatchNorm2d bn(3, rng, DType::float64);
  bn.running_mean = test::rand64({3}, 6);
  bn.running_var = test::positive64({3}, 7);
  const auto train = [&](const std::vector<Var>& v) {
    nn::BatchNorm2d b = bn;
    b.weight = v[1];
    b.bias = v[2];
    return Var(sum(b.forward_batch(v[0]) * Var(test::rand64({2, 3, 2, 3}, 8))));
  };
  const auto eval = [&](const std::vector<Var>& v) {
    nn::BatchNorm2d b = bn;
    b.weight = v[1];
    b.bias = v[2];
    return Var(sum(test::sq(b.forward(v[0]))));
  };
  CHECK_GRADIENTS(train, test::rand64({2, 3, 2, 3}, 9), test::positive64({3}, 10), test::rand64({3}, 11));
  CHECK_GRADIENTS(eval, test::rand64({2, 3, 2, 3}, 12), test::positive64({3}, 13), test::rand64({3}, 14));

  // Batch statistics: zero mean, unit variance per channel before the affine part.
  const Tensor x = test::rand64({4, 3, 2, 2}, 15);
  nn::BatchStats s;
  NoGradGuard no_grad;
  const Var y = bn.forward_batch(Var(x), &s);
  const Tensor m = mean(Var((y - reshape(bn.bias, {1, 3, 1, 1})) / reshape(bn.weight, {1, 3, 1, 1})), {0, 2, 3}).data();
  CHECK(test::max_abs(m) < 1e-12);
  CHECK(s.count == 16);
  const std::vector<double> before = bn.running_var.to_vector<double>(), var = s.var.to_vector<double>();
  bn.update_running_stats(s);
  CHECK(bn.running_var.to_vector<double>()[1] == Approx(0.9 * before[1] + 0.1 * var[1] * 16.0 / 15.0));
  CHECK(bn.num_batches_tracked.item() == 1);
  CHECK_THROWS_AS(bn.forward_batch(Var(test::rand64({1, 3, 1, 1}, 16))), ShapeError);
  CHECK_THROWS_AS(bn.forward(Var(test::rand64({1, 2, 1, 1}, 16))), ShapeError);
}
