// MAC counting (anycost/models/macs.hpp): every published figure of anycost-ffhq-config-f-flexible.json
// exactly, the uniform sub-generators of config F in the same convention (144.37G for the full 1024
// generator, the paper's "144G"), the cumulative full-width costs, and the true-arithmetic counts.
#include "models/models_test_support.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

using namespace anycost;
using namespace anycost::models;

namespace {
double giga(std::int64_t v) { return static_cast<double>(v) / 1e9; }
double round2(double v) { return std::round(v * 100) / 100; }
}  // namespace

TEST_CASE("MACs reproduce every budget of the published flexible search exactly", "[macs]") {
  std::ifstream in(test::generator_data("anycost-ffhq-config-f-flexible.json"));
  REQUIRE(in.good());
  const nlohmann::json j = nlohmann::json::parse(in);
  REQUIRE(j.size() == 11);
  const ChannelTable t = ChannelTable::stylegan2(1024);
  for (const auto& [label, entry] : j.items()) {
    const SubnetConfig cfg = t.flexible(entry.at("channels").get<std::vector<int>>(), entry.at("res").get<int>());
    const MacCount m = count_macs(t, 512, 8, cfg);
    INFO(label << ": " << cfg.describe());
    CHECK(m.profile == entry.at("macs").get<std::int64_t>());
    // The budget label is an upper bound ("15G" means at most 15e9), and the true count is about half.
    CHECK(giga(m.profile) <= std::stod(label.substr(0, label.size() - 1)));
    CHECK(m.arithmetic < m.profile);
  }
}

TEST_CASE("MACs: the uniform sub-generators of config F (torchprofile convention)", "[macs]") {
  const ChannelTable t = ChannelTable::stylegan2(1024);
  const double ratios[] = {1.0, 0.75, 0.5, 0.25};
  const int res[] = {1024, 512, 256, 128};
  const double expected[4][4] = {{144.37, 114.57, 85.13, 55.81},
                                 {86.31, 69.39, 52.76, 36.23},
                                 {44.04, 36.36, 28.90, 21.53},
                                 {13.18, 11.12, 9.20, 7.33}};
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < 4; ++k) {
      INFO("ratio " << ratios[i] << ", res " << res[k]);
      CHECK(round2(giga(count_macs(t, 512, 8, t.uniform(ratios[i], res[k])).profile)) == Approx(expected[i][k]));
    }
  CHECK(count_macs(t, 512, 8, t.full()).profile == 144365170309);
  // Cumulative full-width cost when stopping at each resolution. (A hand count gave 6.73 for 32x32; the rules
  // that give every other figure exactly give 6,724,955,559, i.e. 6.72.)
  const double cumulative[] = {0.41, 1.71, 6.72, 26.42, 55.81, 85.13, 114.57, 144.37};
  for (int r = 8, i = 0; r <= 1024; r *= 2, ++i)
    CHECK(round2(giga(count_macs(t, 512, 8, t.full(r)).profile)) == Approx(cumulative[i]));
}

TEST_CASE("MACs: the true-arithmetic counts of the uniform sub-generators", "[macs]") {
  const ChannelTable t = ChannelTable::stylegan2(1024);
  const double ratios[] = {1.0, 0.75, 0.5, 0.25};
  const int res[] = {1024, 512, 256, 128};
  const double expected[4][4] = {{75.38, 60.20, 45.37, 30.71},
                                 {44.87, 36.19, 27.79, 19.51},
                                 {22.82, 18.83, 15.03, 11.33},
                                 {6.80, 5.69, 4.69, 3.74}};
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < 4; ++k) {
      INFO("ratio " << ratios[i] << ", res " << res[k]);
      CHECK(giga(count_macs(t, 512, 8, t.uniform(ratios[i], res[k])).arithmetic) ==
            Approx(expected[i][k]).margin(0.01));
    }
}

TEST_CASE("MACs count only what a configuration runs and reject foreign configurations", "[macs]") {
  const ChannelTable t = ChannelTable::stylegan2(256, 2, 256);
  const MacCount full = count_macs(t, 256, 8, t.full()), half = count_macs(t, 256, 8, t.uniform(0.5));
  CHECK(half.profile < full.profile);
  CHECK(half.arithmetic < full.arithmetic);
  // Widths above the configuration's resolution do not matter.
  std::vector<int> c = t.full().channels();
  c.back() = 8;
  CHECK(count_macs(t, 256, 8, t.flexible(c, 128)).profile == count_macs(t, 256, 8, t.full(128)).profile);
  CHECK_THROWS_WITH(count_macs(t, 256, 8, ChannelTable::stylegan2(1024).full()), Catch::Contains("count_macs"));
  CHECK_THROWS_AS(count_macs(t, 0, 8, t.full()), ValueError);
}
