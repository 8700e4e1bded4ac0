// The search space of flexible sub-generators (Lin et al. 2021, Sec. 3.3; the official evolve configs,
// assets/evolve_configs/*.json): one width per channel-table entry and an output resolution.
//
//   Candidate    {channels, res}: a genome, ordered and comparable (the score cache's key).
//   ChannelSpace the choices per entry, built from a ChannelTable as the flexible sampler builds them
//                (ChannelTable::sample_flexible): widths int(a F) for a in {1/4, 1/2, 3/4, 1} that reach
//                the uniform-1/4 width of the entry ("bottom line"), clamped to [min_channel, F] and
//                rounded up to a multiple of `divided_by` (8 by default: the "multiples of 8";
//                a width that rounding would push past F stays F). Resolutions: any subset of 4..R.
//
// Every operation returns a *canonical* candidate: each width is one of its entry's choices and the
// entries above the resolution (carried, never run) hold their entry's first (smallest) choice, so two
// candidates that run the same network compare equal and share one cache entry.
//   sample      each entry and the resolution uniformly among their choices
//   mutate      each entry resampled with probability p_gene, the resolution with p_res (OFA's
//               EvolutionFinder: 0.1 and 0.5)
//   crossover   uniform crossover: each entry (and the resolution) from either parent with probability 1/2
#pragma once

#include <algorithm>
#include <compare>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/rng.hpp"
#include "anycost/models/channel_table.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace search {

struct Candidate {
  std::vector<int> channels;  // one width per channel-table entry (evolve JSON order)
  int res = 0;                // output resolution
  friend auto operator<=>(const Candidate&, const Candidate&) = default;
  friend bool operator==(const Candidate&, const Candidate&) = default;
};

inline std::string describe(const Candidate& c) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < c.channels.size(); ++i) os << (i ? ", " : "") << c.channels[i];
  os << "] @ " << c.res;
  return os.str();
}

struct SpaceOptions {
  int min_channel = 8;
  int divided_by = 8;
  std::vector<int> resolutions = {};  // allowed output resolutions; empty: the generator's only
  double mutate_gene = 0.1;           // per-entry resampling probability of mutate
  double mutate_res = 0.5;            // resolution resampling probability of mutate
};

class ChannelSpace {
 public:
  ChannelSpace(const models::ChannelTable& table, SpaceOptions opts = {}) : table_(table), opts_(std::move(opts)) {
    ANYCOST_CHECK(opts_.min_channel >= 1 && opts_.divided_by >= 1, ValueError,
                  "ChannelSpace: min_channel (", opts_.min_channel, ") and divided_by (", opts_.divided_by,
                  ") must be >= 1");
    ANYCOST_CHECK(opts_.mutate_gene >= 0 && opts_.mutate_gene <= 1 && opts_.mutate_res >= 0 && opts_.mutate_res <= 1,
                  ValueError, "ChannelSpace: mutation probabilities must be in [0, 1], got ", opts_.mutate_gene, " and ",
                  opts_.mutate_res);
    if (opts_.resolutions.empty()) opts_.resolutions = {table.resolution()};
    std::sort(opts_.resolutions.begin(), opts_.resolutions.end());
    opts_.resolutions.erase(std::unique(opts_.resolutions.begin(), opts_.resolutions.end()), opts_.resolutions.end());
    for (int r : opts_.resolutions)
      ANYCOST_CHECK(r >= 4 && r <= table.resolution() && models::is_power_of_two(r), ValueError,
                    "ChannelSpace: resolution ", r, " is not a power of two in [4, ", table.resolution(), "]");
    const models::SubnetConfig floor = table.uniform(0.25);
    for (int i = 0; i < table.n_entries(); ++i) {
      const int full = table.entry_width(i), bottom = floor.channels(i);
      std::vector<int> w;
      for (double a : {0.25, 0.5, 0.75, 1.0}) {
        if (a * full < bottom) continue;
        int c = std::clamp(static_cast<int>(a * full), std::min(opts_.min_channel, full), full);
        c = std::min((c + opts_.divided_by - 1) / opts_.divided_by * opts_.divided_by, full);
        if (std::find(w.begin(), w.end(), c) == w.end()) w.push_back(c);
      }
      std::sort(w.begin(), w.end());
      choices_.push_back(std::move(w));
    }
  }

  const models::ChannelTable& table() const { return table_; }
  const SpaceOptions& options() const { return opts_; }
  int n_entries() const { return static_cast<int>(choices_.size()); }
  // Allowed widths of entry i, ascending.
  const std::vector<int>& choices(int entry) const { return choices_.at(static_cast<std::size_t>(entry)); }
  const std::vector<int>& resolutions() const { return opts_.resolutions; }
  // Entries the resolution runs (input, conv1 and two per block).
  static int used_entries(int res) { return 2 * models::log2_exact(res) - 2; }

  // Throws unless c is a canonical member of the space.
  void check(const Candidate& c) const {
    ANYCOST_CHECK(static_cast<int>(c.channels.size()) == n_entries(), ValueError, "ChannelSpace: candidate has ",
                  c.channels.size(), " widths, the space ", n_entries());
    ANYCOST_CHECK(std::find(opts_.resolutions.begin(), opts_.resolutions.end(), c.res) != opts_.resolutions.end(),
                  ValueError, "ChannelSpace: resolution ", c.res, " is not one of the space's");
    for (int i = 0; i < n_entries(); ++i) {
      const auto& ch = choices(i);
      const int w = c.channels[static_cast<std::size_t>(i)];
      const bool ok = i < used_entries(c.res) ? std::find(ch.begin(), ch.end(), w) != ch.end() : w == ch.front();
      ANYCOST_CHECK(ok, ValueError, "ChannelSpace: entry ", i, " has width ", w, ", not one of the space's (",
                    describe(Candidate{ch, 0}), ")");
    }
  }
  bool contains(const Candidate& c) const {
    try {
      check(c);
      return true;
    } catch (const ValueError&) {
      return false;
    }
  }

  // The generator's sub-network for c (validated by the table).
  models::SubnetConfig config(const Candidate& c) const { return table_.flexible(c.channels, c.res); }
  // The candidate of a sub-network whose widths are choices of the space (unused entries canonicalised).
  Candidate candidate(const models::SubnetConfig& cfg) const {
    Candidate c{cfg.channels(), cfg.resolution()};
    canonicalize(c);
    check(c);
    return c;
  }

  Candidate sample(Rng& rng) const {
    Candidate c;
    for (int i = 0; i < n_entries(); ++i) c.channels.push_back(pick(choices(i), rng));
    c.res = pick(opts_.resolutions, rng);
    canonicalize(c);
    return c;
  }
  // The smallest and the largest network at resolution res.
  Candidate smallest(int res) const { return extreme(res, false); }
  Candidate largest(int res) const { return extreme(res, true); }

  Candidate mutate(const Candidate& parent, Rng& rng) const {
    Candidate c = parent;
    for (int i = 0; i < n_entries(); ++i)
      if (rng.uniform() < opts_.mutate_gene) c.channels[static_cast<std::size_t>(i)] = pick(choices(i), rng);
    if (rng.uniform() < opts_.mutate_res) c.res = pick(opts_.resolutions, rng);
    restore_unused(c, parent, rng);
    canonicalize(c);
    return c;
  }

  Candidate crossover(const Candidate& a, const Candidate& b, Rng& rng) const {
    Candidate c = a;
    for (int i = 0; i < n_entries(); ++i)
      if (rng.next_u32() & 1u) c.channels[static_cast<std::size_t>(i)] = b.channels[static_cast<std::size_t>(i)];
    if (rng.next_u32() & 1u) c.res = b.res;
    // Entries a does not run but the child does come from b (which runs them: the child has b's resolution).
    for (int i = used_entries(a.res); i < used_entries(c.res) && i < n_entries(); ++i)
      c.channels[static_cast<std::size_t>(i)] = b.channels[static_cast<std::size_t>(i)];
    canonicalize(c);
    return c;
  }

 private:
  static int pick(const std::vector<int>& v, Rng& rng) {
    return v[rng.uniform_int(static_cast<std::uint32_t>(v.size()))];
  }
  Candidate extreme(int res, bool large) const {
    Candidate c;
    for (int i = 0; i < n_entries(); ++i) c.channels.push_back(large ? choices(i).back() : choices(i).front());
    c.res = res;
    canonicalize(c);
    check(c);
    return c;
  }
  // Entries that a higher resolution switches on carry the canonical placeholder: draw real widths for them.
  void restore_unused(Candidate& c, const Candidate& parent, Rng& rng) const {
    for (int i = used_entries(parent.res); i < used_entries(c.res) && i < n_entries(); ++i)
      c.channels[static_cast<std::size_t>(i)] = pick(choices(i), rng);
  }
  void canonicalize(Candidate& c) const {
    for (int i = used_entries(c.res); i < n_entries(); ++i) c.channels[static_cast<std::size_t>(i)] = choices(i).front();
  }

  models::ChannelTable table_;
  SpaceOptions opts_;
  std::vector<std::vector<int>> choices_;
};

}  // namespace search
ANYCOST_NAMESPACE_END
