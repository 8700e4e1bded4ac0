// Evolutionary search under a constraint, generic over the genome, the space, the fitness and the budget:
// the scheme of the MIT HAN lab's Once-for-All EvolutionFinder (ofa/.../evolution_finder.py), which the
// Anycost evolve configs most likely come from (Lin et al. 2021, Sec. 3.3):
//
//   population P of feasible genomes: the given seeds, then samples drawn at random
//   each generation: keep the best parent_ratio * P (elitism), then fill the population with children,
//     mutation_ratio of them mutate(a random parent), the rest crossover(two random parents);
//     a child that is over budget is rejected and made again
//   lower fitness is better (a distance to the full generator)
//
// Requirements (checked by the concept):
//   space.sample(rng) -> Genome, space.mutate(g, rng) -> Genome, space.crossover(a, b, rng) -> Genome
//   fitness(g) -> double (lower is better; called once per distinct genome: scores are cached here, keyed by
//   the genome, which must be totally ordered)
//   feasible(g) -> bool (the budget)
// Deterministic: the same seed, space, fitness and budget give the same result (one Rng drives every choice,
// and the cache changes only how often fitness runs, never its values).
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/rng.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace search {

template <class S, class G>
concept GenomeSpace = requires(const S& s, const G& g, Rng& rng) {
  { s.sample(rng) } -> std::convertible_to<G>;
  { s.mutate(g, rng) } -> std::convertible_to<G>;
  { s.crossover(g, g, rng) } -> std::convertible_to<G>;
};

struct EvolutionOptions {
  int population = 100;
  int generations = 500;
  double parent_ratio = 0.25;
  double mutation_ratio = 0.5;
  int max_tries = 10000;  // draws per member before the budget is declared infeasible
  std::uint64_t seed = 0;
};

struct GenerationReport {
  int generation = 0;     // 0: the initial population
  int generations = 0;    // total
  double best = 0;        // best fitness so far
  std::int64_t evaluations = 0;  // fitness calls so far (distinct genomes)
  std::int64_t cache_hits = 0;
  double seconds = 0;     // since the search started
  double eta_seconds = 0; // estimated time left
};

template <class Genome>
struct EvolutionResult {
  Genome best;
  double best_fitness = 0;
  std::vector<double> best_per_generation;  // [0] after the initial population
  std::vector<std::pair<Genome, double>> evaluated;  // every distinct genome scored, in the order scored
  std::int64_t evaluations = 0;
  std::int64_t cache_hits = 0;
};

// A fitness with a score cache keyed by genome (shared across several searches, e.g. one per budget).
template <class Genome>
class ScoreCache {
 public:
  explicit ScoreCache(std::function<double(const Genome&)> fitness) : fitness_(std::move(fitness)) {}
  double operator()(const Genome& g) {
    const auto it = scores_.find(g);
    if (it != scores_.end()) {
      ++hits_;
      return it->second;
    }
    const double f = fitness_(g);
    scores_.emplace(g, f);
    order_.emplace_back(g, f);
    return f;
  }
  std::int64_t hits() const { return hits_; }
  std::int64_t evaluations() const { return static_cast<std::int64_t>(scores_.size()); }
  // Every genome scored, in the order it was first scored.
  const std::vector<std::pair<Genome, double>>& scored() const { return order_; }

 private:
  std::function<double(const Genome&)> fitness_;
  std::map<Genome, double> scores_;
  std::vector<std::pair<Genome, double>> order_;
  std::int64_t hits_ = 0;
};

// Runs the search; `progress` (optional) is called after every generation.
template <class Genome, class Space, class Feasible>
  requires GenomeSpace<Space, Genome> && std::predicate<Feasible&, const Genome&>
EvolutionResult<Genome> evolve(const Space& space, ScoreCache<Genome>& cache, Feasible&& feasible,
                               const EvolutionOptions& opts,
                               const std::function<void(const GenerationReport&)>& progress = {},
                               const std::vector<Genome>& seeds = {}) {
  ANYCOST_CHECK(opts.population >= 2 && opts.generations >= 0 && opts.max_tries >= 1, ValueError,
                "evolve: population (", opts.population, ") must be >= 2, generations (", opts.generations,
                ") >= 0 and max_tries (", opts.max_tries, ") >= 1");
  ANYCOST_CHECK(opts.parent_ratio > 0 && opts.parent_ratio <= 1 && opts.mutation_ratio >= 0 && opts.mutation_ratio <= 1,
                ValueError, "evolve: parent_ratio (", opts.parent_ratio, ") must be in (0, 1] and mutation_ratio (",
                opts.mutation_ratio, ") in [0, 1]");
  Rng rng(opts.seed);
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t evals0 = cache.evaluations(), hits0 = cache.hits();
  const std::size_t scored0 = cache.scored().size();

  // A feasible genome from `make`, or a clear error when the budget admits none that it finds.
  auto feasible_from = [&](auto&& make, const char* what) {
    for (int t = 0; t < opts.max_tries; ++t) {
      Genome g = make();
      if (feasible(static_cast<const Genome&>(g))) return g;
    }
    anycost::detail::raise<ValueError>("evolve: no ", what, " within the budget after ", opts.max_tries,
                                       " tries; the budget is below (or too close to) the smallest sub-network");
  };

  // The initial population: the feasible seeds (e.g. the uniform sub-networks, so that the search can only
  // improve on them), then random samples.
  std::vector<std::pair<double, Genome>> pop;
  for (const Genome& g : seeds)
    if (static_cast<int>(pop.size()) < opts.population && feasible(g) &&
        std::none_of(pop.begin(), pop.end(), [&](const auto& p) { return p.second == g; }))
      pop.emplace_back(cache(g), g);
  while (static_cast<int>(pop.size()) < opts.population) {
    Genome g = feasible_from([&] { return space.sample(rng); }, "random sample");
    const double f = cache(g);
    pop.emplace_back(f, std::move(g));
  }
  const auto by_fitness = [](const auto& a, const auto& b) {
    return a.first < b.first || (a.first == b.first && a.second < b.second);  // ties: deterministic
  };
  std::sort(pop.begin(), pop.end(), by_fitness);

  EvolutionResult<Genome> res;
  const auto report = [&](int gen) {
    res.best_per_generation.push_back(pop.front().first);
    if (!progress) return;
    GenerationReport r;
    r.generation = gen;
    r.generations = opts.generations;
    r.best = pop.front().first;
    r.evaluations = cache.evaluations() - evals0;
    r.cache_hits = cache.hits() - hits0;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.eta_seconds = r.seconds / (gen + 1) * (opts.generations - gen);
    progress(r);
  };
  report(0);

  const int n_parents = std::max(1, static_cast<int>(opts.parent_ratio * opts.population));
  const int n_mutate = static_cast<int>(opts.mutation_ratio * (opts.population - n_parents));
  for (int gen = 1; gen <= opts.generations; ++gen) {
    pop.resize(static_cast<std::size_t>(n_parents));
    auto parent = [&]() -> const Genome& {
      return pop[rng.uniform_int(static_cast<std::uint32_t>(n_parents))].second;
    };
    std::vector<Genome> children;
    for (int i = 0; i < n_mutate; ++i)
      children.push_back(feasible_from([&] { return space.mutate(parent(), rng); }, "mutated child"));
    while (static_cast<int>(children.size()) < opts.population - n_parents)
      children.push_back(feasible_from([&] { return space.crossover(parent(), parent(), rng); }, "crossover child"));
    for (Genome& c : children) {
      const double f = cache(c);
      pop.emplace_back(f, std::move(c));
    }
    std::sort(pop.begin(), pop.end(), by_fitness);
    report(gen);
  }

  res.best = pop.front().second;
  res.best_fitness = pop.front().first;
  res.evaluations = cache.evaluations() - evals0;
  res.cache_hits = cache.hits() - hits0;
  res.evaluated.assign(cache.scored().begin() + static_cast<std::ptrdiff_t>(scored0), cache.scored().end());
  return res;
}

}  // namespace search
ANYCOST_NAMESPACE_END
