// GPU paths that small parity tests never reach: 64-bit index arithmetic (tensors past 2^31 elements), convolutions
// whose column buffers exceed the 256 MiB budget (chunked, the weight gradient accumulated over chunks with
// beta = 1), and conv_transpose2d at batch 8 (cuBLAS writing interleaved outputs). GPU only (label cuda); the
// chunking logic itself is also tested on the host with tiny budgets (plan_test.cpp).
#include "cuda/cuda_test.hpp"

using namespace anycost;
using anycost::test::compare_devices;
using anycost::test::randn_cpu;

TEST_CASE("tensors past 2^31 elements use 64-bit offsets", "[cuda][large]") {
  ANYCOST_REQUIRE_GPU();
  const Device gpu = Device::cuda();
  const std::int64_t n = (std::int64_t{1} << 31) + 64, m = n / 2;  // 8 GiB of float32
  Rng rng(11);
  const Tensor x = randn({n}, rng, DType::float32, gpu);
  const Tensor tail = x.narrow(0, n - 64, 64).to(Device::cpu());
  {
    const Tensor y = Var(Var(x) * 2.0 + 1.0).data();  // the fused kernel with 64-bit indices
    const std::vector<float> got = y.narrow(0, n - 64, 64).to(Device::cpu()).to_vector<float>();
    const std::vector<float> want = Var(Var(tail) * 2.0 + 1.0).data().to_vector<float>();
    CHECK(got == want);
  }
  {
    const Tensor t = x.reshape({2, m}).transpose(0, 1).contiguous();  // a strided copy, offsets past 2^31
    const std::vector<float> last = t.narrow(0, m - 1, 1).to(Device::cpu()).to_vector<float>();
    const std::vector<float> src = tail.to_vector<float>();
    CHECK(last[1] == src[63]);
    CHECK(last[0] == x.narrow(0, m - 1, 1).to(Device::cpu()).item());
  }
  const Tensor ones = Tensor::ones({n}, DType::float32, gpu);
  CHECK(sum(Var(ones)).item() == Approx(static_cast<double>(n)).epsilon(1e-7));
}

TEST_CASE("convolutions past the column budget run in chunks and accumulate the weight gradient",
          "[cuda][large][conv2d]") {
  ANYCOST_REQUIRE_GPU();
  // 64 channels x 9 taps x 128^2 positions x 4 bytes = 37.7 MB of columns per image: batch 8 needs two chunks.
  const Tensor x = randn_cpu({8, 64, 128, 128}, 1), w = randn_cpu({64, 64, 3, 3}, 2);
  compare_devices(
      "conv2d 8x64x128x128, chunked",
      [](const std::vector<Var>& v) { return conv2d(v[0], v[1], {1, 1, 1, 1, 1}); }, {x, w}, {1e-10, 1e-10, 1e-9},
      false);
}

TEST_CASE("conv_transpose2d at batch 8 equals the CPU's", "[cuda][conv2d]") {
  ANYCOST_REQUIRE_GPU();
  const Tensor z = randn_cpu({8, 16, 8, 8}, 3), w = randn_cpu({16, 8, 3, 3}, 4);
  compare_devices(
      "conv_transpose2d batch 8, stride 2",
      [](const std::vector<Var>& v) { return conv_transpose2d(v[0], v[1], {2, 2, 1, 1, 1}, 1, 1); }, {z, w});
}
