// The discriminator fixtures of tools/golden/make_discriminator_goldens.py (the official PyTorch models run in
// float64): the three checkpoints, the cases file, and a per-tensor comparison of parameter gradients.
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <anycost/anycost.hpp>
#include <anycost/io/safetensors.hpp>

#include "support/compare.hpp"

namespace anycost::test {

inline std::filesystem::path discriminator_data(const std::string& file) {
  return std::filesystem::path(ANYCOST_TEST_DATA_DIR) / "discriminator" / file;
}

struct DiscriminatorGolden {
  models::Discriminator single = models::load_discriminator(discriminator_data("d_single.safetensors"));
  models::Discriminator multi = models::load_discriminator(discriminator_data("d_multi.safetensors"));
  models::Generator g = models::load_generator(discriminator_data("g.safetensors"));
  io::SafetensorsFile cases = io::load_safetensors(discriminator_data("cases.safetensors"));
  const Tensor& operator[](const std::string& k) const { return cases.tensors.at(k); }
  bool has(const std::string& k) const { return cases.tensors.count(k) > 0; }
  // A case as `dtype` (inputs are stored float32 or float64).
  Var var(const std::string& k, DType dtype) const { return Var(cases.tensors.at(k).to(dtype)); }
  // The first b samples of img_<r>.
  Var images(int r, std::int64_t b, DType dtype) const {
    return Var(cases.tensors.at("img_" + std::to_string(r)).narrow(0, 0, b).contiguous().to(dtype));
  }
};

inline const DiscriminatorGolden& discriminator_golden() {
  static const DiscriminatorGolden gold;
  return gold;
}

// Largest |a - e| / max|e| over one tensor (the error relative to the tensor's scale).
inline double scaled_error(const Tensor& actual, const Tensor& expected) {
  const double scale = max_abs(expected);
  return max_abs_diff(actual, expected) / (scale > 0 ? scale : 1.0);
}

// Prints a measured error when ANYCOST_REPORT_TOLERANCES is set (how the stated tolerances were measured).
inline void report_error(const std::string& what, double err) {
  if (std::getenv("ANYCOST_REPORT_TOLERANCES")) std::printf("[tolerance] %s: %.3g\n", what.c_str(), err);
}

// Checks every gradient `<prefix>.grad.<name>` of the cases file against grads[i] of the named parameters
// (an absent case means PyTorch reports the parameter unused: the gradient must be undefined), each tensor
// within tol of its own scale; a reference that is zero up to roundoff must be undefined or below 1e-9. Returns the worst scaled error.
inline double check_gradients(const DiscriminatorGolden& gold, const std::string& prefix,
                              const std::vector<std::string>& names, const std::vector<Var>& grads, double tol) {
  double worst = 0;
  int compared = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string key = prefix + ".grad." + names[i];
    INFO(key);
    if (!gold.has(key)) {
      CHECK_FALSE(grads[i].defined());
      continue;
    }
    // Structurally zero in exact arithmetic (the R1 gradient of the last shift before the final sum, of
    // final_conv's bias): PyTorch's roundoff (~1e-19) or zeros; ours may be undefined or tiny.
    if (max_abs(gold[key]) < 1e-12) {
      if (grads[i].defined()) CHECK(max_abs(grads[i].data()) < 1e-9);
      continue;
    }
    REQUIRE(grads[i].defined());
    const double err = scaled_error(grads[i].data(), gold[key]);
    CHECK(err <= tol);
    worst = std::max(worst, err);
    ++compared;
  }
  CHECK(compared > 0);
  report_error(prefix + " gradients (worst tensor, scaled)", worst);
  return worst;
}

}  // namespace anycost::test
