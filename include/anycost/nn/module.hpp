// Modules: plain structs holding parameters (leaf Vars that require grad) and buffers (constant Tensors:
// noise maps, blur kernels), visited by name. There is no base class and no registry: every module has
//
//   template <class F> void visit_state(F&& fn, const std::string& prefix);
//
// calling fn(name, Var&) for each parameter and fn(name, Tensor&) for each buffer, in the order of the
// official PyTorch state_dict, with its key names (tools/convert_checkpoint.py). Everything else here
// is built on that one visitor: visit_parameters / visit_buffers (the optimiser takes the former),
// moving to a device or dtype, deep copies, requires_grad switches, parameter counts.
//
// A module's forward is const and reads no mutable state: two threads may run the same module, and one
// graph may use it twice (a full-width teacher and a sliced student).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "anycost/autograd/var.hpp"
#include "anycost/core/error.hpp"
#include "anycost/core/rng.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/ops/random.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

// "prefix.name", or "name" for an empty prefix.
inline std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Throws DeviceError unless `x` is on the device of the layer's parameter `p`: a layer checks its inputs
// itself, so the error names the layer and not an op inside it.
inline void check_device(const Var& x, const Var& p, const char* who, const char* what = "input") {
  ANYCOST_CHECK(x.device() == p.device(), DeviceError, who, ": ", what, " is on ", x.device(), ", the parameters on ",
                p.device());
}

// A fresh parameter: a leaf that requires grad.
inline Var make_parameter(Tensor t) { return Var(std::move(t), true); }

// Where a new module's parameters get their values: the reference initialisation drawn from an Rng
// (modules take an Rng& and convert it), or Init::none(), which allocates the tensors without filling them
// (nothing drawn) for a checkpoint to overwrite. Constant buffers (blur kernels) are always computed.
class Init {
 public:
  Init(Rng& rng) : rng_(&rng) {}  // NOLINT: implicit, so constructors read `Layer(..., rng)`
  static Init none() { return Init(); }
  bool fills() const { return rng_ != nullptr; }

  // N(0, 1) / divide_by (every StyleGAN2 weight starts this way; the equalised lr scales it at run time).
  Tensor normal_tensor(const Shape& shape, DType dtype, double divide_by = 1.0) const {
    if (!rng_) return Tensor::empty(shape, dtype);
    Tensor t = randn(shape, *rng_, dtype);
    if (divide_by != 1.0) {
      dispatch_dtype(dtype, [&](auto z) {
        using T = decltype(z);
        T* p = t.data<T>();
        for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(p[i] / divide_by);
      });
    }
    return t;
  }
  Var normal(const Shape& shape, DType dtype, double divide_by = 1.0) const {
    return make_parameter(normal_tensor(shape, dtype, divide_by));
  }
  // U(-bound, bound): PyTorch's default nn.Linear init (bound = 1/sqrt(fan_in) for weight and bias), used by
  // the few plain, non-equalised layers (the discriminator's AdaptiveModulate).
  Var uniform(const Shape& shape, double bound, DType dtype) const {
    if (!rng_) return make_parameter(Tensor::empty(shape, dtype));
    Tensor t = rand(shape, *rng_, dtype);
    dispatch_dtype(dtype, [&](auto z) {
      using T = decltype(z);
      T* p = t.data<T>();
      for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>((2.0 * p[i] - 1.0) * bound);
    });
    return make_parameter(std::move(t));
  }
  Var constant(const Shape& shape, double value, DType dtype) const {
    return make_parameter(rng_ ? Tensor::full(shape, value, dtype) : Tensor::empty(shape, dtype));
  }

 private:
  Init() = default;
  Rng* rng_ = nullptr;
};

// Calls fn(name, Var&) for every parameter of m.
template <class Module, class F>
void visit_parameters(Module& m, F&& fn, const std::string& prefix = {}) {
  m.visit_state(
      [&](const std::string& name, auto& x) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>) fn(name, x);
      },
      prefix);
}

// Calls fn(name, Tensor&) for every buffer of m.
template <class Module, class F>
void visit_buffers(Module& m, F&& fn, const std::string& prefix = {}) {
  m.visit_state(
      [&](const std::string& name, auto& x) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Tensor>) fn(name, x);
      },
      prefix);
}

namespace detail {
// Replaces every parameter and buffer x of m by f(x's tensor); parameters keep their requires_grad flag and
// lose any accumulated gradient.
template <class Module, class F>
void map_state(Module& m, F&& f) {
  m.visit_state(
      [&](const std::string&, auto& x) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>)
          x = Var(f(x.data()), x.requires_grad());
        else
          x = f(x);
      },
      {});
}
}  // namespace detail

// Moves every parameter and buffer to `device` (explicit copies through Tensor::to); parameters keep their
// requires_grad flag and lose any accumulated gradient.
template <class Module>
void to_device(Module& m, Device device) {
  detail::map_state(m, [&](const Tensor& t) { return t.to(device); });
}

// Converts every parameter and buffer to `dtype` (float32 or float64).
template <class Module>
void to_dtype(Module& m, DType dtype) {
  detail::map_state(m, [&](const Tensor& t) { return t.to(dtype); });
}

// A copy of m that shares no memory with it (copying a module struct shares its parameter handles).
template <class Module>
Module deep_copy(const Module& m) {
  Module out = m;
  detail::map_state(out, [](const Tensor& t) { return t.clone(); });
  return out;
}

// Turns gradient tracking of every parameter on or off (off for pure inference, frozen teachers).
template <class Module>
void set_requires_grad(Module& m, bool on) {
  visit_parameters(m, [&](const std::string&, Var& p) { p.set_requires_grad(on); });
}

// Number of trainable scalars (buffers excluded).
template <class Module>
std::int64_t parameter_count(Module& m) {
  std::int64_t n = 0;
  visit_parameters(m, [&](const std::string&, Var& p) { n += p.numel(); });
  return n;
}

}  // namespace nn
ANYCOST_NAMESPACE_END
