// Applying edits to a W+ latent (the official demo): W+[rows < n_change] += sum_a strength_a * d_a. The
// finest rows stay as they were (the demo changes 12 of 18), which keeps an edit from touching texture.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "anycost/autograd/var.hpp"
#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace editing {

struct Edit {
  std::vector<double> direction;  // [style_dim], unit length
  double strength = 0;            // in units of w's scale: the demo maps slider ±100 to ±0.6
};

// wplus [N, n_style, style_dim] -> the edited copy; n_change < 0 means every row.
inline Tensor apply_edits(const Tensor& wplus, const std::vector<Edit>& edits, std::int64_t n_change = -1) {
  ANYCOST_CHECK(wplus.defined() && wplus.dim() == 3, ShapeError, "apply_edits: W+ must be [N, n_style, style_dim], got ",
                wplus.defined() ? wplus.shape() : Shape{});
  const std::int64_t n = wplus.size(0), rows = wplus.size(1), dim = wplus.size(2);
  const std::int64_t change = n_change < 0 ? rows : n_change;
  ANYCOST_CHECK(change <= rows, ValueError, "apply_edits: n_change ", change, " exceeds the ", rows, " W+ rows");
  std::vector<double> delta(static_cast<std::size_t>(dim), 0.0);
  for (const Edit& e : edits) {
    ANYCOST_CHECK(static_cast<std::int64_t>(e.direction.size()) == dim, ShapeError, "apply_edits: a direction has ",
                  e.direction.size(), " values, W+ rows have ", dim);
    ANYCOST_CHECK(std::isfinite(e.strength), ValueError, "apply_edits: an edit strength is not finite");
    for (std::int64_t j = 0; j < dim; ++j) delta[j] += e.strength * e.direction[j];
  }
  std::vector<double> w = wplus.to_vector<double>();
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t r = 0; r < change; ++r)
      for (std::int64_t j = 0; j < dim; ++j) w[static_cast<std::size_t>((i * rows + r) * dim + j)] += delta[j];
  return Tensor::from_vector(w, wplus.shape()).to(wplus.dtype()).to(wplus.device());
}

}  // namespace editing
ANYCOST_NAMESPACE_END
