// upfirdn2d on Vars: upsample by zero-stuffing, pad, FIR-filter, downsample (backend/params.hpp). Linear in
// its input; its backward is upfirdn2d with the flipped kernel, up and down swapped and the pads adjusted, so
// it is differentiable to any order. The kernel is a constant (StyleGAN2's blur buffers), not a Var.
#pragma once

#include <memory>

#include "anycost/autograd/node.hpp"
#include "anycost/backend/cpu/upfirdn2d.hpp"
#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/params.hpp"

ANYCOST_NAMESPACE_BEGIN

using backend::UpFirDnParams;

namespace detail {
inline Tensor upfirdn2d_tensor(const Tensor& x_, const Tensor& k_, const UpFirDnParams& p) {
  ANYCOST_CHECK(x_.dim() == 4, ShapeError, "upfirdn2d: expects an NCHW input, got shape ", x_.shape());
  ANYCOST_CHECK(k_.dim() == 2 && k_.size(0) > 0 && k_.size(1) > 0, ShapeError,
                "upfirdn2d: expects a 2-D kernel, got shape ", k_.shape());
  ANYCOST_CHECK(p.up >= 1 && p.down >= 1, ValueError, "upfirdn2d: up (", p.up, ") and down (", p.down,
                ") must be >= 1");
  ANYCOST_CHECK(x_.device() == k_.device(), DeviceError, "upfirdn2d: input on ", x_.device(), ", kernel on ",
                k_.device());
  const int kh = static_cast<int>(k_.size(0)), kw = static_cast<int>(k_.size(1));
  const std::int64_t ho = backend::upfirdn_out_size(x_.size(2), kh, p.up, p.down, p.pad_y0, p.pad_y1);
  const std::int64_t wo = backend::upfirdn_out_size(x_.size(3), kw, p.up, p.down, p.pad_x0, p.pad_x1);
  ANYCOST_CHECK(ho > 0 && wo > 0, ShapeError, "upfirdn2d: empty output for input ", x_.shape(), " and kernel ",
                k_.shape());
  const Tensor x = x_.contiguous(), k = k_.to(x_.dtype()).contiguous();
  Tensor out = Tensor::empty({x.size(0), x.size(1), ho, wo}, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  if (x.device().is_cuda())
    backend::cuda::upfirdn2d(x.strided_ref(), k.strided_ref(), out.strided_ref(), p);
  else
    dispatch_dtype(x.dtype(), [&](auto z) { backend::cpu::upfirdn2d<decltype(z)>(x, k, out, p); });
  return out;
}

// The kernel rotated by 180 degrees (its elements in reverse order), on the kernel's device: a CUDA kernel is
// flipped there, so a forward that records its backward never waits for the GPU.
inline Tensor flip_kernel(const Tensor& k) {
  const Tensor c = k.contiguous();
  Tensor f = Tensor::empty(c.shape(), c.dtype(), c.device());
  if (c.device().is_cuda()) {
    backend::cuda::reverse_copy(c.strided_ref(), f.strided_ref());
    return f;
  }
  dispatch_dtype(c.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* s = c.data<T>();
    T* d = f.data<T>();
    const std::int64_t n = c.numel();
    for (std::int64_t i = 0; i < n; ++i) d[i] = s[n - 1 - i];
  });
  return f;
}

// Parameters of the adjoint op mapping an output of extent (ho, wo) back to an input of extent (h, w).
inline UpFirDnParams upfirdn2d_adjoint(const UpFirDnParams& p, int kh, int kw, std::int64_t h, std::int64_t w,
                                       std::int64_t ho, std::int64_t wo) {
  UpFirDnParams q;
  q.up = p.down;
  q.down = p.up;
  q.pad_y0 = kh - 1 - p.pad_y0;
  q.pad_x0 = kw - 1 - p.pad_x0;
  q.pad_y1 = static_cast<int>(p.up * (h - 1) + kh - p.down * ho - q.pad_y0);
  q.pad_x1 = static_cast<int>(p.up * (w - 1) + kw - p.down * wo - q.pad_x0);
  return q;
}
}  // namespace detail

Var upfirdn2d(const Var& x, const Tensor& kernel, const UpFirDnParams& p);

class UpFirDn2dBackward final : public Node {
 public:
  UpFirDn2dBackward(Tensor flipped, UpFirDnParams adjoint) : flipped_(std::move(flipped)), adjoint_(adjoint) {}
  std::vector<Var> apply(std::vector<Var>& g) override { return {upfirdn2d(g[0], flipped_, adjoint_)}; }
  const char* name() const override { return "UpFirDn2dBackward"; }

 private:
  Tensor flipped_;
  UpFirDnParams adjoint_;
};

// x [N, C, H, W] -> [N, C, (H*up + pad_y0 + pad_y1 - kh)/down + 1, (same for W)].
inline Var upfirdn2d(const Var& x, const Tensor& kernel, const UpFirDnParams& p) {
  Tensor y = detail::upfirdn2d_tensor(x.data(), kernel, p);
  if (!any_requires_grad({&x})) return Var(y);
  const int kh = static_cast<int>(kernel.size(0)), kw = static_cast<int>(kernel.size(1));
  auto n = std::make_shared<UpFirDn2dBackward>(
      detail::flip_kernel(kernel), detail::upfirdn2d_adjoint(p, kh, kw, x.size(2), x.size(3), y.size(2), y.size(3)));
  return record(y, std::move(n), {&x});
}

ANYCOST_NAMESPACE_END
