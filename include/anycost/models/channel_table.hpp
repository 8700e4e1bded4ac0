// The generator's channel table (StyleGAN2 config F, Karras et al. 2020, Table 1 and Sec. 4.2) and the
// sub-network configurations built from it (Lin et al. 2021, Sec. 3, adaptive-channel training).
//
// ChannelTable: the full width C(r) of every feature-map resolution r = 4, 8, ..., R. The config-F table is
//   C(r) = min(channel_max, int(base(r) * channel_multiplier)),  base(r) = 16384 / r  (4 -> 4096, 1024 -> 16)
// and a table may also be given explicitly (checkpoints carry their widths in their shapes).
//
// Width entries (the order of the published `channels` lists, tests/data/generator/
// anycost-ffhq-config-f-flexible.json): one per width-bearing module in traversal order:
//   0 = ConstantInput (4x4), 1 = conv1 (4x4), 2b+2 = convs.2b and 2b+3 = convs.2b+1 (resolution 2^(b+3)).
// There are n_entries() = 2 log2(R) - 2 of them (18 at 1024), as many as W+ rows. ToRGB layers have none.
// SubnetConfig is the one place that maps entries to layers; everything else asks it per layer.
//
// SubnetConfig: a validated value (per-entry widths + output resolution) that the generator takes per call.
// It can only be made by a ChannelTable, which checks it once (every width in [1, full width], the
// resolution a power of two in [4, R]) and stamps it with its identity, so that later checks by the same
// table (every synthesize, every count_macs) are O(1). Entries above the resolution are carried but never
// executed.
//   full()                 the whole generator
//   uniform(r)             C_r(res) = min(C(res), int(base(res) * r * org_mult)), org_mult = C(R)/base(R)
//                          (as tools/reference/anycost_generator.py's uniform_channels)
//   flexible(widths)       any per-entry widths (the evolve JSON's `channels` lists, a hand-made or loaded
//                          configuration: validated here, once)
//   sample_flexible(rng)   the per-layer sampler of flexible training (ratios {1/4, 1/2, 3/4, 1} above the
//                          uniform-1/4 floor)
// Every configuration also carries one width ratio per entry (ratios()), which the conditioned
// discriminator receives as its architecture code (models/arch_code.hpp; the official utils/train_utils.py
// get_g_arch encodes the sampler's ratios, not the widths): full() 1 everywhere, uniform(r) r everywhere (also
// where the 512 cap keeps the width full), sample_flexible the drawn ratios, flexible(widths) per entry the
// ratio of {1/4, 1/2, 3/4, 1} nearest to width / full width (ties to the larger), or the ratios given.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/rng.hpp"
#include "anycost/nn/subnet.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

// The reference's channel counts before the multiplier: 4 -> 4096, 8 -> 2048, ..., 1024 -> 16.
inline int base_channels(int resolution) {
  ANYCOST_CHECK(resolution >= 4 && resolution <= 16384 && (resolution & (resolution - 1)) == 0, ValueError,
                "base_channels: resolution ", resolution, " is not a power of two in [4, 16384]");
  return 16384 / resolution;
}

inline bool is_power_of_two(std::int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

inline int log2_exact(int v) {
  int l = 0;
  while ((1 << l) < v) ++l;
  return l;
}

class ChannelTable;

namespace detail {
// A fresh identity for every table made (copies keep theirs: a table never changes after it is made).
inline std::uint64_t new_table_id() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace detail

class SubnetConfig {
 public:
  // ---- what the layers run (the widths as the layers' nn::OutChannels) ---------------------------------
  // Output resolution: the generator stops after the block of this resolution.
  int resolution() const { return resolution_; }
  // Synthesis blocks in use (block b works at resolution 8 << b) and the StyledConv layers in use (conv1
  // and two per block, = the noise maps read).
  int n_blocks() const { return log2_exact(resolution_) - 2; }
  int n_layers() const { return 2 * n_blocks() + 1; }
  static int block_resolution(int block) { return 8 << block; }
  nn::OutChannels input_channels() const { return at(0); }
  nn::OutChannels conv1_channels() const { return at(1); }
  nn::OutChannels up_channels(int block) const { return at(2 * block + 2); }    // convs.2b
  nn::OutChannels conv_channels(int block) const { return at(2 * block + 3); }  // convs.2b+1

  // ---- the entry list (evolve JSON `channels`, one width per entry; see the header comment) -------------
  int channels(int entry) const { return channels_.at(static_cast<std::size_t>(entry)); }
  const std::vector<int>& channels() const { return channels_; }
  int n_entries() const { return static_cast<int>(channels_.size()); }
  // The width ratio of every entry (see the header comment), what the architecture code encodes.
  const std::vector<double>& ratios() const { return ratios_; }

  // The same widths and resolution (whichever table made them).
  friend bool operator==(const SubnetConfig& a, const SubnetConfig& b) {
    return a.channels_ == b.channels_ && a.resolution_ == b.resolution_;
  }

  // "[512, 512, ...] @ 256" (entries above the resolution are omitted).
  std::string describe() const {
    std::ostringstream os;
    os << '[';
    const int used = std::min(entries_for(resolution_), n_entries());
    for (int i = 0; i < used; ++i) os << (i ? ", " : "") << channels_[static_cast<std::size_t>(i)];
    os << "] @ " << resolution_;
    return os.str();
  }

 private:
  friend class ChannelTable;
  SubnetConfig(std::vector<int> channels, int resolution, std::vector<double> ratios)
      : channels_(std::move(channels)), ratios_(std::move(ratios)), resolution_(resolution) {}

  // The entry layout, defined here only: 0 = input, 1 = conv1, 2b+2 / 2b+3 = convs.2b / convs.2b+1.
  static int entries_for(int resolution) { return 2 * log2_exact(resolution) - 2; }
  static int entry_resolution(int entry) { return entry < 2 ? 4 : block_resolution((entry - 2) / 2); }
  static std::string entry_name(int entry) {
    if (entry == 0) return "input";
    if (entry == 1) return "conv1";
    return "convs." + std::to_string(entry - 2);
  }
  nn::OutChannels at(int entry) const {
    ANYCOST_CHECK(entry >= 0 && entry < n_entries(), ValueError, "SubnetConfig: entry ", entry, " outside [0, ",
                  n_entries(), ")");
    return nn::OutChannels{channels_[static_cast<std::size_t>(entry)]};
  }

  std::vector<int> channels_;
  std::vector<double> ratios_;
  int resolution_ = 0;
  std::uint64_t table_id_ = 0;  // the table that validated it (ChannelTable::validate)
};

class ChannelTable {
 public:
  ChannelTable() = default;

  // The reference table for a generator of `resolution`.
  static ChannelTable stylegan2(int resolution, double channel_multiplier = 2.0, int channel_max = 512) {
    ANYCOST_CHECK(resolution >= 4 && is_power_of_two(resolution), ValueError, "ChannelTable: resolution ",
                  resolution, " is not a power of two >= 4");
    ANYCOST_CHECK(channel_multiplier > 0 && std::isfinite(channel_multiplier), ValueError,
                  "ChannelTable: channel_multiplier must be > 0, got ", channel_multiplier);
    ANYCOST_CHECK(channel_max >= 1, ValueError, "ChannelTable: channel_max must be >= 1, got ", channel_max);
    std::vector<int> widths;
    for (int r = 4; r <= resolution; r *= 2) {
      const int c = static_cast<int>(base_channels(r) * channel_multiplier);
      ANYCOST_CHECK(c >= 1, ValueError, "ChannelTable: channel_multiplier ", channel_multiplier,
                    " leaves resolution ", r, " without channels");
      widths.push_back(std::min(channel_max, c));
    }
    return from_widths(widths);
  }

  // Explicit full widths for resolutions 4, 8, ..., 2^(widths.size()+1).
  static ChannelTable from_widths(std::vector<int> widths) {
    ANYCOST_CHECK(!widths.empty() && widths.size() <= 13, ValueError, "ChannelTable: ", widths.size(),
                  " resolutions given, expected 1 (4x4 only) to 13 (16384)");
    for (std::size_t i = 0; i < widths.size(); ++i)
      ANYCOST_CHECK(widths[i] >= 1, ValueError, "ChannelTable: width ", widths[i], " at resolution ", 4 << i,
                    " must be >= 1");
    ChannelTable t;
    t.widths_ = std::move(widths);
    t.id_ = detail::new_table_id();
    return t;
  }

  int resolution() const { return 4 << (static_cast<int>(widths_.size()) - 1); }
  int log_resolution() const { return log2_exact(resolution()); }
  int n_entries() const { return SubnetConfig::entries_for(resolution()); }
  // Full width at feature-map resolution r.
  int width(int r) const {
    ANYCOST_CHECK(r >= 4 && r <= resolution() && is_power_of_two(r), ValueError, "ChannelTable: resolution ", r,
                  " is not a power of two in [4, ", resolution(), "]");
    return widths_[static_cast<std::size_t>(log2_exact(r) - 2)];
  }
  const std::vector<int>& widths() const { return widths_; }
  // Feature-map resolution of width entry i.
  int entry_resolution(int entry) const {
    check_entry(entry);
    return SubnetConfig::entry_resolution(entry);
  }
  int entry_width(int entry) const { return width(entry_resolution(entry)); }
  // C(R) / base(R): the multiplier the uniform rule applies (2 for config-F).
  double org_mult() const { return static_cast<double>(widths_.back()) / base_channels(resolution()); }

  // The same widths (identity is not compared: equal tables accept each other's configurations).
  friend bool operator==(const ChannelTable& a, const ChannelTable& b) { return a.widths_ == b.widths_; }

  // ---- sub-network configurations ---------------------------------------------------------------------
  SubnetConfig full(std::optional<int> res = {}) const {
    std::vector<int> c;
    for (int i = 0; i < n_entries(); ++i) c.push_back(entry_width(i));
    return make(std::move(c), res.value_or(resolution()), std::vector<double>(c.size(), 1.0));
  }

  SubnetConfig uniform(double ratio, std::optional<int> res = {}) const {
    ANYCOST_CHECK(ratio > 0 && ratio <= 1, ValueError, "ChannelTable::uniform: ratio ", ratio,
                  " is outside (0, 1]");
    std::vector<int> c;
    for (int i = 0; i < n_entries(); ++i) c.push_back(uniform_width(entry_resolution(i), ratio));
    return make(std::move(c), res.value_or(resolution()), std::vector<double>(c.size(), ratio));
  }

  // Ratios: per entry the one of {1/4, 1/2, 3/4, 1} nearest to width / full width (ties to the larger).
  SubnetConfig flexible(std::vector<int> channels, std::optional<int> res = {}) const {
    std::vector<double> r;
    for (int i = 0; i < static_cast<int>(channels.size()) && i < n_entries(); ++i) {
      const double q = static_cast<double>(channels[static_cast<std::size_t>(i)]) / entry_width(i);
      double best = 1.0;
      for (double a : {1.0, 0.75, 0.5, 0.25})
        if (std::abs(a - q) < std::abs(best - q) - 1e-12) best = a;
      r.push_back(best);
    }
    r.resize(channels.size(), 1.0);
    return make(std::move(channels), res.value_or(resolution()), std::move(r));
  }
  // Explicit widths with explicit per-entry ratios (one per entry, each in (0, 1]).
  SubnetConfig flexible(std::vector<int> channels, std::vector<double> ratios, std::optional<int> res = {}) const {
    ANYCOST_CHECK(ratios.size() == channels.size(), ValueError, "ChannelTable::flexible: ", ratios.size(),
                  " ratios for ", channels.size(), " channel entries");
    for (double a : ratios)
      ANYCOST_CHECK(a > 0 && a <= 1, ValueError, "ChannelTable::flexible: ratio ", a, " is outside (0, 1]");
    return make(std::move(channels), res.value_or(resolution()), std::move(ratios));
  }

  // Per entry, a ratio drawn uniformly among {1/4, 1/2, 3/4, 1} whose width reaches the uniform-1/4
  // width, then clamped to [min_channel, full] and rounded up to a multiple of divided_by.
  SubnetConfig sample_flexible(Rng& rng, int min_channel = 8, int divided_by = 4, std::optional<int> res = {}) const {
    ANYCOST_CHECK(min_channel >= 1 && divided_by >= 1, ValueError,
                  "ChannelTable::sample_flexible: min_channel and divided_by must be >= 1");
    static constexpr double ratios[] = {0.25, 0.5, 0.75, 1.0};
    std::vector<int> c;
    std::vector<double> drawn;
    for (int i = 0; i < n_entries(); ++i) {
      const int full_w = entry_width(i), floor_w = uniform_width(entry_resolution(i), 0.25);
      std::vector<double> allowed;
      for (double a : ratios)
        if (a * full_w >= floor_w) allowed.push_back(a);
      const double a = allowed[rng.uniform_int(static_cast<std::uint32_t>(allowed.size()))];
      drawn.push_back(a);
      int w = std::clamp(static_cast<int>(a * full_w), std::min(min_channel, full_w), full_w);
      w = (w + divided_by - 1) / divided_by * divided_by;
      c.push_back(std::min(w, full_w));
    }
    return make(std::move(c), res.value_or(resolution()), std::move(drawn));
  }

  // Throws unless cfg fits this table. O(1) for a configuration this table (or a copy of it) made, which
  // every constructor above validated once; a configuration made by another table, even an equal one, is
  // checked entry by entry, so the generator and count_macs may call this on every call.
  void validate(const SubnetConfig& cfg, const char* who = "SubnetConfig") const {
    if (cfg.table_id_ == id_ && id_ != 0) return;
    ANYCOST_CHECK(cfg.n_entries() == n_entries(), ValueError, who, ": ", cfg.n_entries(),
                  " channel entries given, this ", resolution(), "x", resolution(), " generator has ", n_entries(),
                  " (ConstantInput, conv1, convs.0 ... convs.", n_entries() - 3, ")");
    for (int i = 0; i < n_entries(); ++i) {
      const int c = cfg.channels(i);
      ANYCOST_CHECK(c >= 1 && c <= entry_width(i), ValueError, who, ": entry ", i, " (", entry_name(i),
                    ", resolution ", entry_resolution(i), ") has ", c, " channels, allowed 1 to ", entry_width(i));
    }
    const int r = cfg.resolution();
    ANYCOST_CHECK(r >= 4 && r <= resolution() && is_power_of_two(r), ValueError, who, ": resolution ", r,
                  " is not a power of two in [4, ", resolution(), "]");
  }

  // The module name of entry i in the official state_dict ("input", "conv1", "convs.N").
  static std::string entry_name(int entry) { return SubnetConfig::entry_name(entry); }

 private:
  int uniform_width(int r, double ratio) const {
    const int c = static_cast<int>(base_channels(r) * ratio * org_mult());
    return std::clamp(c, 1, width(r));
  }
  void check_entry(int entry) const {
    ANYCOST_CHECK(entry >= 0 && entry < n_entries(), ValueError, "ChannelTable: entry ", entry, " outside [0, ",
                  n_entries(), ")");
  }
  SubnetConfig make(std::vector<int> channels, int res, std::vector<double> ratios) const {
    SubnetConfig cfg(std::move(channels), res, std::move(ratios));
    validate(cfg);
    cfg.table_id_ = id_;
    return cfg;
  }

  std::vector<int> widths_;  // full widths at 4, 8, ..., resolution
  std::uint64_t id_ = 0;     // identity of this table and its copies (0: default-constructed, empty)
};

}  // namespace models
ANYCOST_NAMESPACE_END
