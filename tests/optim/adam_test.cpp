#include "optim/golden.hpp"

using namespace anycost;
using anycost::optim::Adam;
using anycost::optim::AdamOptions;
using anycost::test::optim_golden_case;
using anycost::test::run_golden_case;

namespace {
AdamOptions adam_options(const nlohmann::json& o) {
  AdamOptions a;
  a.lr = o.at("lr");
  a.beta1 = o.at("beta1");
  a.beta2 = o.at("beta2");
  a.eps = o.at("eps");
  a.weight_decay = o.at("weight_decay");
  return a;
}
auto make_adam = [](optim::NamedParameters ps, const nlohmann::json& c) -> std::unique_ptr<optim::Optimizer> {
  AdamOptions o = adam_options(c.at("options"));
  if (c.contains("lazy_interval")) o = adam_options(c.at("base_options")).lazy_regularized(c.at("lazy_interval"));
  return std::make_unique<Adam>(std::move(ps), o);
};

// Least squares: min_x mean((A x - b)^2) with b = A x_true.
struct LeastSquares {
  Tensor a, b, x_true;
  explicit LeastSquares(DType dt) {
    Rng rng(11);
    a = randn({20, 5}, rng, dt);
    x_true = randn({5, 1}, rng, dt);
    b = detail::matmul_tensor(a, x_true);
  }
  Var loss(const Var& x) const { return mean(square(matmul(Var(a), x) - Var(b))); }
};
}  // namespace

TEST_CASE("Adam matches PyTorch's first steps", "[optim][adam]") {
  for (const char* name : {"adam_default_float64", "adam_default_float32", "adam_stylegan2_float64",
                           "adam_stylegan2_float32", "adam_weight_decay_float64"}) {
    SECTION(name) { run_golden_case(name, make_adam); }
  }
}

TEST_CASE("Adam with the lazy regularisation correction matches PyTorch", "[optim][adam]") {
  for (const char* name : {"adam_stylegan2_lazy16_float64", "adam_stylegan2_lazy16_float32", "adam_lazy4_float64"}) {
    SECTION(name) {
      // The helper reproduces the options the generator computed with lr * c and beta ** c, c = k / (k + 1).
      const auto& c = optim_golden_case(name);
      const AdamOptions got = adam_options(c.at("base_options")).lazy_regularized(c.at("lazy_interval"));
      const AdamOptions want = adam_options(c.at("options"));
      CHECK(got.lr == Approx(want.lr).epsilon(1e-15));
      CHECK(got.beta1 == Approx(want.beta1).epsilon(1e-15));
      CHECK(got.beta2 == Approx(want.beta2).epsilon(1e-15));
      CHECK(got.eps == want.eps);
      run_golden_case(name, make_adam);
    }
  }
  // StyleGAN2's numbers: R1 every 16 steps, lr 0.002 and betas (0, 0.99).
  const AdamOptions o = AdamOptions::stylegan2().lazy_regularized(16);
  CHECK(o.lr == Approx(0.002 * 16.0 / 17.0));
  CHECK(o.beta1 == 0.0);
  CHECK(o.beta2 == Approx(std::pow(0.99, 16.0 / 17.0)));
  CHECK_THROWS_AS(AdamOptions{}.lazy_regularized(0), ValueError);
}

TEST_CASE("Adam converges on a least-squares problem", "[optim][adam]") {
  for (DType dt : {DType::float32, DType::float64}) {
    const LeastSquares ls(dt);
    Var x(Tensor::zeros({5, 1}, dt), true);
    Adam opt({x}, AdamOptions{.lr = 0.05});
    const double first = ls.loss(x).item();
    for (int i = 0; i < 600; ++i) {
      opt.zero_grad();
      backward(ls.loss(x));
      opt.step();
    }
    const double last = ls.loss(x).item();
    INFO("dtype " << dt << ": loss " << first << " -> " << last);
    CHECK(last < first * 1e-6);
    const auto got = x.data().to_vector<double>(), want = ls.x_true.to_vector<double>();
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-3));
    CHECK(opt.step_count(0) == 600);
  }
}

TEST_CASE("Adam state round trip resumes the same trajectory", "[optim][adam]") {
  const LeastSquares ls(DType::float64);
  auto train = [&](const Var& x, Adam& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      backward(ls.loss(x));
      opt.step();
    }
  };
  const AdamOptions o{.lr = 0.01, .beta1 = 0.5, .beta2 = 0.9};
  Var x(Tensor::zeros({5, 1}, DType::float64), true);
  Adam opt({{"x", x}}, o);
  train(x, opt, 3);
  // Snapshot: state_dict() returns live buffers, so clone them.
  optim::StateDict saved;
  for (const auto& [k, t] : opt.state_dict()) saved.emplace_back(k, t.clone());
  REQUIRE(saved.size() == 3);
  CHECK(saved[0].first == "x.exp_avg");
  CHECK(saved[1].first == "x.exp_avg_sq");
  CHECK(saved[2].first == "x.step");
  CHECK(saved[2].second.item() == 3.0);
  const Tensor x_saved = x.data().clone();
  train(x, opt, 4);
  const auto continued = x.data().to_vector<double>();

  Var y(x_saved.clone(), true);
  Adam resumed({{"x", y}}, o);
  resumed.load_state_dict(saved);
  CHECK(resumed.step_count(0) == 3);
  train(y, resumed, 4);
  CHECK(y.data().to_vector<double>() == continued);  // bit-identical

  // A fresh optimiser (no state) takes a different path: the check above can fail.
  Var z(x_saved.clone(), true);
  Adam fresh({{"x", z}}, o);
  train(z, fresh, 4);
  CHECK(z.data().to_vector<double>() != continued);

  // float32 state loads into float64 parameters (converted).
  optim::StateDict as_float;
  for (const auto& [k, t] : saved) as_float.emplace_back(k, t.to(DType::float32));
  Adam converted({{"x", Var(x_saved.clone(), true)}}, o);
  converted.load_state_dict(as_float);
  CHECK(converted.state_buffer(0, 0).dtype() == DType::float64);
  CHECK(converted.state_buffer(0, 0).to_vector<double>()[0] == Approx(saved[0].second.to_vector<double>()[0]).epsilon(1e-6));
}

TEST_CASE("Adam state loading is strict and names the problem", "[optim][adam]") {
  Var w(Tensor::zeros({2, 3}), true), b(Tensor::zeros({3}), true);
  Adam opt({{"w", w}, {"b", b}});
  const optim::StateDict good = opt.state_dict();
  REQUIRE(good.size() == 6);

  optim::StateDict missing(good.begin(), good.end() - 1);
  CHECK_THROWS_WITH(opt.load_state_dict(missing), Catch::Contains("no entry 'b.step'"));
  optim::StateDict extra = good;
  extra.emplace_back("c.exp_avg", Tensor::zeros({1}));
  CHECK_THROWS_WITH(opt.load_state_dict(extra), Catch::Contains("unexpected") && Catch::Contains("'c.exp_avg'"));
  optim::StateDict dup = good;
  dup.push_back(good[0]);
  CHECK_THROWS_WITH(opt.load_state_dict(dup), Catch::Contains("'w.exp_avg' appears twice"));
  optim::StateDict bad_shape = good;
  bad_shape[0].second = Tensor::zeros({3, 2});
  CHECK_THROWS_AS(opt.load_state_dict(bad_shape), ShapeError);
  CHECK_THROWS_WITH(opt.load_state_dict(bad_shape), Catch::Contains("'w.exp_avg'") && Catch::Contains("[3, 2]"));
  optim::StateDict bad_step = good;
  bad_step[2].second = Tensor::scalar(1.5, DType::float64);
  CHECK_THROWS_WITH(opt.load_state_dict(bad_step), Catch::Contains("non-negative integer"));

  // A failed load leaves the state untouched.
  optim::StateDict changed = good;
  changed[0].second = Tensor::ones({2, 3});
  changed.emplace_back("junk", Tensor::zeros({1}));
  CHECK_THROWS(opt.load_state_dict(changed));
  for (double v : opt.state_buffer(0, 0).to_vector<double>()) CHECK(v == 0.0);
}

TEST_CASE("Adam skips parameters without gradients and bumps versions", "[optim][adam]") {
  Var w(Tensor::ones({3}, DType::float64), true), b(Tensor::ones({2}, DType::float64), true);
  Adam opt({w, b}, AdamOptions{.lr = 0.1});
  backward(sum(w * w));  // b gets no gradient
  const auto b_version = b.data().version(), w_version = w.data().version();
  opt.step();
  CHECK(opt.step_count(0) == 1);
  CHECK(opt.step_count(1) == 0);
  CHECK(b.data().to_vector<double>() == std::vector<double>{1.0, 1.0});
  CHECK(b.data().version() == b_version);
  CHECK(w.data().version() > w_version);
  // Adam's first step moves every coordinate by lr (m / sqrt(v) = sign(g) after bias correction).
  for (double v : w.data().to_vector<double>()) CHECK(v == Approx(0.9).epsilon(1e-6));

  // A graph that saved w before the update refuses to run backward afterwards.
  Var y = sum(w * w);
  opt.step();
  CHECK_THROWS_AS(backward(y), AutogradError);

  opt.zero_grad();
  CHECK_FALSE(w.grad().defined());
  CHECK_FALSE(b.grad().defined());
}

TEST_CASE("Adam rejects bad options", "[optim][adam]") {
  Var w(Tensor::zeros({2}), true);
  CHECK_THROWS_WITH(Adam({w}, AdamOptions{.lr = -1}), Catch::Contains("lr"));
  CHECK_THROWS_WITH(Adam({w}, AdamOptions{.beta1 = 1.0}), Catch::Contains("beta1"));
  CHECK_THROWS_WITH(Adam({w}, AdamOptions{.beta2 = -0.1}), Catch::Contains("beta2"));
  CHECK_THROWS_WITH(Adam({w}, AdamOptions{.eps = std::nan("")}), Catch::Contains("eps"));
  Adam ok({w});
  CHECK_THROWS_AS(ok.set_lr(-0.5), ValueError);
  CHECK(ok.options().lr == 1e-3);
}
