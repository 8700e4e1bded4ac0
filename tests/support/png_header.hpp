// Edits the width and height in a PNG's IHDR chunk and recomputes the chunk's CRC, as a real file claiming
// that size would have it (libpng checks the CRC of critical chunks, so a stale one would be refused first).
#pragma once

#include <cstdint>
#include <string>

namespace anycost_test {

inline void set_png_size(std::string& png, std::uint32_t width, std::uint32_t height) {
  auto put = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) png[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (24 - 8 * i) & 0xff);
  };
  put(16, width);  // IHDR: length at 8, type at 12, width at 16, height at 20, 13 data bytes, CRC at 29
  put(20, height);
  std::uint32_t crc = 0xffffffffu;  // CRC-32 (PNG, zlib) over the chunk type and data
  for (std::size_t i = 12; i < 29; ++i) {
    crc ^= static_cast<unsigned char>(png[i]);
    for (int k = 0; k < 8; ++k) crc = crc & 1 ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
  }
  put(29, crc ^ 0xffffffffu);
}

}  // namespace anycost_test
