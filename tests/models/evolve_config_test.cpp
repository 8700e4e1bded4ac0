// Evolve-config files (anycost/models/evolve_config.hpp): the official search results read as validated
// sub-networks, a write/read round trip, and every malformed entry named by label and field.
#include "models/models_test_support.hpp"

#include "io/io_test_support.hpp"

using namespace anycost;
using namespace anycost::models;
using anycost_test::message_of;
using anycost_test::read_bytes;
using anycost_test::TempDir;
using Catch::Matchers::Contains;

TEST_CASE("evolve configs: the official flexible search results load as sub-networks", "[evolve]") {
  const ChannelTable t = ChannelTable::stylegan2(1024);
  const std::vector<EvolveEntry> e = read_evolve_configs(test::generator_data("anycost-ffhq-config-f-flexible.json"), t);
  REQUIRE(e.size() == 11);
  const EvolveEntry& b15 = find_budget(e, "15G");
  CHECK(b15.config.resolution() == 256);
  CHECK(b15.macs == 14901895481);
  CHECK(b15.dist == Approx(0.1544).margin(5e-5));
  CHECK(b15.config.channels() ==
        std::vector<int>{512, 512, 512, 512, 512, 512, 384, 384, 128, 256, 64, 64, 32, 128, 16, 32, 16, 8});
  // The stored MAC count is the one the counter gives (the search's constraint).
  for (const EvolveEntry& x : e) CHECK(count_macs(t, 512, 8, x.config).profile == x.macs);
  CHECK(find_budget(e, "116G").config.resolution() == 1024);
  CHECK_THAT(message_of<ValueError>([&] { find_budget(e, "7G"); }), Contains("no budget \"7G\"") && Contains("15G, 18G"));
  // A generator with another table refuses the widths, naming the budget.
  CHECK_THAT(message_of<FormatError>([&] {
               read_evolve_configs(test::generator_data("anycost-ffhq-config-f-flexible.json"),
                                   ChannelTable::stylegan2(1024, 1.0, 256));
             }),
             Contains("budget \"") && Contains("channels, allowed 1 to 256"));
}

TEST_CASE("evolve configs: write then read gives the same entries, and a failed write leaves the old file", "[evolve]") {
  const ChannelTable t = ChannelTable::stylegan2(64, 1.0, 128);
  const std::vector<EvolveEntry> e = {{"2M", t.uniform(0.25, 32), 2000000, 0.25}, {"9M", t.full(), 9000000, 0.0},
                                      {"5M", t.flexible({128, 128, 96, 128, 64, 64, 32, 16, 8, 16}), 5000000, 0.125}};
  TempDir dir;
  const auto p = dir / "configs.json";
  write_evolve_configs(p, e);
  const std::vector<EvolveEntry> back = read_evolve_configs(p, t);
  REQUIRE(back.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(back[i].label == e[i].label);  // the file keeps the order given
    CHECK(back[i].config == e[i].config);
    CHECK(back[i].macs == e[i].macs);
    CHECK(back[i].dist == e[i].dist);
  }
  const std::string before = read_bytes(p);
  std::vector<EvolveEntry> twice = e;
  twice.push_back(e[0]);
  CHECK_THAT(message_of<ValueError>([&] { write_evolve_configs(p, twice); }), Contains("\"2M\" is empty or repeated"));
  CHECK_THAT(message_of<IoError>([&] { write_evolve_configs(dir / "no_dir" / "c.json", e); }), Contains("no_dir"));
  CHECK(read_bytes(p) == before);
}

TEST_CASE("evolve configs: malformed files are refused with the label and field named", "[evolve]") {
  const ChannelTable t = ChannelTable::stylegan2(32, 1.0, 64);  // 8 entries
  const std::string ok_ch = "[64, 64, 64, 64, 64, 64, 64, 64]";
  auto parse = [&](const std::string& text) { return parse_evolve_configs(text, t, "c.json"); };
  CHECK(parse("{\"1M\": {\"channels\": " + ok_ch + ", \"res\": 32}}").size() == 1);  // macs and dist optional
  CHECK(parse("{}").empty());
  const std::pair<std::string, std::string> bad[] = {
      {"{\"1M\": ", "not valid JSON"},
      {"[1, 2]", "expected an object keyed by budget label"},
      {"{\"1M\": 5}", "budget \"1M\": expected an object"},
      {"{\"1M\": {\"res\": 32}}", "budget \"1M\": missing \"channels\""},
      {"{\"1M\": {\"channels\": " + ok_ch + "}}", "missing \"res\""},
      {"{\"1M\": {\"channels\": 64, \"res\": 32}}", "\"channels\" is not an array"},
      {"{\"1M\": {\"channels\": [64, \"a\"], \"res\": 32}}", "holds \"a\", not an integer"},
      {"{\"1M\": {\"channels\": [64, -3], \"res\": 32}}", "channel width -3 is out of range"},
      {"{\"1M\": {\"channels\": [64, 64], \"res\": 32}}", "2 channel entries given"},
      {"{\"1M\": {\"channels\": [64, 64, 64, 65, 64, 64, 64, 64], \"res\": 32}}", "65 channels, allowed 1 to 64"},
      {"{\"1M\": {\"channels\": " + ok_ch + ", \"res\": 24}}", "res 24 is not a power of two in [4, 32]"},
      {"{\"1M\": {\"channels\": " + ok_ch + ", \"res\": 64}}", "res 64 is not a power of two"},
      {"{\"1M\": {\"channels\": " + ok_ch + ", \"res\": 32, \"macs\": -1}}", "\"macs\" is not a non-negative"},
      {"{\"1M\": {\"channels\": " + ok_ch + ", \"res\": 32, \"dist\": \"x\"}}", "\"dist\" is not a number"},
      {"{\"1M\": {\"channels\": [[[[[1]]]]], \"res\": 32}}", "nested deeper than 4"},
  };
  for (const auto& [text, message] : bad) {
    INFO(text);
    CHECK_THAT(message_of<FormatError>([&] { parse(text); }), Contains(message) && Contains("c.json"));
  }
  CHECK_THAT(message_of<FormatError>([&] { parse(std::string(evolve_config_max_bytes + 1, ' ')); }),
             Contains("more than the limit"));
  CHECK_THAT(message_of<IoError>([&] { read_evolve_configs("/nonexistent/c.json", t); }), Contains("/nonexistent/c.json"));
}
