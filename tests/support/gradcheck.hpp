// One-line gradient checks for tests: first and second order against finite differences (double precision).
#pragma once

#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>

#define CHECK_GRADIENTS(f, ...)                                                    \
  do {                                                                             \
    const std::vector<::anycost::Tensor> anycost_inputs_{__VA_ARGS__};             \
    const auto anycost_r1_ = ::anycost::check_grad(f, anycost_inputs_);            \
    INFO(anycost_r1_.message);                                                     \
    CHECK(anycost_r1_.ok);                                                         \
    const auto anycost_r2_ = ::anycost::check_grad_grad(f, anycost_inputs_);       \
    INFO(anycost_r2_.message);                                                     \
    CHECK(anycost_r2_.ok);                                                         \
  } while (false)

namespace anycost::test {
// Deterministic float64 inputs for gradient checks.
inline Tensor rand64(const Shape& s, std::uint64_t seed) {
  Rng rng(seed);
  return randn(s, rng, DType::float64);
}
}  // namespace anycost::test
