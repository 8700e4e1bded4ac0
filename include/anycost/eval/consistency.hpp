// Consistency of a sub-generator with the full generator (Anycost GAN's "consistent preview", Lin et al. 2021,
// Sec. 3): the sub-network's image and the full generator's image of the same latents and the same noise,
// compared at the sub-network's resolution r.
//
//   target  = the full image downsampled to r with bilinear interpolation, align_corners = true: the
//             convention of the consistency loss the sub-networks are trained with (losses/consistency.hpp,
//             the official get_teacher_multi_res); at full resolution the full image itself
//   both images are clamped to [-1, 1] (what is displayed), then per image
//   MSE     = mean over pixels and channels of (sub - target)^2
//   PSNR    = 10 log10(4 / MSE) dB, the peak-to-peak range of [-1, 1] being 2 (the official code reports no PSNR;
//             this is the usual definition for that range); reported as the mean over images of the
//             per-image PSNR, +inf for identical images
//   LPIPS   = when weights are given (tools/convert_lpips.py): the LPIPS distance of the two images, both
//             resized to at least 64 x 64 (bilinear, align_corners = false; AlexNet's trunk needs that size)
//             and at most 256 (the consistency loss's adaptive_downsample256), mean over images
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "anycost/autograd/grad_mode.hpp"
#include "anycost/losses/lpips.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/resize.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace evaluation {

// The full generator's image at the resolution of a sub-network's image.
inline Var consistency_target(const Var& full, std::int64_t resolution) {
  ANYCOST_CHECK(full.defined() && full.dim() == 4 && full.size(2) >= resolution && full.size(3) >= resolution,
                ShapeError, "consistency_target: full image ", full.defined() ? full.shape() : Shape{},
                " is smaller than ", resolution);
  return resize_bilinear(full, resolution, resolution, AlignCorners::yes);
}

inline double psnr_from_mse(double mse) {
  return mse > 0 ? 10.0 * std::log10(4.0 / mse) : std::numeric_limits<double>::infinity();
}

// Per-image MSE of two image batches [B, 3, H, W] after clamping both to [-1, 1].
inline std::vector<double> per_image_mse(const Var& a, const Var& b) {
  ANYCOST_CHECK(a.defined() && b.defined() && a.dim() == 4 && a.shape() == b.shape(), ShapeError,
                "per_image_mse: images ", a.defined() ? a.shape() : Shape{}, " and ", b.defined() ? b.shape() : Shape{},
                " differ");
  NoGradGuard no_grad;
  const Var m = mean(Var(square(clamp(a, -1.0, 1.0) - clamp(b, -1.0, 1.0))), {1, 2, 3});
  return m.data().to(Device::cpu()).to(DType::float64).to_vector<double>();
}

// Running PSNR / MSE / LPIPS of a sub-network against the full generator.
class ConsistencyMeter {
 public:
  // sub [B, 3, r, r]; full [B, 3, R, R], R >= r. lpips may be null.
  void add(const Var& sub, const Var& full, const losses::Lpips* lpips = nullptr) {
    NoGradGuard no_grad;
    const Var target = consistency_target(full, sub.size(2));
    for (double m : per_image_mse(sub, target)) {
      mse_sum_ += m;
      psnr_sum_ += psnr_from_mse(m);
      ++n_;
    }
    if (lpips) {
      const std::int64_t side = std::clamp<std::int64_t>(sub.size(2), 64, 256);
      const auto prep = [&](const Var& x) {
        return resize_bilinear(clamp(x, -1.0, 1.0), side, side, AlignCorners::no);
      };
      const Var d = lpips->forward(prep(sub), prep(target));
      for (double v : d.data().to(Device::cpu()).to(DType::float64).to_vector<double>()) lpips_sum_ += v;
      n_lpips_ += sub.size(0);
    }
  }

  std::int64_t count() const { return n_; }
  double mse() const { return n_ ? mse_sum_ / static_cast<double>(n_) : std::numeric_limits<double>::quiet_NaN(); }
  double psnr() const { return n_ ? psnr_sum_ / static_cast<double>(n_) : std::numeric_limits<double>::quiet_NaN(); }
  bool has_lpips() const { return n_lpips_ > 0; }
  double lpips() const {
    return n_lpips_ ? lpips_sum_ / static_cast<double>(n_lpips_) : std::numeric_limits<double>::quiet_NaN();
  }

 private:
  double mse_sum_ = 0, psnr_sum_ = 0, lpips_sum_ = 0;
  std::int64_t n_ = 0, n_lpips_ = 0;
};

}  // namespace evaluation
ANYCOST_NAMESPACE_END
