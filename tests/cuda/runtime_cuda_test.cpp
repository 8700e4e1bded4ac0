// The CUDA runtime layer: Philox bit identity with the CPU, transfers and strided copies, the caching allocator,
// streams, and the errors a user can run into (host access to device memory, mixed devices, missing devices).
#include "cuda/cuda_test.hpp"

#include <cuda_runtime.h>

#include <cstring>

using namespace anycost;
using anycost::test::randn_cpu;

namespace {
bool bit_equal(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(Device::cpu()).contiguous(), y = b.to(Device::cpu()).contiguous();
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         std::memcmp(x.raw_data(), y.raw_data(), static_cast<std::size_t>(x.numel()) * dtype_size(x.dtype())) == 0;
}
}  // namespace

TEST_CASE("a CUDA device is reported consistently", "[cuda][runtime]") {
  if (!cuda::is_available()) {
    // Without a device the failure is a clear DeviceError at allocation, never a crash.
    CHECK(std::string(cuda::unavailable_reason()).size() > 0);
    CHECK_THROWS_WITH(Tensor::empty({4}, DType::float32, Device::cuda()), Catch::Contains("no CUDA device"));
    CHECK_THROWS_AS(Tensor::empty({4}, DType::float32, Device::cuda()), DeviceError);
    return;
  }
  CHECK(cuda::device_count() >= 1);
  CHECK(std::string(cuda::unavailable_reason()).empty());
  CHECK_THROWS_AS(Tensor::empty({4}, DType::float32, Device::cuda(cuda::device_count())), DeviceError);
}

TEST_CASE("Philox draws on CUDA equal the CPU's bit for bit", "[cuda][random]") {
  ANYCOST_REQUIRE_GPU();
  for (std::int64_t n : {1, 3, 4, 5, 1000, 1 << 20}) {
    for (DType dt : {DType::float32, DType::float64}) {
      Rng cpu(7), gpu(7);
      (void)cpu.reserve(13);
      (void)gpu.reserve(13);
      CHECK(bit_equal(randn({n}, cpu, dt), randn({n}, gpu, dt, Device::cuda())));
      CHECK(bit_equal(rand({n}, cpu, dt), rand({n}, gpu, dt, Device::cuda())));
      CHECK(cpu.offset() == gpu.offset());
    }
  }
}

TEST_CASE("transfers and strided copies keep every value", "[cuda][copy]") {
  ANYCOST_REQUIRE_GPU();
  const Device gpu = Device::cuda();
  const Tensor x = randn_cpu({5, 6, 7}, 1);
  const Tensor xg = x.to(gpu);
  CHECK(xg.device() == gpu);
  CHECK(bit_equal(xg, x));
  CHECK(bit_equal(xg.clone(), x));  // device-to-device
  CHECK(xg.to(gpu).storage() == xg.storage());  // same device: no copy
  // Non-contiguous views on the device, with and without dtype conversion.
  const Tensor pv = xg.permute({2, 0, 1}).narrow(1, 1, 3);
  CHECK(bit_equal(pv.contiguous(), x.permute({2, 0, 1}).narrow(1, 1, 3).contiguous()));
  CHECK(bit_equal(pv.to(DType::float64), x.permute({2, 0, 1}).narrow(1, 1, 3).to(DType::float64)));
  const Tensor dst = Tensor::zeros({7, 8, 6}, DType::float64, gpu);
  dst.narrow(1, 2, 5).copy_(xg.permute({2, 0, 1}));
  Tensor ref = Tensor::zeros({7, 8, 6}, DType::float64);
  ref.narrow(1, 2, 5).copy_(x.permute({2, 0, 1}));
  CHECK(bit_equal(dst, ref));
  // Broadcast source (stride 0) into a device tensor, and zeroing a strided view.
  const Tensor row = randn_cpu({1, 7}, 2);
  const Tensor full = Tensor::empty({4, 7}, DType::float32, gpu);
  full.copy_(row.to(gpu).expand({4, 7}));
  CHECK(bit_equal(full, row.expand({4, 7}).contiguous()));
  full.narrow(1, 1, 3).zero_();
  Tensor zref = row.expand({4, 7}).contiguous();
  zref.narrow(1, 1, 3).zero_();
  CHECK(bit_equal(full, zref));
  CHECK(Tensor::full({3}, 2.5, DType::float64, gpu).to_vector<double>() == std::vector<double>{2.5, 2.5, 2.5});
  CHECK(Tensor::scalar(4.0, DType::float32, gpu).item() == 4.0);
  // Empty tensors move without touching the device.
  CHECK(Tensor::empty({0, 3}, DType::float32, gpu).to(Device::cpu()).numel() == 0);
}

TEST_CASE("the caching allocator reuses freed blocks and empty_cache returns them", "[cuda][allocator]") {
  ANYCOST_REQUIRE_GPU();
  cuda::synchronize();
  cuda::empty_cache();
  const cuda::MemoryStats s0 = cuda::memory_stats();
  CHECK(s0.cached_bytes == 0);
  {
    const Tensor a = Tensor::empty({1000, 1000}, DType::float32, Device::cuda());  // 4 MB
    const cuda::MemoryStats s1 = cuda::memory_stats();
    CHECK(s1.allocated_bytes >= s0.allocated_bytes + 4000000);
    CHECK(s1.device_allocations == s0.device_allocations + 1);
  }
  const cuda::MemoryStats s2 = cuda::memory_stats();
  CHECK(s2.cached_bytes >= 4000000);
  CHECK(s2.allocated_bytes == s0.allocated_bytes);
  {
    // A slightly different request in the same bucket is served from the cache.
    const Tensor b = Tensor::empty({999, 1000}, DType::float32, Device::cuda());
    const cuda::MemoryStats s3 = cuda::memory_stats();
    CHECK(s3.device_allocations == s2.device_allocations);
    CHECK(s3.cache_hits == s2.cache_hits + 1);
    CHECK(s3.peak_allocated_bytes >= s3.allocated_bytes);
  }
  // Repeated inference-like work stops calling cudaMalloc after the first pass.
  auto step = [] {
    Rng rng(3);
    const Var x(randn({2, 8, 16, 16}, rng, DType::float32, Device::cuda()));
    const Var w(randn({8, 8, 3, 3}, rng, DType::float32, Device::cuda()));
    return sum(lrelu(conv2d(x, w, {1, 1, 1, 1, 1}))).item();
  };
  const double first = step();
  const std::uint64_t mallocs = cuda::memory_stats().device_allocations;
  for (int i = 0; i < 3; ++i) CHECK(step() == first);
  CHECK(cuda::memory_stats().device_allocations == mallocs);
  cuda::empty_cache();
  CHECK(cuda::memory_stats().cached_bytes == 0);
}

TEST_CASE("launches follow the current stream", "[cuda][stream]") {
  ANYCOST_REQUIRE_GPU();
  CHECK(cuda::current_stream() == nullptr);  // the legacy default stream until set
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  cuda::set_current_stream(s);
  CHECK(cuda::current_stream() == static_cast<void*>(s));
  Rng rng(5);
  const Tensor a = randn({256, 256}, rng, DType::float32, Device::cuda());
  const Tensor c = matmul(Var(a), Var(a)).data();
  const Tensor ref = matmul(Var(a.to(Device::cpu())), Var(a.to(Device::cpu()))).data();
  CHECK(anycost::test::nmse(c.to(Device::cpu()), ref) < 1e-10);  // the copy to host synchronised the stream
  cuda::set_current_stream(nullptr);
  CHECK(cudaStreamDestroy(s) == cudaSuccess);
}

TEST_CASE("device errors are clear", "[cuda][errors]") {
  ANYCOST_REQUIRE_GPU();
  const Tensor g = Tensor::zeros({2, 3}, DType::float32, Device::cuda());
  CHECK_THROWS_AS(g.data<float>(), DeviceError);
  CHECK_THROWS_WITH(g.data<float>(), Catch::Contains("host access"));
  const Tensor c = Tensor::zeros({2, 3});
  CHECK_THROWS_AS(Var(Var(g) + Var(c)), DeviceError);
  CHECK_THROWS_AS(matmul(Var(g), Var(Tensor::zeros({3, 2}))), DeviceError);
  CHECK_THROWS_AS(conv2d(Var(Tensor::zeros({1, 2, 4, 4}, DType::float32, Device::cuda())), Var(Tensor::zeros({2, 2, 3, 3}))),
                  DeviceError);
  CHECK_THROWS_AS(g.copy_(c), DeviceError);
}
