// LPIPS (losses/lpips.hpp) on CPU and CUDA: both trunks (AlexNet pools 3x3 stride 2, VGG16 2x2 stride 2), the
// seeded weights and shipped heads of tests/losses (tests/data/lpips), distances and input gradients compared
// with each other and with the lpips package's numbers.
#include "cuda/cuda_test.hpp"
#include "losses/losses_test_support.hpp"
#include "support/compare.hpp"

using namespace anycost;
using anycost::test::nmse;
using anycost::test::on_cpu;

TEST_CASE("Lpips on the device matches the CPU and the lpips package", "[cuda][lpips]") {
  ANYCOST_REQUIRE_GPU();
  const Device gpu = Device::cuda(0);
  for (losses::LpipsNet net : {losses::LpipsNet::alex, losses::LpipsNet::vgg}) {
    INFO(losses::lpips_net_name(net));
    const auto f = test::lpips_fixture(std::string("lpips_") + losses::lpips_net_name(net) + ".safetensors");
    const losses::Lpips cpu = test::golden_lpips(net, DType::float32);
    losses::Lpips dev = test::golden_lpips(net, DType::float32);
    dev.to(gpu);
    REQUIRE(dev.device() == gpu);
    const Tensor a = test::fixture_at(f, "a_32").to(DType::float32), b = test::fixture_at(f, "b_32").to(DType::float32);
    const Var ac(a, true), bc(b, true), ag(a.to(gpu), true), bg(b.to(gpu), true);
    const Var dc = cpu.forward(ac, bc), dg = dev.forward(ag, bg);
    REQUIRE(dg.device() == gpu);
    // float32 through 5 or 13 convolutions summed in another order than the CPU's: NMSE measured on the
    // emulated device 2e-14 (distances) and 2e-11 (gradients); the bounds leave room for cuBLAS's order.
    const double e0 = nmse(on_cpu(dg), dc.data());
    INFO("distance nmse " << e0);
    CHECK(e0 <= 1e-10);
    CHECK_ALLCLOSE(on_cpu(dg), test::fixture_at(f, "d_32"), 0, 1e-6);
    backward(sum(dc));
    backward(sum(dg));
    REQUIRE(ag.grad().device() == gpu);
    const double ea = nmse(on_cpu(ag.grad()), ac.grad().data()), eb = nmse(on_cpu(bg.grad()), bc.grad().data());
    INFO("gradient nmse " << ea << ", " << eb);
    CHECK(ea <= 1e-9);
    CHECK(eb <= 1e-9);
    CHECK(test::max_abs(ac.grad().data()) > 0);  // the comparison is of something
  }
}
