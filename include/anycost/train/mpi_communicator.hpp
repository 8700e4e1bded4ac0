// MpiCommunicator: the Communicator (train/communicator.hpp) over MPI (OpenMPI, MPICH), for CPU ranks and as
// the launcher and bootstrap of GPU ranks (train/nccl_communicator.hpp). Opt-in: this header includes <mpi.h>,
// so only programs that link anycost::mpi (CMake: find_package(MPI), MPI::MPI_CXX) include it.
//
//   train::MpiCommunicator comm(argc, argv);   // MPI_Init_thread unless MPI is initialised already
//   comm.rank(), comm.size()                   // in MPI_COMM_WORLD
//   comm.all_reduce_mean(grads, n)             // MPI_Allreduce(MPI_IN_PLACE, ..., MPI_SUM) / size
//
// Ownership: the communicator that initialised MPI finalises it in its destructor; one constructed after
// someone else's MPI_Init leaves finalisation to them. Errors: MPI_COMM_WORLD keeps MPI's default handler
// (MPI_ERRORS_ARE_FATAL), so a failed collective, or a peer that died (mpirun then ends every rank), stops
// the job; abort() prints its message and calls MPI_Abort, which ends every rank with a non-zero status.
// Every collective runs on the calling thread (MPI_THREAD_FUNNELED is requested); all are blocking except
// start_all_reduce_sum (MPI_Iallreduce), which progresses whenever its test() or any MPI call runs.
#pragma once

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "anycost/train/communicator.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace train {

class MpiCommunicator final : public Communicator {
 public:
  // Initialises MPI when nobody has; argc/argv may be null.
  MpiCommunicator(int* argc = nullptr, char*** argv = nullptr) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owner_ = true;
    }
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  ~MpiCommunicator() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owner_ && !finalised) MPI_Finalize();
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_reduce_sum(float* data, std::size_t n) override { reduce(data, n, MPI_FLOAT); }
  void all_reduce_sum(double* data, std::size_t n) override { reduce(data, n, MPI_DOUBLE); }

  std::unique_ptr<PendingSum> start_all_reduce_sum(float* data, std::size_t n) override {
    auto pending = std::make_unique<MpiPendingSum>(*this);
    if (size_ == 1) return pending;
    for (std::size_t at = 0; at < n;) {
      const int chunk = static_cast<int>(std::min<std::size_t>(n - at, chunk_elements));
      pending->requests.emplace_back();
      check(MPI_Iallreduce(MPI_IN_PLACE, data + at, chunk, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &pending->requests.back()),
            "MPI_Iallreduce");
      at += static_cast<std::size_t>(chunk);
    }
    return pending;
  }

  void broadcast(void* data, std::size_t bytes, int root = 0) override {
    for (std::size_t at = 0; at < bytes;) {
      const int chunk = static_cast<int>(std::min<std::size_t>(bytes - at, chunk_elements));
      check(MPI_Bcast(static_cast<char*>(data) + at, chunk, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
      at += static_cast<std::size_t>(chunk);
    }
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  [[noreturn]] void abort(const std::string& message, int status = 1) override {
    std::fprintf(stderr, "[rank %d of %d] %s\n", rank_, size_, message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status == 0 ? 1 : status);
    std::exit(status == 0 ? 1 : status);  // MPI_Abort does not return; this is for the compiler
  }
  std::string describe() const override { return "MPI, " + std::to_string(size_) + (size_ == 1 ? " rank" : " ranks"); }

  // Whether this process was started by an MPI launcher (mpirun / mpiexec / srun with PMI) with more than one
  // rank, judged from the environment before MPI_Init (OpenMPI: OMPI_COMM_WORLD_SIZE; MPICH / Hydra: PMI_SIZE;
  // Slurm: PMIX_SIZE is not set per job, so srun users pass --distributed mpi).
  static bool launched() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"})
      if (const char* s = std::getenv(v); s && std::atoi(s) > 1) return true;
    return false;
  }

 private:
  static constexpr std::size_t chunk_elements = std::size_t{1} << 30;  // MPI counts are int

  struct MpiPendingSum final : PendingSum {
    explicit MpiPendingSum(const MpiCommunicator& c) : comm(c) {}
    ~MpiPendingSum() override {
      int finalised = 0;
      MPI_Finalized(&finalised);
      if (!finalised && !requests.empty())
        MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
    }
    bool test() override {
      int complete = 1;
      if (!requests.empty())
        comm.check(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &complete, MPI_STATUSES_IGNORE),
                   "MPI_Testall");
      if (complete) requests.clear();
      return complete != 0;
    }
    void wait() override {
      if (!requests.empty())
        comm.check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
      requests.clear();
    }
    const MpiCommunicator& comm;
    std::vector<MPI_Request> requests;
  };

  template <typename T>
  void reduce(T* data, std::size_t n, MPI_Datatype type) {
    if (size_ == 1) return;
    for (std::size_t at = 0; at < n;) {
      const int chunk = static_cast<int>(std::min<std::size_t>(n - at, chunk_elements));
      check(MPI_Allreduce(MPI_IN_PLACE, data + at, chunk, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
      at += static_cast<std::size_t>(chunk);
    }
  }
  void check(int rc, const char* what) const {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    ::anycost::detail::raise<CommunicatorError>(what, " failed on rank ", rank_, ": ", std::string(text, static_cast<std::size_t>(len)));
  }

  int rank_ = 0, size_ = 1;
  bool owner_ = false;
};

}  // namespace train
ANYCOST_NAMESPACE_END
