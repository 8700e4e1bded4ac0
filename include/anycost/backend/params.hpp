// Plain-data parameters shared by the CPU and CUDA kernels of the non-elementwise ops.
#pragma once

#include <cstdint>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend {

// 2-D convolution geometry (cross-correlation, as PyTorch). Tensors are NCHW; weights [Cout, Cin/groups, kh, kw].
struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int groups = 1;
};

// upfirdn2d: zero-stuff by `up`, pad (pad0 before, pad1 after, per axis; negative crops), convolve with the
// kernel (correlate with it flipped, as the reference defines the op), keep every `down`-th sample. The
// factors are shared by both axes.
struct UpFirDnParams {
  int up = 1, down = 1;
  int pad_y0 = 0, pad_y1 = 0, pad_x0 = 0, pad_x1 = 0;

  static UpFirDnParams make(int up, int down, int pad0, int pad1) { return {up, down, pad0, pad1, pad0, pad1}; }
};

// Max pooling over contiguous [planes, h, w] inputs (planes = N C) with a square window, one stride and one
// zero-free padding for both axes (torch.nn.MaxPool2d, floor mode, dilation 1): ho = (h + 2 pad - kernel) /
// stride + 1, likewise wo.
struct Pool2dGeometry {
  std::int64_t planes = 0, h = 0, w = 0, ho = 0, wo = 0;
  int kernel = 1, stride = 1, pad = 0;
};

inline std::int64_t conv_out_size(std::int64_t in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }
inline std::int64_t upfirdn_out_size(std::int64_t in, int k, int up, int down, int pad0, int pad1) {
  const std::int64_t span = in * up + pad0 + pad1 - k;
  return span < 0 ? 0 : span / down + 1;
}

}  // namespace backend
ANYCOST_NAMESPACE_END
