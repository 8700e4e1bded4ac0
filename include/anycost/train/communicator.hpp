// Communicator: what data-parallel training needs from a collective engine (MPI on CPU ranks,
// train/mpi_communicator.hpp; NCCL on GPU ranks, train/nccl_communicator.hpp), and the single-process
// communicator (rank 0 of 1, every reduction the identity) that the trainer uses when it is given none.
//
// Data parallelism here (train/trainer.hpp, train/steps.hpp): every rank holds G, D, G_ema and both optimiser
// states; every rank draws the random numbers of the whole global batch (latents, noise, sub-network, data
// order) from the same seeded streams and keeps its shard of the rows (shard_rows below); the gradients of
// each model are averaged across ranks before every optimiser step (average_gradients: bucketed, one
// all-reduce per bucket) together with the step's scalar losses, so every rank sees the same loss values and
// takes the same skip / roll-back decision.
//
// The header needs nothing but the library: it never includes an MPI or NCCL header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/optim/parameters.hpp"

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

// ---- averaging gradients -----------------------------------------------------------------------------------

// Averages the gradients of `params` over the ranks of `comm`, and with them the values `scalars` point to
// (a step's losses: every rank then logs and checks the global mean). The gradients are flattened into
// float32 buckets of at most `bucket_bytes` (parameters in order, a parameter never split), one all-reduce per
// bucket, then copied back as new gradient tensors of the parameters' dtype and device; the scalars travel in
// one float64 all-reduce. Parameters without a gradient are skipped (every rank runs the same sub-network, so
// the same parameters have one). A NaN or infinity anywhere reaches every rank, so the finite check that
// follows (steps.hpp finite_step) agrees on all of them. Nothing happens with one rank.
inline void average_gradients(Communicator& comm, const optim::NamedParameters& params,
                              const std::vector<double*>& scalars = {}, std::size_t bucket_bytes = 32u << 20) {
  if (comm.size() == 1) return;
  if (!scalars.empty()) {
    std::vector<double> s;
    for (const double* p : scalars) s.push_back(*p);
    comm.all_reduce_mean(s.data(), s.size());
    for (std::size_t i = 0; i < scalars.size(); ++i) *scalars[i] = s[i];
  }
  const std::size_t cap = std::max<std::size_t>(bucket_bytes / sizeof(float), 1);
  const auto device_grad = [](const optim::NamedParameter& p) {
    return p.var.grad().defined() && p.var.grad().data().device() != Device::cpu();
  };
  if (comm.reduces_device_memory() && std::any_of(params.begin(), params.end(), device_grad)) {
    // Device buckets: flattened, reduced and scaled on the gradients' device (one device per rank).
    std::vector<const optim::NamedParameter*> group;
    std::size_t count = 0;
    auto flush_device = [&] {
      if (group.empty()) return;
      const Device dev = group.front()->var.grad().data().device();
      Tensor flat = Tensor::empty({static_cast<std::int64_t>(count)}, DType::float32, dev);
      std::int64_t at = 0;
      for (const optim::NamedParameter* p : group) {
        const Tensor g = p->var.grad().data().to(dev).to(DType::float32).contiguous();
        flat.narrow(0, at, g.numel()).copy_(g.reshape({g.numel()}));
        at += g.numel();
      }
      comm.all_reduce_sum(static_cast<float*>(flat.raw_data()), count);
      flat = Var(Var(flat) * (1.0 / comm.size())).data();
      at = 0;
      for (const optim::NamedParameter* p : group) {
        const Tensor& g = p->var.grad().data();
        p->var.set_grad(Var(flat.narrow(0, at, g.numel()).reshape(g.shape()).to(g.dtype()).clone()));
        at += g.numel();
      }
      group.clear();
      count = 0;
    };
    for (const optim::NamedParameter& p : params) {
      if (!p.var.grad().defined()) continue;
      const std::size_t n = static_cast<std::size_t>(p.var.grad().numel());
      if (!group.empty() && count + n > cap) flush_device();
      group.push_back(&p);
      count += n;
    }
    flush_device();
    return;
  }
  std::vector<float> bucket;
  std::vector<const optim::NamedParameter*> members;
  auto flush = [&] {
    if (members.empty()) return;
    comm.all_reduce_mean(bucket.data(), bucket.size());
    std::size_t at = 0;
    for (const optim::NamedParameter* p : members) {
      const Tensor& g = p->var.grad().data();
      const std::size_t n = static_cast<std::size_t>(g.numel());
      Tensor t = Tensor::empty(g.shape(), DType::float32);
      std::memcpy(t.data<float>(), bucket.data() + at, n * sizeof(float));
      at += n;
      p->var.set_grad(Var(t.to(g.dtype()).to(g.device())));
    }
    bucket.clear();
    members.clear();
  };
  for (const optim::NamedParameter& p : params) {
    if (!p.var.grad().defined()) continue;
    const Tensor g = p.var.grad().data().to(Device::cpu()).to(DType::float32).contiguous();
    const std::size_t n = static_cast<std::size_t>(g.numel());
    if (!members.empty() && bucket.size() + n > cap) flush();
    bucket.insert(bucket.end(), g.data<float>(), g.data<float>() + n);
    members.push_back(&p);
  }
  flush();
}

}  // namespace train
ANYCOST_NAMESPACE_END
