// The search (anycost/search/*): the channel space and its operators, the generic evolution (a toy problem
// with a known optimum, determinism, the score cache, infeasible budgets), MACs budgets on config F, the
// distance to the full generator (known values), the latency table (round trip, cache key, timing the small
// test generator) and the Pareto plot; and a search on the test generator whose output loads as evolve configs.
#include "models/models_test_support.hpp"

#include "io/io_test_support.hpp"

#include <set>

#include <anycost/search.hpp>

using namespace anycost;
using namespace anycost::search;
using anycost_test::message_of;
using anycost_test::TempDir;
using Catch::Matchers::Contains;

namespace {

// Four genes in 0..9; fitness sum (g - 5)^2, budget sum g <= 12: the unique optimum is every gene 3 (16).
// Mutation steps a gene by +-1, so the search can walk out of the near-optima such as {2, 4, 3, 3}.
struct ToySpace {
  static int gene(Rng& rng) { return static_cast<int>(rng.uniform_int(10)); }
  std::vector<int> sample(Rng& rng) const {
    std::vector<int> g;
    for (int i = 0; i < 4; ++i) g.push_back(gene(rng));
    return g;
  }
  std::vector<int> mutate(const std::vector<int>& p, Rng& rng) const {
    std::vector<int> g = p;
    for (int& x : g)
      if (rng.uniform() < 0.3) x = std::clamp(x + ((rng.next_u32() & 1u) ? 1 : -1), 0, 9);
    return g;
  }
  std::vector<int> crossover(const std::vector<int>& a, const std::vector<int>& b, Rng& rng) const {
    std::vector<int> g = a;
    for (std::size_t i = 0; i < g.size(); ++i)
      if (rng.next_u32() & 1u) g[i] = b[i];
    return g;
  }
};
double toy_fitness(const std::vector<int>& g) {
  double f = 0;
  for (int x : g) f += (x - 5) * (x - 5);
  return f;
}
bool toy_budget(const std::vector<int>& g) {
  int s = 0;
  for (int x : g) s += x;
  return s <= 12;
}

models::SubnetConfig official_15g(const models::ChannelTable& t) {
  return t.flexible({512, 512, 512, 512, 512, 512, 384, 384, 128, 256, 64, 64, 32, 128, 16, 32, 16, 8}, 256);
}

}  // namespace

TEST_CASE("search space: config F choices are the multiples of 8 above the uniform-1/4 floor", "[search]") {
  const models::ChannelTable t = models::ChannelTable::stylegan2(1024);
  const ChannelSpace s(t, {.resolutions = {256, 1024}});
  REQUIRE(s.n_entries() == 18);
  for (int i = 0; i < 6; ++i) CHECK(s.choices(i) == std::vector<int>{512});
  CHECK(s.choices(6) == std::vector<int>{256, 384, 512});
  CHECK(s.choices(9) == std::vector<int>{128, 256, 384, 512});
  CHECK(s.choices(13) == std::vector<int>{32, 64, 96, 128});
  CHECK(s.choices(17) == std::vector<int>{8, 16, 24, 32});
  // The official 15G result is in the space once its unused (512, 1024) entries are canonical.
  const Candidate c = s.candidate(official_15g(t));
  CHECK(c.res == 256);
  CHECK(c.channels == std::vector<int>{512, 512, 512, 512, 512, 512, 384, 384, 128, 256, 64, 64, 32, 128, 16, 16, 8, 8});
  CHECK(models::count_macs(t, 512, 8, s.config(c)).profile == 14901895481);
  CHECK_THAT(message_of<ValueError>([&] { s.check(Candidate{c.channels, 512}); }), Contains("resolution 512"));
  Candidate bad = c;
  bad.channels[7] = 320;
  CHECK_THAT(message_of<ValueError>([&] { s.check(bad); }), Contains("entry 7 has width 320"));
  CHECK_THAT(message_of<ValueError>([&] { ChannelSpace(t, {.resolutions = {48}}); }), Contains("resolution 48"));
}

TEST_CASE("search space: sample, mutate and crossover always give canonical members", "[search]") {
  const models::ChannelTable t = models::ChannelTable::stylegan2(1024);
  const ChannelSpace s(t, {.resolutions = {128, 256, 1024}});
  Rng rng(3);
  std::set<int> seen_res;
  std::set<int> seen_last;
  Candidate a = s.sample(rng), b = s.sample(rng);
  for (int i = 0; i < 300; ++i) {
    const Candidate m = s.mutate(a, rng), x = s.crossover(a, b, rng);
    REQUIRE(s.contains(m));
    REQUIRE(s.contains(x));
    // Crossover takes every used gene from one of the parents.
    for (int e = 0; e < ChannelSpace::used_entries(x.res); ++e) {
      const std::size_t k = static_cast<std::size_t>(e);
      const bool from_parent = x.channels[k] == a.channels[k] || x.channels[k] == b.channels[k];
      CHECK(from_parent);
    }
    seen_res.insert(m.res);
    if (m.res == 1024) seen_last.insert(m.channels[17]);
    a = m;
    b = s.sample(rng);
    REQUIRE(s.contains(b));
  }
  CHECK(seen_res == std::set<int>{128, 256, 1024});
  CHECK(seen_last == std::set<int>{8, 16, 24, 32});
  // Same seed, same draws.
  Rng r1(9), r2(9);
  CHECK(s.sample(r1) == s.sample(r2));
}

TEST_CASE("evolution: finds the known optimum of a toy problem, deterministically, with cached scores", "[search]") {
  int calls = 0;
  auto run = [&](std::uint64_t seed) {
    ScoreCache<std::vector<int>> cache([&](const std::vector<int>& g) {
      ++calls;
      CHECK(toy_budget(g));  // over-budget children are rejected before they are scored
      return toy_fitness(g);
    });
    std::vector<GenerationReport> reports;
    const auto r = evolve<std::vector<int>>(ToySpace{}, cache, toy_budget,
                                            {.population = 40, .generations = 40, .seed = seed},
                                            [&](const GenerationReport& p) { reports.push_back(p); });
    REQUIRE(reports.size() == 41);
    CHECK(reports.back().generation == 40);
    CHECK(reports.back().eta_seconds == 0);
    for (std::size_t i = 1; i < reports.size(); ++i) CHECK(reports[i].best <= reports[i - 1].best);  // elitism
    CHECK(r.evaluations == static_cast<std::int64_t>(r.evaluated.size()));
    CHECK(r.cache_hits > 0);  // parents and duplicate children are not scored twice
    CHECK(r.evaluations + r.cache_hits == 40 + 40 * 30);
    return r;
  };
  const auto a = run(1);
  CHECK(a.best == std::vector<int>(4, 3));
  CHECK(a.best_fitness == 16);
  CHECK(calls == a.evaluations);
  const auto b = run(1);
  CHECK(b.best == a.best);
  CHECK(b.evaluated == a.evaluated);  // the same genomes in the same order
  CHECK(b.best_per_generation == a.best_per_generation);

  ScoreCache<std::vector<int>> cache(toy_fitness);
  CHECK_THAT(message_of<ValueError>([&] {
               evolve<std::vector<int>>(ToySpace{}, cache, [](const std::vector<int>&) { return false; },
                                        {.population = 4, .generations = 1, .max_tries = 50});
             }),
             Contains("no random sample within the budget after 50 tries"));
  CHECK_THAT(message_of<ValueError>([&] { evolve<std::vector<int>>(ToySpace{}, cache, toy_budget, {.population = 1}); }),
             Contains("population (1) must be >= 2"));

  // Seeds join the initial population (the feasible ones, once each): with no generations, the best seed wins.
  ScoreCache<std::vector<int>> seeded(toy_fitness);
  const std::vector<std::vector<int>> seeds{{3, 3, 3, 3}, {3, 3, 3, 3}, {9, 9, 9, 9}};
  const auto s0 = evolve<std::vector<int>>(ToySpace{}, seeded, toy_budget, {.population = 4, .generations = 0, .seed = 2},
                                           {}, seeds);
  CHECK(s0.best == std::vector<int>(4, 3));
  CHECK(s0.evaluated.front().first == std::vector<int>(4, 3));
  CHECK(std::none_of(s0.evaluated.begin(), s0.evaluated.end(),
                     [](const auto& e) { return e.first == std::vector<int>(4, 9); }));  // over budget: never scored
}

TEST_CASE("MACs budgets: both conventions, rejection, and a search that fills the budget", "[search]") {
  CHECK(parse_macs("15G") == 15'000'000'000);
  CHECK(parse_macs("2.5e9") == 2'500'000'000);
  CHECK(parse_macs("800M") == 800'000'000);
  CHECK_THAT(message_of<ValueError>([] { parse_macs("15X"); }), Contains("'15X' is not a positive MAC count"));
  CHECK_THAT(message_of<ValueError>([] { parse_macs("-3G"); }), Contains("'-3G'"));

  const models::ChannelTable t = models::ChannelTable::stylegan2(1024);
  const ChannelSpace s(t, {.resolutions = {256, 1024}});
  const MacsBudget profile(s, 512, 8, parse_macs("15G"));
  const MacsBudget arithmetic(s, 512, 8, parse_macs("15G"), MacsConvention::arithmetic);
  const Candidate c15 = s.candidate(official_15g(t));
  CHECK(profile.cost(c15) == 14901895481);
  CHECK(profile(c15));
  CHECK_FALSE(profile(s.largest(1024)));  // 144.37G
  CHECK(profile.cost(s.largest(1024)) == models::count_macs(t, 512, 8, t.full()).profile);
  CHECK(arithmetic.cost(c15) < profile.cost(c15));  // the true count is about half the traced one
  CHECK(arithmetic.cost(c15) == models::count_macs(t, 512, 8, official_15g(t)).arithmetic);

  // A search maximising MACs under the budget: every scored candidate is within it, and the best is close.
  ScoreCache<Candidate> cache([&](const Candidate& c) {
    CHECK(profile(c));
    return -static_cast<double>(profile.cost(c));
  });
  const auto r = evolve<Candidate>(s, cache, profile, {.population = 30, .generations = 15, .seed = 5});
  CHECK(profile.cost(r.best) <= profile.limit());
  CHECK(profile.cost(r.best) > 0.9 * static_cast<double>(profile.limit()));
}

TEST_CASE("distance: full outputs cached, known MSE values, resolution matching", "[search]") {
  // to_resolution: area average down, identity at the same size.
  const Var x(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4}));
  CHECK(to_resolution(x, 2).data().to_vector<float>() == std::vector<float>{3.5f, 5.5f, 11.5f, 13.5f});
  CHECK(to_resolution(x, 4).data().to_vector<float>() == x.data().to_vector<float>());
  CHECK(to_resolution(x, 8).shape() == Shape{1, 1, 8, 8});

  // A renderer whose sub-networks are the full images plus 0.25 per missing channel of entry 0: MSE = d^2.
  const models::ChannelTable t = models::ChannelTable::from_widths({8, 8, 8});  // 16x16
  int renders = 0;
  const auto image = [](std::int64_t first, std::int64_t n, std::int64_t r) {
    Tensor v = Tensor::full(Shape{n, 3, r, r}, 0.0);
    float* p = v.data<float>();
    for (std::int64_t i = 0; i < v.numel(); ++i) p[i] = static_cast<float>(0.01 * static_cast<double>((i + first * 7) % 13));
    return v;
  };
  SubnetDistance dist(
      [&](std::int64_t first, std::int64_t n, const models::SubnetConfig& cfg) {
        ++renders;
        const double d = 0.25 * (8 - cfg.channels(0));
        return Var(Var(image(first, n, cfg.resolution())) + d);
      },
      t.full(), {.samples = 5, .batch = 2, .eval_resolution = 16});
  CHECK(renders == 3);  // the full images, once, in batches of 2
  CHECK(dist.kind() == Distance::mse);
  CHECK(dist.full_images().shape() == Shape{5, 3, 16, 16});
  CHECK(dist(t.full()) == 0);
  CHECK(dist(t.flexible({6, 8, 8, 8, 8, 8})) == Approx(0.25).epsilon(1e-6));
  CHECK(dist(t.flexible({4, 8, 8, 8, 8, 8})) == Approx(1.0).epsilon(1e-6));
  CHECK_THAT(message_of<ValueError>([&] {
               SubnetDistance(
                   [&](std::int64_t, std::int64_t n, const models::SubnetConfig&) { return Var(image(0, n, 16)); },
                   t.full(), {.samples = 0});
             }),
             Contains("samples (0)"));

  // The real generator: the full network is at distance 0, thinner and smaller ones are not.
  const models::Generator g = models::load_generator(test::generator_data("model.safetensors"));
  const SubnetDistance gd(g, {.samples = 4, .batch = 4, .seed = 1});
  CHECK(gd.eval_resolution() == 32);
  CHECK(gd(g.full_config()) == 0);
  const double quarter = gd(g.channel_table().uniform(0.25)), half = gd(g.channel_table().uniform(0.5));
  CHECK(quarter > 0);
  CHECK(half > 0);
  CHECK(gd(g.channel_table().full(16)) > 0);
  CHECK(gd(g.channel_table().uniform(0.5)) == half);  // fixed latents and noise: the same number again
}

TEST_CASE("latency table: JSON round trip, cache key, timing the test generator", "[search]") {
  const models::Generator g = models::load_generator(test::generator_data("model.safetensors"));
  const models::ChannelTable& t = g.channel_table();
  const models::SubnetConfig half = t.uniform(0.5);
  const std::vector<LayerShape> layers = layer_shapes(half);
  REQUIRE(layers.size() == 4 + 3 * 3);  // mapping, input, conv1, to_rgb1, then up, conv, rgb per block
  CHECK(layers[4].key() == "up " + std::to_string(half.channels(1)) + ">" + std::to_string(half.channels(2)) + " @8");

  const GeneratorTimer timer(g, 1, 3);
  const LatencyKey key = timer.key();
  CHECK(key.model == model_key(g));
  CHECK(key.threads == get_num_threads());
  LatencyTable table(key);
  CHECK_THAT(message_of<ValueError>([&] { table.predict(half); }), Contains("has not been timed"));
  CHECK(timer.fill(table, half) == 13);
  CHECK(timer.fill(table, half) == 0);  // each shape is timed once
  timer.calibrate(table, {t.full(), half});
  CHECK(table.calibrated());
  CHECK(table.scale() > 0);
  double sum = 0;
  for (const LayerShape& s : layers) sum += table.at(s);
  CHECK(table.predict(half) == Approx(table.scale() * sum));
  CHECK(table.predict(half) > 0);
  CHECK_THAT(message_of<ValueError>([&] { table.set_scale(-1); }), Contains("not a finite positive number"));
  std::set<std::string> missing;  // the shapes of two more widths not yet timed: fill times each once
  for (const models::SubnetConfig& c : {t.uniform(0.25), t.uniform(0.75)})
    for (const LayerShape& s : layer_shapes(c))
      if (!table.contains(s)) missing.insert(s.key());
  CHECK(!missing.empty());
  CHECK(timer.fill(table, std::vector{t.uniform(0.25), t.uniform(0.75), t.uniform(0.25)}) == static_cast<int>(missing.size()));
  const std::vector<double> layer_ms = timer.time_layers({layers[4], layers[0]});
  REQUIRE(layer_ms.size() == 2);
  CHECK(layer_ms[0] > 0);
  const LatencyCheck check = validate_latency(table, timer, {t.uniform(0.25), t.full(16)}, {t.full(), half});
  REQUIRE(check.measured.size() == 2);
  CHECK(check.measured[0] > 0);
  CHECK(check.predicted[1] == Approx(table.predict(t.full(16))));
  CHECK(check.max_error() >= check.median_error());
  CHECK_THAT(message_of<ValueError>([&] { validate_latency(table, timer, {half}, {}); }), Contains("no calibration"));

  TempDir dir;
  const auto path = dir / "latency.json";
  table.save(path);
  std::string why;
  const LatencyTable back = LatencyTable::load_or_create(path, key, &why);
  CHECK_THAT(why, Contains("cached table loaded"));
  CHECK(back.size() == table.size());
  CHECK(back.calibrated());
  CHECK(back.predict(half) == Approx(table.predict(half)).epsilon(1e-12));
  LatencyKey other = key;
  other.threads += 1;
  CHECK(LatencyTable::load_or_create(path, other, &why).size() == 0);
  CHECK_THAT(why, Contains("another device, thread count"));
  anycost_test::write_bytes(dir / "bad.json", "{\"format\": \"something else\"}");
  CHECK_THAT(message_of<FormatError>([&] { LatencyTable::load(dir / "bad.json"); }),
             Contains("not an anycost-latency-table"));
  // A "format" of another type is the same refusal, not a JSON library exception (latency_table fuzz finding).
  anycost_test::write_bytes(dir / "format_object.json", "{\"format\": {}, \"version\": \"2\"}");
  CHECK_THAT(message_of<FormatError>([&] { LatencyTable::load(dir / "format_object.json"); }),
             Contains("not an anycost-latency-table"));
  // Tables are read within limits: a deeply nested file stops at the depth limit.
  anycost_test::write_bytes(dir / "deep.json", std::string(100, '[') + std::string(100, ']'));
  CHECK_THAT(message_of<FormatError>([&] { LatencyTable::load(dir / "deep.json"); }), Contains("nested deeper"));
  nlohmann::json float_threads = nlohmann::json::parse(table.to_json());
  float_threads["threads"] = 1e10;  // once converted to int by get<int>(), out of range
  anycost_test::write_bytes(dir / "float_threads.json", float_threads.dump());
  CHECK_THAT(message_of<FormatError>([&] { LatencyTable::load(dir / "float_threads.json"); }),
             Contains("must be positive integers"));
  // An old or damaged cache is not an error for load_or_create: it times again and says why.
  CHECK(LatencyTable::load_or_create(dir / "bad.json", key, &why).size() == 0);
  CHECK_THAT(why, Contains("unusable") && Contains("timing again"));

  // A latency budget rejects what the table predicts over the limit.
  const ChannelSpace s(t, {.divided_by = 4, .resolutions = {16, 32}});
  const LatencyBudget budget(s, table, table.predict(half), &timer);
  CHECK(budget(s.candidate(half)));
  CHECK(budget.cost(s.largest(32)) == Approx(table.predict(t.full())));
}

TEST_CASE("pareto: the front and the plot", "[search]") {
  CHECK(pareto_front({{3, 0.1}, {1, 0.5}, {2, 0.6}, {2, 0.2}, {4, 0.1}}) ==
        std::vector<std::pair<double, double>>{{1, 0.5}, {2, 0.2}, {3, 0.1}});
  PlotSeries a{{{0, 0}}, {1, 0, 0}, 2};  // red at the origin
  const Tensor img = plot_scatter({a}, 100, 80);
  REQUIRE(img.shape() == Shape{3, 80, 100});
  auto px = [&](int c, int y, int x) { return img.data<float>()[(c * 80 + y) * 100 + x]; };
  CHECK(px(0, 48, 40) == 1.0f);  // the marker at the data origin (left 40, bottom 48)
  CHECK(px(1, 48, 40) == -1.0f);
  CHECK(px(0, 48, 80) == -1.0f);  // the x axis, black
  CHECK(px(0, 5, 90) == 1.0f);    // background, white
  TempDir dir;
  save_scatter_png(dir / "p.png", {a});
  CHECK(io::read_image(dir / "p.png").shape() == Shape{3, 480, 640});
}

TEST_CASE("search on the test generator: the result beats or ties uniform and loads as an evolve config", "[search]") {
  const models::Generator g = models::load_generator(test::generator_data("model.safetensors"));
  const models::ChannelTable& t = g.channel_table();
  const ChannelSpace s(t, {.divided_by = 4, .resolutions = {16, 32}});
  const SubnetDistance dist(g, {.samples = 4, .batch = 4, .seed = 2});
  const models::SubnetConfig uni = t.uniform(0.5);
  const std::int64_t limit = g.macs(uni).profile;
  const MacsBudget budget(s, g.style_dim(), g.config().n_mlp, limit);
  ScoreCache<Candidate> cache([&](const Candidate& c) { return dist(s.config(c)); });
  const auto r = evolve<Candidate>(s, cache, budget, {.population = 12, .generations = 4, .seed = 3});
  CHECK(budget(r.best));
  // uniform 0.5 is in this space and within the budget, so the search can only tie or beat it when it sees it;
  // at least it must beat the smallest network.
  CHECK(r.best_fitness < dist(s.config(s.smallest(32))));
  TempDir dir;
  models::write_evolve_configs(dir / "c.json", {{"x", s.config(r.best), budget.cost(r.best), r.best_fitness}});
  const auto back = models::read_evolve_configs(dir / "c.json", t);
  REQUIRE(back.size() == 1);
  CHECK(back[0].config == s.config(r.best));
  CHECK(back[0].macs <= limit);
  CHECK(back[0].dist == Approx(r.best_fitness));
}
