// FIR filters of StyleGAN2 (Karras et al. 2020, Fig. 2 and 7: a [1,3,3,1] filter after every upsampling;
// upfirdn2d as anycost/ops/upfirdn2d.hpp defines it): the 4x4 blur kernel and the three ways the
// generator and discriminator apply it through upfirdn2d. The kernel is a buffer (a constant Tensor, saved
// in checkpoints under the reference's names) rather than a parameter.
//
//   make_blur_kernel(gain)         outer([1,3,3,1], [1,3,3,1]) / 64 * gain   (sum = gain)
//   blur(x, k, pad0, pad1)         upfirdn2d(x, k, up 1, down 1, pads (pad0, pad1))
//   upsample2x(x, k)               upfirdn2d(x, k, up 2, pads (2, 1)): [H, W] -> [2H, 2W], k sums to 4
//   up_conv_blur(z, w, groups, k)  blur(conv_transpose2d(z, w, stride 2), k, 1, 1), fused where it can be
//
// The generator's up-convolution uses blur(y, k4, 1, 1) after its stride-2 transposed convolution
// ((2H+1) -> 2H); the skip path of ToRGB uses upsample2x; the discriminator uses blur with pads (2, 2) or
// (1, 1) before its stride-2 convolutions.
#pragma once

#include <vector>

#include "anycost/core/tensor.hpp"
#include "anycost/ops/conv2d.hpp"
#include "anycost/ops/upfirdn2d.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

// outer(a, a) normalised to sum `gain`, for a 1-D tap list a (StyleGAN2's make_kernel times gain).
inline Tensor make_blur_kernel(double gain = 1.0, const std::vector<double>& taps = {1, 3, 3, 1},
                               DType dtype = DType::float32) {
  ANYCOST_CHECK(!taps.empty(), ValueError, "make_blur_kernel: no taps");
  const auto n = static_cast<std::int64_t>(taps.size());
  double total = 0;
  for (double a : taps)
    for (double b : taps) total += a * b;
  ANYCOST_CHECK(total != 0, ValueError, "make_blur_kernel: taps sum to zero");
  std::vector<double> k(static_cast<std::size_t>(n * n));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) k[static_cast<std::size_t>(i * n + j)] = taps[i] * taps[j] / total * gain;
  return Tensor::from_vector(k, {n, n}).to(dtype);
}

inline Var blur(const Var& x, const Tensor& kernel, int pad0, int pad1) {
  return upfirdn2d(x, kernel, UpFirDnParams::make(1, 1, pad0, pad1));
}

// 2x upsampling by zero-stuffing and filtering; `kernel` must sum to 4 (up-factor squared) to keep the mean.
inline Var upsample2x(const Var& x, const Tensor& kernel) {
  const int p = static_cast<int>(kernel.size(0)) - 2;  // (len(kernel) - factor)
  return upfirdn2d(x, kernel, UpFirDnParams::make(2, 1, (p + 1) / 2 + 1, p / 2));
}

// blur(conv_transpose2d(z, w, stride 2), kernel, 1, 1): the generator's up-convolution (w [Cin, Cout/groups, 3,
// 3], kernel summing to 4). With no gradient to record, on the CPU, the blur runs inside the convolution's
// last pass (backend/cpu/conv2d.hpp, conv_transpose2d_blur); otherwise, or where that does not apply, as the
// two ops.
inline Var up_conv_blur(const Var& z, const Var& w, int groups, const Tensor& kernel) {
  const Conv2dParams p{2, 2, 0, 0, groups};
  const bool fusable = !any_requires_grad({&z, &w}) && z.device().is_cpu() && w.device().is_cpu() &&
                       kernel.device().is_cpu() && z.dim() == 4 && w.dim() == 4 && kernel.dim() == 2 &&
                       z.dtype() == w.dtype() && z.dtype() == kernel.dtype() && groups >= 1 &&
                       z.size(1) == w.size(0) && w.size(0) % groups == 0 && z.numel() > 0 && w.numel() > 0;
  if (fusable) {
    const Tensor zc = z.data().contiguous(), kc = kernel.contiguous();
    const Tensor wc = anycost::detail::conv_weight_operand(w.data());
    Tensor out = Tensor::empty({zc.size(0), wc.size(1) * groups, 2 * zc.size(2), 2 * zc.size(3)}, zc.dtype());
    bool done = false;
    dispatch_dtype(zc.dtype(), [&](auto t) {
      done = backend::cpu::conv_transpose2d_blur<decltype(t)>(zc, wc, kc, out, groups);
    });
    if (done) return Var(out);
  }
  return blur(conv_transpose2d(z, w, p), kernel, 1, 1);
}

}  // namespace nn
ANYCOST_NAMESPACE_END
