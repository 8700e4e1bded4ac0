#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>
#include <anycost/optim.hpp>

using namespace anycost;
using anycost::optim::Ema;

TEST_CASE("ema_beta follows the half-life formula", "[optim][ema]") {
  // Anycost GAN / StyleGAN2: 10 kimg half-life, global batch 32.
  CHECK(optim::ema_beta(10000, 32) == Approx(0.997784).margin(5e-7));
  CHECK(optim::ema_beta(10000, 32) == Approx(std::pow(0.5, 32.0 / 10000.0)).epsilon(1e-15));
  // After half_life / batch updates, the initial value's weight is exactly one half.
  const double beta = optim::ema_beta(640, 64);
  CHECK(std::pow(beta, 10) == Approx(0.5).epsilon(1e-14));
  CHECK(optim::ema_beta(0, 8) == 0.0);
  CHECK_THROWS_AS(optim::ema_beta(-1, 8), ValueError);
  CHECK_THROWS_AS(optim::ema_beta(100, 0), ValueError);
}

TEST_CASE("Ema copies on start and averages like a hand computation", "[optim][ema]") {
  for (DType dt : {DType::float64, DType::float32}) {
    Var w(Tensor::from_vector<double>({1.0, -2.0, 4.0}, {3}).to(dt), true);
    Var b(Tensor::from_vector<double>({0.5}, {1}).to(dt), true);
    const double beta = 0.75;
    Ema ema({{"w", w}, {"b", b}}, beta);
    CHECK(ema.average("w").to_vector<double>() == std::vector<double>{1.0, -2.0, 4.0});
    CHECK(ema.average("w").storage() != w.data().storage());  // a copy, not an alias

    // Hand computation, in double.
    std::vector<double> hw{1.0, -2.0, 4.0}, hb{0.5};
    const std::vector<std::vector<double>> ws{{2.0, 0.0, 4.0}, {3.0, 1.0, -4.0}, {0.0, 0.0, 0.0}};
    const std::vector<double> bs{1.5, -0.5, 2.0};
    for (std::size_t s = 0; s < ws.size(); ++s) {
      {
        NoGradGuard ng;
        w.data().copy_(Tensor::from_vector(ws[s], {3}));
        b.data().copy_(Tensor::from_vector<double>({bs[s]}, {1}));
      }
      ema.update();
      for (std::size_t i = 0; i < 3; ++i) hw[i] = beta * hw[i] + (1 - beta) * ws[s][i];
      hb[0] = beta * hb[0] + (1 - beta) * bs[s];
    }
    const double tol = dt == DType::float64 ? 1e-15 : 1e-6;
    const auto gw = ema.average("w").to_vector<double>();
    for (std::size_t i = 0; i < 3; ++i) CHECK(gw[i] == Approx(hw[i]).margin(tol));
    CHECK(ema.average(1).to_vector<double>()[0] == Approx(hb[0]).margin(tol));
    // Spot value: w[0] = 0.75^3 * 1 + 0.25 * (0.75^2 * 2 + 0.75 * 3 + 0) = 1.265625.
    CHECK(gw[0] == Approx(1.265625).margin(tol));
    // Parameters are untouched by the update.
    CHECK(w.data().to_vector<double>() == std::vector<double>{0.0, 0.0, 0.0});
  }
}

TEST_CASE("Ema writes into a target model's parameters", "[optim][ema]") {
  Var w(Tensor::from_vector<double>({1.0, 2.0}, {2}), true), b(Tensor::from_vector<double>({3.0}, {1}), true);
  Var tw(Tensor::zeros({2}, DType::float64)), tb(Tensor::zeros({1}, DType::float64));
  Ema ema({{"w", w}, {"b", b}}, {{"b", tb}, {"w", tw}}, 0.5);  // matched by name, not order
  CHECK(tw.data().to_vector<double>() == std::vector<double>{1.0, 2.0});  // copy-on-start
  CHECK(tb.data().to_vector<double>() == std::vector<double>{3.0});
  {
    NoGradGuard ng;
    w.data().copy_(Tensor::from_vector<double>({3.0, 0.0}, {2}));
  }
  const auto version = tw.data().version();
  ema.update();
  CHECK(tw.data().to_vector<double>() == std::vector<double>{2.0, 1.0});
  CHECK(tb.data().to_vector<double>() == std::vector<double>{3.0});
  CHECK(tw.data().version() > version);

  Var bad(Tensor::zeros({3}, DType::float64));
  CHECK_THROWS_AS(Ema({{"w", w}}, {{"w", bad}}, 0.5), ShapeError);
  CHECK_THROWS_WITH(Ema({{"w", w}}, {{"v", tw}}, 0.5), Catch::Contains("no parameter 'w'"));
  CHECK_THROWS_WITH(Ema({{"w", w}}, {{"w", w}}, 0.5), Catch::Contains("shares memory"));
  CHECK_THROWS_WITH(Ema({w}, 1.5), Catch::Contains("beta"));
}

TEST_CASE("Ema state round trip", "[optim][ema]") {
  Var w(Tensor::from_vector<double>({1.0, 2.0}, {2}), true);
  Ema ema({{"w", w}}, 0.9);
  {
    NoGradGuard ng;
    w.data().copy_(Tensor::from_vector<double>({0.0, 0.0}, {2}));
  }
  ema.update();
  optim::StateDict saved;
  for (const auto& [k, t] : ema.state_dict()) saved.emplace_back(k, t.clone());
  REQUIRE(saved.size() == 1);
  CHECK(saved[0].first == "w");
  Ema other({{"w", w}}, 0.9);
  CHECK(other.average(0).to_vector<double>() == std::vector<double>{0.0, 0.0});
  other.load_state_dict(saved);
  CHECK(other.average(0).to_vector<double>() == ema.average(0).to_vector<double>());
  CHECK(other.average(0).to_vector<double>()[1] == Approx(1.8));
  optim::StateDict wrong{{"v", saved[0].second}};
  CHECK_THROWS_WITH(other.load_state_dict(wrong), Catch::Contains("no entry 'w'"));
}
