// Image files: write PNG, read PNG or JPEG, as float tensors in [-1, 1] (the generator's output range).
//
// Library: stb (Debian libstb-dev): stb_image.h decodes PNG and JPEG, stb_image_write.h encodes PNG, both
// to and from memory, which is what an atomic write needs (encode, then io/atomic_write.hpp). libpng
// would need libjpeg as a second dependency for the JPEG training data, and its setjmp error handling.
// The implementation is not compiled into every including file: Debian ships it compiled once as
// libstb.so (pkg-config module "stb"), which CMake links through anycost::anycost; the package config finds
// it again for consumers. Do not define STB_IMAGE_IMPLEMENTATION in a file that includes this header.
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

#include <stb_image.h>
#include <stb_image_write.h>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/io/atomic_write.hpp"
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

namespace detail {

// stb_image 2.27 (Debian 12) trusts the code counts of a JPEG Huffman table (DHT): a table declaring more
// than 256 codes makes it write past its 256-entry arrays (found by tests/fuzz, regression input
// tests/fuzz/regressions/image/jpeg_dht_over_256_codes). stb reads a DHT wherever the byte pair FF C4 starts
// a marker, which after a scan depends on where its entropy decoder stopped; so every FF C4 in the file is
// read as stb would read it (bytes past the end as 0, as stb does), and the file is refused if any would
// overflow. A valid table never has more than 256 codes, so valid files pass.
inline bool jpeg_huffman_tables_fit(const unsigned char* data, std::size_t size) {
  auto byte = [&](std::size_t i) -> int { return i < size ? data[i] : 0; };
  for (std::size_t at = 0; at + 1 < size; ++at) {
    if (data[at] != 0xff || data[at + 1] != 0xc4) continue;
    std::size_t p = at + 2;
    long left = (byte(p) << 8 | byte(p + 1)) - 2;
    p += 2;
    while (left > 0 && p < size) {
      const int q = byte(p);
      if ((q >> 4) > 1 || (q & 15) > 3) break;  // stb rejects the table here, before using the counts
      long n = 0;
      for (int i = 1; i <= 16; ++i) n += byte(p + static_cast<std::size_t>(i));
      if (n > 256) return false;
      p += 17 + static_cast<std::size_t>(n);
      left -= 17 + n;
    }
  }
  return true;
}

// stb allocates a PNG's IDAT buffer from the chunk's declared length before reading it, so a few bytes can
// declare 2 GB (found by tests/fuzz, regression input tests/fuzz/regressions/image/png_idat_length_past_end).
// Walks the chunks as stb does (length, type, data, CRC, from byte 8 to IEND) and returns the offset of the
// first whose data would run past the end of the file, or 0 when every chunk fits.
inline std::size_t png_chunk_past_end(const unsigned char* data, std::size_t size) {
  std::size_t p = 8;
  while (p + 8 <= size) {
    const std::uint64_t length = std::uint64_t{data[p]} << 24 | std::uint64_t{data[p + 1]} << 16 |
                                 std::uint64_t{data[p + 2]} << 8 | data[p + 3];
    if (length > size - p - 8) return p;
    if (std::memcmp(data + p + 4, "IEND", 4) == 0) break;
    p += 12 + static_cast<std::size_t>(length);
  }
  return 0;
}

}  // namespace detail

// Images larger than this are FormatErrors before any pixel is decoded: a file of a few bytes can declare
// 2^24 x 2^24 pixels, and the decoder would try to allocate them. 2^26 pixels (8192 x 8192) is a 768 MiB
// float tensor.
inline constexpr std::int64_t image_max_pixels = std::int64_t{1} << 26;

// Decodes a PNG or JPEG file image held in memory; `what` names it in messages (a path, usually).
inline Tensor decode_image(const unsigned char* data, std::size_t size, const std::string& what,
                           std::int64_t max_pixels = image_max_pixels) {
  ANYCOST_CHECK(size > 0, FormatError, "read_image: '", what, "' is empty");
  static constexpr unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  static constexpr unsigned char jpeg_sig[3] = {0xff, 0xd8, 0xff};
  const bool png = size >= 8 && std::memcmp(data, png_sig, 8) == 0;
  const bool jpeg = size >= 3 && std::memcmp(data, jpeg_sig, 3) == 0;
  ANYCOST_CHECK(png || jpeg, FormatError, "read_image: '", what, "' is neither a PNG nor a JPEG file");
  ANYCOST_CHECK(size <= static_cast<std::size_t>(INT_MAX), FormatError, "read_image: '", what, "' is ", size,
                " bytes, more than the decoder accepts");
  const char* kind = png ? "PNG" : "JPEG";
  auto reason = [] {
    const char* r = stbi_failure_reason();
    return r ? r : "no reason given";
  };
  if (png) {
    const std::size_t bad = detail::png_chunk_past_end(data, size);
    ANYCOST_CHECK(bad == 0, FormatError, "read_image: '", what, "': cannot decode PNG (the chunk at byte ", bad,
                  " runs past the end of the ", size, "-byte file)");
  }
  ANYCOST_CHECK(png || detail::jpeg_huffman_tables_fit(data, size), FormatError, "read_image: '", what,
                "': cannot decode JPEG (a Huffman table declares more than 256 codes)");
  const int len = static_cast<int>(size);
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &channels))
    anycost::detail::raise<FormatError>("read_image: '", what, "': cannot decode ", kind, " (", reason(), ")");

  ANYCOST_CHECK(w >= 1 && h >= 1 && static_cast<std::int64_t>(w) * h <= max_pixels, FormatError, "read_image: '",
                what, "': ", kind, " of ", w, "x", h, " pixels, more than the limit of ", max_pixels);

  const bool wide = stbi_is_16_bit_from_memory(data, len) != 0;
  std::unique_ptr<void, void (*)(void*)> pixels(
      wide ? static_cast<void*>(stbi_load_16_from_memory(data, len, &w, &h, &channels, 3))
           : static_cast<void*>(stbi_load_from_memory(data, len, &w, &h, &channels, 3)),
      stbi_image_free);
  if (!pixels)
    anycost::detail::raise<FormatError>("read_image: '", what, "': cannot decode ", kind, " (", reason(), ")");
  // The decoder reads the header again; a file whose two readings disagree must not outgrow the check.
  ANYCOST_CHECK(w >= 1 && h >= 1 && static_cast<std::int64_t>(w) * h <= max_pixels, FormatError, "read_image: '",
                what, "': ", kind, " of ", w, "x", h, " pixels, more than the limit of ", max_pixels);

  const std::int64_t plane = static_cast<std::int64_t>(w) * h;
  Tensor out = Tensor::empty(Shape{3, h, w}, DType::float32);
  float* dst = out.data<float>();
  const double half = wide ? 32767.5 : 127.5;
  // stb returns interleaved RGB; tensors are channel-first.
  for (std::int64_t i = 0; i < plane; ++i)
    for (int k = 0; k < 3; ++k) {
      const double v = wide ? static_cast<const std::uint16_t*>(pixels.get())[3 * i + k]
                            : static_cast<const unsigned char*>(pixels.get())[3 * i + k];
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
