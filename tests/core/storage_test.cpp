#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include <anycost/anycost.hpp>

using namespace anycost;

TEST_CASE("host memory stats count live tensors and their peak", "[storage]") {
  const std::size_t bytes = 1 << 20;
  const HostMemoryStats before = host_memory_stats();
  reset_host_peak_memory();
  CHECK(host_memory_stats().peak_allocated_bytes == before.allocated_bytes);
  {
    const Tensor a = Tensor::zeros({static_cast<std::int64_t>(bytes / 4)});
    CHECK(host_memory_stats().allocated_bytes == before.allocated_bytes + bytes);
    {
      const Tensor b = Tensor::zeros({static_cast<std::int64_t>(bytes / 8)}, DType::float64);
      const Tensor view = a.narrow(0, 0, 16);  // a view allocates nothing
      CHECK(host_memory_stats().allocated_bytes == before.allocated_bytes + 2 * bytes);
    }
    CHECK(host_memory_stats().allocated_bytes == before.allocated_bytes + bytes);
  }
  const HostMemoryStats after = host_memory_stats();
  CHECK(after.allocated_bytes == before.allocated_bytes);
  CHECK(after.peak_allocated_bytes == before.allocated_bytes + 2 * bytes);
  CHECK(after.total_allocated_bytes == before.total_allocated_bytes + 2 * bytes);
  reset_host_peak_memory();
  CHECK(host_memory_stats().peak_allocated_bytes == before.allocated_bytes);
}

TEST_CASE("host memory stats leave out memory owned elsewhere", "[storage]") {
  std::vector<float> owned(1024, 1.0f);
  const HostMemoryStats before = host_memory_stats();
  {
    const Storage wrapped(owned.data(), owned.size() * sizeof(float), Device::cpu(), std::make_shared<int>(0));
    CHECK(host_memory_stats().allocated_bytes == before.allocated_bytes);
  }
  CHECK(host_memory_stats().allocated_bytes == before.allocated_bytes);
}
