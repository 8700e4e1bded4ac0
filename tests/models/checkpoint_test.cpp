// Generator checkpoints: the save/load round trip, architecture inference, malformed files rejected with
// clear errors, and (run by the ctest "models: converter round trip") a checkpoint written by PyTorch and
// converted by tools/convert_checkpoint.py.
#include "models/models_test_support.hpp"

#include <cstdlib>

using namespace anycost;
using namespace anycost::models;
using anycost::test::max_abs_diff;

namespace {
std::filesystem::path temp_file(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "anycost_checkpoint_test";
  std::filesystem::create_directories(dir);
  return dir / name;
}
}  // namespace

TEST_CASE("Checkpoint round trip keeps every tensor and the outputs", "[checkpoint]") {
  const Generator g = test::random_generator({.resolution = 16, .style_dim = 8, .n_mlp = 3, .channel_max = 16,
                                              .lr_mlp = 0.02},
                                             11);
  const auto path = temp_file("round_trip.safetensors");
  save_generator(path, g);
  const io::SafetensorsFile f = io::load_safetensors(path);
  CHECK(f.metadata.at("format") == "anycost-generator");
  CHECK(f.names.front() == "style.1.weight");
  CHECK(f.contains("convs.0.conv.blur.kernel"));
  CHECK(f.contains("to_rgbs.1.upsample.kernel"));
  CHECK(f.contains("noises.noise_4"));
  const Generator h = load_generator(path);
  CHECK(h.config().n_mlp == 3);
  CHECK(h.config().lr_mlp == 0.02);
  CHECK(h.channel_table() == g.channel_table());
  const auto a = generator_state(g), b = generator_state(h);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].first == b[i].first);
    CHECK(max_abs_diff(a[i].second, b[i].second) == 0);
  }
  NoGradGuard no_grad;
  Rng rng(1);
  const Var z(randn({2, 8}, rng));
  const SubnetConfig cfg = g.channel_table().uniform(0.5);
  CHECK(max_abs_diff(g.generate(z, cfg).image.data(), h.generate(z, cfg).image.data()) == 0);
}

TEST_CASE("The state dict follows the reference names and order (10.1)", "[checkpoint]") {
  const Generator g(GeneratorConfig{.resolution = 1024}, nn::Init::none());  // shapes only, nothing drawn
  const auto st = generator_state(g);
  CHECK(st.size() == 171);
  CHECK(st[0].first == "style.1.weight");
  CHECK(st[16].first == "input.input");
  CHECK(st[17].first == "conv1.conv.weight");
  CHECK(st[17].second.shape() == Shape{1, 512, 512, 3, 3});
  std::map<std::string, Shape> shapes;
  for (const auto& [k, v] : st) shapes[k] = v.shape();
  CHECK(shapes.at("convs.8.conv.weight") == Shape{1, 256, 512, 3, 3});
  CHECK(shapes.at("convs.8.conv.modulation.weight") == Shape{512, 512});
  CHECK(shapes.at("convs.9.conv.weight") == Shape{1, 256, 256, 3, 3});
  CHECK(shapes.at("convs.9.conv.modulation.weight") == Shape{256, 512});
  CHECK(shapes.at("convs.14.conv.weight") == Shape{1, 32, 64, 3, 3});
  CHECK(shapes.at("to_rgbs.7.conv.weight") == Shape{1, 3, 32, 1, 1});
  CHECK(shapes.at("to_rgb1.bias") == Shape{1, 3, 1, 1});
  CHECK(shapes.at("noises.noise_16") == Shape{1, 1, 1024, 1024});
  CHECK(shapes.count("convs.1.conv.blur.kernel") == 0);
  CHECK(st.back().first == "noises.noise_16");
  const std::int64_t params = nn::parameter_count(const_cast<Generator&>(g));
  CHECK(params >= 30365000);  // 30.37 M trainable parameters (config F at 1024)
  CHECK(params < 30375000);
}

TEST_CASE("Malformed checkpoints are rejected with clear errors", "[checkpoint]") {
  const io::SafetensorsFile good = io::load_safetensors(test::generator_data("model.safetensors"));
  REQUIRE_NOTHROW(generator_from_state(good.tensors, good.metadata));

  SECTION("missing key") {
    StateTensors st = good.tensors;
    st.erase("convs.3.noise.weight");
    CHECK_THROWS_WITH(generator_from_state(st), Catch::Contains("missing 1 tensor") &&
                                                    Catch::Contains("'convs.3.noise.weight'"));
    st.erase("noises.noise_2");
    CHECK_THROWS_WITH(generator_from_state(st), Catch::Contains("missing 2 tensors"));
  }
  SECTION("missing architecture keys") {
    StateTensors st = good.tensors;
    st.erase("style.1.weight");
    CHECK_THROWS_WITH(generator_from_state(st), Catch::Contains("no tensor 'style.1.weight'"));
    st = good.tensors;
    st.erase("convs.2.conv.weight");
    CHECK_THROWS_WITH(generator_from_state(st), Catch::Contains("no tensor 'convs.2.conv.weight'"));
  }
  SECTION("unexpected key") {
    StateTensors st = good.tensors;
    st["convs.9.conv.weight"] = Tensor::zeros({1, 4, 4, 3, 3});
    CHECK_THROWS_WITH(generator_from_state(st), Catch::Contains("1 unexpected tensor") &&
                                                    Catch::Contains("'convs.9.conv.weight'"));
  }
  SECTION("wrong shape") {
    StateTensors st = good.tensors;
    st["convs.1.conv.weight"] = Tensor::zeros({1, 24, 20, 3, 3});
    CHECK_THROWS_WITH(generator_from_state(st), Catch::Contains("'convs.1.conv.weight' has shape [1, 24, 20, 3, 3]") &&
                                                    Catch::Contains("needs [1, 24, 24, 3, 3]"));
    st = good.tensors;
    st["noises.noise_3"] = Tensor::zeros({1, 1, 8, 8});
    CHECK_THROWS_AS(generator_from_state(st), ShapeError);
    st = good.tensors;
    st["input.input"] = Tensor::zeros({1, 32, 8, 8});
    CHECK_THROWS_WITH(generator_from_state(st), Catch::Contains("expected [1, C, 4, 4]"));
  }
  SECTION("wrong dtype, through a file") {
    std::vector<std::pair<std::string, Tensor>> items;
    for (const std::string& name : good.names) {
      Tensor t = good.at(name);
      if (name == "to_rgbs.0.bias") t = t.to(DType::float64);
      items.emplace_back(name, t);
    }
    const auto path = temp_file("float64.safetensors");
    io::save_safetensors(path, items, good.metadata);
    CHECK_THROWS_WITH(load_generator(path), Catch::Contains("'to_rgbs.0.bias' is float64, expected float32") &&
                                                Catch::Contains(path.string()));
  }
  SECTION("non-finite values: a NaN weight, an infinite buffer, named with their index") {
    // Such a file is corrupt or from a diverged run; loading it would only render black images later.
    StateTensors st = good.tensors;
    Tensor w = st.at("convs.0.conv.weight").clone();
    w.data<float>()[5] = std::nanf("");
    st["convs.0.conv.weight"] = w;
    CHECK_THROWS_WITH(generator_from_state(st, {}, "ckpt"),
                      Catch::Contains("ckpt: tensor 'convs.0.conv.weight' holds NaN at [0, 0, 0, 1, 2]"));
    CHECK_THROWS_AS(generator_from_state(st), FormatError);
    st = good.tensors;
    Tensor noise = st.at("noises.noise_1").clone();
    noise.data<float>()[63] = -INFINITY;
    st["noises.noise_1"] = noise;
    CHECK_THROWS_WITH(generator_from_state(st), Catch::Contains("tensor 'noises.noise_1' holds -inf at [0, 0, 7, 7]"));
    // Through a file: the message names it.
    std::vector<std::pair<std::string, Tensor>> items;
    for (const std::string& name : good.names) items.emplace_back(name, name == "noises.noise_1" ? noise : good.at(name));
    const auto path = temp_file("inf_noise.safetensors");
    io::save_safetensors(path, items, good.metadata);
    CHECK_THROWS_WITH(load_generator(path), Catch::Contains(path.string()) && Catch::Contains("holds -inf"));
  }
  SECTION("bad metadata") {
    CHECK_THROWS_WITH(generator_from_state(good.tensors, {{"lr_mlp", "fast"}}),
                      Catch::Contains("metadata lr_mlp 'fast'"));
  }
  SECTION("not a checkpoint") {
    CHECK_THROWS_AS(load_generator(temp_file("does_not_exist.safetensors")), IoError);
  }
  SECTION("constant kernels may be absent: they are regenerated") {
    StateTensors st = good.tensors;
    st.erase("convs.0.conv.blur.kernel");
    st.erase("to_rgbs.0.upsample.kernel");
    const Generator g = generator_from_state(st);
    CHECK(g.blocks[0].conv_up.conv.blur_kernel.to_vector<float>()[0] == Approx(4.0 / 64));
  }
}

// Registered by tests/models/CMakeLists.txt after tools/convert_checkpoint.py --self-test has written the
// files into $ANYCOST_CONVERTED_DIR: a PyTorch-made checkpoint, converted, loaded and run here.
TEST_CASE("A PyTorch checkpoint converted by tools/convert_checkpoint.py loads and runs", "[.converted]") {
  const char* dir = std::getenv("ANYCOST_CONVERTED_DIR");
  REQUIRE(dir != nullptr);
  const std::filesystem::path d(dir);
  const Generator g = load_generator(d / "tiny_generator.safetensors");
  CHECK(g.resolution() == 16);
  CHECK(g.style_dim() == 8);
  CHECK(g.config().n_mlp == 2);
  CHECK(g.channel_table().widths() == std::vector<int>{16, 12, 8});
  const io::SafetensorsFile ref = io::load_safetensors(d / "tiny_reference.safetensors");
  NoGradGuard no_grad;
  const Var z(ref.at("z"));
  CHECK(max_abs_diff(g.generate(z, g.full_config()).image.data(), ref.at("full")) < 1e-4);
  const SubnetConfig half = g.channel_table().uniform(0.5, 8);
  CHECK(half.channels() == test::as_ints(ref.at("channels_uniform_0.5")));
  CHECK(max_abs_diff(g.generate(z, half).image.data(), ref.at("uniform_0.5_res8")) < 1e-4);
}
