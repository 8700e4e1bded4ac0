// The mapping network z -> w of StyleGAN (Karras et al. 2019, Sec. 2; PixelNorm from Karras et al. 2018,
// Sec. 4.2): then n_mlp EqualLinear(style_dim -> style_dim,
// lr_mul, lrelu) layers. State names: style.1.* ... style.<n_mlp>.* (style.0 is the parameter-free
// PixelNorm). It maps the last dim of any tensor [..., style_dim] row by row, and is never sliced.
#pragma once

#include <string>
#include <vector>

#include "anycost/nn/equal_linear.hpp"
#include "anycost/ops/reduce.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

// z / sqrt(mean(z^2 over the last dim) + 1e-8).
inline Var pixel_norm(const Var& z) {
  ANYCOST_CHECK(z.dim() >= 1, ShapeError, "pixel_norm: needs at least one dim, got a scalar");
  return z * rsqrt(mean(square(z), {z.dim() - 1}, true) + 1e-8);
}

class MappingNetwork {
 public:
  MappingNetwork() = default;
  MappingNetwork(std::int64_t style_dim, int n_mlp, double lr_mul, Init init, DType dtype = DType::float32) {
    ANYCOST_CHECK(n_mlp >= 1, ValueError, "MappingNetwork: n_mlp must be >= 1, got ", n_mlp);
    for (int i = 0; i < n_mlp; ++i) layers.emplace_back(style_dim, style_dim, init, 0.0, lr_mul, dtype);
  }

  int n_mlp() const { return static_cast<int>(layers.size()); }
  std::int64_t style_dim() const { return layers.empty() ? 0 : layers.front().in_features(); }

  // z [..., style_dim] -> w [..., style_dim].
  Var forward(const Var& z) const {
    ANYCOST_CHECK(!layers.empty(), ValueError, "MappingNetwork: network is not initialised");
    ANYCOST_CHECK(z.dim() >= 1 && z.size(-1) == style_dim(), ShapeError, "MappingNetwork: latent ", z.shape(),
                  " does not end in style_dim ", style_dim());
    check_device(z, layers.front().weight, "MappingNetwork", "latent");
    Var h = pixel_norm(z);
    for (const auto& layer : layers) h = layer.forward(h);
    return h;
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    for (std::size_t i = 0; i < layers.size(); ++i) layers[i].visit_state(fn, join_name(prefix, std::to_string(i + 1)));
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    for (std::size_t i = 0; i < layers.size(); ++i) layers[i].visit_state(fn, join_name(prefix, std::to_string(i + 1)));
  }

  std::vector<EqualLinear<Activation::lrelu>> layers;  // style.1 ... style.n_mlp
};

}  // namespace nn
ANYCOST_NAMESPACE_END
