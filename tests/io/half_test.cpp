#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>

#include "anycost/io/half.hpp"

using anycost::io::bfloat16_to_float;
using anycost::io::float16_to_float;

TEST_CASE("float16_to_float decodes known bit patterns exactly") {
  CHECK(float16_to_float(0x3C00) == 1.0f);
  CHECK(float16_to_float(0xC000) == -2.0f);
  CHECK(float16_to_float(0x7BFF) == 65504.0f);                   // largest finite
  CHECK(float16_to_float(0x0400) == std::ldexp(1.0f, -14));      // smallest normal
  CHECK(float16_to_float(0x0001) == std::ldexp(1.0f, -24));      // smallest subnormal
  CHECK(float16_to_float(0x03FF) == std::ldexp(1023.0f, -24));   // largest subnormal
  CHECK(float16_to_float(0x3555) == 0.333251953125f);
  CHECK(float16_to_float(0x0000) == 0.0f);
  CHECK(std::signbit(float16_to_float(0x8000)));
  CHECK(float16_to_float(0x8001) == -std::ldexp(1.0f, -24));
  CHECK(float16_to_float(0x7C00) == std::numeric_limits<float>::infinity());
  CHECK(float16_to_float(0xFC00) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(float16_to_float(0x7E00)));
  CHECK(std::isnan(float16_to_float(0x7C01)));  // signalling NaN stays NaN, not inf
}

TEST_CASE("float16_to_float agrees with the binary16 definition for every bit pattern") {
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const int e = (bits >> 10) & 0x1f, m = bits & 0x3ff;
    const float got = float16_to_float(static_cast<std::uint16_t>(bits));
    if (e == 0x1f) {
      CHECK((m == 0 ? std::isinf(got) : std::isnan(got)));
      continue;
    }
    // (-1)^s * 2^(e-15) * (1 + m/1024) for normals, 2^-14 * m/1024 for subnormals, computed in double.
    const double magnitude = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
    const double expected = (bits & 0x8000) ? -magnitude : magnitude;
    if (static_cast<double>(got) != expected) FAIL("bits " << bits << ": got " << got << ", expected " << expected);
  }
}

TEST_CASE("bfloat16_to_float decodes known bit patterns exactly") {
  CHECK(bfloat16_to_float(0x3F80) == 1.0f);
  CHECK(bfloat16_to_float(0xC0A0) == -5.0f);
  CHECK(bfloat16_to_float(0x4049) == 3.140625f);
  CHECK(bfloat16_to_float(0x0001) == std::ldexp(1.0f, -133));
  CHECK(bfloat16_to_float(0x7F7F) == std::ldexp(255.0f, 120));  // largest finite: 0x1.fep127
  CHECK(bfloat16_to_float(0x7F80) == std::numeric_limits<float>::infinity());
  CHECK(bfloat16_to_float(0xFF80) == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(bfloat16_to_float(0x7FC0)));
  CHECK(std::signbit(bfloat16_to_float(0x8000)));
}
