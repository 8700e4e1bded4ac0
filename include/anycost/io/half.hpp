// Decoding of the 16-bit float formats found in checkpoints (IEEE binary16 "F16" and bfloat16 "BF16") to
// float32. Both conversions are exact: every 16-bit value, subnormals, infinities and NaN payloads included,
// has a float32 counterpart. Tensors never hold 16-bit floats, so only decoding is needed.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

inline float float16_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float32.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  // Rebias the exponent from 15 to 127.
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// bfloat16 is the upper half of a float32.
inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

}  // namespace io
ANYCOST_NAMESPACE_END
