#include "optim/golden.hpp"

using namespace anycost;
using anycost::optim::Sgd;
using anycost::optim::SgdOptions;
using anycost::test::run_golden_case;

namespace {
auto make_sgd = [](optim::NamedParameters ps, const nlohmann::json& c) -> std::unique_ptr<optim::Optimizer> {
  const auto& o = c.at("options");
  SgdOptions s;
  s.lr = o.at("lr");
  s.momentum = o.at("momentum");
  s.dampening = o.at("dampening");
  s.weight_decay = o.at("weight_decay");
  s.nesterov = o.at("nesterov");
  return std::make_unique<Sgd>(std::move(ps), s);
};
}  // namespace

TEST_CASE("SGD matches PyTorch's first steps", "[optim][sgd]") {
  for (const char* name : {"sgd_plain_float64", "sgd_momentum_float64", "sgd_momentum_float32",
                           "sgd_dampening_wd_float64", "sgd_nesterov_float64"}) {
    SECTION(name) { run_golden_case(name, make_sgd); }
  }
}

TEST_CASE("SGD with momentum converges on a least-squares problem", "[optim][sgd]") {
  Rng rng(5);
  const Tensor a = randn({20, 5}, rng, DType::float64), x_true = randn({5, 1}, rng, DType::float64);
  const Tensor b = detail::matmul_tensor(a, x_true);
  Var x(Tensor::zeros({5, 1}, DType::float64), true);
  Sgd opt({x}, SgdOptions{.lr = 0.05, .momentum = 0.9});
  auto loss = [&] { return mean(square(matmul(Var(a), x) - Var(b))); };
  const double first = loss().item();
  for (int i = 0; i < 400; ++i) {
    opt.zero_grad();
    backward(loss());
    opt.step();
  }
  const double last = loss().item();
  INFO("loss " << first << " -> " << last);
  CHECK(last < first * 1e-10);
  const auto got = x.data().to_vector<double>(), want = x_true.to_vector<double>();
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-5));
}

TEST_CASE("SGD state holds the momentum buffer", "[optim][sgd]") {
  Var w(Tensor::full({2}, 1.0, DType::float64), true);
  Sgd opt({{"w", w}}, SgdOptions{.lr = 0.5, .momentum = 0.5});
  w.set_grad(Var(Tensor::full({2}, 2.0, DType::float64)));
  opt.step();  // b = g = 2, w = 1 - 0.5 * 2 = 0
  opt.step();  // b = 0.5 * 2 + 2 = 3, w = 0 - 1.5 = -1.5
  CHECK(w.data().to_vector<double>() == std::vector<double>{-1.5, -1.5});
  const auto sd = opt.state_dict();
  REQUIRE(sd.size() == 2);
  CHECK(sd[0].first == "w.momentum_buffer");
  CHECK(sd[0].second.to_vector<double>() == std::vector<double>{3.0, 3.0});
  CHECK(sd[1].first == "w.step");
  CHECK(sd[1].second.item() == 2.0);
}

TEST_CASE("SGD rejects bad options", "[optim][sgd]") {
  Var w(Tensor::zeros({2}), true);
  CHECK_THROWS_WITH(Sgd({w}, SgdOptions{.lr = 0.1, .nesterov = true}), Catch::Contains("nesterov"));
  CHECK_THROWS_WITH(Sgd({w}, SgdOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                    Catch::Contains("dampening 0"));
  CHECK_THROWS_WITH(Sgd({w}, SgdOptions{.lr = 0.1, .dampening = 2}), Catch::Contains("dampening"));
  CHECK_THROWS_WITH(Sgd({w}, SgdOptions{.lr = -0.1}), Catch::Contains("lr"));
}
