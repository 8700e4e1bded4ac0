// Threads that share parameters: each records its own graph over one generator and runs grad() or backward()
// at the same time as the others (autograd/engine.hpp keeps every pass's state in its own graph task; the
// leaves' accumulators are created once and accumulate under the leaf's lock). The library's intra-op
// thread count is 1 here, so OpenMP plays no part. ThreadSanitizer checks the same runs:
//   cmake -S . -B build-tsan -G Ninja -DANYCOST_SANITIZE_THREAD=ON -DANYCOST_USE_BLAS=OFF
//         -DANYCOST_BUILD_BENCHMARKS=OFF -DANYCOST_BUILD_EXAMPLES=OFF
//   cmake --build build-tsan --target test_autograd && OMP_NUM_THREADS=1 build-tsan/tests/test_autograd "[threads]"
#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "models/models_test_support.hpp"

using namespace anycost;

namespace {

constexpr int n_threads = 4;
constexpr int rounds = 3;  // each thread repeats its work, so the passes overlap in many ways

struct Model {
  models::Generator g = test::random_generator({.resolution = 16, .style_dim = 8, .n_mlp = 1, .channel_max = 8}, 5);
  models::SubnetConfig half = g.channel_table().uniform(0.5);  // a sliced sub-network: prefix views of weights
  std::vector<Var> params;
  Model() {
    nn::visit_parameters(g, [&](const std::string&, Var& p) { params.push_back(p); });
  }
};

Var latent(int thread) {
  Rng rng(100 + static_cast<std::uint64_t>(thread));
  return Var(randn({2, 8}, rng), true);
}

// A scalar of the image that weighs every pixel differently.
Var score(const Model& m, const Var& z) {
  Var img = m.g.generate(z, m.half).image;
  Rng rng(7);
  return sum(img * Var(randn(img.shape(), rng)));
}

// First order: d score / d (z, every parameter). Second order, an R1-style penalty: d |d score/dz|^2 / d params.
std::vector<Var> first_order(const Model& m, int thread) {
  Var z = latent(thread);
  std::vector<Var> inputs = m.params;
  inputs.push_back(z);
  return grad({score(m, z)}, inputs, {}, {.allow_unused = true});
}
std::vector<Var> second_order(const Model& m, int thread) {
  Var z = latent(thread);
  Var gz = grad({score(m, z)}, {z}, {}, {.create_graph = true})[0];
  return grad({sum(gz * gz)}, m.params, {}, {.allow_unused = true});
}

std::vector<std::vector<float>> values(const std::vector<Var>& gs) {
  std::vector<std::vector<float>> out;
  for (const Var& g : gs) out.push_back(g.defined() ? g.data().to_vector<float>() : std::vector<float>{});
  return out;
}

// Runs f(thread) on n_threads threads at once, `rounds` times each; returns every thread's last result.
template <class F>
auto run_threads(F f) {
  std::vector<decltype(f(0))> results(n_threads);
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t)
    threads.emplace_back([&, t] {
      set_num_threads(1);  // OpenMP's thread count is per thread
      for (int r = 0; r < rounds; ++r) results[static_cast<std::size_t>(t)] = f(t);
    });
  for (auto& th : threads) th.join();
  return results;
}

}  // namespace

TEST_CASE("grad() from several threads over shared parameters equals the sequential result bitwise",
          "[autograd][threads]") {
  set_num_threads(1);
  const Model m;
  for (auto [name, f] : {std::pair{"first order", &first_order}, std::pair{"second order (R1)", &second_order}}) {
    INFO(name);
    std::vector<std::vector<std::vector<float>>> expected;
    for (int t = 0; t < n_threads; ++t) expected.push_back(values(f(m, t)));
    const auto got = run_threads([&](int t) { return values(f(m, t)); });
    for (int t = 0; t < n_threads; ++t) {
      INFO("thread " << t);
      CHECK(got[static_cast<std::size_t>(t)] == expected[static_cast<std::size_t>(t)]);
    }
    for (const Var& p : m.params) CHECK_FALSE(p.grad().defined());  // grad() accumulates nowhere
  }
}

TEST_CASE("backward() from several threads accumulates the sum of their gradients into shared parameters",
          "[autograd][threads]") {
  set_num_threads(1);
  const Model m;
  // Sequential reference: every thread's `rounds` contributions, summed in thread order.
  std::vector<std::vector<double>> sum(m.params.size()), magnitude(m.params.size());
  for (int t = 0; t < n_threads; ++t) {
    const auto g = values(first_order(m, t));
    for (std::size_t i = 0; i < m.params.size(); ++i) {
      sum[i].resize(g[i].size());
      magnitude[i].resize(g[i].size());
      for (std::size_t k = 0; k < g[i].size(); ++k) {
        sum[i][k] += rounds * static_cast<double>(g[i][k]);
        magnitude[i][k] += rounds * std::abs(static_cast<double>(g[i][k]));
      }
    }
  }
  run_threads([&](int t) {
    Var z = latent(t);
    backward(score(m, z));
    return 0;
  });
  // The threads' additions land in an unspecified order, so the float sums agree to rounding only.
  for (std::size_t i = 0; i < m.params.size(); ++i) {
    INFO("parameter " << i);
    const Var& g = m.params[i].grad();
    REQUIRE(g.defined() == !sum[i].empty());
    if (!g.defined()) continue;
    const auto got = g.data().to_vector<double>();
    for (std::size_t k = 0; k < got.size(); ++k) {
      INFO("element " << k << ": " << got[k] << " vs " << sum[i][k]);
      REQUIRE(std::abs(got[k] - sum[i][k]) <= 1e-5 * magnitude[i][k] + 1e-30);
    }
  }
}
