// BatchNorm2d: batch normalisation over the channels of NCHW inputs (Ioffe and Szegedy 2015), with the
// semantics and state names of torch.nn.BatchNorm2d (affine, track_running_stats), as the ResNet trunk of the
// projection encoder (models/encoder.hpp) uses it.
//
//   running statistics (PyTorch's eval mode):  y = x * s + (bias - running_mean * s),  s = weight / sqrt(running_var + eps)
//   batch statistics (PyTorch's train mode):   y = (x - mu) / sqrt(var + eps) * weight + bias,
//                                              mu, var (biased) over N, H, W of this batch
//
// Both are composed from differentiable elementwise ops and reductions, so gradients (of any order) need
// nothing new. A module's forward is const (nn/module.hpp), so the batch-statistics forward does not touch
// the running statistics: it hands them back (BatchStats), and the trainer applies them with
// update_running_stats, as PyTorch does after each training forward:
//   running = (1 - momentum) running + momentum * stat   (var unbiased: n / (n - 1) times the batch variance)
//   num_batches_tracked += 1
// The update replaces the buffers (new tensors): loaded buffers may alias a read-only file mapping.
//
// State: weight [C] (gamma), bias [C] (beta), buffers running_mean [C], running_var [C] and
// num_batches_tracked [] (an int64 in PyTorch; float32 here, exact up to 2^24 batches).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "anycost/nn/module.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

// Per-channel statistics of one batch: mean and biased variance [C], over `count` = N * H * W values each.
struct BatchStats {
  Tensor mean, var;
  std::int64_t count = 0;
};

class BatchNorm2d {
 public:
  BatchNorm2d() = default;
  // weight 1, bias 0 (PyTorch's reset_parameters); running_mean 0, running_var 1, no batches tracked.
  BatchNorm2d(std::int64_t channels, Init init, DType dtype = DType::float32, double eps = 1e-5,
              double momentum = 0.1)
      : eps_(eps), momentum_(momentum) {
    ANYCOST_CHECK(channels >= 1, ValueError, "BatchNorm2d: channels must be >= 1, got ", channels);
    ANYCOST_CHECK(eps > 0 && momentum >= 0 && momentum <= 1, ValueError, "BatchNorm2d: eps ", eps, " must be > 0 and momentum ",
                  momentum, " in [0, 1]");
    weight = init.constant({channels}, 1.0, dtype);
    bias = init.constant({channels}, 0.0, dtype);
    running_mean = Tensor::zeros({channels}, dtype);
    running_var = Tensor::ones({channels}, dtype);
    num_batches_tracked = Tensor::scalar(0.0, dtype);
  }

  std::int64_t channels() const { return weight.size(0); }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }

  // Normalises with the running statistics (inference): one affine map per channel.
  Var forward(const Var& x) const {
    check_input(x);
    const Var s = weight * rsqrt(Var(running_var) + eps_);
    const Var shift = bias - Var(running_mean) * s;
    return x * reshape(s, {1, channels(), 1, 1}) + reshape(shift, {1, channels(), 1, 1});
  }

  // Normalises with the statistics of this batch (training); `stats`, when given, receives them (detached) for
  // update_running_stats. Needs more than one value per channel, as PyTorch does.
  Var forward_batch(const Var& x, BatchStats* stats = nullptr) const {
    check_input(x);
    const std::int64_t count = x.size(0) * x.size(2) * x.size(3);
    ANYCOST_CHECK(count > 1, ShapeError, "BatchNorm2d: batch statistics need more than one value per channel, input ",
                  x.shape());
    const Var mu = mean(x, {0, 2, 3}, true);
    const Var d = x - mu;
    const Var var = mean(square(d), {0, 2, 3}, true);
    if (stats) *stats = BatchStats{mu.data().reshape({channels()}).clone(), var.data().reshape({channels()}).clone(), count};
    return d * rsqrt(var + eps_) * reshape(weight, {1, channels(), 1, 1}) + reshape(bias, {1, channels(), 1, 1});
  }

  // PyTorch's running-statistics update from one batch's statistics (see the top of this file).
  void update_running_stats(const BatchStats& s) {
    ANYCOST_CHECK(s.mean.defined() && s.var.defined() && s.mean.shape() == running_mean.shape() &&
                      s.var.shape() == running_var.shape() && s.count > 1,
                  ShapeError, "BatchNorm2d::update_running_stats: statistics of shape ",
                  s.mean.defined() ? s.mean.shape() : Shape{}, " over ", s.count, " values, the layer has ", channels(),
                  " channels");
    const double unbias = static_cast<double>(s.count) / static_cast<double>(s.count - 1);
    const Tensor mean = s.mean.to(running_mean.dtype()).to(running_mean.device());
    const Tensor var = s.var.to(running_var.dtype()).to(running_var.device());
    running_mean = Var(Var(running_mean) * (1.0 - momentum_) + Var(mean) * momentum_).data();
    running_var = Var(Var(running_var) * (1.0 - momentum_) + Var(var) * (momentum_ * unbias)).data();
    num_batches_tracked = Var(Var(num_batches_tracked) + 1.0).data();
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }

  Var weight, bias;                                      // [C]
  Tensor running_mean, running_var, num_batches_tracked;  // [C], [C], []

 private:
  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    fn(join_name(prefix, "weight"), self.weight);
    fn(join_name(prefix, "bias"), self.bias);
    fn(join_name(prefix, "running_mean"), self.running_mean);
    fn(join_name(prefix, "running_var"), self.running_var);
    fn(join_name(prefix, "num_batches_tracked"), self.num_batches_tracked);
  }

  void check_input(const Var& x) const {
    ANYCOST_CHECK(weight.defined(), ValueError, "BatchNorm2d: not initialised");
    ANYCOST_CHECK(x.defined() && x.dim() == 4 && x.size(1) == channels(), ShapeError, "BatchNorm2d: input ",
                  x.defined() ? x.shape() : Shape{}, " is not [N, ", channels(), ", H, W]");
    check_device(x, weight, "BatchNorm2d");
  }

  double eps_ = 1e-5;
  double momentum_ = 0.1;
};

}  // namespace nn
ANYCOST_NAMESPACE_END
