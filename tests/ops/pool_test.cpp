// max_pool2d against torch.nn.functional.max_pool2d (tests/data/lpips/ops.json): values, input gradients with
// overlapping windows and padding, second order, bad inputs. The CUDA path is compared with this one in
// tests/cuda (ops_cuda_test.cpp, plan_test.cpp).
#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>

#include "support/golden.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using namespace anycost::test;

TEST_CASE("max_pool2d matches torch, values and input gradients", "[ops][pool]") {
  const Json doc = load_golden("lpips/ops.json");
  int seen = 0;
  for (const Json& c : doc.at("cases")) {
    const std::string name = c.at("name");
    if (name.rfind("pool_", 0) != 0) continue;
    ++seen;
    for (DType dt : {DType::float64, DType::float32}) {
      INFO(name << " " << dt);
      Var x(golden_tensor(doc.at("inputs").at("pool"), dt), true);
      Var y = max_pool2d(x, c.at("kernel"), c.at("stride"), c.at("padding"));
      CHECK_ALLCLOSE(y.data(), golden_tensor(c.at("out")), 0, 0);
      backward(sum(y * Var(golden_tensor(c.at("r"), dt))));
      const double tol = dt == DType::float64 ? 2e-7 : 1e-6;  // goldens hold float32-rounded values
      CHECK_ALLCLOSE(x.grad().data(), golden_tensor(c.at("grad")), tol, tol);
    }
  }
  CHECK(seen == 4);
}

TEST_CASE("max_pool2d is differentiable to second order", "[ops][pool]") {
  // Random inputs have no ties, so finite differences see the same argmax.
  auto overlap = [](const std::vector<Var>& x) { return sq(max_pool2d(x[0], 3, 2, 1)); };
  auto plain = [](const std::vector<Var>& x) { return sq(max_pool2d(x[0], 2, 2, 0)); };
  CHECK_GRADIENTS(overlap, rand64({1, 2, 5, 6}, 5));
  CHECK_GRADIENTS(plain, rand64({2, 1, 4, 5}, 6));
}

TEST_CASE("max_pool2d: a NaN propagates, bad inputs throw", "[ops][pool]") {
  Tensor t = Tensor::from_vector(std::vector<double>{1, std::nan(""), 3, 4}, Shape{1, 1, 2, 2});
  CHECK(std::isnan(max_pool2d(Var(t), 2, 2).item()));
  Rng rng(1);
  CHECK_THROWS_WITH(max_pool2d(Var(randn({2, 4, 4}, rng)), 2, 2), Catch::Contains("max_pool2d: expects an NCHW input"));
  CHECK_THROWS_WITH(max_pool2d(Var(randn({1, 1, 4, 4}, rng)), 2, 2, 2), Catch::Contains("bad geometry"));
  CHECK_THROWS_WITH(max_pool2d(Var(randn({1, 1, 2, 2}, rng)), 3, 1), Catch::Contains("smaller than the kernel"));
  // A CPU-only build has no CUDA kernel to run.
  if constexpr (!with_cuda) CHECK_THROWS_AS(max_pool2d(Var(fake_cuda({1, 1, 4, 4})), 2, 2), NotCompiledError);
  // The backward's gradient must be on the device that holds the argmax positions.
  Var x(randn({1, 1, 4, 4}, rng), true);
  Var y = max_pool2d(x, 2, 2);
  const auto idx = std::make_shared<detail::PoolIndex>();
  idx->output_shape = y.shape();
  idx->index = std::make_shared<Storage>(4 * sizeof(std::int64_t), Device::cpu());
  CHECK_THROWS_WITH(max_pool2d_scatter(Var(fake_cuda({1, 1, 2, 2})), idx),
                    Catch::Contains("gradient on cuda:0, the pooled input was on cpu"));
  CHECK_THROWS_AS(max_pool2d_scatter(Var(fake_cuda({1, 1, 2, 2})), idx), DeviceError);
}
