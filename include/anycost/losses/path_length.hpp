// The lazy path-length regulariser of StyleGAN2 (Karras et al., CVPR 2020, Sec. 3.2), as Anycost GAN's first
// stage uses it (the official utils/losses.py: g_path_regularize):
//
//   y ~ N(0, I) / sqrt(H W)                  one projection per image, image-shaped
//   J = d(sum(G(w) * y)) / dW+               a gradient recorded for differentiation (create_graph)
//   l_b = sqrt(mean_rows sum_dim J_b^2)      [B] path lengths (rows: the n_style W+ rows)
//   a' = a + decay (mean_b l_b - a)          the running mean, a plain number
//   penalty = mean_b (l_b - a')^2
//
// The penalty's backward is a double backward through the generator. The caller weights it (2 * 8 in the
// reference: path_regularize times the lazy interval) and runs it every 8 G steps with half the batch.
// `wplus` must be the W+ Var the images were synthesised from (it must require grad, or be produced by a graph
// that does).
#pragma once

#include <cmath>
#include <functional>

#include "anycost/autograd/engine.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/random.hpp"
#include "anycost/ops/reduce.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace losses {

struct PathLengthResult {
  Var penalty;    // scalar, differentiable through the generator's parameters
  double mean;    // the updated running mean a'
  Tensor lengths; // [B] path lengths (no graph)
};

// With an explicit projection y (the images' shape).
// `batch_mean`, when given, maps this batch's mean path length to the one the update uses (data-parallel
// training: the mean over every rank's shard, train/steps.hpp path_step).
inline PathLengthResult path_length(const Var& fake_images, const Var& wplus, double mean_path_length, const Tensor& y,
                                    double decay = 0.01, const std::function<double(double)>& batch_mean = {}) {
  ANYCOST_CHECK(fake_images.defined() && fake_images.dim() == 4, ShapeError,
                "path_length: expects [B, C, H, W] images, got ", fake_images.defined() ? fake_images.shape() : Shape{});
  ANYCOST_CHECK(wplus.defined() && wplus.dim() == 3 && wplus.size(0) == fake_images.size(0), ShapeError,
                "path_length: W+ must be [B, n_style, style_dim] with the images' batch ", fake_images.size(0),
                ", got ", wplus.defined() ? wplus.shape() : Shape{});
  ANYCOST_CHECK(y.shape() == fake_images.shape(), ShapeError, "path_length: projection ", y.shape(),
                " does not match the images ", fake_images.shape());
  ANYCOST_CHECK(wplus.requires_grad() && fake_images.requires_grad(), ValueError,
                "path_length: W+ and the images must require grad (synthesise from a W+ that requires grad)");
  ANYCOST_CHECK(std::isfinite(mean_path_length) && decay >= 0 && decay <= 1, ValueError,
                "path_length: mean ", mean_path_length, " must be finite and decay ", decay, " in [0, 1]");
  const Var projected = sum(fake_images * Var(y.to(fake_images.dtype()).to(fake_images.device())));
  const Var j = grad({projected}, {wplus}, {}, {.create_graph = true})[0];
  const Var lengths = sqrt(mean(sum(square(j), {2}), {1}));
  double local_mean = mean(lengths).detach().item();
  if (batch_mean) local_mean = batch_mean(local_mean);
  const double new_mean = mean_path_length + decay * (local_mean - mean_path_length);
  PathLengthResult r;
  r.penalty = mean(square(lengths - new_mean));
  r.mean = new_mean;
  r.lengths = lengths.data().clone();
  return r;
}

// Draws y ~ N(0, I) / sqrt(H W) from rng.
inline PathLengthResult path_length(const Var& fake_images, const Var& wplus, double mean_path_length, Rng& rng,
                                    double decay = 0.01) {
  ANYCOST_CHECK(fake_images.defined() && fake_images.dim() == 4, ShapeError,
                "path_length: expects [B, C, H, W] images, got ", fake_images.defined() ? fake_images.shape() : Shape{});
  const double inv = 1.0 / std::sqrt(static_cast<double>(fake_images.size(2) * fake_images.size(3)));
  const Tensor y = Var(Var(randn(fake_images.shape(), rng, fake_images.dtype(), fake_images.device())) * inv).data();
  return path_length(fake_images, wplus, mean_path_length, y, decay);
}

}  // namespace losses
ANYCOST_NAMESPACE_END
