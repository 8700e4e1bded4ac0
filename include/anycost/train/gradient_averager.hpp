// Averaging gradients over the ranks of a Communicator (train/communicator.hpp).
//
// GradientAverager does it while backward() is still running, the all-reduce of finished gradients
// overlapping the rest of the pass:
//
//   train::GradientAverager avg(comm, opt.parameters());
//   backward(loss, {}, avg.options());   // full buckets start reducing during the pass
//   avg.finish({&loss_value});           // waits for them; gradients and scalars are now the means
//
// Buckets (float32, started once they hold `bucket_bytes`) are filled in the order the pass finishes the
// parameters' gradients (autograd/engine.hpp LeafObserver), which is the same on every rank because every
// rank runs the same graph, so every rank starts the same collectives in the same order. The last bucket
// starts with the last gradient the pass produces; between starts, each finished gradient lets the
// reductions in flight progress (MPI progresses a non-blocking collective only inside MPI calls).
// Gradients the pass did not produce (set before it) are averaged in finish(), in parameter order; so
// average_gradients, which averages gradients already computed, is finish() alone. Parameters without a
// gradient are skipped (every rank runs the same sub-network, so the same parameters have one). A NaN or
// infinity anywhere reaches every rank, so the finite check that follows (steps.hpp finite_step) agrees on
// all of them. Nothing happens with one rank.
//
// A communicator that reduces device memory (NCCL) gets device buckets after the pass: flattened, reduced
// and scaled on the gradients' device (one device per rank), never copied to the host.
#pragma once

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <vector>

#include "anycost/autograd/engine.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/optim/parameters.hpp"
#include "anycost/train/communicator.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace train {

class GradientAverager final : public LeafObserver {
 public:
  GradientAverager(Communicator& comm, const optim::NamedParameters& params, std::size_t bucket_bytes = 2u << 20)
      : comm_(comm), params_(params), cap_(std::max<std::size_t>(bucket_bytes / sizeof(float), 1)) {
    for (std::size_t i = 0; i < params_.size(); ++i) index_.emplace(params_[i].var.shared_impl().get(), i);
    taken_.assign(params_.size(), false);
  }
  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;

  // Whether the reduction can overlap backward() (several ranks, host memory).
  bool overlaps() const { return comm_.size() > 1 && !comm_.reduces_device_memory(); }
  // The options that make backward() report to this averager.
  GradOptions options() {
    GradOptions o;
    if (overlaps()) o.observer = this;
    return o;
  }

  void expect(const VarImpl& leaf) override {
    if (index_.count(&leaf)) ++expected_;
  }
  void done(const VarImpl& leaf) override {
    const auto it = index_.find(&leaf);
    if (it == index_.end()) return;
    ++finished_;
    add(it->second);
    if (open_.values.size() >= cap_ || finished_ == expected_) {
      start();
      started_during_pass_ = started_.size();
    }
    for (Bucket& b : started_)
      if (b.pending) b.pending->test();
  }

  // Averages the values `scalars` point to and what the pass did not produce, waits for every bucket, and
  // sets every parameter's gradient to the mean over the ranks.
  void finish(const std::vector<double*>& scalars = {}) {
    if (comm_.size() == 1) return;
    average_scalars(scalars);
    const auto on_device = [](const optim::NamedParameter& p) {
      return p.var.grad().defined() && p.var.grad().data().device() != Device::cpu();
    };
    if (comm_.reduces_device_memory() && std::any_of(params_.begin(), params_.end(), on_device)) {
      average_on_device();
      return;
    }
    start();
    for (std::size_t i = 0; i < params_.size(); ++i) {
      add(i);
      if (open_.values.size() >= cap_) start();
    }
    start();
    const float k = static_cast<float>(comm_.size());
    for (Bucket& b : started_) {
      b.pending->wait();
      std::size_t at = 0;
      for (std::size_t i : b.members) {
        const optim::NamedParameter& p = params_[i];
        const Tensor& g = p.var.grad().data();
        const std::size_t n = static_cast<std::size_t>(g.numel());
        Tensor t = Tensor::empty(g.shape(), DType::float32);
        float* dst = t.data<float>();
        for (std::size_t j = 0; j < n; ++j) dst[j] = b.values[at + j] / k;
        at += n;
        p.var.set_grad(Var(t.to(g.dtype()).to(g.device())));
      }
    }
    started_.clear();
  }

  // How many all-reduces had started when the pass finished its last gradient (tests, benchmarks).
  std::size_t started_during_pass() const { return started_during_pass_; }

 private:
  struct Bucket {
    std::vector<float> values;
    std::vector<std::size_t> members;
    std::unique_ptr<Communicator::PendingSum> pending;
  };

  // Appends parameter i's gradient to the open bucket, once.
  void add(std::size_t i) {
    const optim::NamedParameter& p = params_[i];
    if (taken_[i] || !p.var.grad().defined()) return;
    taken_[i] = true;
    const Tensor g = p.var.grad().data().to(Device::cpu()).to(DType::float32).contiguous();
    open_.values.insert(open_.values.end(), g.data<float>(), g.data<float>() + g.numel());
    open_.members.push_back(i);
  }
  void average_scalars(const std::vector<double*>& scalars) {
    if (scalars.empty()) return;
    std::vector<double> v;
    for (const double* p : scalars) v.push_back(*p);
    comm_.all_reduce_mean(v.data(), v.size());
    for (std::size_t i = 0; i < scalars.size(); ++i) *scalars[i] = v[i];
  }
  // Device buckets of at most cap_ values, reduced with the blocking sum on the gradients' device.
  void average_on_device() {
    std::vector<const optim::NamedParameter*> group;
    std::size_t count = 0;
    const auto flush = [&] {
      if (group.empty()) return;
      const Device dev = group.front()->var.grad().data().device();
      Tensor flat = Tensor::empty({static_cast<std::int64_t>(count)}, DType::float32, dev);
      std::int64_t at = 0;
      for (const optim::NamedParameter* p : group) {
        const Tensor g = p->var.grad().data().to(dev).to(DType::float32).contiguous();
        flat.narrow(0, at, g.numel()).copy_(g.reshape({g.numel()}));
        at += g.numel();
      }
      comm_.all_reduce_sum(static_cast<float*>(flat.raw_data()), count);
      flat = Var(Var(flat) * (1.0 / comm_.size())).data();
      at = 0;
      for (const optim::NamedParameter* p : group) {
        const Tensor& g = p->var.grad().data();
        p->var.set_grad(Var(flat.narrow(0, at, g.numel()).reshape(g.shape()).to(g.dtype()).clone()));
        at += g.numel();
      }
      group.clear();
      count = 0;
    };
    for (const optim::NamedParameter& p : params_) {
      if (!p.var.grad().defined()) continue;
      const std::size_t n = static_cast<std::size_t>(p.var.grad().numel());
      if (!group.empty() && count + n > cap_) flush();
      group.push_back(&p);
      count += n;
    }
    flush();
  }
  void start() {
    if (open_.members.empty()) return;
    started_.push_back(std::move(open_));
    open_ = Bucket{};
    Bucket& b = started_.back();
    b.pending = comm_.start_all_reduce_sum(b.values.data(), b.values.size());
  }

  Communicator& comm_;
  const optim::NamedParameters& params_;
  std::size_t cap_;
  std::unordered_map<const VarImpl*, std::size_t> index_;
  std::vector<bool> taken_;
  std::size_t expected_ = 0, finished_ = 0, started_during_pass_ = 0;
  Bucket open_;
  // A pending sum points into its bucket's values: moving a Bucket keeps that heap buffer where it is.
  std::vector<Bucket> started_;
};

// Averages the gradients of `params` over the ranks of `comm` after they were computed (and the values
// `scalars` point to: a step's losses), in buckets of at most about `bucket_bytes`.
inline void average_gradients(Communicator& comm, const optim::NamedParameters& params,
                              const std::vector<double*>& scalars = {}, std::size_t bucket_bytes = 32u << 20) {
  GradientAverager(comm, params, bucket_bytes).finish(scalars);
}

}  // namespace train
ANYCOST_NAMESPACE_END
