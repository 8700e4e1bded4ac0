// The search's objective: how far a sub-generator's images are from the full generator's for the same
// latents and noise (the `dist` of the official evolve configs, Lin et al. 2021, Sec. 3.3).
//
// SubnetDistance fixes n latents z ~ N(0, I) and their noise maps (NoiseMode::given) from a seed, renders the
// full generator once and caches its images at the evaluation resolution E (default min(256, R), as the
// reference's comparisons at 256). A sub-network's images (resolution r) are brought to E the same way:
//   r > E: area average over (r/E)^2 blocks (the mean of each block: no aliasing, no parameters)
//   r < E: bilinear upsampling (the preview as a viewer would show it enlarged)
// and the distance is, averaged over the n images:
//   LPIPS (losses/lpips.hpp) when an Lpips network is given (the paper's consistency metric), else
//   the mean squared pixel error on the [-1, 1] scale (so 0 is identical, 4 is the largest possible; a
//   PSNR of 10 log10(4 / mse) dB on that range). MSE needs no weights and orders sub-networks like LPIPS for
//   the small differences a search compares; the choice is recorded in the report of the CLI.
// The same object is a plain `double(const SubnetConfig&)` callable, so any generator-like function
// (images from a configuration) can be scored with SubnetDistance::from_renderer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "anycost/autograd/grad_mode.hpp"
#include "anycost/losses/lpips.hpp"
#include "anycost/models/generator.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/random.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/resize.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace search {

// [B, 3, r, r] -> [B, 3, e, e] (area average down, bilinear up; see the header comment).
inline Var to_resolution(const Var& x, std::int64_t e) {
  ANYCOST_CHECK(x.dim() == 4 && x.size(2) == x.size(3) && e >= 1, ShapeError, "to_resolution: expects square [B, C, r, r]"
                " images and a size >= 1, got ", x.shape(), " and ", e);
  const std::int64_t r = x.size(2);
  if (r == e) return x;
  if (r < e) return resize_bilinear(x, e, e, AlignCorners::no);
  ANYCOST_CHECK(r % e == 0, ShapeError, "to_resolution: ", r, " is not a multiple of ", e);
  const std::int64_t f = r / e;
  return mean(reshape(contiguous(x), Shape{x.size(0), x.size(1), e, f, e, f}), {3, 5});
}

enum class Distance : std::uint8_t { mse, lpips };

struct DistanceOptions {
  std::int64_t samples = 16;       // latents (and noise maps) in the fixed set
  std::int64_t batch = 8;          // images per forward pass
  std::uint64_t seed = 0;          // draws the latents and noise
  int eval_resolution = 0;         // 0: min(256, the generator's)
  const losses::Lpips* lpips = nullptr;  // LPIPS when given, else MSE
};

class SubnetDistance {
 public:
  // A renderer maps (first image index, count, configuration) to images [count, 3, r, r] of the fixed set.
  using Renderer = std::function<Var(std::int64_t, std::int64_t, const models::SubnetConfig&)>;

  // The generator `g` (kept by reference: it must outlive this object).
  SubnetDistance(const models::Generator& g, const DistanceOptions& opts) : opts_(opts) {
    check_options(g.resolution());
    Rng rng(opts.seed);
    const Var z(randn({opts.samples, g.style_dim()}, rng, g.dtype(), g.device()));
    const std::vector<Var> noise = g.make_noise(opts.samples, rng);
    auto prepared = std::make_shared<models::PreparedGenerator>(g.prepare());
    renderer_ = [&g, z, noise, prepared](std::int64_t first, std::int64_t n, const models::SubnetConfig& cfg) {
      models::GenerateOptions o;
      o.synthesis.noise = models::NoiseMode::given;
      for (const Var& m : noise) o.synthesis.noise_maps.push_back(narrow(m, 0, first, n));
      o.synthesis.prepared = prepared.get();
      return g.generate(narrow(z, 0, first, n), cfg, o).image;
    };
    cache_full(g.full_config());
  }
  // Any generator-like renderer, with `full` its reference configuration.
  SubnetDistance(Renderer renderer, const models::SubnetConfig& full, const DistanceOptions& opts)
      : opts_(opts), renderer_(std::move(renderer)) {
    check_options(full.resolution());
    cache_full(full);
  }

  Distance kind() const { return opts_.lpips ? Distance::lpips : Distance::mse; }
  int eval_resolution() const { return eval_res_; }
  std::int64_t samples() const { return opts_.samples; }
  // The cached full images at the evaluation resolution [samples, 3, E, E].
  const Tensor& full_images() const { return full_; }

  // Mean distance of cfg's images to the full ones (see the header comment).
  double operator()(const models::SubnetConfig& cfg) const {
    NoGradGuard no_grad;
    double total = 0;
    for (std::int64_t i = 0; i < opts_.samples; i += opts_.batch) {
      const std::int64_t n = std::min(opts_.batch, opts_.samples - i);
      const Var sub = to_resolution(renderer_(i, n, cfg), eval_res_);
      const Var ref(full_.narrow(0, i, n));
      ANYCOST_CHECK(sub.shape() == ref.shape(), ShapeError, "SubnetDistance: renderer gave ", sub.shape(),
                    " for ", cfg.describe(), ", expected ", ref.shape());
      const Var d = opts_.lpips ? Var(sum(opts_.lpips->forward(sub, ref))) : Var(sum(mean(square(sub - ref), {1, 2, 3})));
      total += d.data().to(Device::cpu()).item();
    }
    return total / static_cast<double>(opts_.samples);
  }

 private:
  void check_options(int resolution) {
    ANYCOST_CHECK(opts_.samples >= 1 && opts_.batch >= 1, ValueError, "SubnetDistance: samples (", opts_.samples,
                  ") and batch (", opts_.batch, ") must be >= 1");
    eval_res_ = opts_.eval_resolution > 0 ? opts_.eval_resolution : std::min(256, resolution);
    ANYCOST_CHECK(models::is_power_of_two(eval_res_) && eval_res_ <= resolution, ValueError,
                  "SubnetDistance: evaluation resolution ", eval_res_, " is not a power of two up to ", resolution);
  }
  void cache_full(const models::SubnetConfig& full) {
    NoGradGuard no_grad;
    std::vector<Var> parts;
    for (std::int64_t i = 0; i < opts_.samples; i += opts_.batch) {
      const std::int64_t n = std::min(opts_.batch, opts_.samples - i);
      parts.push_back(to_resolution(renderer_(i, n, full), eval_res_));
    }
    full_ = contiguous(parts.size() == 1 ? parts[0] : cat(parts, 0)).data();
  }

  DistanceOptions opts_;
  Renderer renderer_;
  int eval_res_ = 0;
  Tensor full_;
};

}  // namespace search
ANYCOST_NAMESPACE_END
