// Communicator: what data-parallel training needs from a collective engine (MPI on CPU ranks,
// train/mpi_communicator.hpp; NCCL on GPU ranks, train/nccl_communicator.hpp), and the single-process
// communicator (rank 0 of 1, every reduction the identity) that the trainer uses when it is given none.
//
// Data parallelism here (train/trainer.hpp, train/steps.hpp): every rank holds G, D, G_ema and both optimiser
// states; every rank draws the random numbers of the whole global batch (latents, noise, sub-network, data
// order) from the same seeded streams and keeps its shard of the rows (shard_rows below); the gradients of
// each model are averaged across ranks before every optimiser step (train/gradient_averager.hpp: bucketed,
// overlapping the backward pass) together with the step's scalar losses, so every rank sees the same loss values and
// takes the same skip / roll-back decision.
//
// The header needs nothing but the library: it never includes an MPI or NCCL header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace train {

// A communicator's failure (a collective that returned an error, a launch it cannot join).
class CommunicatorError : public Error {
 public:
  using Error::Error;
};

// The collectives of a group of `size()` ranks. Every call is collective: all ranks make the same calls in
// the same order with the same counts. Buffers are host memory unless an implementation says otherwise
// (NcclCommunicator: device memory).
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool is_root() const { return rank() == 0; }
  // In-place sum over all ranks; every rank gets the same bits (the engine's reduction order is fixed for a
  // given size and count, so two runs give the same result too).
  virtual void all_reduce_sum(float* data, std::size_t n) = 0;
  virtual void all_reduce_sum(double* data, std::size_t n) = 0;
  // In-place sum divided by size().
  void all_reduce_mean(float* data, std::size_t n) {
    all_reduce_sum(data, n);
    if (size() > 1) std::for_each(data, data + n, [k = static_cast<float>(size())](float& v) { v /= k; });
  }
  void all_reduce_mean(double* data, std::size_t n) {
    all_reduce_sum(data, n);
    if (size() > 1) std::for_each(data, data + n, [k = static_cast<double>(size())](double& v) { v /= k; });
  }
  // A sum started by start_all_reduce_sum. test() lets it progress and says whether it is complete; wait()
  // returns once it is. The destructor waits too: a collective every rank started must complete everywhere.
  class PendingSum {
   public:
    virtual ~PendingSum() = default;
    virtual bool test() { return true; }
    virtual void wait() {}
  };
  // Starts the in-place sum of `data` (left untouched by the caller until the sum completes) and returns at
  // once where the engine can (MPI_Iallreduce), so that the caller computes meanwhile; started sums must be
  // started in the same order on every rank. By default the blocking sum, complete on return.
  virtual std::unique_ptr<PendingSum> start_all_reduce_sum(float* data, std::size_t n) {
    all_reduce_sum(data, n);
    return std::make_unique<PendingSum>();
  }
  // `bytes` bytes from `root` to every rank.
  virtual void broadcast(void* data, std::size_t bytes, int root = 0) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job with `message` on stderr and a non-zero exit status; does not return.
  [[noreturn]] virtual void abort(const std::string& message, int status = 1) = 0;
  // A short description for logs ("MPI, 4 ranks").
  virtual std::string describe() const = 0;
  // Whether the reductions take device (GPU) buffers: average_gradients then builds its buckets on the
  // gradients' device (NcclCommunicator).
  virtual bool reduces_device_memory() const { return false; }

  // Whether `flag` is set on any rank.
  bool any(bool flag) {
    double v = flag ? 1.0 : 0.0;
    all_reduce_sum(&v, 1);
    return v > 0;
  }
  // A string from `root` (its length first).
  std::string broadcast_string(std::string s, int root = 0) {
    std::uint64_t n = s.size();
    broadcast(&n, sizeof n, root);
    s.resize(static_cast<std::size_t>(n));
    if (n > 0) broadcast(s.data(), s.size(), root);
    return s;
  }
};

// One process: rank 0 of 1; reductions, broadcasts and barriers do nothing.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(float*, std::size_t) override {}
  void all_reduce_sum(double*, std::size_t) override {}
  void broadcast(void*, std::size_t, int root) override {
    if (root != 0) ::anycost::detail::raise<CommunicatorError>("LocalCommunicator::broadcast: root ", root, " of 1 rank");
  }
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message, int status) override {
    std::fputs((message + "\n").c_str(), stderr);
    std::exit(status == 0 ? 1 : status);
  }
  std::string describe() const override { return "single process"; }
};

// ---- sharding the global batch -----------------------------------------------------------------------------

// The rows of a global batch of `n` that rank `rank` of `size` keeps, for a consumer that groups rows as the
// minibatch-stddev layer does (nn/minibatch_stddev.hpp: the batch viewed as [G, n / G], G = min(n, group),
// statistics over the G rows of a column). Rank r takes the columns [r m / size, (r + 1) m / size) of every
// one of the G rows (m = n / G), so its local batch, viewed as [G, m / size], groups exactly the samples the
// global batch groups: the discriminator's output per sample is the one a single process computes. With
// group 1 the shard is the contiguous range [r n / size, (r + 1) n / size).
// Requires n divisible by size and, for group > 1, n / size divisible by min(n, group) (ValueError).
inline std::vector<std::int64_t> shard_rows(std::int64_t n, int rank, int size, std::int64_t group = 1) {
  ANYCOST_CHECK(size >= 1 && rank >= 0 && rank < size, ValueError, "shard_rows: rank ", rank, " of ", size);
  ANYCOST_CHECK(n % size == 0, ValueError, "data-parallel training: the batch ", n, " is not divisible by the ",
                size, " ranks (choose a batch that is a multiple of the number of ranks)");
  const std::int64_t g = std::min<std::int64_t>(n, std::max<std::int64_t>(group, 1)), local = n / size;
  ANYCOST_CHECK(size == 1 || local % g == 0, ValueError, "data-parallel training: the batch ", n, " over ", size,
                " ranks gives ", local, " samples per rank, which is not a multiple of ", g,
                ", the discriminator's minibatch-stddev group: the result would differ from one process "
                "(choose a batch that is a multiple of ", g * size, ")");
  const std::int64_t m = n / g, cols = m / size;
  std::vector<std::int64_t> rows;
  rows.reserve(static_cast<std::size_t>(local));
  for (std::int64_t k = 0; k < g; ++k)
    for (std::int64_t j = 0; j < cols; ++j) rows.push_back(k * m + rank * cols + j);
  return rows;
}

// The rows `rows` of t along dim 0 (a copy; t itself when the rows are all of t in order).
inline Tensor take_rows(const Tensor& t, const std::vector<std::int64_t>& rows) {
  bool identity = static_cast<std::int64_t>(rows.size()) == t.size(0);
  for (std::size_t i = 0; identity && i < rows.size(); ++i) identity = rows[i] == static_cast<std::int64_t>(i);
  if (identity) return t;
  Shape shape = t.shape();
  shape[0] = static_cast<std::int64_t>(rows.size());
  Tensor out = Tensor::empty(shape, t.dtype(), t.device());
  for (std::size_t i = 0; i < rows.size(); ++i) out.narrow(0, static_cast<std::int64_t>(i), 1).copy_(t.narrow(0, rows[i], 1));
  return out;
}

}  // namespace train
ANYCOST_NAMESPACE_END
