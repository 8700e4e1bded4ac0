// 2-D max pooling on Vars (torch.nn.functional.max_pool2d: square kernel, stride and zero-free padding, floor
// mode), as AlexNet and VGG16 use it in the LPIPS feature stacks. NCHW, float32/float64, CPU and CUDA.
//
// Closed under differentiation: the forward keeps the argmax positions, the backward scatters the output
// gradient to them (MaxPool2dScatter, linear in the gradient) and the scatter's backward is a gather of the
// same positions (MaxPool2dGather), whose backward is the scatter again. The positions are fixed by the
// forward values, so every order of derivative is exact away from ties. They live on the input's device (one
// int64 per output element), so a CUDA backward never copies them; both devices break ties alike (the first
// maximum in row-major window order wins, a NaN wins over numbers): backend/cpu/pool.hpp,
// backend/cuda/pool_plan.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "anycost/autograd/node.hpp"
#include "anycost/backend/cpu/pool.hpp"
#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/params.hpp"

ANYCOST_NAMESPACE_BEGIN

namespace detail {
// The argmax positions of one max_pool2d forward (shared by every node its gradients create): planes * ho * wo
// int64 flat positions inside the input plane, in memory of the pooled input's device.
struct PoolIndex {
  backend::Pool2dGeometry geometry;
  Shape input_shape, output_shape;
  std::shared_ptr<Storage> index;
  Device device() const { return index->device(); }
  std::int64_t* positions() const { return static_cast<std::int64_t*>(index->data()); }
};
using PoolIndexPtr = std::shared_ptr<const PoolIndex>;

inline void check_pool_device(const Tensor& t, const PoolIndex& idx, const char* op) {
  ANYCOST_CHECK(t.device() == idx.device(), DeviceError, op, ": gradient on ", t.device(),
                ", the pooled input was on ", idx.device());
}
}  // namespace detail

Var max_pool2d(const Var& x, int kernel, int stride, int padding = 0);
Var max_pool2d_scatter(const Var& grad_out, const detail::PoolIndexPtr& idx);
Var max_pool2d_gather(const Var& grad_in, const detail::PoolIndexPtr& idx);

class MaxPool2dBackward final : public Node {
 public:
  explicit MaxPool2dBackward(detail::PoolIndexPtr idx) : idx_(std::move(idx)) {}
  std::vector<Var> apply(std::vector<Var>& g) override { return {max_pool2d_scatter(g[0], idx_)}; }
  const char* name() const override { return "MaxPool2dBackward"; }

 private:
  detail::PoolIndexPtr idx_;
};

class MaxPool2dScatterBackward final : public Node {
 public:
  explicit MaxPool2dScatterBackward(detail::PoolIndexPtr idx) : idx_(std::move(idx)) {}
  std::vector<Var> apply(std::vector<Var>& g) override { return {max_pool2d_gather(g[0], idx_)}; }
  const char* name() const override { return "MaxPool2dScatterBackward"; }

 private:
  detail::PoolIndexPtr idx_;
};

class MaxPool2dGatherBackward final : public Node {
 public:
  explicit MaxPool2dGatherBackward(detail::PoolIndexPtr idx) : idx_(std::move(idx)) {}
  std::vector<Var> apply(std::vector<Var>& g) override { return {max_pool2d_scatter(g[0], idx_)}; }
  const char* name() const override { return "MaxPool2dGatherBackward"; }

 private:
  detail::PoolIndexPtr idx_;
};

// x [N, C, H, W] -> [N, C, (H + 2 padding - kernel) / stride + 1, (same for W)]; padding <= kernel / 2.
inline Var max_pool2d(const Var& x, int kernel, int stride, int padding) {
  ANYCOST_CHECK(x.defined() && x.dim() == 4, ShapeError, "max_pool2d: expects an NCHW input, got shape ",
                x.defined() ? x.shape() : Shape{});
  ANYCOST_CHECK(kernel >= 1 && stride >= 1 && padding >= 0 && 2 * padding <= kernel, ValueError,
                "max_pool2d: bad geometry (kernel ", kernel, ", stride ", stride, ", padding ", padding,
                "): needs kernel >= 1, stride >= 1 and 0 <= padding <= kernel / 2");
  auto idx = std::make_shared<detail::PoolIndex>();
  backend::Pool2dGeometry& g = idx->geometry;
  g.planes = x.size(0) * x.size(1);
  g.h = x.size(2);
  g.w = x.size(3);
  g.kernel = kernel;
  g.stride = stride;
  g.pad = padding;
  ANYCOST_CHECK(g.h + 2 * padding >= kernel && g.w + 2 * padding >= kernel, ShapeError, "max_pool2d: input ",
                x.shape(), " is smaller than the kernel ", kernel, " with padding ", padding);
  g.ho = (g.h + 2 * padding - kernel) / stride + 1;
  g.wo = (g.w + 2 * padding - kernel) / stride + 1;
  idx->input_shape = x.shape();
  idx->output_shape = Shape{x.size(0), x.size(1), g.ho, g.wo};
  const Tensor xc = x.data().contiguous();
  Tensor out = Tensor::empty(idx->output_shape, xc.dtype(), xc.device());
  idx->index = std::make_shared<Storage>(static_cast<std::size_t>(out.numel()) * sizeof(std::int64_t), xc.device());
  if (out.numel() > 0) {
    if (xc.device().is_cuda())
      backend::cuda::max_pool2d(xc.strided_ref(), out.strided_ref(), idx->positions(), g);
    else
      dispatch_dtype(xc.dtype(), [&](auto z) { backend::cpu::max_pool2d<decltype(z)>(xc, out, idx->positions(), g); });
  }
  if (!any_requires_grad({&x})) return Var(out);
  return record(out, std::make_shared<MaxPool2dBackward>(std::move(idx)), {&x});
}

// The gradient of max_pool2d's input from its output gradient (exposed for the backward nodes).
inline Var max_pool2d_scatter(const Var& grad_out, const detail::PoolIndexPtr& idx) {
  ANYCOST_CHECK(grad_out.shape() == idx->output_shape, ShapeError, "max_pool2d backward: gradient ",
                grad_out.shape(), " does not match the pooled output ", idx->output_shape);
  detail::check_pool_device(grad_out.data(), *idx, "max_pool2d backward");
  const Tensor gc = grad_out.data().contiguous();
  Tensor out = Tensor::empty(idx->input_shape, gc.dtype(), gc.device());
  if (out.numel() > 0) {
    if (gc.device().is_cuda())
      backend::cuda::max_pool2d_scatter(gc.strided_ref(), out.strided_ref(), idx->positions(), idx->geometry);
    else
      dispatch_dtype(gc.dtype(), [&](auto z) {
        backend::cpu::max_pool2d_scatter<decltype(z)>(gc, out, idx->positions(), idx->geometry);
      });
  }
  if (!any_requires_grad({&grad_out})) return Var(out);
  return record(out, std::make_shared<MaxPool2dScatterBackward>(idx), {&grad_out});
}

inline Var max_pool2d_gather(const Var& grad_in, const detail::PoolIndexPtr& idx) {
  ANYCOST_CHECK(grad_in.shape() == idx->input_shape, ShapeError, "max_pool2d double backward: gradient ",
                grad_in.shape(), " does not match the pooled input ", idx->input_shape);
  detail::check_pool_device(grad_in.data(), *idx, "max_pool2d double backward");
  const Tensor gc = grad_in.data().contiguous();
  Tensor out = Tensor::empty(idx->output_shape, gc.dtype(), gc.device());
  if (out.numel() > 0) {
    if (gc.device().is_cuda())
      backend::cuda::max_pool2d_gather(gc.strided_ref(), out.strided_ref(), idx->positions(), idx->geometry);
    else
      dispatch_dtype(gc.dtype(), [&](auto z) {
        backend::cpu::max_pool2d_gather<decltype(z)>(gc, out, idx->positions(), idx->geometry);
      });
  }
  if (!any_requires_grad({&grad_in})) return Var(out);
  return record(out, std::make_shared<MaxPool2dGatherBackward>(idx), {&grad_in});
}

ANYCOST_NAMESPACE_END
