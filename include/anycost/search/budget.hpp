// Budgets of the search: predicates over candidates of a ChannelSpace, with the cost they compare.
//
//   MacsBudget     MACs per image (models/macs.hpp) in either convention: profile (the paper's and the
//                  evolve JSON's torchprofile count, which the official labels "15G" ... refer to) or
//                  arithmetic (the true multiply-adds)
//   LatencyBudget  milliseconds predicted by a LatencyTable (search/latency_table.hpp) of the user's device
// parse_macs reads "15G", "800M", "2.5e9", "120k" as a MAC count.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "anycost/core/error.hpp"
#include "anycost/models/macs.hpp"
#include "anycost/search/latency_table.hpp"
#include "anycost/search/space.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace search {

enum class MacsConvention : std::uint8_t { profile, arithmetic };

// "15G" -> 15e9 (suffixes k/K, M, G, T; a plain number is a count). Throws ValueError naming the text.
inline std::int64_t parse_macs(const std::string& text) {
  double scale = 1;
  std::string num = text;
  if (!num.empty()) {
    switch (num.back()) {
      case 'k': case 'K': scale = 1e3; break;
      case 'M': scale = 1e6; break;
      case 'G': case 'g': scale = 1e9; break;
      case 'T': scale = 1e12; break;
      default: break;
    }
    if (scale != 1) num.pop_back();
  }
  double v = 0;
  std::size_t used = 0;
  try {
    v = std::stod(num, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  ANYCOST_CHECK(!num.empty() && used == num.size() && std::isfinite(v) && v > 0 && v * scale < 9.2e18, ValueError,
                "parse_macs: '", text, "' is not a positive MAC count such as 15G, 800M or 2.5e9");
  return static_cast<std::int64_t>(std::llround(v * scale));
}

class MacsBudget {
 public:
  MacsBudget(const ChannelSpace& space, std::int64_t style_dim, int n_mlp, std::int64_t limit,
             MacsConvention convention = MacsConvention::profile)
      : space_(&space), style_dim_(style_dim), n_mlp_(n_mlp), limit_(limit), convention_(convention) {
    ANYCOST_CHECK(limit >= 1, ValueError, "MacsBudget: limit ", limit, " must be >= 1");
  }
  std::int64_t limit() const { return limit_; }
  MacsConvention convention() const { return convention_; }
  models::MacCount count(const models::SubnetConfig& cfg) const {
    return models::count_macs(space_->table(), style_dim_, n_mlp_, cfg);
  }
  // Any sub-network of the table (a uniform one for comparison), or a candidate of the space.
  std::int64_t cost(const models::SubnetConfig& cfg) const {
    const models::MacCount m = count(cfg);
    return convention_ == MacsConvention::profile ? m.profile : m.arithmetic;
  }
  std::int64_t cost(const Candidate& c) const { return cost(space_->config(c)); }
  bool operator()(const Candidate& c) const { return cost(c) <= limit_; }

 private:
  const ChannelSpace* space_;
  std::int64_t style_dim_;
  int n_mlp_;
  std::int64_t limit_;
  MacsConvention convention_;
};

// Predicted latency within `limit_ms`. Layers the table lacks are timed on first use when a timer is given
// (the table grows; save it afterwards), otherwise they are an error.
class LatencyBudget {
 public:
  LatencyBudget(const ChannelSpace& space, LatencyTable& table, double limit_ms, const GeneratorTimer* timer = nullptr)
      : space_(&space), table_(&table), timer_(timer), limit_ms_(limit_ms) {
    ANYCOST_CHECK(limit_ms > 0 && std::isfinite(limit_ms), ValueError, "LatencyBudget: limit ", limit_ms,
                  " ms must be a positive number");
  }
  double limit_ms() const { return limit_ms_; }
  double cost(const models::SubnetConfig& cfg) const {
    if (timer_) timer_->fill(*table_, cfg);
    return table_->predict(cfg);
  }
  double cost(const Candidate& c) const { return cost(space_->config(c)); }
  bool operator()(const Candidate& c) const { return cost(c) <= limit_ms_; }

 private:
  const ChannelSpace* space_;
  LatencyTable* table_;
  const GeneratorTimer* timer_;
  double limit_ms_;
};

}  // namespace search
ANYCOST_NAMESPACE_END
