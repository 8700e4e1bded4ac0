#include <algorithm>
#include <cmath>
#include <string>

#include "support/golden.hpp"

using namespace anycost;
using anycost::test::Json;

namespace {
std::uint64_t u64(const Json& j) { return std::stoull(j.get<std::string>()); }
bool close_normal(double got, double want) { return std::abs(got - want) <= 2e-6 * std::max(1.0, std::abs(want)); }
}  // namespace

TEST_CASE("philox::generate matches Philox4x32-10 computed from its definition", "[rng]") {
  const Json doc = test::load_golden("foundation/philox.json");
  REQUIRE(doc.at("blocks").size() >= 8);
  for (const Json& b : doc.at("blocks")) {
    const std::uint64_t seed = u64(b.at("seed")), block = u64(b.at("block")), stream = u64(b.at("stream"));
    INFO("seed " << seed << " block " << block << " stream " << stream);
    const philox::Block r = philox::generate(seed, block, stream);
    const auto x = b.at("x").get<std::vector<std::uint32_t>>();
    for (int l = 0; l < 4; ++l) {
      CHECK(r.x[l] == x[l]);
      CHECK(philox::to_uniform(r.x[l]) == b.at("uniform")[l].get<double>());
    }
    float n[4];
    philox::normals(r, n);
    for (int l = 0; l < 4; ++l) {
      const double want = b.at("normal")[l].get<double>();
      INFO("lane " << l << ": " << n[l] << " vs Box-Muller " << want);
      CHECK(close_normal(n[l], want));
    }
  }
}

TEST_CASE("randn continues from the Rng offset, block by block", "[rng]") {
  const Json doc = test::load_golden("foundation/philox.json");
  for (const Json& d : doc.at("draws")) {
    Rng rng(d.at("seed").get<std::uint64_t>());
    const auto skip = d.at("skip_elements").get<std::int64_t>();
    if (skip > 0) (void)randn({skip}, rng);
    const auto got = randn({d.at("count").get<std::int64_t>()}, rng).to_vector<float>();
    const auto want = d.at("normal").get<std::vector<double>>();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("seed " << d.at("seed") << " element " << i << ": " << got[i] << " vs " << want[i]);
      CHECK(close_normal(got[i], want[i]));
    }
  }
}

TEST_CASE("Rng reserves whole blocks, so a split draw equals a whole draw", "[rng]") {
  Rng whole(9);
  const auto all = randn({8}, whole).to_vector<float>();
  CHECK(whole.offset() == 2);
  Rng split(9);
  const auto a = randn({3}, split).to_vector<float>();  // uses block 0 (lanes 0..2)
  CHECK(split.offset() == 1);
  const auto b = randn({4}, split).to_vector<float>();  // starts at block 1
  CHECK(std::vector<float>(all.begin(), all.begin() + 3) == a);
  CHECK(std::vector<float>(all.begin() + 4, all.end()) == b);
  // float64 draws are the float32 values, widened.
  Rng r32(5), r64(5);
  const auto f = randn({6}, r32).to_vector<float>();
  const auto d = randn({6}, r64, DType::float64).to_vector<double>();
  for (int i = 0; i < 6; ++i) CHECK(d[i] == static_cast<double>(f[i]));
  // Different seeds, different streams.
  Rng s1(1), s2(2);
  CHECK(randn({4}, s1).to_vector<float>() != randn({4}, s2).to_vector<float>());
  // The host-side helpers draw fresh blocks too.
  Rng h(3);
  const std::uint32_t u0 = h.next_u32();
  CHECK(h.offset() == 1);
  CHECK(u0 == philox::generate(3, 0).x[0]);
  for (int i = 0; i < 1000; ++i) {
    const auto k = h.uniform_int(7);
    CHECK(k < 7u);
    const double u = h.uniform();
    CHECK((u >= 0.0 && u < 1.0));
  }
}

TEST_CASE("Philox normals are well distributed", "[rng]") {
  const std::int64_t n = 200000;
  Rng rng(2024);
  auto x = randn({n}, rng, DType::float64).to_vector<double>();
  double m = 0;
  for (double v : x) m += v;
  m /= n;
  double m2 = 0, m3 = 0, m4 = 0;
  std::int64_t tails = 0;
  for (double v : x) {
    const double c = v - m;
    m2 += c * c;
    m3 += c * c * c;
    m4 += c * c * c * c;
    tails += std::abs(v) > 3.0;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  const double sd = std::sqrt(m2), skew = m3 / (m2 * sd), excess_kurtosis = m4 / (m2 * m2) - 3.0;
  // Bounds are about 4.5 standard errors for n = 200000.
  CHECK(std::abs(m) < 0.01);
  CHECK(std::abs(sd - 1.0) < 0.007);
  CHECK(std::abs(skew) < 0.025);
  CHECK(std::abs(excess_kurtosis) < 0.05);
  CHECK(tails > 430);  // expected 540 (P(|x| > 3) = 0.0027)
  CHECK(tails < 650);
  // Kolmogorov-Smirnov distance to the normal CDF (critical value at 1%: 1.63 / sqrt(n) = 0.0036).
  std::sort(x.begin(), x.end());
  double ks = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double cdf = 0.5 * std::erfc(-x[i] / std::sqrt(2.0));
    ks = std::max({ks, std::abs(cdf - static_cast<double>(i) / n), std::abs(cdf - static_cast<double>(i + 1) / n)});
  }
  CHECK(ks < 0.0036);
  // Uniforms: in [0, 1), mean 1/2, variance 1/12.
  Rng ur(77);
  const auto u = rand({n}, ur).to_vector<float>();
  double um = 0, uv = 0;
  std::int64_t outside = 0;
  for (float v : u) {
    outside += v < 0.0f || v >= 1.0f;
    um += v;
  }
  CHECK(outside == 0);
  um /= n;
  for (float v : u) uv += (v - um) * (v - um);
  uv /= n;
  CHECK(std::abs(um - 0.5) < 0.003);
  CHECK(std::abs(uv - 1.0 / 12.0) < 0.001);
}
