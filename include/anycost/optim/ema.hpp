// Ema: an exponential moving average of parameters (StyleGAN2's g_ema).
//
// update():  average <- beta * average + (1 - beta) * parameter, for every parameter, in place and under
// NoGradGuard. Parameters only: buffers (noise constants, filter kernels) are not averaged, so pass the
// parameter list, not the full state.
// The averages start as copies of the parameters (copy-on-start). They live either in tensors the Ema owns,
// or in the parameters of a second model of the same architecture (the g_ema generator), matched by name,
// so that the averaged model can be run directly.
//
// beta from a half-life: after `half_life_images` training images the old average's weight has halved,
//   beta = 0.5 ^ (batch_size / half_life_images)
// e.g. a 10 kimg half-life at a global batch of 32 gives beta = 0.5^(32/10000) = 0.997784.
//
// state_dict(): "<name>" -> average (live tensors; clone() for a snapshot). load_state_dict() is strict.
#pragma once

#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "anycost/autograd/grad_mode.hpp"
#include "anycost/expr/evaluate.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/optim/parameters.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace optim {

// beta = 0.5 ^ (batch_size / half_life_images); a half-life of 0 gives 0 (the average follows the parameters).
inline double ema_beta(double half_life_images, double batch_size) {
  ANYCOST_CHECK(half_life_images >= 0 && std::isfinite(half_life_images), ValueError,
                "ema_beta: half-life must be a finite number of images >= 0, got ", half_life_images);
  ANYCOST_CHECK(batch_size > 0 && std::isfinite(batch_size), ValueError,
                "ema_beta: batch size must be > 0, got ", batch_size);
  if (half_life_images == 0) return 0.0;
  return std::pow(0.5, batch_size / half_life_images);
}

class Ema {
 public:
  // Averages held in tensors the Ema owns, initialised as copies of `source`.
  Ema(NamedParameters source, double beta) : source_(std::move(source)) {
    detail::check_parameters(source_, "Ema", false);
    set_beta(beta);
    for (const NamedParameter& p : source_) average_.push_back(p.var.data().clone());
  }
  Ema(const std::vector<Var>& source, double beta) : Ema(name_by_position(source), beta) {}

  // Averages held in `target`'s parameters (same names, shapes, dtypes and devices as `source`; order may
  // differ); `source` is copied into them now.
  Ema(NamedParameters source, const NamedParameters& target, double beta) : source_(std::move(source)) {
    detail::check_parameters(source_, "Ema", false);
    detail::check_parameters(target, "Ema target", false);
    set_beta(beta);
    ANYCOST_CHECK(target.size() == source_.size(), ValueError, "Ema: target has ", target.size(),
                  " parameters, source has ", source_.size());
    std::unordered_map<std::string, const Var*> by_name;
    for (const NamedParameter& t : target) by_name.emplace(t.name, &t.var);
    for (const NamedParameter& p : source_) {
      const auto it = by_name.find(p.name);
      ANYCOST_CHECK(it != by_name.end(), ValueError, "Ema: target has no parameter '", p.name, "'");
      const Tensor& s = p.var.data();
      const Tensor& t = it->second->data();
      ANYCOST_CHECK(t.shape() == s.shape() && t.dtype() == s.dtype() && t.device() == s.device(), ShapeError,
                    "Ema: target parameter '", p.name, "' is ", t.dtype(), " ", t.shape(), " on ", t.device(),
                    ", source is ", s.dtype(), " ", s.shape(), " on ", s.device());
      for (const NamedParameter& q : source_)
        ANYCOST_CHECK(!t.may_overlap(q.var.data()), ValueError, "Ema: target parameter '", p.name,
                      "' shares memory with source parameter '", q.name, "'");
      average_.push_back(t);
    }
    copy_from_source();
  }

  double beta() const { return beta_; }
  void set_beta(double beta) {
    ANYCOST_CHECK(beta >= 0 && beta <= 1, ValueError, "Ema: beta must be in [0, 1], got ", beta);
    beta_ = beta;
  }

  // average <- beta * average + (1 - beta) * parameter.
  void update() {
    NoGradGuard no_grad;
    for (std::size_t i = 0; i < source_.size(); ++i) {
      const Tensor& a = average_[i];
      const Tensor& p = source_[i].var.data();
      ANYCOST_CHECK(p.shape() == a.shape() && p.dtype() == a.dtype() && p.device() == a.device(), DeviceError,
                    "Ema: parameter '", source_[i].name, "' is now ", p.dtype(), " ", p.shape(), " on ", p.device(),
                    " but its average is ", a.dtype(), " ", a.shape(), " on ", a.device());
      expr::evaluate_into(a, [&](auto A, auto P) { return beta_ * A + (1 - beta_) * P; }, a, p);
      a.bump_version();
    }
  }

  // Resets every average to the current parameter value.
  void copy_from_source() {
    NoGradGuard no_grad;
    for (std::size_t i = 0; i < source_.size(); ++i) average_[i].copy_(source_[i].var.data());
  }

  const NamedParameters& parameters() const { return source_; }
  // The average of parameter i (in source order), or by name.
  const Tensor& average(std::size_t i) const { return average_.at(i); }
  const Tensor& average(const std::string& name) const {
    for (std::size_t i = 0; i < source_.size(); ++i)
      if (source_[i].name == name) return average_[i];
    ::anycost::detail::raise<ValueError>("Ema: no parameter named '", name, "'");
  }

  StateDict state_dict() const {
    StateDict sd;
    for (std::size_t i = 0; i < source_.size(); ++i) sd.emplace_back(source_[i].name, average_[i]);
    return sd;
  }
  void load_state_dict(const StateDict& sd) {
    detail::StateReader reader(sd, "Ema");
    std::vector<const Tensor*> src;
    for (std::size_t i = 0; i < source_.size(); ++i)
      src.push_back(&reader.get(source_[i].name, average_[i].shape()));
    reader.finish();
    for (std::size_t i = 0; i < source_.size(); ++i) average_[i].copy_(src[i]->to(average_[i].device()));
  }

 private:
  NamedParameters source_;
  std::vector<Tensor> average_;
  double beta_ = 0.0;
};

}  // namespace optim
ANYCOST_NAMESPACE_END
