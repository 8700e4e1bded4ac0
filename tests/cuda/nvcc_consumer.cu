// A user's CUDA source: the umbrella header compiled by nvcc (front end and host pass), and a kernel using the
// device-visible surface (Philox, the expression functors). With a GPU it launches the
// kernel and compares it with the host; without one it prints ANYCOST_SKIP after the host part (or fails
// when ANYCOST_REQUIRE_GPU=1).
#include <anycost/anycost.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {
__global__ void consumer_kernel(float x, float* y) {
  y[0] = anycost::philox::normal_at(1, 0, 0) + anycost::expr::LeakyRelu{0.2}(x);
}
}  // namespace

int main() {
  using namespace anycost;
  const Tensor t = Tensor::full({2, 2}, 3.0);
  if (sum(Var(t)).item() != 12.0) return 1;
  if (!cuda::is_available()) {
    const char* required = std::getenv("ANYCOST_REQUIRE_GPU");  // as in cuda_test.hpp: set by tools/gpu/check.sh
    if (required && *required && std::strcmp(required, "0") != 0) {
      std::printf("ANYCOST_REQUIRE_GPU=1 but there is no CUDA device: %s\n", cuda::unavailable_reason());
      return 1;
    }
    std::printf("ANYCOST_SKIP: no CUDA device (%s)\n", cuda::unavailable_reason());
    return 0;
  }
  const Tensor y = Tensor::zeros({1}, DType::float32, Device::cuda());
  consumer_kernel<<<1, 1, 0, static_cast<cudaStream_t>(cuda::current_stream())>>>(-1.0f, static_cast<float*>(y.raw_data()));
  const float want = philox::normal_at(1, 0, 0) + expr::LeakyRelu{0.2}(-1.0f);
  const float got = y.to(Device::cpu()).to_vector<float>()[0];
  std::printf("device %g, host %g\n", got, want);
  return got == want ? 0 : 1;
}
