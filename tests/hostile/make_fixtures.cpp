// make_fixtures <tests/data/generator> <out dir>: the hostile input files the CLI tests of this folder feed
// `anycost` (tests/hostile_inputs.md), each derived from a good fixture by one defect, so that the error it
// provokes can only come from that defect. Written at test time (a ctest fixture) rather than checked in:
// they are copies of the 160 KB test model with one byte range changed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <anycost/io/safetensors.hpp>

#include "support/png_header.hpp"

namespace fs = std::filesystem;
using anycost::DType;
using anycost::Tensor;
namespace io = anycost::io;

namespace {

using Items = std::vector<std::pair<std::string, Tensor>>;

// Every tensor of f, in file order, copied (so that they can be edited).
Items items_of(const io::SafetensorsFile& f) {
  Items out;
  for (const std::string& name : f.names) out.emplace_back(name, f.at(name).clone());
  return out;
}

// f with element `flat` of tensor `name` set to `value`.
Items with_value(const io::SafetensorsFile& f, const std::string& name, std::int64_t flat, float value) {
  Items out = items_of(f);
  for (auto& [n, t] : out)
    if (n == name) t.data<float>()[flat] = value;
  return out;
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_raw(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_fixtures <tests/data/generator> <out dir>\n");
    return 2;
  }
  const fs::path data = argv[1], out = argv[2];
  fs::create_directories(out);
  const fs::path model_path = data / "model.safetensors";
  const io::SafetensorsFile model = io::load_safetensors(model_path);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();

  // Models: a NaN weight, an infinite noise map, float64 tensors, the last 100 bytes cut off, a header length
  // of 2^40 (far beyond the 100 MB limit).
  io::save_safetensors(out / "model_nan.safetensors", with_value(model, "convs.0.conv.weight", 5, nan), model.metadata);
  io::save_safetensors(out / "model_inf.safetensors", with_value(model, "noises.noise_1", 3, -inf), model.metadata);
  Items f64 = items_of(model);
  for (auto& [n, t] : f64) t = t.to(DType::float64);
  io::save_safetensors(out / "model_f64.safetensors", f64, model.metadata);
  const std::string bytes = bytes_of(model_path);
  write_raw(out / "model_truncated.safetensors", bytes.substr(0, bytes.size() - 100));
  std::string oversized = bytes;
  for (int i = 0; i < 8; ++i) oversized[static_cast<std::size_t>(i)] = static_cast<char>(i == 5 ? 1 : 0);  // 2^40
  write_raw(out / "model_oversized_header.safetensors", oversized);

  // Latents: W+ [N, n_style, 16] with a NaN, z with an infinity, W+ and z of style_dim 8 (the model's is 16),
  // a w_avg with a NaN.
  const io::SafetensorsFile latents = io::load_safetensors(data / "latents_wplus.safetensors");
  const Tensor wplus = latents.at("wplus");
  const std::int64_t n = wplus.size(0), n_style = wplus.size(1), style_dim = wplus.size(2);
  io::save_safetensors(out / "latents_nan.safetensors", with_value(latents, "wplus", n_style * style_dim + 3, nan));
  Tensor z = Tensor::zeros({n, style_dim});
  z.data<float>()[style_dim + 1] = inf;
  io::save_safetensors(out / "latents_inf_z.safetensors", {{"z", z}});
  io::save_safetensors(out / "latents_style8.safetensors", {{"wplus", Tensor::zeros({n, n_style, 8})}});
  io::save_safetensors(out / "latents_z_style8.safetensors", {{"z", Tensor::zeros({n, 8})}});
  Tensor w_avg = Tensor::zeros({style_dim});
  w_avg.data<float>()[0] = nan;
  io::save_safetensors(out / "w_avg_nan.safetensors", {{"w_avg", w_avg}});

  // Directions: one with a NaN, one of 8 values for a style_dim-16 model.
  Tensor nan_dir = Tensor::zeros({style_dim});
  nan_dir.data<float>()[2] = nan;
  io::save_safetensors(out / "directions_bad.safetensors", {{"nan_dir", nan_dir}, {"short", Tensor::ones({8})}});

  // A training checkpoint whose stored config nests 100 levels deep (the limit of a config file is 8): for
  // `anycost export` and for `anycost train --resume` (a run folder holding it as its newest checkpoint).
  const std::string deep = "{\"steps\": " + std::string(100, '[') + std::string(100, ']') + "}";
  const std::map<std::string, std::string> meta{{"format", "anycost-train"}, {"config", deep}};
  io::save_safetensors(out / "train_deep_config.safetensors", {{"mean_path_length", Tensor::zeros({1})}}, meta);
  fs::create_directories(out / "run_deep_config" / "checkpoints");
  io::save_safetensors(out / "run_deep_config" / "checkpoints" / "ckpt-000000001.safetensors",
                       {{"mean_path_length", Tensor::zeros({1})}}, meta);
  // A training config nested 100 deep, and latents cut short.
  write_raw(out / "config_deep.json", deep);
  const std::string latent_bytes = bytes_of(data / "latents_wplus.safetensors");
  write_raw(out / "latents_truncated.safetensors", latent_bytes.substr(0, latent_bytes.size() - 8));

  // A PNG whose header claims 10000 x 10000 pixels (with the header's CRC recomputed).
  std::string png = bytes_of(data / ".." / "io" / "rgb8_3x2.png");
  anycost_test::set_png_size(png, 10000, 10000);
  write_raw(out / "huge_header.png", png);
  std::printf("hostile fixtures written to %s\n", out.string().c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "make_fixtures: %s\n", e.what());
  return 1;
}
