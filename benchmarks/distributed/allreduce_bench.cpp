// The all-reduce cost of data-parallel training per iteration (train/communicator.hpp average_gradients over
// train/mpi_communicator.hpp), for the gradient sizes of the shipped emoji64 model (its generator file and the
// stage-3 discriminator of examples/configs/emoji64.json) and of config-f (examples/configs/ffhq-config-f.json:
// StyleGAN2 1024px, the stage-3 conditioned multi-resolution D). Run under mpirun:
//
//   mpirun --oversubscribe -np 2 build/benchmarks/distributed/bench_allreduce [--reps N] [--repo DIR]
//
// Per model it times, averaged over N repetitions after one warm-up: the raw MPI_Allreduce of the flat float32
// gradient (G and D separately), and average_gradients (flatten into 32 MiB buckets + all-reduce + copy back
// as new gradient tensors), whose sum over G and D is the communication cost of one iteration (one D step and
// one G step; R1 every 16 and path length every 8 iterations add D/16 and G/8 of it). Bandwidths: algorithm
// bandwidth = bytes / time; bus bandwidth = algbw * 2 (K - 1) / K, the rate each link of a ring moves. For emoji64
// it then times a D backward pass with the average after it and overlapping it (GradientAverager).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "anycost/models.hpp"
#include "anycost/train/config.hpp"
#include "anycost/train/gradient_averager.hpp"
#include "anycost/train/mpi_communicator.hpp"

using namespace anycost;

namespace {

models::Discriminator stage3_d(const train::TrainConfig& c) {
  models::DiscriminatorConfig dc = models::DiscriminatorConfig::matching(c.generator, c.n_res, true);
  dc.channel_multiplier = c.d_channel_multiplier;
  dc.channel_max = c.d_channel_max;
  dc.channels = c.d_channels;
  return models::Discriminator(dc, 1);
}

std::int64_t count(const optim::NamedParameters& ps) {
  std::int64_t n = 0;
  for (const optim::NamedParameter& p : ps) n += p.var.numel();
  return n;
}

void give_gradients(const optim::NamedParameters& ps, int rank) {
  for (const optim::NamedParameter& p : ps) p.var.set_grad(Var(Tensor::full(p.var.shape(), 0.5 + rank)));
}

template <typename F>
double time_ms(train::Communicator& comm, int reps, F&& f) {
  f();  // warm-up
  comm.barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  comm.barrier();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
}

void report(train::Communicator& comm, const char* what, std::int64_t params, double ms) {
  if (!comm.is_root()) return;
  const double bytes = 4.0 * static_cast<double>(params), k = comm.size();
  const double algbw = bytes / (ms * 1e-3) / 1e9;
  std::printf("  %-44s %11lld params %8.1f MB %9.2f ms  algbw %6.2f GB/s  busbw %6.2f GB/s\n", what,
              static_cast<long long>(params), bytes / 1e6, ms, algbw, algbw * 2 * (k - 1) / k);
}

void bench(train::Communicator& comm, const std::string& name, models::Generator g, models::Discriminator d, int reps) {
  const optim::NamedParameters gp = optim::named_parameters(g), dp = optim::named_parameters(d);
  const std::int64_t ng = count(gp), nd = count(dp);
  if (comm.is_root()) std::printf("%s: G %lld + D %lld parameters\n", name.c_str(), static_cast<long long>(ng), static_cast<long long>(nd));
  for (const auto& [label, n] : {std::pair<const char*, std::int64_t>{"MPI_Allreduce, flat G gradient", ng},
                                 {"MPI_Allreduce, flat D gradient", nd}}) {
    std::vector<float> buf(static_cast<std::size_t>(n), 1.0f + static_cast<float>(comm.rank()));
    report(comm, label, n, time_ms(comm, reps, [&] { comm.all_reduce_sum(buf.data(), buf.size()); }));
  }
  give_gradients(gp, comm.rank());
  give_gradients(dp, comm.rank());
  const double mg = time_ms(comm, reps, [&] { train::average_gradients(comm, gp); });
  const double md = time_ms(comm, reps, [&] { train::average_gradients(comm, dp); });
  report(comm, "average_gradients(G) (flatten+reduce+copy)", ng, mg);
  report(comm, "average_gradients(D)", nd, md);
  report(comm, "one iteration: D step + G step", ng + nd, mg + md);
  report(comm, "  amortised with R1 /16, path length /8", ng + nd, mg * (1 + 1.0 / 8) + md * (1 + 1.0 / 16));
}

// One D backward pass (batch 4 per rank) with its gradient average after the pass (average_gradients) or
// overlapping it (train::GradientAverager, two bucket sizes), next to the pass alone: what is left of the
// communication once the overlap has hidden what it can.
void bench_overlap(train::Communicator& comm, const models::Generator& g, models::Discriminator d, int reps) {
  const optim::NamedParameters dp = optim::named_parameters(d);
  Rng rng(3 + static_cast<std::uint64_t>(comm.rank()));
  const Var img(randn({4, 3, g.resolution(), g.resolution()}, rng));
  const Var arch = d.conditioned() ? Var(models::arch_code(g.full_config())) : Var();
  const auto pass = [&](const GradOptions& o) {
    for (const optim::NamedParameter& p : dp) p.var.set_grad(Var());
    backward(sum(d.forward(img, arch)), {}, o);
  };
  const double alone = time_ms(comm, reps, [&] { pass({}); });
  const double after = time_ms(comm, reps, [&] {
    pass({});
    train::average_gradients(comm, dp);
  });
  if (comm.is_root()) std::printf("  D backward pass, batch 4 per rank: alone %.2f ms\n", alone);
  if (comm.is_root())
    std::printf("    + average_gradients after it: %.2f ms (communication %+.2f ms)\n", after, after - alone);
  for (std::size_t bucket : {std::size_t{512} << 10, std::size_t{2} << 20}) {
    std::size_t during = 0;
    const double overlapped = time_ms(comm, reps, [&] {
      train::GradientAverager avg(comm, dp, bucket);
      pass(avg.options());
      during = avg.started_during_pass();
      avg.finish();
    });
    if (comm.is_root())
      std::printf("    + GradientAverager, %zu KiB buckets (%zu started during the pass): %.2f ms (communication %+.2f ms)\n",
                  bucket >> 10, during, overlapped, overlapped - alone);
  }
}

}  // namespace

int main(int argc, char** argv) {
  train::MpiCommunicator comm(&argc, &argv);
  int reps = 10;
  std::string repo = ANYCOST_SOURCE_DIR;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--reps") reps = std::atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--repo") repo = argv[i + 1];
  }
  set_num_threads(1);
  if (comm.is_root())
    std::printf("all-reduce per training iteration: %s, float32 gradients, %d repetitions\n", comm.describe().c_str(), reps);
  try {
    const train::TrainConfig emoji = train::load_train_config(repo + "/examples/configs/emoji64.json");
    bench(comm, "emoji64 (shipped generator.safetensors, stage-3 D of emoji64.json)",
          nn::deep_copy(models::load_generator(repo + "/examples/models/emoji64/generator.safetensors")), stage3_d(emoji), reps);
    bench_overlap(comm, models::Generator(emoji.generator, 0), stage3_d(emoji), reps);
    const train::TrainConfig f = train::load_train_config(repo + "/examples/configs/ffhq-config-f.json");
    bench(comm, "config-f (1024px, stage-3 D of ffhq-config-f.json)", models::Generator(f.generator, 0), stage3_d(f), reps);
  } catch (const std::exception& e) {
    comm.abort(std::string("bench_allreduce: ") + e.what());
  }
  return 0;
}
