#include <atomic>
#include <vector>

#include "support/compare.hpp"

using namespace anycost;

namespace {
// Sets the thread count for a scope and restores the previous one.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : prev_(get_num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(prev_); }

 private:
  int prev_;
};

struct Results {
  Tensor sum_all, sum_rows, conv, conv_dx, conv_dw, blur, fused, noise;
};

// Reductions (both the per-output and the split long-sum paths), a conv with its gradients, upfirdn2d, a
// fused expression and a random fill, all large enough to be split over threads.
Results run_workload() {
  Rng rng(11);
  const Tensor big = randn({3, 70000}, rng);
  const Tensor x = randn({2, 8, 20, 20}, rng), w = randn({16, 8, 3, 3}, rng);
  Results r;
  r.sum_all = sum(Var(big), {1}).data();  // 3 outputs, 70000 terms each: the split path
  r.sum_rows = sum(Var(big.reshape({300, 700})), {0}).data();
  Var xv(x, true), wv(w, true);
  Var y = conv2d(xv, wv, {2, 2, 1, 1, 1});
  r.conv = y.data();
  auto g = grad({sum(square(y))}, {xv, wv});
  r.conv_dx = g[0].data();
  r.conv_dw = g[1].data();
  std::vector<float> k(16, 1.0f / 16);
  r.blur = upfirdn2d(Var(x), Tensor::from_vector(k, {4, 4}), UpFirDnParams::make(2, 1, 2, 1)).data();
  r.fused = Var(lrelu(Var(big) * 2.0 + exp(Var(big) * -0.5), 0.2)).data();
  Rng noise_rng(5);
  r.noise = randn({100000}, noise_rng);
  return r;
}
}  // namespace

TEST_CASE("parallel_for covers 0..n-1 exactly once, in chunks of at least the grain", "[parallel]") {
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);
    CHECK(get_num_threads() == threads);
    for (std::int64_t n : {0, 1, 7, 1000, 100003}) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      std::atomic<int> calls{0};
      std::atomic<std::int64_t> smallest{n};
      parallel_for(n, 100, [&](std::int64_t b, std::int64_t e) {
        ++calls;
        std::int64_t cur = smallest.load();
        while (e - b < cur && !smallest.compare_exchange_weak(cur, e - b)) {
        }
        for (std::int64_t i = b; i < e; ++i) ++hits[static_cast<std::size_t>(i)];
      });
      INFO(threads << " threads, n = " << n);
      int wrong = 0;
      for (auto& h : hits) wrong += h.load() != 1;
      CHECK(wrong == 0);
      CHECK(calls.load() <= threads);
      if (n > 0 && calls.load() > 1) CHECK(smallest.load() >= 100);
      if (n > 0 && n < 200) CHECK(calls.load() == 1);  // below two grains: serial
    }
  }
  CHECK_THROWS_WITH(set_num_threads(0), Catch::Contains("set_num_threads") && Catch::Contains("0"));
}

TEST_CASE("results do not depend on the thread count", "[parallel]") {
  Results one, two;
  {
    ThreadCount tc(1);
    one = run_workload();
  }
  {
    ThreadCount tc(2);
    two = run_workload();
  }
  CHECK_ALLCLOSE(two.sum_all, one.sum_all, 1e-6, 1e-4);
  CHECK_ALLCLOSE(two.sum_rows, one.sum_rows, 1e-6, 1e-5);
  CHECK_ALLCLOSE(two.conv, one.conv, 1e-5, 1e-5);
  CHECK_ALLCLOSE(two.conv_dx, one.conv_dx, 1e-5, 1e-4);
  CHECK_ALLCLOSE(two.conv_dw, one.conv_dw, 1e-5, 1e-3);
  // Elementwise work, upfirdn2d and random fills split the output, never a sum: bit-identical.
  CHECK(two.blur.to_vector<float>() == one.blur.to_vector<float>());
  CHECK(two.fused.to_vector<float>() == one.fused.to_vector<float>());
  CHECK(two.noise.to_vector<float>() == one.noise.to_vector<float>());
}
