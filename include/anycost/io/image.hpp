// Image files: write PNG, read PNG or JPEG, as float tensors in [-1, 1] (the generator's output range).
//
// Libraries: decoding, which sees files from anyone, is libpng's and libjpeg-turbo's (io/image_decode.hpp);
// encoding our own pixels is stb_image_write's (Debian libstb-dev), to memory, which is what an atomic write
// needs (encode, then io/atomic_write.hpp). stb's implementation is not compiled into every including file:
// Debian ships it compiled once as libstb.so (pkg-config module "stb"), which CMake links through
// anycost::anycost with libpng and libjpeg; the package config finds them again for consumers. Do not define
// STB_IMAGE_WRITE_IMPLEMENTATION in a file that includes this header.
//
// Contract:
//   write_png: image [3,H,W] or [1,H,W], float32 or float64, any device (copied to the host), H and W >= 1.
//     Values are clamped to [-1, 1] and stored as round((x + 1) / 2 * 255); NaN is a ValueError naming the
//     pixel. [1,H,W] is written as an 8-bit grayscale PNG, [3,H,W] as 8-bit RGB. The write is atomic.
//   read_image: a PNG (8- or 16-bit; gray, gray+alpha, RGB, RGBA, palette) or a baseline/progressive JPEG,
//     recognised by its signature. Returns [3,H,W] float32 in [-1, 1] (v / max * 2 - 1); gray is copied
//     to the three channels, alpha is dropped (not composited), JPEG EXIF orientation is ignored.
//     Images above image_max_pixels (or decode_image's max_pixels) are FormatErrors, checked from the header
//     before decoding.
//     Missing or unreadable files are IoError; other formats and corrupt data are FormatError.
#pragma once

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <stb_image_write.h>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/io/atomic_write.hpp"
#include "anycost/io/image_decode.hpp"
#include "anycost/io/mapped_file.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

// Encodes `image` (see write_png) as a PNG file image in memory.
inline std::vector<unsigned char> encode_png(const Tensor& image) {
  ANYCOST_CHECK(image.defined(), ValueError, "encode_png: image is undefined");
  ANYCOST_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3), ShapeError,
                "encode_png: image must be [3,H,W] or [1,H,W], got ", image.shape());
  const std::int64_t c = image.size(0), h = image.size(1), w = image.size(2);
  ANYCOST_CHECK(h >= 1 && w >= 1, ShapeError, "encode_png: image ", image.shape(), " has no pixels");
  ANYCOST_CHECK(h <= INT_MAX && w * c <= INT_MAX, ShapeError, "encode_png: image ", image.shape(),
                " is too large for a PNG row");
  // Channel-last bytes, as PNG rows store them; double so float64 input is rounded once.
  const Tensor hwc = image.to(Device::cpu()).to(DType::float64).permute({1, 2, 0}).contiguous();
  const double* src = hwc.data<double>();
  std::vector<unsigned char> pixels(static_cast<std::size_t>(hwc.numel()));
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    const double x = src[i];
    if (std::isnan(x)) {
      const auto p = static_cast<std::int64_t>(i);
      anycost::detail::raise<ValueError>("encode_png: image holds NaN at channel ", p % c, ", row ", p / c / w,
                                ", column ", p / c % w);
    }
    const double v = (std::clamp(x, -1.0, 1.0) + 1.0) / 2.0 * 255.0;
    pixels[i] = static_cast<unsigned char>(std::floor(v + 0.5));
  }
  std::vector<unsigned char> png;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(context);
    const auto* bytes = static_cast<const unsigned char*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  const int ok = stbi_write_png_to_func(append, &png, static_cast<int>(w), static_cast<int>(h), static_cast<int>(c),
                                        pixels.data(), static_cast<int>(w * c));
  ANYCOST_CHECK(ok != 0 && !png.empty(), IoError, "encode_png: the PNG encoder failed (out of memory?) for image ",
                image.shape());
  return png;
}

inline void write_png(const std::filesystem::path& path, const Tensor& image) {
  const std::vector<unsigned char> png = encode_png(image);
  write_atomically(path, "write_png", [&](std::ostream& os) {
    os.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  });
}

// Decodes a PNG or JPEG file image held in memory (io/image_decode.hpp); `what` names it in messages (a
// path, usually).
inline Tensor decode_image(const unsigned char* data, std::size_t size, const std::string& what,
                           std::int64_t max_pixels = image_max_pixels) {
  ANYCOST_CHECK(size > 0, FormatError, "read_image: '", what, "' is empty");
  const ImageKind kind = image_kind(data, size);
  ANYCOST_CHECK(kind != ImageKind::unknown, FormatError, "read_image: '", what, "' is neither a PNG nor a JPEG file");
  const char* name = kind == ImageKind::png ? "PNG" : "JPEG";
  const ImageDecodeResult d = decode_rgb(data, size, max_pixels, true);
  if (!d.error.empty())
    anycost::detail::raise<FormatError>("read_image: '", what, "': cannot decode ", name, " (", d.error, ")");
  ANYCOST_CHECK(static_cast<std::int64_t>(d.width) * d.height <= max_pixels, FormatError, "read_image: '", what,
                "': ", name, " of ", d.width, "x", d.height, " pixels, more than the limit of ", max_pixels);

  const std::int64_t plane = static_cast<std::int64_t>(d.width) * d.height;
  Tensor out = Tensor::empty(Shape{3, d.height, d.width}, DType::float32);
  float* dst = out.data<float>();
  const bool wide = d.bits == 16;
  const double half = wide ? 32767.5 : 127.5;
  // The decoder returns interleaved RGB; tensors are channel-first.
  for (std::int64_t i = 0; i < plane; ++i)
    for (int k = 0; k < 3; ++k) {
      const double v = wide ? d.rgb16[static_cast<std::size_t>(3 * i + k)] : d.rgb8[static_cast<std::size_t>(3 * i + k)];
      dst[k * plane + i] = static_cast<float>(v / half - 1.0);
    }
  return out;
}

inline Tensor read_image(const std::filesystem::path& path) {
  const auto file = MappedFile::open(path, static_cast<std::uint64_t>(INT_MAX), "read_image");
  return decode_image(file->data(), static_cast<std::size_t>(file->size()), path.string());
}

}  // namespace io
ANYCOST_NAMESPACE_END
