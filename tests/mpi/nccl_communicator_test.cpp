// The NCCL communicator (train/nccl_communicator.hpp), bootstrapped over MPI: run under `mpirun -np K` with K
// GPUs (one per rank). Sums of known float and double device buffers, a device broadcast, and host values
// routed over MPI. Without a CUDA device, or with fewer GPUs than ranks (NCCL refuses two ranks on one GPU),
// every rank prints "ANYCOST_SKIP: ..." and succeeds (ctest reports the test as skipped); ANYCOST_REQUIRE_GPU=1
// turns the skip into a failure.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "anycost/train/nccl_communicator.hpp"

int main(int argc, char** argv) {
  using namespace anycost;
  train::MpiCommunicator mpi(&argc, &argv);
  int devices = 0;
  const cudaError_t rc = cudaGetDeviceCount(&devices);
  if (rc != cudaSuccess) devices = 0;
  if (devices < mpi.size()) {
    const bool require = std::getenv("ANYCOST_REQUIRE_GPU") && std::string(std::getenv("ANYCOST_REQUIRE_GPU")) == "1";
    if (mpi.is_root())
      std::printf("ANYCOST_SKIP: %d CUDA device(s) for %d ranks (%s)\n", devices, mpi.size(),
                  rc == cudaSuccess ? "need one GPU per rank" : cudaGetErrorString(rc));
    return require ? 1 : 0;
  }
  int failures = 0;
  try {
    train::NcclCommunicator nccl(mpi);
    const int r = nccl.rank(), k = nccl.size();
    const std::size_t n = 1 << 20;
    std::vector<float> host(n);
    for (std::size_t i = 0; i < n; ++i) host[i] = static_cast<float>((r + 1) * (i % 1000));
    float* dev = nullptr;
    if (cudaMalloc(&dev, n * sizeof(float)) != cudaSuccess) throw train::CommunicatorError("cudaMalloc failed");
    cudaMemcpy(dev, host.data(), n * sizeof(float), cudaMemcpyHostToDevice);
    nccl.all_reduce_sum(dev, n);
    cudaMemcpy(host.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost);
    for (std::size_t i = 0; i < n; ++i)
      if (host[i] != static_cast<float>((i % 1000) * k * (k + 1) / 2)) {
        ++failures;
        break;
      }
    int value = r == 0 ? 7 : 0;
    int* dv = nullptr;
    cudaMalloc(&dv, sizeof(int));
    cudaMemcpy(dv, &value, sizeof(int), cudaMemcpyHostToDevice);
    nccl.broadcast(dv, sizeof(int), 0);
    cudaMemcpy(&value, dv, sizeof(int), cudaMemcpyDeviceToHost);
    if (value != 7) ++failures;
    double h = r + 1.0;  // host memory: over MPI
    nccl.all_reduce_sum(&h, 1);
    if (h != k * (k + 1) / 2.0) ++failures;
    cudaFree(dv);
    cudaFree(dev);
    if (nccl.is_root()) std::printf("%s on %s\n", failures == 0 ? "ok" : "FAILED", nccl.describe().c_str());
  } catch (const std::exception& e) {
    std::printf("FAILED: %s\n", e.what());
    ++failures;
  }
  return mpi.any(failures > 0) ? 1 : 0;
}
