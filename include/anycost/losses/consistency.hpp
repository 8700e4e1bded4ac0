// The consistency (distillation) loss of Anycost GAN stages 2 and 3 (Lin et al., CVPR 2021, Sec. 3.2; the
// official tools/train_gan.py, G step, and utils/train_utils.py: get_teacher_multi_res, adaptive_downsample256):
//
//   t_r   = bilinear align-corners resize of the teacher's full-resolution image to r (the image itself at
//           full resolution)
//   mse   = sum_r mean((s_r - t_r)^2)
//   lpips = sum_r mean_batch LPIPS(D(s_r), D(t_r)),  D = clamp to [-1, 1], then an align-corners resize to
//           256 when wider than 256
//   total = alpha (mse + lpips)
//
// Student outputs are any list of resolutions (the official code uses the last four, 128..1024). The teacher
// image is a target: no gradient flows into it (it is detached here). With lpips == nullptr the loss is the
// MSE alone (lpips is then an undefined Var); the caller is expected to warn.
#pragma once

#include <vector>

#include "anycost/losses/lpips.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/resize.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace losses {

struct ConsistencyOptions {
  double alpha = 2.0;               // --distill_loss_alpha of tools/train_gan.py
  std::int64_t lpips_max_size = 256;  // wider images are resized to this before LPIPS (adaptive_downsample256)
};

struct ConsistencyLoss {
  Var mse, lpips, total;  // lpips undefined without a network
};

// Clamps to [-1, 1] and resizes (align corners) to max_size when wider than that.
inline Var lpips_input(const Var& x, std::int64_t max_size) {
  Var c = clamp(x, -1.0, 1.0);
  return x.size(3) > max_size ? resize_bilinear(c, max_size, max_size, AlignCorners::yes) : c;
}

inline ConsistencyLoss consistency(const std::vector<Var>& student_rgbs, const Var& teacher_image, const Lpips* lpips,
                                   const ConsistencyOptions& opts = {}) {
  ANYCOST_CHECK(!student_rgbs.empty(), ValueError, "consistency: no student images");
  ANYCOST_CHECK(teacher_image.defined() && teacher_image.dim() == 4, ShapeError,
                "consistency: the teacher image must be [B, C, H, W], got ",
                teacher_image.defined() ? teacher_image.shape() : Shape{});
  ANYCOST_CHECK(opts.lpips_max_size >= 1, ValueError, "consistency: lpips_max_size ", opts.lpips_max_size,
                " must be >= 1");
  const Var teacher = teacher_image.detach();
  ConsistencyLoss out;
  for (std::size_t i = 0; i < student_rgbs.size(); ++i) {
    const Var& s = student_rgbs[i];
    ANYCOST_CHECK(s.defined() && s.dim() == 4 && s.size(0) == teacher.size(0) && s.size(1) == teacher.size(1),
                  ShapeError, "consistency: student image ", i, " has shape ", s.defined() ? s.shape() : Shape{},
                  ", the teacher ", teacher.shape(), " (batch and channels must agree)");
    ANYCOST_CHECK(s.size(2) <= teacher.size(2) && s.size(3) <= teacher.size(3), ShapeError,
                  "consistency: student image ", i, " (", s.shape(), ") is larger than the teacher image (",
                  teacher.shape(), ")");
    ANYCOST_CHECK(s.dtype() == teacher.dtype() && s.device() == teacher.device(), ShapeError,
                  "consistency: student image ", i, " is ", s.dtype(), " on ", s.device(), ", the teacher ",
                  teacher.dtype(), " on ", teacher.device());
    const Var t = resize_bilinear(teacher, s.size(2), s.size(3), AlignCorners::yes);
    Var m = mean(square(s - t));
    out.mse = out.mse.defined() ? Var(out.mse + m) : m;
    if (lpips) {
      Var l = mean(lpips->forward(lpips_input(s, opts.lpips_max_size), lpips_input(t, opts.lpips_max_size)));
      out.lpips = out.lpips.defined() ? Var(out.lpips + l) : l;
    }
  }
  out.total = out.lpips.defined() ? Var((out.mse + out.lpips) * opts.alpha) : Var(out.mse * opts.alpha);
  return out;
}

}  // namespace losses
ANYCOST_NAMESPACE_END
