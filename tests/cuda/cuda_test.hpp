// Shared pieces of the GPU tests: the skip guard and the CPU-vs-CUDA comparison harness (ggml's
// test-backend-ops idea): every op runs on both devices from the same random inputs, and the forward value,
// the gradient and the gradient of a gradient are compared by normalised mean squared error.
#pragma once

#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

// Whether the run must have a GPU (ANYCOST_REQUIRE_GPU=1, set by tools/gpu/check.sh): there a missing device is a
// failure, never a skip, so a GPU check cannot pass without running the GPU tests.
inline bool anycost_gpu_required() {
  const char* v = std::getenv("ANYCOST_REQUIRE_GPU");
  return v && *v && std::string(v) != "0";
}

// Returns from the test (reported as skipped by CTest through SKIP_REGULAR_EXPRESSION) when there is no GPU, or
// fails it when ANYCOST_REQUIRE_GPU=1.
#define ANYCOST_REQUIRE_GPU()                                                                                \
  do {                                                                                                       \
    if (!::anycost::cuda::is_available()) {                                                                  \
      if (anycost_gpu_required())                                                                            \
        FAIL("ANYCOST_REQUIRE_GPU=1 but there is no CUDA device: " << ::anycost::cuda::unavailable_reason()); \
      std::printf("ANYCOST_SKIP: no CUDA device (%s)\n", ::anycost::cuda::unavailable_reason());             \
      std::fflush(stdout);                                                                                   \
      return;                                                                                                \
    }                                                                                                        \
  } while (false)

namespace anycost::test {

inline Tensor on_cpu(const Var& v) { return v.data().to(Device::cpu()); }

// sum((a - b)^2) / sum(b^2) over two CPU tensors of one shape (0 when both are zero).
inline double nmse(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double num = 0, den = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  return den > 0 ? num / den : num;
}

struct Tolerance {
  double forward = 1e-10, backward = 1e-10, double_backward = 1e-9;  // NMSE bounds
};

using VarFn = std::function<Var(const std::vector<Var>&)>;

// Runs f on CPU and CUDA (inputs copied to the device), compares value, first and second derivatives.
inline void compare_devices(const std::string& name, const VarFn& f, const std::vector<Tensor>& inputs,
                            Tolerance tol = {}, bool second_order = true) {
  INFO("op: " << name);
  const Device gpu = Device::cuda(0);
  std::vector<Var> xc, xg;
  for (const Tensor& t : inputs) {
    xc.emplace_back(t, true);
    xg.emplace_back(t.to(gpu), true);
  }
  const Var yc = f(xc), yg = f(xg);
  REQUIRE(yg.device() == gpu);
  const double e0 = nmse(on_cpu(yg), yc.data());
  INFO("forward nmse " << e0);
  CHECK(e0 <= tol.forward);

  Rng rng(1234);
  const Tensor r = randn(yc.shape(), rng, yc.dtype());
  GradOptions opts;
  opts.create_graph = second_order;
  opts.allow_unused = true;
  const std::vector<Var> gc = grad({yc}, xc, {Var(r)}, opts), gg = grad({yg}, xg, {Var(r.to(gpu))}, opts);
  Var sc, sg;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    REQUIRE(gc[i].defined() == gg[i].defined());
    if (!gc[i].defined()) continue;
    const double e1 = nmse(on_cpu(gg[i]), gc[i].data());
    INFO("backward nmse of input " << i << ": " << e1);
    CHECK(e1 <= tol.backward);
    if (!second_order || !gc[i].requires_grad()) continue;
    const Tensor v = randn(gc[i].shape(), rng, gc[i].dtype());
    const Var tc = sum(gc[i] * Var(v)), tg = sum(gg[i] * Var(v.to(gpu)));
    sc = sc.defined() ? Var(sc + tc) : tc;
    sg = sg.defined() ? Var(sg + tg) : tg;
  }
  if (!second_order || !sc.defined()) return;
  GradOptions o2;
  o2.allow_unused = true;
  const std::vector<Var> hc = grad({sc}, xc, {}, o2), hg = grad({sg}, xg, {}, o2);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    REQUIRE(hc[i].defined() == hg[i].defined());
    if (!hc[i].defined()) continue;
    const double e2 = nmse(on_cpu(hg[i]), hc[i].data());
    INFO("double backward nmse of input " << i << ": " << e2);
    CHECK(e2 <= tol.double_backward);
  }
}

inline Tensor randn_cpu(const Shape& s, std::uint64_t seed, DType dt = DType::float32) {
  Rng rng(seed);
  return randn(s, rng, dt);
}

}  // namespace anycost::test
