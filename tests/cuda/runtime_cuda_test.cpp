// The CUDA runtime layer: Philox bit identity with the CPU, transfers and strided copies, the allocator,
// streams, and the errors a user can run into (host access to device memory, mixed devices, missing devices).
#include "cuda/cuda_test.hpp"

#include <cuda_runtime.h>

#include <cstring>
#include <thread>

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
    if (anycost_gpu_required()) FAIL("ANYCOST_REQUIRE_GPU=1 but there is no CUDA device: " << cuda::unavailable_reason());
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

TEST_CASE("the allocator counts, reuses and trims its pool", "[cuda][allocator]") {
  ANYCOST_REQUIRE_GPU();
  cuda::synchronize();
  cuda::empty_cache();
  const cuda::MemoryStats s0 = cuda::memory_stats();
  CHECK(s0.cached_bytes == 0);
  {
    const Tensor a = Tensor::empty({1000, 1000}, DType::float32, Device::cuda());  // 4 MB
    const cuda::MemoryStats s1 = cuda::memory_stats();
    CHECK(s1.allocated_bytes == s0.allocated_bytes + 4000000);
    CHECK(s1.allocations == s0.allocations + 1);
    CHECK(s1.reserved_bytes >= s1.allocated_bytes);
    CHECK(s1.peak_allocated_bytes >= s1.allocated_bytes);
  }
  cuda::synchronize();  // the stream-ordered free has completed
  const cuda::MemoryStats s2 = cuda::memory_stats();
  CHECK(s2.allocated_bytes == s0.allocated_bytes);
  CHECK(s2.cached_bytes >= 4000000);
  // Repeated inference-like work reserves nothing more after the first pass.
  auto step = [] {
    Rng rng(3);
    const Var x(randn({2, 8, 16, 16}, rng, DType::float32, Device::cuda()));
    const Var w(randn({8, 8, 3, 3}, rng, DType::float32, Device::cuda()));
    return sum(lrelu(conv2d(x, w, {1, 1, 1, 1, 1}))).item();
  };
  const double first = step();
  const std::size_t reserved = cuda::memory_stats().reserved_bytes;
  for (int i = 0; i < 3; ++i) CHECK(step() == first);
  CHECK(cuda::memory_stats().reserved_bytes == reserved);
  cuda::empty_cache();
  CHECK(cuda::memory_stats().cached_bytes == 0);
}

TEST_CASE("the pool stays bounded over every ratio and resolution of a generator", "[cuda][allocator]") {
  // Each sub-network allocates its own sizes; a cache keyed by size would grow with every new one.
  ANYCOST_REQUIRE_GPU();
  const models::GeneratorConfig cfg{.resolution = 256, .style_dim = 256, .n_mlp = 2};
  models::Generator g(cfg, 1);
  g.to(Device::cuda());
  NoGradGuard inference;
  auto pass = [&] {
    for (double ratio : {1.0, 0.75, 0.5, 0.25})
      for (std::int64_t res = 8; res <= cfg.resolution; res *= 2) {
        Rng rng(static_cast<std::uint64_t>(res));
        const Var z(randn({2, g.style_dim()}, rng, DType::float32, Device::cuda()));
        (void)g.generate(z, g.channel_table().uniform(ratio, res));
      }
    cuda::synchronize();
  };
  cuda::empty_cache();
  cuda::reset_peak_memory_stats();
  pass();
  const cuda::MemoryStats warm = cuda::memory_stats();
  for (int i = 0; i < 3; ++i) pass();
  const cuda::MemoryStats s = cuda::memory_stats();
  INFO("reserved " << s.reserved_bytes << ", peak in use " << s.peak_allocated_bytes << ", after one pass "
                   << warm.reserved_bytes);
  CHECK(s.peak_reserved_bytes <= warm.peak_reserved_bytes + warm.peak_reserved_bytes / 4);  // no growth with use
  CHECK(s.reserved_bytes <= 2 * s.peak_allocated_bytes + (64u << 20));  // fragmentation stays small
}

TEST_CASE("launches follow the calling thread's current stream", "[cuda][stream]") {
  ANYCOST_REQUIRE_GPU();
  CHECK(cuda::current_stream() == nullptr);  // the legacy default stream until set
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  Rng rng(5);
  const Tensor a = randn({256, 256}, rng, DType::float32, Device::cuda());
  const Tensor ref = matmul(Var(a.to(Device::cpu())), Var(a.to(Device::cpu()))).data();
  {
    cuda::StreamGuard guard(s);
    CHECK(cuda::current_stream() == static_cast<void*>(s));
    void* other = &s;  // a different thread keeps its own current stream
    std::thread([&] { other = cuda::current_stream(); }).join();
    CHECK(other == nullptr);
    const Tensor c = matmul(Var(a), Var(a)).data();
    CHECK(anycost::test::nmse(c.to(Device::cpu()), ref) < 1e-10);  // the copy to host synchronised the stream
  }
  CHECK(cuda::current_stream() == nullptr);  // restored: `s` may be destroyed now
  CHECK(cudaStreamDestroy(s) == cudaSuccess);
  // A stream of another device is refused.
  if (cuda::device_count() > 1) {
    cudaStream_t s1 = nullptr;
    REQUIRE(cudaSetDevice(1) == cudaSuccess);
    REQUIRE(cudaStreamCreate(&s1) == cudaSuccess);
    REQUIRE(cudaSetDevice(0) == cudaSuccess);
    CHECK_THROWS_AS(cuda::set_current_stream(s1, 0), DeviceError);
    CHECK(cudaStreamDestroy(s1) == cudaSuccess);
  }
}

TEST_CASE("ops queue work without waiting for the device", "[cuda][sync]") {
  // A long chain of GEMMs (about 1.7 TFLOP, tens of milliseconds) keeps the GPU busy; a forward that records a backward (upfirdn2d flips its kernel),
  // the backward seed (Tensor::ones) and the backward itself must all be queued behind it, not wait for it.
  ANYCOST_REQUIRE_GPU();
  const Device gpu = Device::cuda();
  Rng rng(9);
  Tensor m = randn({2048, 2048}, rng, DType::float32, gpu);
  const Var x(randn({4, 8, 32, 32}, rng, DType::float32, gpu), true);
  const Tensor k = Tensor::full({4, 4}, 1.0 / 16, DType::float32, gpu);
  cuda::synchronize();
  {
    NoGradGuard no_grad;
    for (int i = 0; i < 100; ++i) m = Var(matmul(Var(m), Var(m)) * 1e-3).data();
  }
  const Var y = upfirdn2d(x, k, {2, 1, 2, 1, 2, 1});
  backward(sum(y));
  cudaEvent_t done = nullptr;
  REQUIRE(cudaEventCreateWithFlags(&done, cudaEventDisableTiming) == cudaSuccess);
  REQUIRE(cudaEventRecord(done, static_cast<cudaStream_t>(cuda::current_stream())) == cudaSuccess);
  CHECK(cudaEventQuery(done) == cudaErrorNotReady);
  REQUIRE(cudaEventSynchronize(done) == cudaSuccess);
  CHECK(cudaEventDestroy(done) == cudaSuccess);
  CHECK(x.grad().data().to(Device::cpu()).to_vector<float>()[0] > 0.0f);
}

TEST_CASE("a host-to-device copy from page-locked memory may release its source on return", "[cuda][copy]") {
  ANYCOST_REQUIRE_GPU();
  const std::int64_t n = 1 << 24;  // 64 MB: the copy takes milliseconds
  float* pinned = nullptr;
  REQUIRE(cudaMallocHost(reinterpret_cast<void**>(&pinned), n * sizeof(float)) == cudaSuccess);
  for (std::int64_t i = 0; i < n; ++i) pinned[i] = static_cast<float>(i % 1000);
  Tensor dev;
  {
    auto storage = std::make_shared<Storage>(pinned, n * sizeof(float), Device::cpu(), std::shared_ptr<void>(pinned, [](void*) {}));  // freed below
    dev = Tensor::from_storage(storage, 0, {n}, {1}, DType::float32).to(Device::cuda());
  }
  for (std::int64_t i = 0; i < n; ++i) pinned[i] = -1.0f;  // the caller reuses its buffer at once
  REQUIRE(cudaFreeHost(pinned) == cudaSuccess);
  const std::vector<float> back = dev.to(Device::cpu()).to_vector<float>();
  CHECK(back[0] == 0.0f);
  CHECK(back[static_cast<std::size_t>(n - 1)] == static_cast<float>((n - 1) % 1000));
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
