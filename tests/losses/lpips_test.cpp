// losses::Lpips against the lpips package (0.1.4) with the same seeded trunks and the shipped heads
// (tests/data/lpips/lpips_<net>.safetensors, float64 PyTorch): distances and input gradients, both trunks,
// two image sizes; loading, frozen parameters, bad inputs.
#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>

#include "losses/losses_test_support.hpp"
#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using namespace anycost::test;
using losses::Lpips;
using losses::LpipsNet;

TEST_CASE("Lpips matches the lpips package: distances and input gradients", "[losses][lpips]") {
  for (LpipsNet net : {LpipsNet::alex, LpipsNet::vgg}) {
    const auto f = lpips_fixture(std::string("lpips_") + losses::lpips_net_name(net) + ".safetensors");
    for (DType dt : {DType::float64, DType::float32}) {
      const Lpips lp = golden_lpips(net, dt);
      CHECK(lp.net() == net);
      for (int size : {32, 64}) {
        const std::string s = std::to_string(size);
        INFO(losses::lpips_net_name(net) << " " << dt << " " << size);
        Var a(fixture_at(f, "a_" + s).to(dt), true), b(fixture_at(f, "b_" + s).to(dt), true);
        Var d = lp.forward(a, b);
        // Measured: float64 |err| < 1e-12; float32 < 2e-7 on distances of 0.02-0.05.
        const double tol = dt == DType::float64 ? 1e-10 : 1e-6;
        CHECK_ALLCLOSE(d.data(), fixture_at(f, "d_" + s), 0, tol);
        backward(sum(d));
        const Tensor ga = fixture_at(f, "ga_" + s), gb = fixture_at(f, "gb_" + s);
        const double gtol = (dt == DType::float64 ? 1e-6 : 1e-3) * max_abs(ga);  // goldens are float32-rounded
        CHECK_ALLCLOSE(a.grad().data(), ga, 1e-6, gtol);
        CHECK_ALLCLOSE(b.grad().data(), gb, 1e-6, gtol);
      }
    }
  }
}

TEST_CASE("Lpips: zero for identical images, symmetric, frozen parameters", "[losses][lpips]") {
  const Lpips lp = golden_lpips(LpipsNet::alex, DType::float64);
  Rng rng(3);
  Var a(Var(clamp(Var(randn({2, 3, 32, 32}, rng, DType::float64)), -1, 1)).data(), true);
  Var b(Var(clamp(Var(randn({2, 3, 32, 32}, rng, DType::float64)), -1, 1)).data());
  CHECK(max_abs(lp.forward(a, a.detach()).data()) < 1e-15);
  CHECK_ALLCLOSE(lp.forward(a, b).data(), lp.forward(b, a).data(), 1e-12, 1e-14);
  int params = 0;
  lp.visit_state([&](const std::string&, const auto& x) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>) {
      ++params;
      CHECK_FALSE(x.requires_grad());
    }
  });
  CHECK(params == 2 * 5 + 5);
  CHECK(lp.forward(a, b).requires_grad());
}

TEST_CASE("Lpips::load reads a converted file and names what is wrong", "[losses][lpips]") {
  const Lpips lp(LpipsNet::vgg, 11);
  std::vector<std::pair<std::string, Tensor>> state;
  lp.visit_state([&](const std::string& name, const auto& x) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>)
      state.emplace_back(name, x.data());
    else
      state.emplace_back(name, x);
  });
  const auto path = losses_temp_file("vgg.safetensors");
  io::save_safetensors(path, state);
  const Lpips loaded = Lpips::load(path);
  CHECK(loaded.net() == LpipsNet::vgg);
  Rng rng(5);
  Var a(randn({1, 3, 16, 16}, rng)), b(randn({1, 3, 16, 16}, rng));
  CHECK_ALLCLOSE(loaded.forward(a, b).data(), lp.forward(a, b).data(), 0, 0);

  // The ScalingLayer constants may be absent (they are regenerated).
  auto without = [&](const std::string& drop) {
    std::vector<std::pair<std::string, Tensor>> s;
    for (const auto& kv : state)
      if (kv.first != drop) s.push_back(kv);
    return s;
  };
  io::save_safetensors(path, without("scaling_layer.shift"));
  CHECK(Lpips::load(path).net() == LpipsNet::vgg);
  io::save_safetensors(path, without("lin3.model.1.weight"));
  CHECK_THROWS_WITH(Lpips::load(path), Catch::Contains("missing 1 tensor(s)") && Catch::Contains("lin3.model.1.weight"));
  auto extra = state;
  extra.emplace_back("net.slice5.30.weight", Tensor::zeros({1}));
  io::save_safetensors(path, extra);
  CHECK_THROWS_WITH(Lpips::load(path), Catch::Contains("unexpected tensor 'net.slice5.30.weight'"));
  auto bad = state;
  for (auto& kv : bad)
    if (kv.first == "net.slice2.5.weight") kv.second = Tensor::zeros({128, 64, 5, 5});
  io::save_safetensors(path, bad);
  CHECK_THROWS_WITH(Lpips::load(path), Catch::Contains("'net.slice2.5.weight' has shape"));
  io::save_safetensors(path, {{"style.1.weight", Tensor::zeros({2, 2})}});
  CHECK_THROWS_WITH(Lpips::load(path), Catch::Contains("not an LPIPS checkpoint"));
  io::save_safetensors(path, {{"net.slice1.0.weight", Tensor::zeros({64, 3, 7, 7})}});
  CHECK_THROWS_WITH(Lpips::load(path), Catch::Contains("expected [64, 3, 11, 11] (AlexNet) or [64, 3, 3, 3] (VGG16)"));
}

TEST_CASE("Lpips: bad inputs throw with the problem named", "[losses][lpips]") {
  const Lpips lp(LpipsNet::alex, 1);
  Rng rng(2);
  Var a(randn({1, 3, 32, 32}, rng));
  CHECK_THROWS_WITH(lp.forward(a, Var(randn({1, 3, 32, 16}, rng))), Catch::Contains("two [B, 3, H, W] images of one shape"));
  CHECK_THROWS_WITH(lp.forward(Var(randn({1, 1, 32, 32}, rng)), Var(randn({1, 1, 32, 32}, rng))),
                    Catch::Contains("two [B, 3, H, W]"));
  CHECK_THROWS_WITH(lp.forward(a.data().to(DType::float64), a.data().to(DType::float64)),
                    Catch::Contains("the network is float32"));
  CHECK_THROWS_WITH(lp.forward(Var(randn({1, 3, 8, 8}, rng)), Var(randn({1, 3, 8, 8}, rng))),
                    Catch::Contains("too small for the alex trunk"));
  CHECK_THROWS_AS(lp.forward(Var(fake_cuda({1, 3, 32, 32})), Var(fake_cuda({1, 3, 32, 32}))), DeviceError);
}
