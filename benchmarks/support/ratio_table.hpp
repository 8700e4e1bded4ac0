// Side-by-side reporting for the benchmarks: every benchmark is named "<group>/<case>/<impl>", where impl is
// "anycost" (ours), "torch" (the LibTorch reference run in the same process) or a variant of ours such as
// "anycost_unfused". The reporter prints Google Benchmark's usual console lines and remembers each run; at
// the end print_ratio_table() prints one row per group/case with the wall time of each impl and the ratio
// ours/LibTorch (below 1 means we are faster). With --benchmark_repetitions the fastest repetition counts:
// on a shared machine the minimum is the least disturbed measurement.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace anycost::bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred || r.run_type != Run::RT_Iteration) continue;
      const std::string name = r.run_name.function_name;
      const auto cut = name.rfind('/');
      if (cut == std::string::npos) continue;
      Entry& e = entries_[name.substr(0, cut)][name.substr(cut + 1)];
      e.seconds.push_back(r.GetAdjustedRealTime() / to_unit(r.time_unit));
      for (const auto& [key, c] : r.counters) e.counters[key] = c.value;
    }
  }

  // One row per impl; LibTorch appears in the reference column of the others.
  void print_ratio_table(std::FILE* out) const {
    std::fprintf(out, "\n%-44s %-16s %12s %12s %8s %10s\n", "benchmark", "impl", "time", "LibTorch", "ratio",
                 "GFLOP/s");
    std::fprintf(out, "%s\n", std::string(107, '-').c_str());
    for (const auto& [item, impls] : entries_) {
      const auto torch = impls.find("torch");
      const double t_ref = torch == impls.end() ? 0.0 : fastest(torch->second.seconds);
      for (const auto& [impl, e] : impls) {
        if (impl == "torch" && impls.size() > 1) continue;
        const double t = fastest(e.seconds);
        char ratio[32] = "-", ref[32] = "-", flops[32] = "";
        if (t_ref > 0 && impl != "torch") std::snprintf(ratio, sizeof ratio, "%.2f", t / t_ref);
        if (t_ref > 0) format_time(t_ref, ref, sizeof ref);
        const auto f = e.counters.find("GFLOP/s");
        if (f != e.counters.end()) std::snprintf(flops, sizeof flops, "%.1f", f->second / 1e9);
        char time[32];
        format_time(t, time, sizeof time);
        std::fprintf(out, "%-44s %-16s %12s %12s %8s %10s\n", item.c_str(), impl.c_str(), time, ref, ratio, flops);
      }
      // Items that run several ops per iteration (counter "ops") also get the time per op.
      for (const auto& [impl, e] : impls) {
        const auto ops = e.counters.find("ops");
        if (ops == e.counters.end() || ops->second <= 0) continue;
        char per_op[32];
        format_time(fastest(e.seconds) / ops->second, per_op, sizeof per_op);
        std::fprintf(out, "%-44s %-16s %12s\n", item.c_str(), (impl + " per op").c_str(), per_op);
      }
      // A fused elementwise chain also reports its speed-up over the same ops run one by one.
      const auto fused = impls.find("anycost"), unfused = impls.find("anycost_unfused");
      if (fused != impls.end() && unfused != impls.end())
        std::fprintf(out, "%-44s %-16s %12s %12s %8.2fx\n", item.c_str(), "fused speed-up", "", "",
                     fastest(unfused->second.seconds) / fastest(fused->second.seconds));
    }
  }

 private:
  struct Entry {
    std::vector<double> seconds;
    std::map<std::string, double> counters;
  };
  static double to_unit(benchmark::TimeUnit u) {
    switch (u) {
      case benchmark::kNanosecond: return 1e9;
      case benchmark::kMicrosecond: return 1e6;
      case benchmark::kMillisecond: return 1e3;
      default: return 1.0;
    }
  }
  static double fastest(const std::vector<double>& v) {
    return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end());
  }
  static void format_time(double s, char* buf, std::size_t n) {
    if (s >= 1e-3)
      std::snprintf(buf, n, "%.3f ms", s * 1e3);
    else if (s >= 1e-6)
      std::snprintf(buf, n, "%.3f us", s * 1e6);
    else
      std::snprintf(buf, n, "%.1f ns", s * 1e9);
  }
  std::map<std::string, std::map<std::string, Entry>> entries_;
};

}  // namespace anycost::bench
