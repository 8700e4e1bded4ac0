#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

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
      CHECK(calls.load() <= 4 * threads);  // up to four chunks per thread
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

TEST_CASE("the same thread count gives bit-identical results, whichever thread runs a chunk", "[parallel]") {
  ThreadCount tc(2);
  const Results a = run_workload(), b = run_workload();
  for (auto [x, y] : {std::pair{&a.sum_all, &b.sum_all}, {&a.sum_rows, &b.sum_rows}, {&a.conv, &b.conv},
                      {&a.conv_dx, &b.conv_dx}, {&a.conv_dw, &b.conv_dw}, {&a.blur, &b.blur}, {&a.fused, &b.fused}})
    CHECK(x->to_vector<float>() == y->to_vector<float>());
}

TEST_CASE("the thread pool: exceptions reach the caller, nested and concurrent loops, resizing", "[parallel]") {
  ThreadCount tc(2);
  // A chunk that throws: the caller gets the exception once every chunk has finished, and the pool still works.
  std::atomic<int> ran{0};
  CHECK_THROWS_WITH(parallel_for(64, 1,
                                 [&](std::int64_t b, std::int64_t e) {
                                   ran += static_cast<int>(e - b);
                                   if (b == 0) throw std::runtime_error("chunk 0 failed");
                                 }),
                    Catch::Contains("chunk 0 failed"));
  CHECK(ran.load() == 64);
  // Nested loops run serially inside a chunk: one call each.
  std::atomic<int> inner_calls{0}, inside{0};
  parallel_for(8, 1, [&](std::int64_t b, std::int64_t e) {
    inside += in_parallel_region();
    for (std::int64_t i = b; i < e; ++i) parallel_for(1000, 1, [&](std::int64_t, std::int64_t) { ++inner_calls; });
  });
  CHECK(inside.load() >= 2);
  CHECK(inner_calls.load() == 8);
  CHECK_FALSE(in_parallel_region());
  // Two threads calling at once: one gets the pool, the other runs serially; both cover their range.
  std::vector<std::atomic<int>> hits(2 * 50000);
  auto cover = [&](std::int64_t offset) {
    for (int rep = 0; rep < 20; ++rep)
      parallel_for(50000, 100, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) ++hits[static_cast<std::size_t>(offset + i)];
      });
  };
  std::thread other(cover, 50000);
  cover(0);
  other.join();
  int wrong = 0;
  for (auto& h : hits) wrong += h.load() != 20;
  CHECK(wrong == 0);
  // Growing and shrinking the thread count.
  for (int threads : {3, 1, 4, 2}) {
    set_num_threads(threads);
    std::atomic<std::int64_t> total{0};
    parallel_for(1000, 10, [&](std::int64_t b, std::int64_t e) { total += e - b; });
    CHECK(total.load() == 1000);
  }
}

TEST_CASE("a forked child gets a working thread pool of its own", "[parallel]") {
  ThreadCount tc(2);
  std::atomic<std::int64_t> total{0};
  parallel_for(1000, 10, [&](std::int64_t b, std::int64_t e) { total += e - b; });  // the parent's workers exist
  const ::pid_t pid = ::fork();
  if (pid == 0) {  // the child: new workers, also after growing the count; _exit, no test framework teardown
    bool ok = true;
    for (int threads : {2, 3}) {
      set_num_threads(threads);
      std::atomic<std::int64_t> sum{0};
      parallel_for(100000, 100, [&](std::int64_t b, std::int64_t e) { sum += e - b; });
      ok = ok && sum.load() == 100000;
    }
    ::_exit(ok ? 0 : 1);
  }
  REQUIRE(pid > 0);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {  // a hang (a lock copied held, a dead worker awaited)
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("the forked child did not finish within 60 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
