// Host-side image resizing for data preparation: Pillow's bilinear ("triangle") resampling, antialiased, plus
// the short-side resize and centre crop that torchvision's Resize(int) and CenterCrop apply.
//
// The official training code (tools/train_gan.py, utils/datasets.py: MultiResize) prepares every resolution
// with PIL's Image.resize(size, BILINEAR) from the original image. That filter is not the GPU-style 2-tap
// bilinear: when downscaling by a factor s > 1 the triangle is stretched to a support of s pixels on each
// side (so every input pixel contributes, no aliasing), its weights are normalised per output pixel, and the
// two axes are resampled separately, horizontal first. Two element types, as in Pillow
// (src/libImaging/Resample.c):
//   * Image8 (interleaved uint8, what decoders return): 22-bit fixed-point weights, the intermediate rounded
//     and clamped to uint8 — the arithmetic of PIL's "RGB"/"L" modes, so a decoded 8-bit image resizes to the
//     same bytes PIL gives.
//   * Tensor [C,H,W] float32/float64 on the host: double weights and double sums, the intermediate stored in
//     the tensor's dtype — PIL's "F" (float32) mode for float32 input.
//
// Contract: sizes >= 1; resizing to the same size returns an unchanged copy. resize_short_side(x, s) scales
// the shorter side to s and the longer to floor(s * long / short) (torchvision's rule); center_crop(x, h, w)
// takes rows from round((H - h) / 2) and columns from round((W - w) / 2) (round half to even, as Python's
// round), and needs h <= H and w <= W.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

// An 8-bit image with interleaved channels (row-major, H x W x C), the layout stb_image and PIL use.
struct Image8 {
  std::int64_t height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;

  std::uint8_t at(std::int64_t y, std::int64_t x, std::int64_t c) const {
    return pixels[static_cast<std::size_t>((y * width + x) * channels + c)];
  }
};

namespace detail {

// The weights of one axis: output pixel i reads input pixels first[i] .. first[i] + count[i] - 1 with the
// weights w[i * taps .. i * taps + count[i] - 1] (normalised to sum 1).
struct ResampleAxis {
  std::int64_t taps = 0;
  std::vector<std::int64_t> first, count;
  std::vector<double> w;
};

inline double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Pillow's precompute_coeffs for the bilinear filter (support 1) over the whole input axis.
inline ResampleAxis resample_axis(std::int64_t in_size, std::int64_t out_size) {
  ResampleAxis a;
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filter_scale = std::max(scale, 1.0);  // upscaling keeps the plain 2-tap triangle
  const double support = filter_scale;
  a.taps = static_cast<std::int64_t>(std::ceil(support)) * 2 + 1;
  a.first.resize(static_cast<std::size_t>(out_size));
  a.count.resize(static_cast<std::size_t>(out_size));
  a.w.assign(static_cast<std::size_t>(out_size * a.taps), 0.0);
  for (std::int64_t i = 0; i < out_size; ++i) {
    const double center = (static_cast<double>(i) + 0.5) * scale;
    // Pillow rounds the bounds with a truncating cast of (bound + 0.5) before clamping.
    const std::int64_t lo = std::max<std::int64_t>(0, static_cast<std::int64_t>(center - support + 0.5));
    const std::int64_t hi = std::min<std::int64_t>(in_size, static_cast<std::int64_t>(center + support + 0.5));
    double* k = a.w.data() + i * a.taps;
    double total = 0;
    for (std::int64_t x = lo; x < hi; ++x) {
      k[x - lo] = triangle((static_cast<double>(x) - center + 0.5) / filter_scale);
      total += k[x - lo];
    }
    if (total != 0.0)
      for (std::int64_t x = 0; x < hi - lo; ++x) k[x] /= total;
    a.first[static_cast<std::size_t>(i)] = lo;
    a.count[static_cast<std::size_t>(i)] = hi - lo;
  }
  return a;
}

// Pillow's 8-bit fixed point: weights scaled by 2^22 and rounded away from zero, sums started at one half.
inline constexpr int resample_precision_bits = 32 - 8 - 2;

inline std::vector<std::int32_t> fixed_point_weights(const ResampleAxis& a) {
  std::vector<std::int32_t> k(a.w.size());
  const double one = static_cast<double>(1 << resample_precision_bits);
  for (std::size_t i = 0; i < k.size(); ++i)
    k[i] = static_cast<std::int32_t>(a.w[i] < 0 ? a.w[i] * one - 0.5 : a.w[i] * one + 0.5);
  return k;
}

inline std::uint8_t clip8_fixed(std::int32_t sum) {
  return static_cast<std::uint8_t>(std::clamp(sum >> resample_precision_bits, 0, 255));
}

// Resamples one axis of an interleaved 8-bit image: `horizontal` picks the axis.
inline Image8 resample8(const Image8& in, std::int64_t out_size, bool horizontal) {
  const ResampleAxis a = resample_axis(horizontal ? in.width : in.height, out_size);
  const std::vector<std::int32_t> k = fixed_point_weights(a);
  Image8 out;
  out.channels = in.channels;
  out.height = horizontal ? in.height : out_size;
  out.width = horizontal ? out_size : in.width;
  out.pixels.resize(static_cast<std::size_t>(out.height * out.width * out.channels));
  const std::int64_t c_n = in.channels;
  for (std::int64_t y = 0; y < out.height; ++y)
    for (std::int64_t x = 0; x < out.width; ++x) {
      const std::int64_t i = horizontal ? x : y;
      const std::int32_t* w = k.data() + i * a.taps;
      const std::int64_t first = a.first[static_cast<std::size_t>(i)], count = a.count[static_cast<std::size_t>(i)];
      for (std::int64_t c = 0; c < c_n; ++c) {
        std::int32_t sum = 1 << (resample_precision_bits - 1);
        for (std::int64_t t = 0; t < count; ++t)
          sum += static_cast<std::int32_t>(horizontal ? in.at(y, first + t, c) : in.at(first + t, x, c)) * w[t];
        out.pixels[static_cast<std::size_t>((y * out.width + x) * c_n + c)] = clip8_fixed(sum);
      }
    }
  return out;
}

// One axis of a contiguous [C,H,W] host tensor of element type T, accumulated in double.
template <class T>
Tensor resample_tensor(const Tensor& in, std::int64_t out_size, bool horizontal) {
  const std::int64_t c_n = in.size(0), h = in.size(1), w = in.size(2);
  const ResampleAxis a = resample_axis(horizontal ? w : h, out_size);
  const std::int64_t oh = horizontal ? h : out_size, ow = horizontal ? out_size : w;
  Tensor out = Tensor::empty(Shape{c_n, oh, ow}, in.dtype());
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  for (std::int64_t c = 0; c < c_n; ++c)
    for (std::int64_t y = 0; y < oh; ++y)
      for (std::int64_t x = 0; x < ow; ++x) {
        const std::int64_t i = horizontal ? x : y;
        const double* k = a.w.data() + i * a.taps;
        const std::int64_t first = a.first[static_cast<std::size_t>(i)], count = a.count[static_cast<std::size_t>(i)];
        double sum = 0;
        for (std::int64_t t = 0; t < count; ++t) {
          const std::int64_t sy = horizontal ? y : first + t, sx = horizontal ? first + t : x;
          sum += static_cast<double>(src[(c * h + sy) * w + sx]) * k[t];
        }
        dst[(c * oh + y) * ow + x] = static_cast<T>(sum);
      }
  return out;
}

inline void check_image8(const Image8& image, const char* op) {
  ANYCOST_CHECK(image.height >= 1 && image.width >= 1 && image.channels >= 1, ShapeError, op, ": image is ",
                image.height, "x", image.width, "x", image.channels, ", needs at least one pixel and channel");
  ANYCOST_CHECK(image.pixels.size() == static_cast<std::size_t>(image.height * image.width * image.channels),
                ShapeError, op, ": image ", image.height, "x", image.width, "x", image.channels, " holds ",
                image.pixels.size(), " bytes");
}

inline Tensor host_chw(const Tensor& image, const char* op) {
  ANYCOST_CHECK(image.defined(), ValueError, op, ": image is undefined");
  ANYCOST_CHECK(image.dim() == 3, ShapeError, op, ": image must be [C,H,W], got ", image.shape());
  ANYCOST_CHECK(image.numel() > 0, ShapeError, op, ": image ", image.shape(), " has no pixels");
  ANYCOST_CHECK(image.device() == Device::cpu(), DeviceError, op, ": image must be on the host, got ",
                image.device());
  return image.contiguous();
}

inline void check_size(std::int64_t h, std::int64_t w, const char* op) {
  ANYCOST_CHECK(h >= 1 && w >= 1, ValueError, op, ": output size must be >= 1, got ", h, "x", w);
}

// torchvision's Resize(int): the short side becomes `size`, the long side floor(size * long / short).
inline void short_side_size(std::int64_t h, std::int64_t w, std::int64_t size, std::int64_t& oh, std::int64_t& ow) {
  const bool tall = h >= w;
  const std::int64_t short_side = tall ? w : h, long_side = tall ? h : w;
  const auto scaled = static_cast<std::int64_t>(static_cast<double>(size) * static_cast<double>(long_side) /
                                                static_cast<double>(short_side));
  oh = tall ? scaled : size;
  ow = tall ? size : scaled;
}

// torchvision's CenterCrop offset: int(round((in - out) / 2.0)), Python's round being half-to-even.
inline std::int64_t crop_offset(std::int64_t in, std::int64_t out) {
  return static_cast<std::int64_t>(std::nearbyint(static_cast<double>(in - out) / 2.0));
}

}  // namespace detail

// Pillow's Image.resize((w, h), BILINEAR) on an 8-bit image (bit-exact, see the header comment).
inline Image8 resize_bilinear(const Image8& image, std::int64_t height, std::int64_t width) {
  detail::check_image8(image, "resize_bilinear");
  detail::check_size(height, width, "resize_bilinear");
  Image8 out = image;
  if (width != out.width) out = detail::resample8(out, width, true);
  if (height != out.height) out = detail::resample8(out, height, false);
  return out;
}

// The same filter on a [C,H,W] float32/float64 host tensor (any strides); returns a new contiguous tensor.
inline Tensor resize_bilinear(const Tensor& image, std::int64_t height, std::int64_t width) {
  Tensor out = detail::host_chw(image, "resize_bilinear");
  detail::check_size(height, width, "resize_bilinear");
  if (height == out.size(1) && width == out.size(2)) return out.clone();
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    if (width != out.size(2)) out = detail::resample_tensor<T>(out, width, true);
    if (height != out.size(1)) out = detail::resample_tensor<T>(out, height, false);
  });
  return out;
}

inline Image8 resize_short_side(const Image8& image, std::int64_t size) {
  detail::check_image8(image, "resize_short_side");
  ANYCOST_CHECK(size >= 1, ValueError, "resize_short_side: size must be >= 1, got ", size);
  std::int64_t h = 0, w = 0;
  detail::short_side_size(image.height, image.width, size, h, w);
  return resize_bilinear(image, h, w);
}

inline Tensor resize_short_side(const Tensor& image, std::int64_t size) {
  const Tensor x = detail::host_chw(image, "resize_short_side");
  ANYCOST_CHECK(size >= 1, ValueError, "resize_short_side: size must be >= 1, got ", size);
  std::int64_t h = 0, w = 0;
  detail::short_side_size(x.size(1), x.size(2), size, h, w);
  return resize_bilinear(x, h, w);
}

inline Image8 center_crop(const Image8& image, std::int64_t height, std::int64_t width) {
  detail::check_image8(image, "center_crop");
  ANYCOST_CHECK(height >= 1 && width >= 1 && height <= image.height && width <= image.width, ValueError,
                "center_crop: crop ", height, "x", width, " does not fit in the image ", image.height, "x",
                image.width);
  const std::int64_t top = detail::crop_offset(image.height, height), left = detail::crop_offset(image.width, width);
  Image8 out{height, width, image.channels, {}};
  out.pixels.resize(static_cast<std::size_t>(height * width * image.channels));
  const std::int64_t row = width * image.channels;
  for (std::int64_t y = 0; y < height; ++y) {
    const auto src = image.pixels.begin() + ((top + y) * image.width + left) * image.channels;
    std::copy(src, src + row, out.pixels.begin() + y * row);
  }
  return out;
}

// A new contiguous tensor (the crop is copied, so it never aliases the input).
inline Tensor center_crop(const Tensor& image, std::int64_t height, std::int64_t width) {
  const Tensor x = detail::host_chw(image, "center_crop");
  ANYCOST_CHECK(height >= 1 && width >= 1 && height <= x.size(1) && width <= x.size(2), ValueError,
                "center_crop: crop ", height, "x", width, " does not fit in the image ", x.shape());
  return x.narrow(1, detail::crop_offset(x.size(1), height), height)
      .narrow(2, detail::crop_offset(x.size(2), width), width)
      .clone();
}

// The square training sample of one resolution: resize the short side to `size`, then centre-crop.
inline Image8 resize_center_crop(const Image8& image, std::int64_t size) {
  return center_crop(resize_short_side(image, size), size, size);
}
inline Tensor resize_center_crop(const Tensor& image, std::int64_t size) {
  return center_crop(resize_short_side(image, size), size, size);
}

}  // namespace io
ANYCOST_NAMESPACE_END
