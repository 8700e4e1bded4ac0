// Decoding PNG and JPEG bytes that may come from anyone (uploads, datasets): libpng and libjpeg-turbo
// (Debian libpng-dev, libjpeg62-turbo-dev), both fuzzed continuously by OSS-Fuzz. stb_image, which decoded
// here before, is not meant for untrusted input, and our fuzzing found it reading far past its Huffman
// tables on a progressive JPEG (tests/fuzz/regressions/image/jpeg_progressive_undefined_table).
//
//   image_kind(data, size)                  PNG or JPEG by signature, or unknown
//   read_image_header(data, size)           width and height from the header, no pixel decoded
//   decode_rgb(data, size, max_pixels, keep_16_bit)
//                                           interleaved RGB rows: gray replicated, palette expanded, alpha
//                                           dropped (not composited); 16-bit PNG kept as 16 bits or reduced
//                                           to its high byte; JPEG in any colour space but CMYK/YCCK
//
// Failures return a reason (the library's own message) in ImageDecodeResult::error; nothing throws through
// the C libraries, whose errors end in longjmp back to the frame that called setjmp, where only C objects
// live. Limits: the pixel count is checked from the header before any pixel buffer exists; libpng keeps its
// defaults for ancillary chunks (8 MB each); a progressive JPEG may have at most 500 scans (libjpeg-turbo's
// own TJFLAG_LIMITSCANS bound: more is a known way to make decoding take minutes); a JPEG that ends early
// is an error, not a grey bottom half.
#pragma once

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

// Images larger than this are FormatErrors before any pixel is decoded: a file of a few bytes can declare
// 2^24 x 2^24 pixels, and the decoder would try to allocate them. 2^26 pixels (8192 x 8192) is a 768 MiB
// float tensor.
inline constexpr std::int64_t image_max_pixels = std::int64_t{1} << 26;

enum class ImageKind { unknown, png, jpeg };

inline ImageKind image_kind(const unsigned char* data, std::size_t size) {
  static constexpr unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  static constexpr unsigned char jpeg_sig[3] = {0xff, 0xd8, 0xff};
  if (size >= 8 && std::memcmp(data, png_sig, 8) == 0) return ImageKind::png;
  if (size >= 3 && std::memcmp(data, jpeg_sig, 3) == 0) return ImageKind::jpeg;
  return ImageKind::unknown;
}

struct ImageDecodeResult {
  std::string error;  // empty on success
  int width = 0, height = 0;
  int bits = 8;                    // 8: rgb8 holds the pixels, 16: rgb16 does
  std::vector<std::uint8_t> rgb8;  // height * width * 3
  std::vector<std::uint16_t> rgb16;
};

namespace detail {

struct PngSource {
  const unsigned char* data;
  std::size_t size, at;
  char message[256];
  std::jmp_buf jump;
};

inline void png_fail(png_structp png, png_const_charp message) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->message, sizeof src->message, "%s", message);
  std::longjmp(src->jump, 1);
}
inline void png_ignore_warning(png_structp, png_const_charp) {}
inline void png_read_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->at) png_error(png, "the file ends early");
  std::memcpy(out, src->data + src->at, n);
  src->at += n;
}

// header_only: width and height from the header, no pixels.
inline void decode_png(const unsigned char* data, std::size_t size, std::int64_t max_pixels, bool keep_16_bit,
                       bool header_only, ImageDecodeResult& out) {
  if (header_only) {  // the IHDR chunk only (libpng's png_read_info reads every chunk up to the pixels)
    const auto u32 = [&](std::size_t at) {
      return std::uint32_t{data[at]} << 24 | std::uint32_t{data[at + 1]} << 16 | std::uint32_t{data[at + 2]} << 8 |
             data[at + 3];
    };
    if (size < 33 || std::memcmp(data + 12, "IHDR", 4) != 0 || u32(8) != 13) {
      out.error = "no IHDR chunk after the signature";
      return;
    }
    const std::uint32_t w = u32(16), h = u32(20);
    if (w > 0x7fffffffu || h > 0x7fffffffu) {
      out.error = "image size out of range";
      return;
    }
    out.width = static_cast<int>(w);
    out.height = static_cast<int>(h);
    return;
  }
  PngSource src{data, size, 0, {}, {}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_fail, png_ignore_warning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  std::vector<png_bytep> rows;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    out.error = "out of memory";
    return;
  }
  if (setjmp(src.jump)) {
    png_destroy_read_struct(&png, &info, nullptr);
    out.error = src.message;
    return;
  }
  png_set_read_fn(png, &src, png_read_bytes);
  png_read_info(png, info);
  out.width = static_cast<int>(png_get_image_width(png, info));
  out.height = static_cast<int>(png_get_image_height(png, info));
  if (static_cast<std::int64_t>(out.width) * out.height > max_pixels) {
    png_destroy_read_struct(&png, &info, nullptr);
    return;
  }
  const int colour = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (colour == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (colour == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (colour == PNG_COLOR_TYPE_GRAY || colour == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  if (colour & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  out.bits = depth == 16 && keep_16_bit ? 16 : 8;
  if (depth == 16 && !keep_16_bit) png_set_strip_16(png);
  if (out.bits == 16) png_set_swap(png);  // PNG stores 16-bit samples big-endian
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != static_cast<std::size_t>(out.width) * 3 * (out.bits / 8))
    png_error(png, "unexpected row layout after conversion to RGB");
  const std::size_t values = static_cast<std::size_t>(out.width) * static_cast<std::size_t>(out.height) * 3;
  unsigned char* base;
  if (out.bits == 16) {
    out.rgb16.resize(values);
    base = reinterpret_cast<unsigned char*>(out.rgb16.data());
  } else {
    out.rgb8.resize(values);
    base = out.rgb8.data();
  }
  rows.resize(static_cast<std::size_t>(out.height));
  for (std::size_t y = 0; y < rows.size(); ++y) rows[y] = base + y * static_cast<std::size_t>(out.width) * 3 * (out.bits / 8);
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
}

struct JpegErrors {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

inline void jpeg_fail(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegErrors*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}
// Warnings are corrupt but decodable data (as most viewers show it), except a file that ends early.
inline void jpeg_message(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(c);
}
inline void jpeg_limit_scans(j_common_ptr c) {
  auto* d = reinterpret_cast<j_decompress_ptr>(c);
  if (d->progressive_mode && d->input_scan_number > 500) {
    auto* e = reinterpret_cast<JpegErrors*>(c->err);
    std::snprintf(e->message, sizeof e->message, "a progressive JPEG of more than 500 scans");
    std::longjmp(e->jump, 1);
  }
}

inline void decode_jpeg(const unsigned char* data, std::size_t size, std::int64_t max_pixels, bool header_only,
                        ImageDecodeResult& out) {
  jpeg_decompress_struct cinfo;
  JpegErrors errors;
  jpeg_progress_mgr progress;
  cinfo.err = jpeg_std_error(&errors.pub);
  errors.pub.error_exit = jpeg_fail;
  errors.pub.emit_message = jpeg_message;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&cinfo);
    out.error = errors.message;
    return;
  }
  jpeg_create_decompress(&cinfo);
  progress.progress_monitor = jpeg_limit_scans;
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  out.width = static_cast<int>(cinfo.image_width);
  out.height = static_cast<int>(cinfo.image_height);
  if (header_only || static_cast<std::int64_t>(out.width) * out.height > max_pixels) {
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    std::snprintf(errors.message, sizeof errors.message, "CMYK JPEG is not supported");
    std::longjmp(errors.jump, 1);
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_components != 3 || static_cast<int>(cinfo.output_width) != out.width ||
      static_cast<int>(cinfo.output_height) != out.height) {
    std::snprintf(errors.message, sizeof errors.message, "unexpected output layout");
    std::longjmp(errors.jump, 1);
  }
  const std::size_t row = static_cast<std::size_t>(out.width) * 3;
  out.rgb8.resize(row * static_cast<std::size_t>(out.height));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW line = out.rgb8.data() + row * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &line, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
}

inline ImageDecodeResult decode(const unsigned char* data, std::size_t size, std::int64_t max_pixels,
                                bool keep_16_bit, bool header_only) {
  ImageDecodeResult r;
  switch (image_kind(data, size)) {
    case ImageKind::png: decode_png(data, size, max_pixels, keep_16_bit, header_only, r); break;
    case ImageKind::jpeg: decode_jpeg(data, size, max_pixels, header_only, r); break;
    default: r.error = "neither a PNG nor a JPEG file";
  }
  if (r.error.empty() && (r.width < 1 || r.height < 1)) r.error = "the header gives no pixels";
  return r;
}

}  // namespace detail

// Width and height from the header (error set when it does not decode).
inline ImageDecodeResult read_image_header(const unsigned char* data, std::size_t size) {
  return detail::decode(data, size, 0, false, true);
}

// The pixels, as described at the top; when the header declares more than max_pixels pixels, width and
// height are set and no pixel is decoded (the caller names the limit).
inline ImageDecodeResult decode_rgb(const unsigned char* data, std::size_t size, std::int64_t max_pixels,
                                    bool keep_16_bit) {
  return detail::decode(data, size, max_pixels, keep_16_bit, false);
}

}  // namespace io
ANYCOST_NAMESPACE_END
