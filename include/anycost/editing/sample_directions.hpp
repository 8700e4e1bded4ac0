// Edit directions for every attribute a predictor scores, from the generator's own samples (the official
// extract_edit_directions.py, on any generator and any predictor): draw z, map to w, truncate toward the
// mean w (psi 0.7 there), render at full width with the fixed noise, score the renders, then fit one
// direction per attribute (editing/directions.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "anycost/autograd/grad_mode.hpp"
#include "anycost/core/rng.hpp"
#include "anycost/editing/directions.hpp"
#include "anycost/ops/random.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace editing {

struct SampleDirectionOptions {
  std::int64_t samples = 20000;
  std::int64_t batch = 64;
  double truncation = 0.7;
  std::int64_t mean_samples = 10000;
  std::uint64_t seed = 0;
  DirectionOptions fit = {};
  std::function<void(std::int64_t done, std::int64_t total)> on_batch = {};
};

// predictor: images [B, 3, R, R] (raw generator output) -> scores [B, names.size()].
template <class G, class Predictor>
std::vector<Direction> sample_directions(const G& g, Predictor&& predictor, const std::vector<std::string>& names,
                                         const SampleDirectionOptions& o = {}) {
  ANYCOST_CHECK(!names.empty(), ValueError, "sample_directions: no attribute names");
  ANYCOST_CHECK(o.samples >= 1 && o.batch >= 1, ValueError, "sample_directions: samples and batch must be >= 1");
  NoGradGuard no_grad;
  const std::int64_t dim = g.style_dim(), a = static_cast<std::int64_t>(names.size());
  Rng rng(o.seed);
  const Var w_avg = g.mean_w(o.mean_samples, rng);
  std::vector<double> latents, scores_by_row;
  latents.reserve(static_cast<std::size_t>(o.samples * dim));
  scores_by_row.reserve(static_cast<std::size_t>(o.samples * a));
  const auto full = g.channel_table().full();
  for (std::int64_t done = 0; done < o.samples; done += o.batch) {
    const std::int64_t b = std::min(o.batch, o.samples - done);
    Var w = g.map(Var(randn({b, dim}, rng, g.dtype(), g.device())));
    if (o.truncation != 1.0) w = G::truncate(w, w_avg, o.truncation);
    const Var s = predictor(g.synthesize(g.broadcast_styles(w), full).image);
    ANYCOST_CHECK(s.dim() == 2 && s.size(0) == b && s.size(1) == a, ShapeError, "sample_directions: the predictor gave ",
                  s.shape(), ", expected [", b, ", ", a, "]");
    const std::vector<double> wv = w.data().template to_vector<double>(), sv = s.data().template to_vector<double>();
    latents.insert(latents.end(), wv.begin(), wv.end());
    scores_by_row.insert(scores_by_row.end(), sv.begin(), sv.end());
    if (o.on_batch) o.on_batch(done + b, o.samples);
  }
  std::vector<Direction> out;
  std::vector<double> scores(static_cast<std::size_t>(o.samples));
  for (std::int64_t k = 0; k < a; ++k) {
    for (std::int64_t i = 0; i < o.samples; ++i) scores[i] = scores_by_row[static_cast<std::size_t>(i * a + k)];
    out.push_back(fit_direction(names[k], latents, scores, dim, o.fit));
  }
  return out;
}

}  // namespace editing
ANYCOST_NAMESPACE_END
