// 2-D convolution on Vars, as a closed family of three linear ops whose backwards are each other:
//   conv2d(x, w)              dx = conv_transpose2d(g, w)   dw = conv2d_weight(x, g)
//   conv_transpose2d(z, w)    dz = conv2d(g, w)             dw = conv2d_weight(g, z)
//   conv2d_weight(x, gy)      dx = conv_transpose2d(gy, H)  dgy = conv2d(x, H)
// so gradients of gradients (R1, path length) need nothing more. NCHW; weights [Cout, Cin/groups, kh, kw]
// (for conv_transpose2d, [Cin_of_z, Cout/groups, kh, kw], PyTorch's layout).
#pragma once

#include <memory>

#include "anycost/autograd/node.hpp"
#include "anycost/backend/cpu/conv2d.hpp"
#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/params.hpp"

ANYCOST_NAMESPACE_BEGIN

using backend::Conv2dParams;

namespace detail {
// Weights with contiguous [Cin/g, kh, kw] rows are used in place (prefix slices qualify); others are copied.
inline Tensor conv_weight_operand(const Tensor& w) {
  const bool rows = w.stride(3) == 1 && w.stride(2) == w.size(3) && w.stride(1) == w.size(2) * w.size(3);
  return rows && w.stride(0) >= w.size(1) * w.size(2) * w.size(3) ? w : w.contiguous();
}

inline void check_conv_args(const char* op, const Tensor& x, const Tensor& w, const Conv2dParams& p,
                            std::int64_t x_channels_per_group_w_dim) {
  ANYCOST_CHECK(x.dim() == 4 && w.dim() == 4, ShapeError, op, ": expects 4-D input and weight, got ", x.shape(),
                " and ", w.shape());
  ANYCOST_CHECK(x.dtype() == w.dtype(), ShapeError, op, ": input is ", x.dtype(), ", weight is ", w.dtype());
  ANYCOST_CHECK(x.device() == w.device(), DeviceError, op, ": input on ", x.device(), ", weight on ", w.device());
  ANYCOST_CHECK(p.groups >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0, ValueError, op,
                ": bad geometry (groups ", p.groups, ", stride ", p.stride_h, "x", p.stride_w, ", padding ", p.pad_h,
                "x", p.pad_w, ")");
  ANYCOST_CHECK(x_channels_per_group_w_dim * p.groups == x.size(1), ShapeError, op, ": input ", x.shape(),
                " has ", x.size(1), " channels but weight ", w.shape(), " with groups=", p.groups, " expects ",
                x_channels_per_group_w_dim * p.groups);
}

inline Tensor conv2d_tensor(const Tensor& x_, const Tensor& w_, const Conv2dParams& p) {
  check_conv_args("conv2d", x_, w_, p, w_.size(1));
  ANYCOST_CHECK(w_.size(0) % p.groups == 0, ShapeError, "conv2d: ", w_.size(0), " output channels not divisible by ",
                p.groups, " groups");
  const std::int64_t ho = backend::conv_out_size(x_.size(2), static_cast<int>(w_.size(2)), p.stride_h, p.pad_h);
  const std::int64_t wo = backend::conv_out_size(x_.size(3), static_cast<int>(w_.size(3)), p.stride_w, p.pad_w);
  ANYCOST_CHECK(ho > 0 && wo > 0, ShapeError, "conv2d: input ", x_.shape(), " is smaller than kernel ", w_.shape(),
                " with padding ", p.pad_h, "x", p.pad_w);
  const Tensor x = x_.contiguous(), w = conv_weight_operand(w_);
  Tensor y = Tensor::empty({x.size(0), w.size(0), ho, wo}, x.dtype(), x.device());
  if (y.numel() == 0) return y;
  if (x.device().is_cuda())
    backend::cuda::conv2d(x.strided_ref(), w.strided_ref(), y.strided_ref(), p);
  else
    dispatch_dtype(x.dtype(), [&](auto z) { backend::cpu::conv2d<decltype(z)>(x, w, y, p); });
  return y;
}

inline Tensor conv_transpose2d_tensor(const Tensor& z_, const Tensor& w_, const Conv2dParams& p, int out_pad_h,
                                      int out_pad_w) {
  // z plays the role of conv2d's output: its channels match the weight's first dim.
  ANYCOST_CHECK(z_.dim() == 4 && w_.dim() == 4 && z_.size(1) == w_.size(0) && w_.size(0) % p.groups == 0, ShapeError,
                "conv_transpose2d: input ", z_.shape(), " does not match weight ", w_.shape(), " (groups ", p.groups,
                ")");
  check_conv_args("conv_transpose2d", z_, w_, p, w_.size(0) / p.groups);
  ANYCOST_CHECK(out_pad_h >= 0 && out_pad_w >= 0 && out_pad_h < std::max(p.stride_h, 1) &&
                    out_pad_w < std::max(p.stride_w, 1),
                ValueError, "conv_transpose2d: output padding ", out_pad_h, "x", out_pad_w, " must be below the stride");
  const std::int64_t ho = (z_.size(2) - 1) * p.stride_h - 2 * p.pad_h + w_.size(2) + out_pad_h;
  const std::int64_t wo = (z_.size(3) - 1) * p.stride_w - 2 * p.pad_w + w_.size(3) + out_pad_w;
  ANYCOST_CHECK(ho > 0 && wo > 0, ShapeError, "conv_transpose2d: empty output for input ", z_.shape());
  const Tensor z = z_.contiguous(), w = conv_weight_operand(w_);
  Tensor out = Tensor::empty({z.size(0), w.size(1) * p.groups, ho, wo}, z.dtype(), z.device());
  if (out.numel() == 0) return out;
  if (z.device().is_cuda())
    backend::cuda::conv_transpose2d(z.strided_ref(), w.strided_ref(), out.strided_ref(), p);
  else
    dispatch_dtype(z.dtype(), [&](auto t) { backend::cpu::conv_transpose2d<decltype(t)>(z, w, out, p); });
  return out;
}

inline Tensor conv2d_weight_tensor(const Tensor& x_, const Tensor& gy_, const Shape& w_shape, const Conv2dParams& p) {
  ANYCOST_CHECK(x_.dim() == 4 && gy_.dim() == 4 && w_shape.size() == 4 && x_.size(0) == gy_.size(0) &&
                    x_.size(1) == w_shape[1] * p.groups && gy_.size(1) == w_shape[0],
                ShapeError, "conv2d_weight: input ", x_.shape(), " and output gradient ", gy_.shape(),
                " do not match weight shape ", w_shape, " (groups ", p.groups, ")");
  ANYCOST_CHECK(gy_.size(2) == backend::conv_out_size(x_.size(2), static_cast<int>(w_shape[2]), p.stride_h, p.pad_h) &&
                    gy_.size(3) == backend::conv_out_size(x_.size(3), static_cast<int>(w_shape[3]), p.stride_w, p.pad_w),
                ShapeError, "conv2d_weight: output gradient ", gy_.shape(), " does not match input ", x_.shape());
  ANYCOST_CHECK(x_.dtype() == gy_.dtype(), ShapeError, "conv2d_weight: input is ", x_.dtype(),
                ", output gradient is ", gy_.dtype());
  ANYCOST_CHECK(x_.device() == gy_.device(), DeviceError, "conv2d_weight: input on ", x_.device(),
                ", output gradient on ", gy_.device());
  const Tensor x = x_.contiguous(), gy = gy_.contiguous();
  Tensor dw = Tensor::empty(w_shape, x.dtype(), x.device());
  if (dw.numel() == 0) return dw;
  if (x.size(0) == 0) {
    dw.zero_();
    return dw;
  }
  if (x.device().is_cuda())
    backend::cuda::conv2d_weight_grad(x.strided_ref(), gy.strided_ref(), dw.strided_ref(), p);
  else
    dispatch_dtype(x.dtype(), [&](auto t) { backend::cpu::conv2d_weight_grad<decltype(t)>(x, gy, dw, p); });
  return dw;
}

// Output padding that makes conv_transpose2d(g) reproduce an input of height/width `in`.
inline int output_padding(std::int64_t in, std::int64_t out, std::int64_t k, int stride, int pad) {
  return static_cast<int>(in - ((out - 1) * stride - 2 * pad + k));
}
}  // namespace detail

Var conv2d(const Var& x, const Var& w, const Conv2dParams& p = {});
Var conv_transpose2d(const Var& z, const Var& w, const Conv2dParams& p = {}, int out_pad_h = 0, int out_pad_w = 0);
Var conv2d_weight(const Var& x, const Var& gy, const Shape& w_shape, const Conv2dParams& p = {});

namespace detail {
inline Var transpose_to(const Var& g, const Var& w, const Shape& target, const Conv2dParams& p) {
  return conv_transpose2d(g, w, p, output_padding(target[2], g.size(2), w.size(2), p.stride_h, p.pad_h),
                          output_padding(target[3], g.size(3), w.size(3), p.stride_w, p.pad_w));
}
}  // namespace detail

class Conv2dBackward final : public Node {
 public:
  Conv2dBackward(const Var& x, const Var& w, Conv2dParams p) : x_(x), w_(w), p_(p) {}
  std::vector<Var> apply(std::vector<Var>& g) override {
    const Var& x = x_.get("Conv2dBackward");
    const Var& w = w_.get("Conv2dBackward");
    std::vector<Var> out(2);
    if (next_edges[0].valid()) out[0] = detail::transpose_to(g[0], w, x.shape(), p_);
    if (next_edges[1].valid()) out[1] = conv2d_weight(x, g[0], w.shape(), p_);
    return out;
  }
  const char* name() const override { return "Conv2dBackward"; }
  void release_saved() override {
    x_.reset();
    w_.reset();
  }

 private:
  SavedVar x_, w_;
  Conv2dParams p_;
};

class ConvTranspose2dBackward final : public Node {
 public:
  ConvTranspose2dBackward(const Var& z, const Var& w, Conv2dParams p) : z_(z), w_(w), p_(p) {}
  std::vector<Var> apply(std::vector<Var>& g) override {
    const Var& z = z_.get("ConvTranspose2dBackward");
    const Var& w = w_.get("ConvTranspose2dBackward");
    std::vector<Var> out(2);
    if (next_edges[0].valid()) out[0] = conv2d(g[0], w, p_);
    if (next_edges[1].valid()) out[1] = conv2d_weight(g[0], z, w.shape(), p_);
    return out;
  }
  const char* name() const override { return "ConvTranspose2dBackward"; }
  void release_saved() override {
    z_.reset();
    w_.reset();
  }

 private:
  SavedVar z_, w_;
  Conv2dParams p_;
};

class Conv2dWeightBackward final : public Node {
 public:
  Conv2dWeightBackward(const Var& x, const Var& gy, Conv2dParams p) : x_(x), gy_(gy), p_(p) {}
  std::vector<Var> apply(std::vector<Var>& g) override {
    const Var& x = x_.get("Conv2dWeightBackward");
    const Var& gy = gy_.get("Conv2dWeightBackward");
    std::vector<Var> out(2);
    if (next_edges[0].valid()) out[0] = detail::transpose_to(gy, g[0], x.shape(), p_);
    if (next_edges[1].valid()) out[1] = conv2d(x, g[0], p_);
    return out;
  }
  const char* name() const override { return "Conv2dWeightBackward"; }
  void release_saved() override {
    x_.reset();
    gy_.reset();
  }

 private:
  SavedVar x_, gy_;
  Conv2dParams p_;
};

inline Var conv2d(const Var& x, const Var& w, const Conv2dParams& p) {
  Tensor y = detail::conv2d_tensor(x.data(), w.data(), p);
  if (!any_requires_grad({&x, &w})) return Var(y);
  return record(y, std::make_shared<Conv2dBackward>(x, w, p), {&x, &w});
}

inline Var conv_transpose2d(const Var& z, const Var& w, const Conv2dParams& p, int out_pad_h, int out_pad_w) {
  Tensor y = detail::conv_transpose2d_tensor(z.data(), w.data(), p, out_pad_h, out_pad_w);
  if (!any_requires_grad({&z, &w})) return Var(y);
  return record(y, std::make_shared<ConvTranspose2dBackward>(z, w, p), {&z, &w});
}

inline Var conv2d_weight(const Var& x, const Var& gy, const Shape& w_shape, const Conv2dParams& p) {
  Tensor dw = detail::conv2d_weight_tensor(x.data(), gy.data(), w_shape, p);
  if (!any_requires_grad({&x, &gy})) return Var(dw);
  return record(dw, std::make_shared<Conv2dWeightBackward>(x, gy, p), {&x, &gy});
}

ANYCOST_NAMESPACE_END
