// NcclCommunicator: the Communicator (train/communicator.hpp) for GPU ranks, over NCCL, bootstrapped over MPI
// (train/mpi_communicator.hpp): rank 0 creates the NCCL unique id (ncclGetUniqueId) and MPI_Bcast sends it to
// every rank, which then joins with ncclCommInitRank on its GPU (local rank modulo the GPUs it sees, unless
// given). Opt-in: this header includes <mpi.h>, <nccl.h> and <cuda_runtime.h>; CMake builds the programs
// that include it only when CUDA and NCCL are found (anycost::nccl).
//
// Buffers: device memory goes through NCCL (ncclAllReduce / ncclBroadcast on the communicator's stream,
// synchronised before returning); host memory (the trainer's control values: stop flags, loss scalars, the
// checkpoint name) through the MPI communicator it was bootstrapped from. reduces_device_memory() is true, so
// average_gradients (train/gradient_averager.hpp) builds its buckets on the GPU and never copies gradients to the host.
//
// Errors: a failed CUDA or NCCL call throws CommunicatorError naming it; abort() aborts the NCCL communicator
// (ncclCommAbort, so no rank stays blocked in a kernel) and then the MPI job.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdlib>
#include <string>

#include "anycost/train/mpi_communicator.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace train {

class NcclCommunicator final : public Communicator {
 public:
  // Joins every rank of `mpi` (which must outlive this communicator) on GPU `device` (-1: the local rank,
  // from OMPI_COMM_WORLD_LOCAL_RANK / MPI_LOCALRANKID, modulo the visible GPUs).
  explicit NcclCommunicator(MpiCommunicator& mpi, int device = -1) : mpi_(mpi) {
    int count = 0;
    cuda(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    if (count <= 0) ::anycost::detail::raise<CommunicatorError>("NcclCommunicator: rank ", mpi.rank(), " sees no CUDA device");
    device_ = device >= 0 ? device : local_rank() % count;
    cuda(cudaSetDevice(device_), "cudaSetDevice");
    ncclUniqueId id{};
    if (mpi.is_root()) nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    mpi.broadcast(&id, sizeof id, 0);
    nccl(ncclCommInitRank(&comm_, mpi.size(), id, mpi.rank()), "ncclCommInitRank");
    cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~NcclCommunicator() override {
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }
  int device() const { return device_; }
  bool reduces_device_memory() const override { return true; }

  void all_reduce_sum(float* data, std::size_t n) override {
    if (!on_device(data)) return mpi_.all_reduce_sum(data, n);
    nccl(ncclAllReduce(data, data, n, ncclFloat32, ncclSum, comm_, stream_), "ncclAllReduce");
    cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void all_reduce_sum(double* data, std::size_t n) override {
    if (!on_device(data)) return mpi_.all_reduce_sum(data, n);
    nccl(ncclAllReduce(data, data, n, ncclFloat64, ncclSum, comm_, stream_), "ncclAllReduce");
    cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void broadcast(void* data, std::size_t bytes, int root = 0) override {
    if (!on_device(data)) return mpi_.broadcast(data, bytes, root);
    nccl(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_), "ncclBroadcast");
    cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void barrier() override { mpi_.barrier(); }
  [[noreturn]] void abort(const std::string& message, int status = 1) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    mpi_.abort(message, status);
  }
  std::string describe() const override { return "NCCL over MPI, " + std::to_string(size()) + " GPU ranks"; }

 private:
  static int local_rank() {
    for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
      if (const char* s = std::getenv(v)) return std::atoi(s);
    return 0;
  }
  static bool on_device(const void* p) {
    cudaPointerAttributes a{};
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
      cudaGetLastError();  // a plain host pointer on old runtimes: clear the error
      return false;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
  }
  void cuda(cudaError_t rc, const char* what) const {
    if (rc != cudaSuccess)
      ::anycost::detail::raise<CommunicatorError>(what, " failed on rank ", mpi_.rank(), ": ", cudaGetErrorString(rc));
  }
  void nccl(ncclResult_t rc, const char* what) const {
    if (rc != ncclSuccess)
      ::anycost::detail::raise<CommunicatorError>(what, " failed on rank ", mpi_.rank(), ": ", ncclGetErrorString(rc));
  }

  MpiCommunicator& mpi_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace train
ANYCOST_NAMESPACE_END
