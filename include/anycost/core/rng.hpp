// Counter-based random numbers (Philox4x32-10). The value of element i of a draw depends only on
// (seed, offset + i), so a seed gives the same numbers on CPU and CUDA, in any thread order.
//
// Normals come from Box-Muller evaluated in double precision with explicit fused multiply-adds and IEEE
// sqrt/div only, so host and device round identically and the float results are bit-identical.
#pragma once

#include <cmath>
#include <cstdint>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace philox {

struct Block {
  std::uint32_t x[4];
};

ANYCOST_HOST_DEVICE void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

// Philox4x32 with 10 rounds on counter (block index lo/hi, stream lo/hi) and a 64-bit key.
ANYCOST_HOST_DEVICE Block generate(std::uint64_t key, std::uint64_t block, std::uint64_t stream = 0) {
  std::uint32_t c0 = static_cast<std::uint32_t>(block), c1 = static_cast<std::uint32_t>(block >> 32);
  std::uint32_t c2 = static_cast<std::uint32_t>(stream), c3 = static_cast<std::uint32_t>(stream >> 32);
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Block{{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 24 random bits (exact in float).
ANYCOST_HOST_DEVICE float to_uniform(std::uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

namespace detail {
// A product rounded on its own: nvcc contracts a*b + c into one fma by default (--fmad=true), which would
// change the rounding of a product that feeds an addition; the _rn intrinsics are never contracted.
ANYCOST_HOST_DEVICE double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// ln(v * 2^-33) for an odd integer v in [1, 2^33): exact exponent extraction, then 2*atanh series.
ANYCOST_HOST_DEVICE double log_scaled(std::uint64_t v) {
  int e = 63;
  while (!(v >> e)) --e;  // floor(log2 v)
  double m = mul_rn(static_cast<double>(v), 1.0 / static_cast<double>(std::uint64_t{1} << e));  // exact, in [1, 2)
  if (m > 1.4142135623730951) {
    m = mul_rn(m, 0.5);
    ++e;
  }
  const double f = (m - 1.0) / (m + 1.0);
  const double f2 = f * f;
  double p = 1.0 / 23.0;
  for (int k = 21; k >= 1; k -= 2) p = ::fma(p, f2, 1.0 / k);
  const double log_m = 2.0 * mul_rn(f, p);
  const double ln2_hi = 0.6931471805599453, ln2_lo = 2.3190468138462996e-17;
  const double ee = static_cast<double>(e - 33);
  return ::fma(ee, ln2_hi, ::fma(ee, ln2_lo, log_m));
}

// sin and cos of 2*pi*u for u = x * 2^-32: exact quadrant split, Taylor polynomials on [0, pi/2).
ANYCOST_HOST_DEVICE void sincos_turns(std::uint32_t x, double& s, double& c) {
  const int quadrant = static_cast<int>(x >> 30);
  const double f = static_cast<double>(x & 0x3FFFFFFFu) * (1.0 / 1073741824.0);  // exact, in [0, 1)
  const double t = f * 1.5707963267948966;
  const double t2 = t * t;
  // sin t = t * (1 - t2/3! + t2^2/5! - ...), cos t = 1 - t2/2! + ...
  double ps = 1.0 / 121645100408832000.0;         // 1/19!
  ps = ::fma(ps, -t2, 1.0 / 355687428096000.0);   // 1/17!
  ps = ::fma(ps, -t2, 1.0 / 1307674368000.0);     // 1/15!
  ps = ::fma(ps, -t2, 1.0 / 6227020800.0);        // 1/13!
  ps = ::fma(ps, -t2, 1.0 / 39916800.0);          // 1/11!
  ps = ::fma(ps, -t2, 1.0 / 362880.0);            // 1/9!
  ps = ::fma(ps, -t2, 1.0 / 5040.0);              // 1/7!
  ps = ::fma(ps, -t2, 1.0 / 120.0);               // 1/5!
  ps = ::fma(ps, -t2, 1.0 / 6.0);                 // 1/3!
  ps = ::fma(ps, -t2, 1.0);
  double pc = 1.0 / 2432902008176640000.0;        // 1/20!
  pc = ::fma(pc, -t2, 1.0 / 6402373705728000.0);  // 1/18!
  pc = ::fma(pc, -t2, 1.0 / 20922789888000.0);    // 1/16!
  pc = ::fma(pc, -t2, 1.0 / 87178291200.0);       // 1/14!
  pc = ::fma(pc, -t2, 1.0 / 479001600.0);         // 1/12!
  pc = ::fma(pc, -t2, 1.0 / 3628800.0);           // 1/10!
  pc = ::fma(pc, -t2, 1.0 / 40320.0);             // 1/8!
  pc = ::fma(pc, -t2, 1.0 / 720.0);               // 1/6!
  pc = ::fma(pc, -t2, 1.0 / 24.0);                // 1/4!
  pc = ::fma(pc, -t2, 1.0 / 2.0);                 // 1/2!
  pc = ::fma(pc, -t2, 1.0);
  const double st = t * ps, ct = pc;
  switch (quadrant) {
    case 0: s = st; c = ct; break;
    case 1: s = ct; c = -st; break;
    case 2: s = -st; c = -ct; break;
    default: s = -ct; c = st; break;
  }
}
}  // namespace detail

// Four standard normals from one Philox block: lanes (0,1) and (2,3) are Box-Muller pairs.
ANYCOST_HOST_DEVICE void normals(const Block& b, float out[4]) {
  for (int p = 0; p < 2; ++p) {
    const std::uint64_t v = 2 * static_cast<std::uint64_t>(b.x[2 * p]) + 1;  // u1 = v * 2^-33 in (0, 1)
    const double r = ::sqrt(-2.0 * detail::log_scaled(v));
    double s, c;
    detail::sincos_turns(b.x[2 * p + 1], s, c);
    out[2 * p] = static_cast<float>(r * c);
    out[2 * p + 1] = static_cast<float>(r * s);
  }
}

// Element i of a draw that starts at Philox block `first_block`.
ANYCOST_HOST_DEVICE float normal_at(std::uint64_t key, std::uint64_t first_block, std::uint64_t i) {
  float n[4];
  normals(generate(key, first_block + i / 4), n);
  return n[i % 4];
}
ANYCOST_HOST_DEVICE float uniform_at(std::uint64_t key, std::uint64_t first_block, std::uint64_t i) {
  return to_uniform(generate(key, first_block + i / 4).x[i % 4]);
}

}  // namespace philox

// A seeded stream of random numbers: a key plus a running block offset. Passing an Rng& is how every
// random operation in anycost gets its randomness (no global generator).
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) : seed_(seed) {}
  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  // Reserves the blocks for n elements and returns the first block index.
  std::uint64_t reserve(std::uint64_t n) {
    const std::uint64_t first = offset_;
    offset_ += (n + 3) / 4;
    return first;
  }
  // A raw 32-bit draw, for host-side decisions (sampling configurations, shuffles).
  std::uint32_t next_u32() { return philox::generate(seed_, reserve(4)).x[0]; }
  // Uniform integer in [0, n).
  std::uint32_t uniform_int(std::uint32_t n) {
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(next_u32()) * n) >> 32);
  }
  double uniform() { return philox::to_uniform(next_u32()); }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

ANYCOST_NAMESPACE_END
