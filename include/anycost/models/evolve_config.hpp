// Evolve-config files: the sub-networks an evolutionary search chose per compute budget, in the format of the
// official assets/evolve_configs/*.json (anycost-ffhq-config-f-flexible.json):
//
//   { "15G": {"channels": [512, 512, ...], "res": 256, "macs": 14901895481, "dist": 0.1544}, ... }
//
// one object per budget label; `channels` has one width per entry of the channel table (models/channel_table.hpp,
// entries above `res` are carried but never run), `macs` is the profile-convention count (models/macs.hpp) and
// `dist` the search's distance to the full generator (lower is better). Reading validates every entry against
// the generator's table and names the label and field of the first problem; entries keep the file's order.
// Limits (the file may come from anyone): at most 16 MiB, JSON nesting depth 4, 4096 budgets.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anycost/core/error.hpp"
#include "anycost/io/atomic_write.hpp"
#include "anycost/io/bounded_json.hpp"
#include "anycost/models/channel_table.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

struct EvolveEntry {
  std::string label;    // the budget, e.g. "15G"
  SubnetConfig config;  // channels + res
  std::int64_t macs;    // 0 when the file has none
  double dist;          // 0 when the file has none
};

inline constexpr std::uintmax_t evolve_config_max_bytes = 16u << 20;
inline constexpr int evolve_config_max_depth = 4;
inline constexpr std::size_t evolve_config_max_entries = 4096;

// Parses `text` (what: the name used in messages) against `table`.
inline std::vector<EvolveEntry> parse_evolve_configs(const std::string& text, const ChannelTable& table,
                                                     const std::string& what) {
  using Json = nlohmann::ordered_json;  // keeps the file's budget order
  const Json j = io::parse_json_bounded<FormatError, Json>(
      text, {.max_bytes = evolve_config_max_bytes, .max_depth = evolve_config_max_depth}, "evolve config '" + what + "'");
  ANYCOST_CHECK(j.is_object(), FormatError, "evolve config '", what,
                "': expected an object keyed by budget label, e.g. {\"15G\": {...}}");
  ANYCOST_CHECK(j.size() <= evolve_config_max_entries, FormatError, "evolve config '", what, "': ", j.size(),
                " budgets, more than the limit of ", evolve_config_max_entries);
  std::vector<EvolveEntry> out;
  for (const auto& [label, e] : j.items()) {
    // write_evolve_configs refuses empty labels; a file it cannot write back is refused here too.
    ANYCOST_CHECK(!label.empty(), FormatError, "evolve config '", what, "': a budget label is empty");
    const std::string where = "evolve config '" + what + "', budget \"" + label + "\"";
    ANYCOST_CHECK(e.is_object(), FormatError, where, ": expected an object with channels, res, macs, dist");
    for (const char* key : {"channels", "res"})
      ANYCOST_CHECK(e.contains(key), FormatError, where, ": missing \"", key, "\"");
    const Json& ch = e.at("channels");
    ANYCOST_CHECK(ch.is_array(), FormatError, where, ": \"channels\" is not an array");
    std::vector<int> widths;
    for (const Json& c : ch) {
      ANYCOST_CHECK(c.is_number_integer(), FormatError, where, ": \"channels\" holds ", c.dump(),
                    ", not an integer");
      const std::int64_t v = c.get<std::int64_t>();
      ANYCOST_CHECK(v >= 1 && v <= (1 << 20), FormatError, where, ": channel width ", v, " is out of range");
      widths.push_back(static_cast<int>(v));
    }
    const Json& res = e.at("res");
    ANYCOST_CHECK(res.is_number_integer(), FormatError, where, ": \"res\" is not an integer");
    const std::int64_t r = res.get<std::int64_t>();
    ANYCOST_CHECK(r >= 4 && r <= table.resolution() && is_power_of_two(r), FormatError, where, ": res ", r,
                  " is not a power of two in [4, ", table.resolution(), "]");
    const SubnetConfig config = [&] {
      try {
        return table.flexible(widths, static_cast<int>(r));
      } catch (const ValueError& err) {
        anycost::detail::raise<FormatError>(where, ": ", err.what());
      }
    }();
    std::int64_t macs = 0;
    if (e.contains("macs")) {
      ANYCOST_CHECK(e.at("macs").is_number_integer() && e.at("macs").get<std::int64_t>() >= 0, FormatError, where,
                    ": \"macs\" is not a non-negative integer");
      macs = e.at("macs").get<std::int64_t>();
    }
    double dist = 0;
    if (e.contains("dist")) {
      ANYCOST_CHECK(e.at("dist").is_number(), FormatError, where, ": \"dist\" is not a number");
      dist = e.at("dist").get<double>();
    }
    out.push_back(EvolveEntry{label, config, macs, dist});
  }
  return out;
}

inline std::vector<EvolveEntry> read_evolve_configs(const std::filesystem::path& path, const ChannelTable& table) {
  const std::string text = io::read_text_bounded<FormatError>(path, evolve_config_max_bytes, "read_evolve_configs");
  return parse_evolve_configs(text, table, path.string());
}

// The entry of budget `label`; the error lists the labels there are.
inline const EvolveEntry& find_budget(const std::vector<EvolveEntry>& entries, const std::string& label) {
  std::string known;
  for (const EvolveEntry& e : entries) {
    if (e.label == label) return e;
    known += (known.empty() ? "" : ", ") + e.label;
  }
  anycost::detail::raise<ValueError>("evolve config: no budget \"", label, "\" (there are: ", known, ")");
}

// The file's JSON (all channel entries, budgets in the given order). Labels must be distinct.
inline std::string format_evolve_configs(const std::vector<EvolveEntry>& entries) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const EvolveEntry& e : entries) {
    ANYCOST_CHECK(!e.label.empty() && !j.contains(e.label), ValueError, "write_evolve_configs: budget label \"",
                  e.label, "\" is empty or repeated");
    j[e.label] = {{"channels", e.config.channels()}, {"res", e.config.resolution()}, {"macs", e.macs},
                  {"dist", e.dist}};
  }
  return j.dump(2) + "\n";
}

// Written atomically: an existing file is replaced whole or left untouched.
inline void write_evolve_configs(const std::filesystem::path& path, const std::vector<EvolveEntry>& entries) {
  const std::string text = format_evolve_configs(entries);
  io::write_atomically(path, "write_evolve_configs", [&](std::ostream& os) { os << text; });
}

}  // namespace models
ANYCOST_NAMESPACE_END
