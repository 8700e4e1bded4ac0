// The data-parallel pieces that need no MPI (train/communicator.hpp): the shards of a global batch keep the
// discriminator's minibatch-stddev groups, bad batch / rank combinations are refused with a reason, and the
// loader reads a rank's rows of every global batch, the bucketed gradient average copies every gradient back in
// place of the original, and the overlapped average starts its buckets during the backward pass. The
// collectives across real ranks are tested under mpirun (tests/mpi, label mpi).
#include <catch2/catch.hpp>

#include "io/io_test_support.hpp"
#include "support/image_folder_fixture.hpp"

#include "anycost/io/batch_loader.hpp"
#include "anycost/nn/minibatch_stddev.hpp"
#include "anycost/ops/linalg.hpp"
#include "anycost/ops/random.hpp"
#include "anycost/train/communicator.hpp"
#include "anycost/train/gradient_averager.hpp"

using namespace anycost;

namespace {

// A communicator of `k` ranks that all hold this rank's values: sums multiply by k.
class MirrorCommunicator final : public train::Communicator {
 public:
  explicit MirrorCommunicator(int k) : k_(k) {}
  int rank() const override { return 0; }
  int size() const override { return k_; }
  void all_reduce_sum(float* d, std::size_t n) override {
    ++calls;
    sizes.push_back(n);
    for (std::size_t i = 0; i < n; ++i) d[i] *= static_cast<float>(k_);
  }
  void all_reduce_sum(double* d, std::size_t n) override {
    ++calls;
    for (std::size_t i = 0; i < n; ++i) d[i] *= k_;
  }
  void broadcast(void*, std::size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(const std::string& m, int) override { throw Error(m); }
  std::string describe() const override { return "mirror"; }
  int calls = 0;
  std::vector<std::size_t> sizes;  // of the float sums, in order

 private:
  int k_;
};

}  // namespace

TEST_CASE("shard_rows: the shards keep the minibatch-stddev groups of the global batch", "[train][parallel]") {
  CHECK(train::shard_rows(8, 0, 2, 4) == std::vector<std::int64_t>{0, 2, 4, 6});
  CHECK(train::shard_rows(8, 1, 2, 4) == std::vector<std::int64_t>{1, 3, 5, 7});
  CHECK(train::shard_rows(8, 1, 2, 1) == std::vector<std::int64_t>{4, 5, 6, 7});
  CHECK(train::shard_rows(4, 0, 1, 4) == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK_THROWS_WITH(train::shard_rows(6, 0, 4, 4), Catch::Contains("not divisible by the 4 ranks"));
  CHECK_THROWS_WITH(train::shard_rows(8, 0, 4, 4), Catch::Contains("minibatch-stddev group"));

  // The statistic each sample gets is the one the global batch gives it, on every rank.
  Rng rng(5);
  const Tensor x = randn({16, 3, 4, 4}, rng);
  const Tensor global = nn::minibatch_stddev(Var(x), 4).data();
  for (int k : {2, 4})
    for (int r = 0; r < k; ++r) {
      const std::vector<std::int64_t> rows = train::shard_rows(16, r, k, 4);
      const Tensor local = nn::minibatch_stddev(Var(train::take_rows(x, rows)), 4).data();
      CHECK(local.to_vector<float>() == train::take_rows(global, rows).contiguous().to_vector<float>());
    }
}

TEST_CASE("average_gradients: one rank does nothing, and buckets copy every gradient back", "[train][parallel]") {
  Rng rng(2);
  Var a(randn({3, 5}, rng), true), b(randn({7}, rng), true), c(randn({2, 2}, rng), true);
  const optim::NamedParameters params{{"a", a}, {"b", b}, {"c", c}};
  a.set_grad(Var(randn({3, 5}, rng)));
  c.set_grad(Var(randn({2, 2}, rng)));  // b has no gradient
  const std::vector<float> ga = a.grad().data().to_vector<float>(), gc = c.grad().data().to_vector<float>();
  const Tensor before = a.grad().data();

  train::LocalCommunicator one;
  double loss = 3;
  train::average_gradients(one, params, {&loss});
  CHECK(a.grad().data().raw_data() == before.raw_data());  // untouched
  CHECK(loss == 3);

  for (std::size_t bucket : {std::size_t{16}, std::size_t{1} << 20}) {
    MirrorCommunicator two(2);
    train::average_gradients(two, params, {&loss}, bucket);
    CHECK(two.calls == (bucket == 16 ? 3 : 2));  // the scalars, then one bucket per parameter or one in all
    CHECK(loss == 3);
    CHECK(a.grad().data().to_vector<float>() == ga);
    CHECK(c.grad().data().to_vector<float>() == gc);
    CHECK_FALSE(b.grad().defined());
  }
}

TEST_CASE("BatchLoader rows: a rank reads its rows of every global batch, nothing else", "[train][parallel]") {
  anycost_test::TempDir dir;
  anycost::test::write_image_folder(dir / "data", 10, 8, /*seed=*/4);
  const io::ImageFolder folder({dir / "data", {8, 4}});
  io::LoaderOptions all_rows, shard;
  all_rows.workers = shard.workers = 2;
  shard.rows = train::shard_rows(8, 1, 2, 4);  // {1, 3, 5, 7}
  io::BatchLoader whole(folder, 8, 7, {}, all_rows), part(folder, 8, 7, {}, shard);
  for (int k = 0; k < 3; ++k) {  // across an epoch boundary (10 images, batch 8)
    const io::Batch a = whole.next(), b = part.next();
    CHECK(a.next == b.next);
    REQUIRE(b.files.size() == 4);
    for (std::size_t i = 0; i < 4; ++i) {
      CHECK(b.files[i] == a.files[static_cast<std::size_t>(shard.rows[i])]);
      CHECK(b.flipped[i] == a.flipped[static_cast<std::size_t>(shard.rows[i])]);
    }
    for (std::size_t r = 0; r < a.images.size(); ++r)
      CHECK(b.images[r].to_vector<float>() == train::take_rows(a.images[r], shard.rows).to_vector<float>());
  }
  io::LoaderOptions bad;
  bad.rows = {8};
  CHECK_THROWS_WITH(io::BatchLoader(folder, 8, 7, {}, bad), Catch::Contains("row 8 is outside a batch of 8"));
}

TEST_CASE("GradientAverager: buckets start while backward runs, and every gradient comes back averaged",
          "[train][parallel]") {
  Rng rng(4);
  Var w1(randn({4, 3}, rng), true), w2(randn({3, 2}, rng), true), w3(randn({2}, rng), true);
  Var outside(randn({5}, rng), true), unused(randn({6}, rng), true);
  const optim::NamedParameters params{{"w1", w1}, {"w2", w2}, {"w3", w3}, {"outside", outside}, {"unused", unused}};
  const Tensor x = randn({8, 4}, rng);
  const auto loss = [&] {
    const Var h = matmul(matmul(Var(x), w1), w2) + w3;
    return sum(h * h);
  };

  // The gradients of one process, for comparison.
  backward(loss());
  const std::vector<float> g1 = w1.grad().data().to_vector<float>(), g2 = w2.grad().data().to_vector<float>(),
                           g3 = w3.grad().data().to_vector<float>();
  for (const optim::NamedParameter& p : params) p.var.set_grad(Var());

  SECTION("one rank: no observer, nothing reduced") {
    train::LocalCommunicator one;
    train::GradientAverager avg(one, params);
    CHECK(avg.options().observer == nullptr);
    backward(loss(), {}, avg.options());
    avg.finish();
    CHECK(w1.grad().data().to_vector<float>() == g1);
  }
  SECTION("two ranks, a bucket per gradient") {
    outside.set_grad(Var(Tensor::full({5}, 3.0)));  // set before the pass: averaged in finish()
    MirrorCommunicator two(2);
    train::GradientAverager avg(two, params, 4);
    REQUIRE(avg.options().observer == &avg);
    double l = 5;
    backward(loss(), {}, avg.options());
    CHECK(avg.started_during_pass() == 3);  // w1, w2, w3: each started as soon as the pass finished it
    CHECK(two.calls == 3);
    avg.finish({&l});
    CHECK(two.calls == 5);  // + outside, + the scalars
    CHECK(two.sizes == std::vector<std::size_t>{2, 6, 12, 5});  // in the order the pass finished them
    CHECK(l == 5);
    CHECK(w1.grad().data().to_vector<float>() == g1);
    CHECK(w2.grad().data().to_vector<float>() == g2);
    CHECK(w3.grad().data().to_vector<float>() == g3);
    CHECK(outside.grad().data().to_vector<float>() == std::vector<float>(5, 3.0f));
    CHECK_FALSE(unused.grad().defined());
  }
  SECTION("two ranks, one bucket for everything the pass produces") {
    MirrorCommunicator two(2);
    train::GradientAverager avg(two, params);
    backward(loss(), {}, avg.options());
    CHECK(avg.started_during_pass() == 1);  // started with the last gradient
    avg.finish();
    CHECK(two.sizes == std::vector<std::size_t>{20});
    CHECK(w2.grad().data().to_vector<float>() == g2);
  }
}
