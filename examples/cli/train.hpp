// The 'anycost train' command: stage-wise Anycost GAN training on an image folder.
#pragma once

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include <anycost/io/safetensors.hpp>
#include <anycost/train.hpp>
#ifdef ANYCOST_WITH_MPI
#include <anycost/train/mpi_communicator.hpp>
#endif

#include "common.hpp"

namespace anycost_cli {

// ---- anycost train -----------------------------------------------------------------------------------------

struct TrainFlags {
  std::string config, data, out;
  bool resume = false;
  Device device = Device::cpu();
  int threads = 0;
  std::string distributed = "auto";
};

CLI::App* add_train(CLI::App& app, TrainFlags& f) {
  CLI::App* cmd =
      app.add_subcommand("train", "train an Anycost generator on a folder of images (stage-wise, resumable)");
  cmd->footer(
      "Trains an Anycost GAN on a folder of images (PNG/JPEG, searched recursively), stage by stage: StyleGAN2,\n"
      "multi-resolution, adaptive channels (see examples/configs/*.json for the keys and their defaults).\n"
      "Prints a progress line every few seconds; writes RUN_DIR/checkpoints/ckpt-*.safetensors, sample grids in\n"
      "RUN_DIR/samples/ and, at the end, RUN_DIR/generator.safetensors (g_ema, for 'anycost generate --model').\n"
      "Ctrl-C (SIGINT) or SIGTERM writes a checkpoint and stops; --resume continues exactly.\n"
      "\n"
      "Data-parallel: under 'mpirun -np K' (OpenMPI, MPICH) each rank trains on batch / K of every global batch\n"
      "and the gradients are averaged; rank 0 prints and writes. batch must be a multiple of 4 K. A rank that\n"
      "fails or dies stops the job; --resume (under mpirun again) continues from the last checkpoint.\n"
      "\n"
      "example: one process, then 2 MPI ranks\n"
      "  anycost train --config examples/configs/tiny.json --data my_images --out runs/tiny\n"
      "  mpirun -np 2 anycost train --config examples/configs/tiny.json --data my_images --out runs/tiny2 --threads 1");
  cmd->add_option("--config", f.config,
                  "the run's JSON config (required; with --resume: optional, must match the run's)")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--data", f.data, "the image folder (required)")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->option_text("DIR");
  cmd->add_option("--out", f.out, "the run folder (required; created; must not hold a run unless --resume)")
      ->required()
      ->option_text("RUN_DIR");
  cmd->add_flag("--resume", f.resume, "continue the run in --out from its newest checkpoint");
  add_device(*cmd, f.device, "where to train (default cpu)");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all); the same K gives bit-identical runs")
      ->check(at_least_one)
      ->option_text("K");
  cmd->add_option("--distributed", f.distributed,
                  "data-parallel engine: auto (MPI when started by mpirun with more than one rank; default), "
                  "mpi, or none")
      ->check(CLI::IsMember({"auto", "mpi", "none"}))
      ->option_text("auto|mpi|none");
  return cmd;
}

// The communicator --distributed asks for (null: one process).
std::unique_ptr<train::Communicator> make_communicator(const std::string& mode) {
#ifdef ANYCOST_WITH_MPI
  if (mode == "mpi" || (mode == "auto" && train::MpiCommunicator::launched()))
    return std::make_unique<train::MpiCommunicator>();
#else
  if (mode == "mpi") throw UsageError("--distributed mpi: this anycost was built without MPI (install libopenmpi-dev and rebuild)");
  if (mode == "auto" && std::getenv("OMPI_COMM_WORLD_SIZE") && std::atoi(std::getenv("OMPI_COMM_WORLD_SIZE")) > 1)
    throw UsageError("started by mpirun with several ranks, but this anycost was built without MPI (install "
                     "libopenmpi-dev and rebuild, or pass --distributed none to train one independent run per rank)");
#endif
  return nullptr;
}

std::atomic<bool> stop_requested{false};

int run_train_on(const TrainFlags& f, train::Communicator* comm);

int run_train(const TrainFlags& f) {
  if (f.config.empty() && !f.resume) throw UsageError("--config is required (optional only with --resume)");
  if (f.threads > 0) set_num_threads(f.threads);
  const std::unique_ptr<train::Communicator> comm = make_communicator(f.distributed);
  if (!comm || comm->size() == 1) return run_train_on(f, comm.get());
  // Several ranks: an error on one must end all of them (the others would wait in a collective forever).
  try {
    return run_train_on(f, comm.get());
  } catch (const std::exception& e) {
    comm->abort(std::string("anycost: error: ") + e.what() + "\n(data-parallel run: all ranks stopped)", 1);
  }
  return 1;  // not reached: abort() ends the process
}

int run_train_on(const TrainFlags& f, train::Communicator* comm) {
  train::TrainConfig cfg;
  if (!f.config.empty()) {
    cfg = train::load_train_config(f.config);
  } else {
    const auto ckpts = train::list_checkpoints(std::filesystem::path(f.out) / "checkpoints");
    if (ckpts.empty()) throw UsageError("--resume: no checkpoint in '" + f.out + "/checkpoints'");
    cfg = train::parse_train_config(train::stored_config(io::load_safetensors(ckpts.back())));
  }
  std::signal(SIGINT, [](int) { stop_requested = true; });
  std::signal(SIGTERM, [](int) { stop_requested = true; });
  train::TrainerOptions opts;
  opts.data = f.data;
  opts.out = f.out;
  opts.resume = f.resume;
  opts.device = f.device;
  opts.stop = &stop_requested;
  opts.comm = comm;
  train::Trainer trainer(cfg, opts);
  trainer.run();
  return 0;
}

}  // namespace anycost_cli
