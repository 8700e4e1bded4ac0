// `anycost train` killed with SIGKILL in the middle of a run, then resumed, ends with the same generator and
// discriminator files, byte for byte, as a run that was never interrupted (same thread count).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "io/io_test_support.hpp"
#include "support/image_folder_fixture.hpp"

#include "anycost/train.hpp"

extern char** environ;

namespace {

// Starts the CLI with its output in `log`; returns the pid.
pid_t spawn_cli(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<std::string> all{ANYCOST_CLI_PATH};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  return pid;
}

int wait_status(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return status;
}

}  // namespace

TEST_CASE("anycost train: SIGKILL, --resume, and the same weights as an uninterrupted run") {
  anycost_test::TempDir dir;
  const std::filesystem::path data = dir / "data", config = dir / "run.json";
  anycost::test::write_image_folder(data, 12, 24, /*seed=*/9);
  std::ofstream(config) << R"({
    "generator": {"resolution": 16, "style_dim": 32, "n_mlp": 2, "channels": [32, 32, 16]},
    "discriminator": {"channels": [32, 32, 16]},
    "steps": {"1": 14, "2": 6, "3": 14}, "batch": 4, "seed": 11,
    "r1": {"interval": 4}, "path_length": {"interval": 4}, "multi_res": {"n_res": 2},
    "channels": {"sort_samples": 64}, "checkpoint": {"every": 2, "keep": 3}, "samples": {"every": 100, "n": 2},
    "log": {"every_seconds": 0}, "data": {"workers": 2}})";
  const std::vector<std::string> common{"--data", data.string(), "--threads", "2"};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), common.begin(), common.end());
    return a;
  };

  const int full = wait_status(spawn_cli(with({"train", "--config", config.string(), "--out", (dir / "a").string()}),
                                         dir / "a.log"));
  INFO(anycost_test::read_bytes(dir / "a.log"));
  REQUIRE((WIFEXITED(full) && WEXITSTATUS(full) == 0));

  const pid_t pid = spawn_cli(with({"train", "--config", config.string(), "--out", (dir / "b").string()}), dir / "b.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (;;) {
    const auto c = anycost::train::list_checkpoints(dir / "b" / "checkpoints");
    if (!c.empty() && c.back().filename().string() >= "ckpt-000000006") break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(kill(pid, SIGKILL) == 0);
  const int killed = wait_status(pid);
  INFO(anycost_test::read_bytes(dir / "b.log"));
  REQUIRE(WIFSIGNALED(killed));  // it was still running: the kill interrupted it
  CHECK_FALSE(std::filesystem::exists(dir / "b" / "generator.safetensors"));

  const int resumed = wait_status(spawn_cli(with({"train", "--resume", "--out", (dir / "b").string()}), dir / "b2.log"));
  const std::string log = anycost_test::read_bytes(dir / "b2.log");
  INFO(log);
  REQUIRE((WIFEXITED(resumed) && WEXITSTATUS(resumed) == 0));
  CHECK_THAT(log, Catch::Contains("resumed from"));
  CHECK(anycost_test::read_bytes(dir / "a" / "generator.safetensors") ==
        anycost_test::read_bytes(dir / "b" / "generator.safetensors"));
  CHECK(anycost_test::read_bytes(dir / "a" / "discriminator.safetensors") ==
        anycost_test::read_bytes(dir / "b" / "discriminator.safetensors"));
}
