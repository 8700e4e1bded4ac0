// One-line gradient checks for tests: first and second order against finite differences (double precision).
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include <anycost/anycost.hpp>

// CHECK_GRADIENTS(f, inputs...): f is a callable Var(const std::vector<Var>&) (assign a lambda whose capture
// list has commas to a variable first: the macro splits on commas); inputs are contiguous float64 tensors.
#define CHECK_GRADIENTS(f, ...) CHECK_GRADIENTS_WITH(::anycost::GradcheckOptions{}, f, __VA_ARGS__)

// The same with explicit tolerances / step (GradcheckOptions).
#define CHECK_GRADIENTS_WITH(options, f, ...)                                             \
  do {                                                                                    \
    const std::vector<::anycost::Tensor> anycost_inputs_{__VA_ARGS__};                    \
    const auto anycost_r1_ = ::anycost::check_grad(f, anycost_inputs_, (options));        \
    INFO(#f ": " << anycost_r1_.message);                                                 \
    CHECK(anycost_r1_.ok);                                                                \
    const auto anycost_r2_ = ::anycost::check_grad_grad(f, anycost_inputs_, (options));   \
    INFO(#f ": " << anycost_r2_.message);                                                 \
    CHECK(anycost_r2_.ok);                                                                \
  } while (false)

namespace anycost::test {
// Deterministic float64 inputs for gradient checks.
inline Tensor rand64(const Shape& s, std::uint64_t seed) {
  Rng rng(seed);
  return randn(s, rng, DType::float64);
}
// Deterministic float64 inputs in [0.5, 1.5 + |N(0,1)|) (away from the poles of log, sqrt, 1/x).
inline Tensor positive64(const Shape& s, std::uint64_t seed) {
  Rng rng(seed);
  return Var(abs(Var(randn(s, rng, DType::float64))) + 0.5).data();
}
// Squares a value so that linear ops get a non-vacuous second-order check: d2/dx2 of sum(r * op(x)^2)
// differentiates the op's backward with respect to the incoming gradient.
inline Var sq(const Var& v) { return Var(square(v)); }

// A tensor that claims to live on cuda:0 but wraps host memory, so that device checks can be tested in a
// CPU-only build. Checks must reject it before any data is touched.
inline Tensor fake_cuda(const Shape& s, DType dtype = DType::float32) {
  const std::size_t bytes = static_cast<std::size_t>(numel(s)) * dtype_size(dtype);
  auto host = std::make_shared<std::vector<double>>((bytes + 7) / 8 + 1);
  auto storage = std::make_shared<Storage>(host->data(), bytes, Device::cuda(0), host);
  return Tensor::from_storage(storage, 0, s, contiguous_strides(s), dtype);
}
}  // namespace anycost::test
