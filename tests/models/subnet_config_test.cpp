// SubnetConfig: the per-layer accessors agree with the entry list, and a configuration carries the identity
// of the table that validated it, so that a call checks it in O(1) while a configuration of another table
// is still checked entry by entry.
#include "models/models_test_support.hpp"

using namespace anycost;
using namespace anycost::models;

TEST_CASE("SubnetConfig hands each layer its width", "[generator][config]") {
  const ChannelTable t = ChannelTable::from_widths({32, 32, 24, 16});  // 32x32
  const SubnetConfig c = t.flexible({20, 16, 24, 8, 12, 16, 8, 4}, 16);
  CHECK(c.resolution() == 16);
  CHECK(c.n_blocks() == 2);  // 8x8 and 16x16
  CHECK(c.n_layers() == 5);  // conv1 and two per block: the noise maps used
  CHECK(c.input_channels() == nn::OutChannels{20});
  CHECK(c.conv1_channels() == nn::OutChannels{16});
  CHECK(c.up_channels(0) == nn::OutChannels{24});
  CHECK(c.conv_channels(0) == nn::OutChannels{8});
  CHECK(c.up_channels(1) == nn::OutChannels{12});
  CHECK(c.conv_channels(1) == nn::OutChannels{16});
  CHECK(c.up_channels(2) == nn::OutChannels{8});  // carried above the resolution, never run
  CHECK_THROWS_WITH(c.conv_channels(3), Catch::Contains("entry 9 outside [0, 8)"));
  CHECK(SubnetConfig::block_resolution(0) == 8);
  CHECK(SubnetConfig::block_resolution(2) == 32);
  CHECK(c.describe() == "[20, 16, 24, 8, 12, 16] @ 16");
  // The accessors and the table agree on where each entry lives.
  for (int b = 0; b < 3; ++b) {
    CHECK(t.entry_resolution(2 * b + 2) == SubnetConfig::block_resolution(b));
    CHECK(t.entry_resolution(2 * b + 3) == SubnetConfig::block_resolution(b));
    CHECK(t.entry_name(2 * b + 3) == "convs." + std::to_string(2 * b + 1));
  }
  const SubnetConfig four = t.full(4);
  CHECK(four.n_blocks() == 0);
  CHECK(four.n_layers() == 1);
}

TEST_CASE("A configuration is bound to the table that validated it", "[generator][config]") {
  const ChannelTable t = ChannelTable::from_widths({32, 32, 24});
  const SubnetConfig c = t.uniform(0.5);
  CHECK_NOTHROW(t.validate(c));
  const ChannelTable copy = t;  // a copy is the same table
  CHECK_NOTHROW(copy.validate(c));
  // An equal table made separately checks the contents, and accepts them; equality ignores identity.
  const ChannelTable twin = ChannelTable::from_widths({32, 32, 24});
  CHECK(twin == t);
  CHECK_NOTHROW(twin.validate(c));
  CHECK(twin.uniform(0.5) == c);
  // A narrower table rejects it, with the entry named, and so do the generator and the MAC counter.
  const ChannelTable narrow = ChannelTable::from_widths({16, 16, 16});
  CHECK_THROWS_WITH(narrow.validate(t.full(), "here"),
                    Catch::Contains("here: entry 0 (input, resolution 4) has 32 channels, allowed 1 to 16"));
  CHECK_THROWS_WITH(count_macs(narrow, 8, 1, t.full()), Catch::Contains("count_macs: entry 0"));
  const Generator g(GeneratorConfig{.resolution = 16, .style_dim = 4, .n_mlp = 1, .channels = {16, 16, 16}}, 1);
  Rng rng(1);
  CHECK_THROWS_WITH(g.generate(Var(randn({1, 4}, rng)), t.full()), Catch::Contains("Generator::synthesize: entry 0"));
  CHECK(g.generate(Var(randn({1, 4}, rng)), narrow.uniform(0.5, 8)).image.shape() == Shape{1, 3, 8, 8});
}
