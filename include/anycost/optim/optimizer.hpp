// Optimizer: what every gradient-descent optimiser shares.
//
// Requires: a list of named leaf parameters that require grad (optim/parameters.hpp checks it and names
// any offender). Per parameter, the optimiser keeps a step count and state buffers of the parameter's
// shape, dtype and device (allocated as zeros at construction).
// step(): under NoGradGuard, every parameter whose grad() is defined is updated in place (fused elementwise
// passes written straight into the parameter's tensor, whose version counter is then bumped) and its step
// count rises by one; parameters without a gradient are skipped and keep their state.
// zero_grad(): drops every gradient (grad() becomes undefined; the next backward allocates afresh).
// state_dict() / load_state_dict(): "<name>.<buffer>" tensors plus "<name>.step" (a float64 scalar).
// Saving returns the live buffers (no copy: clone() them for a snapshot); loading is strict (missing,
// unexpected or misshapen entries throw before anything changes) and converts dtype and device.
// Hyper-parameters are configuration, not state: they are not saved.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "anycost/autograd/grad_mode.hpp"
#include "anycost/optim/parameters.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  Optimizer(Optimizer&&) = default;
  Optimizer& operator=(Optimizer&&) = default;

  // One update of every parameter that has a gradient.
  void step() {
    NoGradGuard no_grad;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const Var& p = params_[i].var;
      const Var& g = p.grad();
      if (!g.defined()) continue;
      const Tensor& pt = p.data();
      const Tensor& gt = g.data();
      ANYCOST_CHECK(gt.shape() == pt.shape() && gt.dtype() == pt.dtype() && gt.device() == pt.device(), ShapeError,
                    name_, ": gradient of ", detail::describe(params_, i), " is ", gt.dtype(), " ", gt.shape(),
                    " on ", gt.device(), ", but the parameter is ", pt.dtype(), " ", pt.shape(), " on ", pt.device());
      ParamState& s = state_[i];
      ANYCOST_CHECK(s.buffers.empty() || (s.buffers[0].device() == pt.device() && s.buffers[0].dtype() == pt.dtype()),
                    DeviceError, name_, ": ", detail::describe(params_, i), " is now ", pt.dtype(), " on ",
                    pt.device(), " but its optimiser state is ", s.buffers[0].dtype(), " on ", s.buffers[0].device(),
                    "; create the optimiser after moving the parameters");
      ++s.step;
      update(pt, gt, s);
      pt.bump_version();
    }
  }

  // Drops every parameter's gradient.
  void zero_grad() {
    for (const NamedParameter& p : params_) p.var.zero_grad();
  }

  const NamedParameters& parameters() const { return params_; }
  // Number of updates parameter i has received.
  std::int64_t step_count(std::size_t i) const { return state_.at(i).step; }
  // State buffer `buffer` (index into buffer_names()) of parameter i.
  const Tensor& state_buffer(std::size_t i, std::size_t buffer) const { return state_.at(i).buffers.at(buffer); }
  const std::vector<std::string>& buffer_names() const { return buffer_names_; }
  const char* name() const { return name_; }

  StateDict state_dict() const {
    StateDict sd;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      for (std::size_t b = 0; b < buffer_names_.size(); ++b)
        sd.emplace_back(params_[i].name + "." + buffer_names_[b], state_[i].buffers[b]);
      sd.emplace_back(params_[i].name + ".step",
                      Tensor::scalar(static_cast<double>(state_[i].step), DType::float64));
    }
    return sd;
  }

  void load_state_dict(const StateDict& sd) {
    detail::StateReader reader(sd, name_);
    std::vector<std::vector<const Tensor*>> sources(params_.size());
    std::vector<std::int64_t> steps(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const Shape& shape = params_[i].var.shape();
      for (const std::string& b : buffer_names_) sources[i].push_back(&reader.get(params_[i].name + "." + b, shape));
      steps[i] = reader.get_count(params_[i].name + ".step");
    }
    reader.finish();
    for (std::size_t i = 0; i < params_.size(); ++i) {
      for (std::size_t b = 0; b < buffer_names_.size(); ++b) {
        const Tensor& dst = state_[i].buffers[b];
        dst.copy_(sources[i][b]->to(dst.device()));
      }
      state_[i].step = steps[i];
    }
  }

 protected:
  struct ParamState {
    std::vector<Tensor> buffers;
    std::int64_t step = 0;  // updates taken so far (already counting the current one inside update())
  };

  Optimizer(NamedParameters params, const char* name, std::vector<std::string> buffer_names)
      : params_(std::move(params)), name_(name), buffer_names_(std::move(buffer_names)) {
    detail::check_parameters(params_, name_);
    state_.resize(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const Tensor& p = params_[i].var.data();
      for (std::size_t b = 0; b < buffer_names_.size(); ++b)
        state_[i].buffers.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
    }
  }

  // Updates `param` in place from `grad` (same shape, dtype and device) and the parameter's state.
  virtual void update(const Tensor& param, const Tensor& grad, ParamState& state) = 0;

  static void check_finite_nonneg(double v, const char* who, const char* what) {
    ANYCOST_CHECK(v >= 0 && v < 1e300, ValueError, who, ": ", what, " must be a finite number >= 0, got ", v);
  }

 private:
  NamedParameters params_;
  const char* name_;
  std::vector<std::string> buffer_names_;
  std::vector<ParamState> state_;
};

}  // namespace optim
ANYCOST_NAMESPACE_END
