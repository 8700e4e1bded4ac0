// Helpers shared by the generator tests (tests/models, tests/cuda): the golden fixtures of
// tools/golden/make_generator_goldens.py and a generator with random weights.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include <anycost/anycost.hpp>
#include <anycost/io/safetensors.hpp>
#include <anycost/models.hpp>

#include "support/compare.hpp"

namespace anycost::test {

inline std::filesystem::path generator_data(const std::string& file) {
  return std::filesystem::path(ANYCOST_TEST_DATA_DIR) / "generator" / file;
}

// Integer widths stored as a float tensor.
inline std::vector<int> as_ints(const Tensor& t) {
  std::vector<int> out;
  for (double v : t.to_vector<double>()) out.push_back(static_cast<int>(std::lround(v)));
  return out;
}

// A small generator with every parameter random (biases and noise weights too), for tests that need
// non-trivial values without the fixtures.
inline models::Generator random_generator(const models::GeneratorConfig& cfg, std::uint64_t seed,
                                          DType dtype = DType::float32) {
  models::Generator g(cfg, seed, dtype);
  Rng rng(seed + 1000);
  nn::visit_parameters(g, [&](const std::string& name, Var& p) {
    Tensor t = randn(p.shape(), rng, p.dtype());
    if (name.rfind("style.", 0) == 0 && name.find("weight") != std::string::npos) t = Var(Var(t) * 100.0).data();
    if (name.find("bias") != std::string::npos || name.find("noise.weight") != std::string::npos)
      t = Var(Var(t) * 0.2).data();
    if (name.find("modulation.bias") != std::string::npos) t = Var(Var(t) + 1.0).data();
    p = Var(t, true);
  });
  return g;
}

}  // namespace anycost::test
