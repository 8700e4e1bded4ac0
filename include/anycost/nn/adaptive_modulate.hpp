// AdaptiveModulate: the discriminator's conditioning on the generator architecture (Lin et al. 2021, Sec. 3.3,
// "generator-conditioned discriminator"; the official models/ops.py AdaptiveModulate), FiLM-style:
//
//   y = x * (1 + A_g g + a_g) + (A_b g + a_b)        per channel, g the architecture code [arch_dim]
//
// A_g/a_g (`weight_mapping`) and A_b/a_b (`bias_mapping`) are plain linear layers arch_dim -> C, not
// equalised, initialised as PyTorch's nn.Linear default: U(-1/sqrt(arch_dim), 1/sqrt(arch_dim)) for weights
// and biases. The "+1" makes the start near (not exactly) the identity. One code is shared by the whole
// batch, as in the reference (it views g as [1, arch_dim]).
#pragma once

#include <cmath>
#include <string>

#include "anycost/nn/module.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/linalg.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

// A plain nn.Linear: weight [out, in], bias [out].
struct PlainLinear {
  PlainLinear() = default;
  PlainLinear(std::int64_t in, std::int64_t out, Init init, DType dtype) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    weight = init.uniform({out, in}, bound, dtype);
    bias = init.uniform({out}, bound, dtype);
  }
  Var forward(const Var& x) const { return linear(x, weight, bias); }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    fn(join_name(prefix, "weight"), weight);
    fn(join_name(prefix, "bias"), bias);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    fn(join_name(prefix, "weight"), weight);
    fn(join_name(prefix, "bias"), bias);
  }

  Var weight, bias;
};

// The per-channel scale and shift of AdaptiveModulate, each [1, C, 1, 1].
struct FilmParams {
  Var scale;  // 1 + A_g g + a_g
  Var shift;  // A_b g + a_b
};

class AdaptiveModulate {
 public:
  AdaptiveModulate() = default;
  AdaptiveModulate(std::int64_t features, std::int64_t arch_dim, Init init, DType dtype = DType::float32)
      : weight_mapping(arch_dim, features, init, dtype), bias_mapping(arch_dim, features, init, dtype) {
    ANYCOST_CHECK(features >= 1 && arch_dim >= 1, ValueError, "AdaptiveModulate: features (", features,
                  ") and arch_dim (", arch_dim, ") must be >= 1");
  }

  std::int64_t features() const { return weight_mapping.weight.size(0); }
  std::int64_t arch_dim() const { return weight_mapping.weight.size(1); }

  // arch: [arch_dim] or [1, arch_dim].
  FilmParams params(const Var& arch) const {
    ANYCOST_CHECK(arch.defined(), ValueError, "AdaptiveModulate: the architecture code is missing");
    ANYCOST_CHECK((arch.dim() == 1 || (arch.dim() == 2 && arch.size(0) == 1)) && arch.size(-1) == arch_dim(),
                  ShapeError, "AdaptiveModulate: architecture code ", arch.shape(), " is not [", arch_dim(), "] or [1, ",
                  arch_dim(), "]");
    ANYCOST_CHECK(arch.dtype() == weight_mapping.weight.dtype(), ShapeError, "AdaptiveModulate: architecture code is ",
                  arch.dtype(), ", the layer is ", weight_mapping.weight.dtype());
    check_device(arch, weight_mapping.weight, "AdaptiveModulate", "architecture code");
    const Var g = arch.dim() == 2 ? arch : reshape(arch, {1, arch_dim()});
    const Shape s{1, features(), 1, 1};
    return {reshape(Var(weight_mapping.forward(g) + 1.0), s), reshape(bias_mapping.forward(g), s)};
  }

  // x [B, C, H, W] (C = features()) -> x * scale + shift.
  Var forward(const Var& x, const Var& arch) const {
    ANYCOST_CHECK(x.dim() == 4 && x.size(1) == features(), ShapeError, "AdaptiveModulate: input ", x.shape(),
                  " is not [B, ", features(), ", H, W]");
    const FilmParams p = params(arch);
    return x * p.scale + p.shift;
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    weight_mapping.visit_state(fn, join_name(prefix, "weight_mapping"));
    bias_mapping.visit_state(fn, join_name(prefix, "bias_mapping"));
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    weight_mapping.visit_state(fn, join_name(prefix, "weight_mapping"));
    bias_mapping.visit_state(fn, join_name(prefix, "bias_mapping"));
  }

  PlainLinear weight_mapping, bias_mapping;
};

}  // namespace nn
ANYCOST_NAMESPACE_END
