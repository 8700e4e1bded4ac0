// Optimisers and the parameter average on a CUDA device: state allocated on the parameter's device, updates
// fused on the device, results equal to the CPU's; state loads across devices. Built into test_cuda and
// test_cuda_emulated.
#include "cuda/cuda_test.hpp"

#include <memory>

#include <anycost/optim.hpp>

using namespace anycost;

namespace {
// Two Adam or SGD steps plus EMA updates on `device`; returns parameter, average and first state buffer.
std::vector<double> run_steps(Device device, int which, DType dt) {
  Rng rng(3);
  const Tensor w0 = randn({4, 5}, rng, dt), g1 = randn({4, 5}, rng, dt), g2 = randn({4, 5}, rng, dt);
  Var w(w0.to(device).clone(), true);
  std::unique_ptr<optim::Optimizer> opt;
  if (which == 0)
    opt = std::make_unique<optim::Adam>(std::vector<Var>{w}, optim::AdamOptions{.lr = 0.1, .weight_decay = 0.01});
  else
    opt = std::make_unique<optim::Sgd>(std::vector<Var>{w},
                                       optim::SgdOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
  optim::Ema ema({w}, 0.8);
  for (const Tensor& g : {g1, g2}) {
    w.set_grad(Var(g.to(device)));
    opt->step();
    ema.update();
  }
  REQUIRE(opt->state_buffer(0, 0).device() == device);
  REQUIRE(ema.average(0).device() == device);
  std::vector<double> out = w.data().to(Device::cpu()).to_vector<double>();
  for (const Tensor& t : {ema.average(0), opt->state_buffer(0, 0)}) {
    const auto v = t.to(Device::cpu()).to_vector<double>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}
}  // namespace

TEST_CASE("Adam, SGD and Ema on CUDA match the CPU", "[cuda][optim]") {
  ANYCOST_REQUIRE_GPU();
  for (DType dt : {DType::float32, DType::float64}) {
    for (int which : {0, 1}) {
      INFO((which == 0 ? "Adam " : "SGD ") << dt);
      const auto c = run_steps(Device::cpu(), which, dt), g = run_steps(Device::cuda(0), which, dt);
      REQUIRE(c.size() == g.size());
      for (std::size_t i = 0; i < c.size(); ++i) CHECK(g[i] == Approx(c[i]).epsilon(1e-5).margin(1e-6));
    }
  }
}

TEST_CASE("optimiser state saved on the CPU loads into a CUDA optimiser", "[cuda][optim]") {
  ANYCOST_REQUIRE_GPU();
  Var w(Tensor::ones({3}), true);
  optim::Adam cpu_opt({{"0", w}});
  w.set_grad(Var(Tensor::full({3}, 0.5)));
  cpu_opt.step();
  optim::StateDict saved;
  for (const auto& [k, t] : cpu_opt.state_dict()) saved.emplace_back(k, t.clone());
  Var wg(Tensor::ones({3}).to(Device::cuda(0)), true);
  optim::Adam gpu_opt({{"0", wg}});
  gpu_opt.load_state_dict(saved);
  CHECK(gpu_opt.step_count(0) == 1);
  CHECK(gpu_opt.state_buffer(0, 0).device() == Device::cuda(0));
  CHECK(gpu_opt.state_buffer(0, 0).to(Device::cpu()).to_vector<double>() ==
        cpu_opt.state_buffer(0, 0).to_vector<double>());
}
