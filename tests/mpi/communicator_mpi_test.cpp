// The MPI communicator across ranks (run under `mpirun -np K`, K >= 2; tests/mpi/CMakeLists.txt registers it
// with K = 2): all-reduce sums and means of known float and double values, broadcast, any, barrier, and the
// bucketed gradient averaging (average_gradients) against the mean computed by hand, the non-blocking sum,
// and the overlapped average (GradientAverager) against the blocking one. Prints one line per check
// on rank 0; exit status 1 on any failure (every rank checks its own results).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "anycost/ops/linalg.hpp"
#include "anycost/ops/random.hpp"
#include "anycost/train/gradient_averager.hpp"
#include "anycost/train/mpi_communicator.hpp"

namespace {

int failures = 0;

void check(bool ok, const std::string& what, int rank) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "[rank %d] FAILED: %s\n", rank, what.c_str());
  } else if (rank == 0) {
    std::printf("ok: %s\n", what.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace anycost;
  train::MpiCommunicator comm(&argc, &argv);
  const int r = comm.rank(), k = comm.size();
  check(k >= 2, "at least 2 ranks (size " + std::to_string(k) + ")", r);

  // Sum of (rank + 1) * (i + 1) over ranks = (i + 1) k (k + 1) / 2, exact in float and double.
  std::vector<float> f(1000);
  std::vector<double> d(3);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = static_cast<float>((r + 1) * (i + 1));
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = (r + 1) * 0.5 * static_cast<double>(i + 1);
  comm.all_reduce_sum(f.data(), f.size());
  comm.all_reduce_sum(d.data(), d.size());
  bool ok = true;
  for (std::size_t i = 0; i < f.size(); ++i) ok = ok && f[i] == static_cast<float>((i + 1) * k * (k + 1) / 2);
  check(ok, "all_reduce_sum float32, 1000 values", r);
  ok = true;
  for (std::size_t i = 0; i < d.size(); ++i) ok = ok && d[i] == 0.5 * static_cast<double>((i + 1) * k * (k + 1) / 2);
  check(ok, "all_reduce_sum float64", r);

  double m = r;  // mean of 0 .. k-1
  comm.all_reduce_mean(&m, 1);
  check(m == (k - 1) / 2.0, "all_reduce_mean float64: " + std::to_string(m), r);

  int value = r == 1 ? 42 : -1;
  comm.broadcast(&value, sizeof value, 1);
  check(value == 42, "broadcast from rank 1", r);
  check(comm.broadcast_string(r == 0 ? "from rank 0" : "") == "from rank 0", "broadcast_string", r);
  check(comm.any(r == k - 1) && !comm.any(false), "any", r);
  comm.barrier();

  // average_gradients: two parameters (float32 [2, 3] and [4]); rank r's gradients are (r + 1) * base, so the
  // average is base * (k + 1) / 2; a tiny bucket forces one all-reduce per parameter, a large one a single one.
  for (std::size_t bucket : {std::size_t{4}, std::size_t{1} << 20}) {
    Var a(Tensor::zeros({2, 3}), true), b(Tensor::zeros({4}), true);
    const optim::NamedParameters params{{"a", a}, {"b", b}};
    std::vector<float> ga{1, 2, 3, 4, 5, 6}, gb{-1, 0.5f, 0.25f, 8};
    std::vector<float> sa = ga, sb = gb;
    for (float& v : sa) v *= static_cast<float>(r + 1);
    for (float& v : sb) v *= static_cast<float>(r + 1);
    a.set_grad(Var(Tensor::from_vector(sa, {2, 3})));
    b.set_grad(Var(Tensor::from_vector(sb, {4})));
    double loss = r + 1.0;
    train::average_gradients(comm, params, {&loss}, bucket);
    const std::vector<float> ra = a.grad().data().to_vector<float>(), rb = b.grad().data().to_vector<float>();
    const float scale = static_cast<float>(k + 1) / 2.0f;
    ok = loss == (k + 1) / 2.0 && ra.size() == 6 && rb.size() == 4;
    for (std::size_t i = 0; ok && i < 6; ++i) ok = std::abs(ra[i] - ga[i] * scale) <= 1e-6f * std::abs(ga[i] * scale);
    for (std::size_t i = 0; ok && i < 4; ++i) ok = std::abs(rb[i] - gb[i] * scale) <= 1e-6f * std::abs(gb[i] * scale);
    check(ok, "average_gradients (bucket " + std::to_string(bucket) + " bytes): gradients and loss averaged", r);
  }

  // start_all_reduce_sum (MPI_Iallreduce): the same sums, complete after wait().
  {
    std::vector<float> v(300);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((r + 1) * (i + 1));
    auto pending = comm.start_all_reduce_sum(v.data(), v.size());
    pending->wait();
    ok = pending->test();
    for (std::size_t i = 0; i < v.size(); ++i) ok = ok && v[i] == static_cast<float>((i + 1) * k * (k + 1) / 2);
    check(ok, "start_all_reduce_sum float32, 300 values, then wait", r);
  }

  // GradientAverager: the buckets of a real backward pass start during it (MPI_Iallreduce) and give what the
  // blocking average_gradients gives, bit for bit with 2 ranks (a sum of two floats has one rounding).
  for (std::size_t bucket : {std::size_t{16}, std::size_t{1} << 20}) {
    Rng rng(9);
    Var w1(randn({16, 8}, rng), true), w2(randn({8, 4}, rng), true), w3(randn({4}, rng), true);
    const optim::NamedParameters params{{"w1", w1}, {"w2", w2}, {"w3", w3}};
    Rng data(100 + static_cast<std::uint64_t>(r));  // each rank its own batch
    const Tensor x = randn({6, 16}, data);
    const auto loss = [&] {
      const Var h = matmul(matmul(Var(x), w1), w2) + w3;
      return sum(h * h);
    };
    const Var l0 = loss();
    backward(l0);
    double blocking_loss = l0.item();
    train::average_gradients(comm, params, {&blocking_loss});
    std::vector<std::vector<float>> blocking;
    for (const optim::NamedParameter& p : params) {
      blocking.push_back(p.var.grad().data().to_vector<float>());
      p.var.set_grad(Var());
    }
    train::GradientAverager avg(comm, params, bucket);
    const Var l1 = loss();
    double overlapped_loss = l1.item();
    backward(l1, {}, avg.options());
    const std::size_t during = avg.started_during_pass();
    avg.finish({&overlapped_loss});
    ok = overlapped_loss == blocking_loss && during == (bucket == 16 ? 3u : 1u);
    for (std::size_t i = 0; i < params.size(); ++i) ok = ok && params[i].var.grad().data().to_vector<float>() == blocking[i];
    check(ok, "GradientAverager (bucket " + std::to_string(bucket) + " bytes, " + std::to_string(during) +
                  " all-reduces started during backward) equals average_gradients", r);
  }

  // shard_rows: the shards of every rank cover the batch once.
  std::vector<int> seen(16, 0);
  for (int q = 0; q < k && 16 % (4 * k) == 0; ++q)
    for (std::int64_t row : train::shard_rows(16, q, k, 4)) ++seen[static_cast<std::size_t>(row)];
  ok = true;
  for (int c : seen) ok = ok && (16 % (4 * k) != 0 || c == 1);
  check(ok, "shard_rows covers a batch of 16 once", r);

  const bool any_failed = comm.any(failures > 0);
  if (r == 0) std::printf("%s\n", any_failed ? "FAILED" : "all checks passed");
  return any_failed ? 1 : 0;
}
