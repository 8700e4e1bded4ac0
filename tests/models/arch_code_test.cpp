// Architecture codes (the official utils/train_utils.py get_g_arch, fixtures of
// tools/golden/make_discriminator_goldens.py) and the per-entry ratios that SubnetConfig carries.
#include <anycost/anycost.hpp>

#include "support/discriminator_golden.hpp"

using namespace anycost;
using namespace anycost::models;

TEST_CASE("arch_code matches get_g_arch for uniform and flexible ratios", "[arch_code][parity]") {
  const auto& gold = test::discriminator_golden();
  for (const char* c : {"u0.25", "u0.5", "u0.75", "u1", "flex"}) {
    INFO(c);
    const std::vector<double> ratios = gold[std::string("ratios_") + c].to_vector<double>();
    const Tensor code = arch_code(ratios);
    CHECK(code.shape() == Shape{1, 32});
    CHECK(code.dtype() == DType::float32);
    CHECK(test::max_abs_diff(code, gold[std::string("code_") + c]) == 0);
  }
  // Through a SubnetConfig of the fixture generator (8 entries at 32x32).
  const ChannelTable& t = gold.g.channel_table();
  CHECK(test::max_abs_diff(arch_code(t.uniform(0.5)), gold["code_u0.5"]) == 0);
  CHECK(test::max_abs_diff(arch_code(t.full()), gold["code_u1"]) == 0);
  CHECK(arch_code(t.full(), DType::float64).dtype() == DType::float64);
}

TEST_CASE("SubnetConfig ratios: full, uniform, flexible, sampled", "[arch_code][subnet]") {
  const ChannelTable t = ChannelTable::from_widths({32, 24, 16, 16});  // 32x32, 8 entries
  CHECK(t.full().ratios() == std::vector<double>(8, 1.0));
  CHECK(t.uniform(0.25).ratios() == std::vector<double>(8, 0.25));
  // Nearest ratio to width / full width (ties to the larger): 20/32 = 0.625 -> 0.75 (tie between 0.5 and 0.75),
  // 16/32 -> 0.5, 24/24 -> 1, 8/24 = 0.33 -> 0.25, 12/16 -> 0.75, 16/16 -> 1, 8/16 -> 0.5, 4/16 -> 0.25.
  CHECK(t.flexible({20, 16, 24, 8, 12, 16, 8, 4}).ratios() ==
        std::vector<double>{0.75, 0.5, 1.0, 0.25, 0.75, 1.0, 0.5, 0.25});
  const SubnetConfig given = t.flexible({32, 32, 24, 24, 16, 16, 16, 16}, std::vector<double>(8, 0.25));
  CHECK(given.ratios() == std::vector<double>(8, 0.25));
  CHECK_THROWS_WITH(t.flexible({32, 32, 24, 24, 16, 16, 16, 16}, std::vector<double>(7, 1.0)),
                    Catch::Contains("7 ratios for 8 channel entries"));
  // sample_flexible records the ratios it drew; each width follows from its ratio.
  Rng rng(5);
  for (int i = 0; i < 20; ++i) {
    const SubnetConfig s = t.sample_flexible(rng, 1, 1);
    REQUIRE(s.ratios().size() == 8);
    for (int e = 0; e < 8; ++e) {
      const double a = s.ratios()[static_cast<std::size_t>(e)];
      CHECK(s.channels(e) == std::max(1, static_cast<int>(a * t.entry_width(e))));
    }
    CHECK(arch_code(s).shape() == Shape{1, 32});
  }
}

TEST_CASE("arch_code rejects ratios outside the set", "[arch_code][errors]") {
  CHECK_THROWS_WITH(arch_code(std::vector<double>{1.0, 0.3}),
                    Catch::Contains("ratio 0.3 of entry 1 is not one of 0.25, 0.5, 0.75, 1"));
  CHECK_THROWS_WITH(arch_code(std::vector<double>{}), Catch::Contains("no ratios"));
  const ChannelTable t = ChannelTable::from_widths({32, 24, 16, 16});
  CHECK_THROWS_AS(arch_code(t.uniform(0.3)), ValueError);
}
