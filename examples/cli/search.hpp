// The 'anycost search' command: sub-generators per MACs or latency budget, as evolve configs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include <anycost/search.hpp>

#include "common.hpp"

namespace anycost_cli {

// ---- anycost search ----------------------------------------------------------------------------------------
// Evolutionary search of per-layer widths and output resolution under MACs or measured-latency budgets
// (anycost/search.hpp); writes the official evolve-config JSON that `generate --evolve-config` reads.

struct SearchFlags {
  std::string model;
  std::vector<std::string> budget_macs;
  std::vector<double> budget_ms;
  search::MacsConvention convention = search::MacsConvention::profile;
  int population = 50, generations = 30;
  std::int64_t samples = 16;
  int eval_res = 0;
  std::vector<int> resolutions;
  int divided_by = 8;
  std::string lpips, out, pareto, latency_table;
  int validate = 20;
  int threads = 0;
  std::uint64_t seed = 0;
  Device device = Device::cpu();
};

CLI::App* add_search(CLI::App& app, SearchFlags& f) {
  CLI::App* cmd = app.add_subcommand(
      "search", "search sub-generators (per-layer widths, resolution) under MACs or latency budgets");
  cmd->footer(
      "Evolves per-layer channel widths (multiples of --divided-by from {1/4, 1/2, 3/4, 1} of each layer's\n"
      "width, above the uniform-1/4 floor) and the output resolution, minimising the distance to the full\n"
      "generator's images on fixed latents and noise (LPIPS with --lpips, else the mean squared pixel error),\n"
      "under each budget: MACs per image, or milliseconds predicted from a per-layer latency table timed on\n"
      "this machine (cached in --latency-table, checked against measured times of --validate-latency random\n"
      "sub-networks). Prints progress (generation, best distance, ETA) and, per budget, the best uniform-ratio\n"
      "sub-network within it for comparison. Writes the official evolve-config JSON (--out), which\n"
      "'anycost generate --evolve-config FILE --budget LABEL' runs, and a cost-vs-distance plot (--pareto:\n"
      "grey every scored sub-network, blue the uniform ratios, red the results).\n"
      "\n"
      "examples:\n"
      "  anycost search --budget-macs 1G,500M --out configs.json --pareto pareto.png\n"
      "  anycost search --model generator.safetensors --budget-ms 40 --latency-table latency.json --out fast.json");
  cmd->option_defaults()->group("model");
  add_model_flag(*cmd, f.model);
  add_device(*cmd, f.device, "where to run (default cpu)");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all; part of the latency table's key)")
      ->check(at_least_one)
      ->option_text("K");
  cmd->option_defaults()->group("budgets");
  CLI::Option* macs = cmd->add_option("--budget-macs", f.budget_macs, "MACs per image, e.g. 15G,8G (labels of the output)")
                          ->delimiter(',')
                          ->option_text("M1,M2,...");
  CLI::Option* ms = cmd->add_option("--budget-ms", f.budget_ms, "milliseconds per forward pass on this device, e.g. 40")
                        ->delimiter(',')
                        ->check(must_be<double>("> 0", [](double v) { return v > 0 && std::isfinite(v); }))
                        ->excludes(macs)
                        ->option_text("T1,T2,...");
  macs->excludes(ms);
  add_choice(*cmd, "--macs", f.convention,
             {{"profile", search::MacsConvention::profile}, {"arithmetic", search::MacsConvention::arithmetic}},
             "which MAC count the budget limits: the paper's (profile, default) or true multiply-adds");
  cmd->add_option("--latency-table", f.latency_table, "cache of the per-layer latency table (read if its key matches, written)")
      ->option_text("FILE");
  cmd->add_option("--validate-latency", f.validate, "random sub-networks to check predicted vs measured latency (default 20)")
      ->check(must_be<int>(">= 0", [](int k) { return k >= 0; }))
      ->option_text("K");
  cmd->option_defaults()->group("search");
  cmd->add_option("--population", f.population, "population size (default 50; the reference uses 100)")
      ->check(must_be<int>(">= 2", [](int k) { return k >= 2; }))
      ->option_text("N");
  cmd->add_option("--generations", f.generations, "generations (default 30; the reference uses 500)")
      ->check(must_be<int>(">= 0", [](int k) { return k >= 0; }))
      ->option_text("N");
  cmd->add_option("--samples", f.samples, "latents in the fixed evaluation set (default 16)")->check(at_least_one)->option_text("N");
  cmd->add_option("--eval-res", f.eval_res, "resolution the distance is computed at (default min(256, model))")
      ->option_text("R");
  cmd->add_option("--res", f.resolutions, "output resolutions to search over (default: the model's)")
      ->delimiter(',')
      ->option_text("R1,R2,...");
  cmd->add_option("--divided-by", f.divided_by, "widths are multiples of this (default 8)")->check(at_least_one)->option_text("D");
  cmd->add_option("--lpips", f.lpips, "LPIPS weights (tools/convert_lpips.py) for the distance; default: MSE")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--seed", f.seed, "seed of the latents, noise and the search (default 0)")->option_text("S");
  cmd->option_defaults()->group("output");
  cmd->add_option("--out", f.out, "the evolve-config JSON to write (required)")->required()->option_text("FILE");
  cmd->add_option("--pareto", f.pareto, "a PNG plot of cost against distance")->option_text("FILE.png");
  return cmd;
}

int run_search(const SearchFlags& f) {
  if (f.budget_macs.empty() && f.budget_ms.empty()) throw UsageError("give --budget-macs or --budget-ms");
  Outputs outputs;
  if (f.threads > 0) set_num_threads(f.threads);
  NoGradGuard inference;
  std::string model_text;
  Generator g = load_model_flag(f.model, model_text);
  if (!f.device.is_cpu()) g.to(f.device);
  const ChannelTable& table = g.channel_table();

  std::vector<std::int64_t> macs_limits;
  for (const std::string& b : f.budget_macs) {
    try {
      macs_limits.push_back(search::parse_macs(b));
    } catch (const ValueError& e) {
      throw UsageError(std::string("--budget-macs: ") + e.what());
    }
  }
  std::optional<search::ChannelSpace> space_holder;
  try {
    space_holder.emplace(table, search::SpaceOptions{.divided_by = f.divided_by, .resolutions = f.resolutions});
  } catch (const ValueError& e) {
    throw UsageError(std::string("--res: ") + e.what());
  }
  const search::ChannelSpace& space = *space_holder;
  std::optional<losses::Lpips> lpips;
  if (!f.lpips.empty()) {
    lpips.emplace(losses::Lpips::load(f.lpips));
    if (!f.device.is_cpu()) lpips->to(f.device);
  }
  if (f.eval_res && !(is_power_of_two(f.eval_res) && f.eval_res <= g.resolution()))
    throw UsageError("--eval-res: " + std::to_string(f.eval_res) + " is not a power of two up to " +
                     std::to_string(g.resolution()));

  std::printf("anycost search\n");
  std::printf("  model       %s (%dx%d, widths %s)\n", model_text.c_str(), g.resolution(), g.resolution(),
              widths_text(table).c_str());
  std::string res_text;
  for (int r : space.resolutions()) res_text += (res_text.empty() ? "" : ", ") + std::to_string(r);
  std::printf("  space       widths multiples of %d, resolutions %s\n", f.divided_by, res_text.c_str());
  std::printf("  device      %s, %d CPU threads\n", anycost::detail::concat(f.device).c_str(), get_num_threads());
  std::fflush(stdout);

  const auto t0 = std::chrono::steady_clock::now();
  const search::SubnetDistance dist(
      g, {.samples = f.samples, .batch = std::min<std::int64_t>(f.samples, 8), .seed = f.seed, .eval_resolution = f.eval_res,
          .lpips = lpips ? &*lpips : nullptr});
  std::printf("  distance    %s at %dx%d on %lld fixed latents and noise maps (full outputs cached in %.1f s)\n",
              lpips ? "LPIPS" : "mean squared pixel error ([-1, 1] scale)", dist.eval_resolution(),
              dist.eval_resolution(), static_cast<long long>(f.samples),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  // ---- latency table (ms budgets) ----
  std::optional<search::GeneratorTimer> timer;
  std::optional<search::LatencyTable> latency;
  if (!f.budget_ms.empty()) {
    timer.emplace(g, 1, 15);
    std::string why;
    latency = search::LatencyTable::load_or_create(f.latency_table, timer->key(), &why);
    std::printf("  latency     %s; key: %s, %d threads, batch 1\n", why.c_str(), timer->key().device.c_str(),
                timer->key().threads);
    std::fflush(stdout);
    // The layers are cached; the scale is measured on every run (the machine's speed of the moment).
    const std::vector<SubnetConfig> calibration = {table.full(), table.uniform(0.75), table.uniform(0.5), table.uniform(0.25),
                                                   space.config(space.smallest(space.resolutions().front()))};
    Rng vr(f.seed ^ 0x1a7e9c5ull);
    std::vector<SubnetConfig> cfgs;
    for (int i = 0; i < f.validate; ++i) cfgs.push_back(space.config(space.sample(vr)));
    std::vector<SubnetConfig> first = calibration;
    first.insert(first.end(), cfgs.begin(), cfgs.end());
    timer->fill(*latency, first);  // the layers of all of them in one interleaved timing
    std::optional<search::LatencyCheck> check;
    if (cfgs.empty())
      timer->calibrate(*latency, calibration);
    else
      check = search::validate_latency(*latency, *timer, cfgs, calibration);  // calibrates in the same rounds
    std::printf("              whole network / sum of its layers: %.3f, %zu layer shapes timed\n", latency->scale(),
                latency->size());
    if (check) {
      std::printf("  validation  predicted vs measured latency on %zu random sub-networks: median error %.1f%%, max %.1f%% (%s)\n",
                  cfgs.size(), 100 * check->median_error(), 100 * check->max_error(),
                  check->max_error() <= 0.10 ? "all within 10%" : "NOT all within 10%");
      for (std::size_t i = 0; i < cfgs.size(); ++i)
        std::printf("              %8.3f ms predicted, %8.3f ms measured  %s\n", check->predicted[i], check->measured[i],
                    cfgs[i].describe().c_str());
    }
    if (!f.latency_table.empty()) {
      latency->save(f.latency_table);
      std::printf("  wrote       %s\n", f.latency_table.c_str());
    }
    std::fflush(stdout);
  }

  // ---- one search per budget, sharing the score cache ----
  search::ScoreCache<search::Candidate> cache([&](const search::Candidate& c) { return dist(space.config(c)); });
  const bool by_ms = !f.budget_ms.empty();
  const std::size_t n_budgets = by_ms ? f.budget_ms.size() : macs_limits.size();
  std::vector<EvolveEntry> entries;
  search::PlotSeries scored, uniform_pts, found;
  scored.rgb[0] = scored.rgb[1] = scored.rgb[2] = 0.7f;
  uniform_pts.rgb[0] = 0.1f, uniform_pts.rgb[1] = 0.3f, uniform_pts.rgb[2] = 0.9f, uniform_pts.radius = 3;
  found.rgb[0] = 0.9f, found.rgb[1] = 0.1f, found.rgb[2] = 0.1f, found.radius = 3;
  // Cost on the plot: GMACs (the budget's convention) or predicted ms.
  std::function<double(const SubnetConfig&)> plot_cost;
  if (by_ms) {
    plot_cost = [&](const SubnetConfig& c) { timer->fill(*latency, c); return latency->predict(c); };
  } else {
    plot_cost = [&](const SubnetConfig& c) {
      const MacCount m = g.macs(c);
      return static_cast<double>(f.convention == search::MacsConvention::profile ? m.profile : m.arithmetic) / 1e9;
    };
  }
  // Uniform sub-networks: every ratio on a 1/8 grid at every resolution of the space.
  std::vector<std::pair<SubnetConfig, std::string>> uniforms;
  for (int r : space.resolutions())
    for (int k = 1; k <= 8; ++k) {
      std::ostringstream os;
      os << "uniform " << k / 8.0 << " @ " << r;
      uniforms.emplace_back(table.uniform(k / 8.0, r), os.str());
    }
  std::map<std::string, double> uniform_dist;
  for (const auto& [cfg, name] : uniforms) {
    uniform_dist[name] = dist(cfg);
    uniform_pts.points.emplace_back(plot_cost(cfg), uniform_dist[name]);
  }

  // The uniform sub-networks the space holds seed every search: its result is then never worse than theirs.
  std::vector<search::Candidate> seeds;
  for (const auto& u : uniforms) {
    try {
      seeds.push_back(space.candidate(u.first));
    } catch (const ValueError&) {  // widths off the space's grid (e.g. not multiples of 8)
    }
  }
  const search::EvolutionOptions eopts{.population = f.population, .generations = f.generations, .seed = f.seed};
  for (std::size_t b = 0; b < n_budgets; ++b) {
    std::string label;
    std::function<bool(const search::Candidate&)> feasible;
    std::function<double(const SubnetConfig&)> cost;
    std::string unit;
    if (by_ms) {
      std::ostringstream os;
      os << f.budget_ms[b] << "ms";
      label = os.str();
      auto budget = std::make_shared<search::LatencyBudget>(space, *latency, f.budget_ms[b], &*timer);
      feasible = [budget](const search::Candidate& c) { return (*budget)(c); };
      cost = [budget](const SubnetConfig& c) { return budget->cost(c); };
      unit = " ms";
    } else {
      label = f.budget_macs[b];
      auto budget = std::make_shared<search::MacsBudget>(space, g.style_dim(), g.config().n_mlp, macs_limits[b], f.convention);
      feasible = [budget](const search::Candidate& c) { return (*budget)(c); };
      cost = [budget](const SubnetConfig& c) { return static_cast<double>(budget->cost(c)) / 1e9; };
      unit = " G";
    }
    std::printf("  budget %s\n", label.c_str());
    std::fflush(stdout);
    search::EvolutionResult<search::Candidate> r;
    try {
      r = search::evolve<search::Candidate>(space, cache, feasible, eopts, [&](const search::GenerationReport& p) {
        std::fprintf(stderr, "  [%s] generation %d/%d  best %.6f  scored %lld (cache hits %lld)  %.1f s, ETA %.1f s\n",
                     label.c_str(), p.generation, p.generations, p.best, static_cast<long long>(p.evaluations),
                     static_cast<long long>(p.cache_hits), p.seconds, p.eta_seconds);
      }, seeds);
    } catch (const ValueError& e) {
      throw UsageError("budget " + label + ": " + e.what());
    }
    for (const auto& [c, d] : r.evaluated) scored.points.emplace_back(plot_cost(space.config(c)), d);
    const SubnetConfig best = space.config(r.best);
    found.points.emplace_back(plot_cost(best), r.best_fitness);
    entries.push_back(EvolveEntry{label, best, g.macs(best).profile, r.best_fitness});
    std::printf("    found     %s\n", best.describe().c_str());
    std::printf("              distance %.6f, cost %.4g%s (limit %s), MACs %s profile / %s true\n", r.best_fitness,
                cost(best), unit.c_str(), label.c_str(), fmt_macs(g.macs(best).profile).c_str(),
                fmt_macs(g.macs(best).arithmetic).c_str());
    // The best uniform sub-network within the same budget.
    const std::pair<SubnetConfig, std::string>* best_u = nullptr;
    for (const auto& u : uniforms)
      if (cost(u.first) <= (by_ms ? f.budget_ms[b] : static_cast<double>(macs_limits[b]) / 1e9) &&
          (!best_u || uniform_dist[u.second] < uniform_dist[best_u->second]))
        best_u = &u;
    if (best_u) {
      const double du = uniform_dist[best_u->second];
      std::printf("    uniform   %s: distance %.6f, cost %.4g%s -> the search is %.1f%% %s\n", best_u->second.c_str(), du,
                  cost(best_u->first), unit.c_str(), du > 0 ? 100 * std::abs(du - r.best_fitness) / du : 0.0,
                  r.best_fitness <= du ? "lower (better)" : "higher (worse)");
    } else {
      std::printf("    uniform   no uniform ratio (1/8 grid) fits this budget\n");
    }
    std::fflush(stdout);
  }

  outputs.write(f.out, "--out", [&](const std::filesystem::path& p) { write_evolve_configs(p, entries); });
  std::printf("  wrote       %s (%zu budgets; run one with 'anycost generate --evolve-config %s --budget %s')\n",
              f.out.c_str(), entries.size(), f.out.c_str(), entries.front().label.c_str());
  if (!f.pareto.empty()) {
    outputs.write(f.pareto, "--pareto", [&](const std::filesystem::path& p) {
      search::save_scatter_png(p, {scored, uniform_pts, found});
    });
    std::printf("  wrote       %s (x: %s, y: distance; grey scored, blue uniform, red found)\n", f.pareto.c_str(),
                by_ms ? "predicted ms" : "GMACs");
  }
  outputs.commit();
  if (latency && !f.latency_table.empty()) latency->save(f.latency_table);  // layers timed during the search
  return 0;
}

}  // namespace anycost_cli
