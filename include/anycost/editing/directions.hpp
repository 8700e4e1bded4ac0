// Edit directions in W from attribute scores (InterFaceGAN, as the official extract_edit_directions.py):
// per attribute, sort the sampled latents by their score, take the top and bottom fraction (2% of 500k
// there) as positives and negatives, split each 70/30 into train and validation, fit a linear SVM and keep
// its unit normal. The scores come from any predictor (a classifier on the rendered images).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/rng.hpp"
#include "anycost/editing/svm.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace editing {

struct DirectionOptions {
  double fraction = 0.02;      // of the samples, for each of positives and negatives
  double train_share = 0.7;    // the rest validates
  double C = 1.0;              // the SVM's
  std::uint64_t seed = 0;      // the shuffle before the split
};

struct Direction {
  std::string name;
  std::vector<double> d;       // unit length, the attribute grows along +d
  double val_accuracy = 0;     // of the SVM on the held-out positives and negatives
  std::int64_t per_class = 0;  // positives (= negatives) used
};

// latents [n, dim] row-major, scores [n] (higher = more of the attribute).
inline Direction fit_direction(const std::string& name, const std::vector<double>& latents,
                               const std::vector<double>& scores, std::int64_t dim, const DirectionOptions& o = {}) {
  const std::int64_t n = static_cast<std::int64_t>(scores.size());
  ANYCOST_CHECK(dim >= 1 && static_cast<std::int64_t>(latents.size()) == n * dim, ShapeError, "fit_direction '", name,
                "': ", latents.size(), " latent values are not ", n, " rows of ", dim);
  ANYCOST_CHECK(o.fraction > 0 && o.fraction <= 0.5 && o.train_share > 0 && o.train_share < 1, ValueError,
                "fit_direction '", name, "': fraction must be in (0, 0.5] and train_share in (0, 1)");
  const std::int64_t k = static_cast<std::int64_t>(std::floor(o.fraction * static_cast<double>(n)));
  ANYCOST_CHECK(k >= 4, ValueError, "fit_direction '", name, "': ", n, " samples give only ", k,
                " positives at fraction ", o.fraction, "; need >= 4 (sample more)");
  for (double s : scores) ANYCOST_CHECK(std::isfinite(s), ValueError, "fit_direction '", name, "': a score is not finite");
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return scores[a] > scores[b]; });
  std::vector<std::int64_t> pos(order.begin(), order.begin() + k), neg(order.end() - k, order.end());
  Rng rng(o.seed);
  const auto shuffle = [&](std::vector<std::int64_t>& v) {  // Fisher-Yates on the library's own RNG
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.uniform_int(static_cast<std::uint32_t>(i))]);
  };
  shuffle(pos), shuffle(neg);
  const std::int64_t n_train = std::max<std::int64_t>(1, static_cast<std::int64_t>(o.train_share * k));
  std::vector<double> x;
  std::vector<int> y;
  const auto add = [&](std::int64_t idx, int label) {
    x.insert(x.end(), latents.begin() + idx * dim, latents.begin() + (idx + 1) * dim);
    y.push_back(label);
  };
  for (std::int64_t i = 0; i < n_train; ++i) add(pos[i], 1), add(neg[i], -1);
  const LinearSvm svm = fit_linear_svm(x, y, dim, o.C);
  std::int64_t right = 0, total = 0;
  for (std::int64_t i = n_train; i < k; ++i, total += 2) {
    right += svm.decision(&latents[pos[i] * dim]) > 0;
    right += svm.decision(&latents[neg[i] * dim]) <= 0;
  }
  Direction out;
  out.name = name;
  out.per_class = k;
  out.val_accuracy = total ? static_cast<double>(right) / static_cast<double>(total) : 0.0;
  const double norm = std::sqrt(std::inner_product(svm.w.begin(), svm.w.end(), svm.w.begin(), 0.0));
  ANYCOST_CHECK(norm > 0, ValueError, "fit_direction '", name, "': the SVM found no direction (all weights 0)");
  out.d = svm.w;
  for (double& v : out.d) v /= norm;
  return out;
}

}  // namespace editing
ANYCOST_NAMESPACE_END
