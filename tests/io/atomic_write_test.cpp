#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <stdexcept>
#include <system_error>

#include "anycost/io/atomic_write.hpp"
#include "anycost/util/atomic_file.hpp"
#include "io/io_test_support.hpp"

using anycost_test::message_of;
using anycost_test::read_bytes;
using anycost_test::TempDir;
using anycost_test::write_bytes;
using Catch::Matchers::Contains;

namespace {
auto writes(const std::string& s) {
  return [s](std::ostream& os) { os << s; };
}
}  // namespace

TEST_CASE("write_file_atomically creates and replaces files, leaving no temporary behind") {
  TempDir dir;
  const auto p = dir / "out.bin";
  anycost::util::write_file_atomically(p, writes("first"));
  CHECK(read_bytes(p) == "first");
  // Larger than the stream buffer, so both the buffered and the direct write paths run.
  const std::string big(200000, 'x');
  anycost::util::write_file_atomically(p, writes(big + "end"));
  CHECK(read_bytes(p) == big + "end");
  CHECK(dir.entries() == std::vector<std::string>{"out.bin"});
}

TEST_CASE("write_file_atomically: a throwing writer leaves the old file byte-identical") {
  TempDir dir;
  const auto p = dir / "keep.bin";
  write_bytes(p, "original content");
  auto bad = [](std::ostream& os) {
    os << std::string(100000, 'y');  // part of the new content reaches the temporary file first
    throw std::logic_error("writer gave up");
  };
  CHECK_THAT(message_of<std::logic_error>([&] { anycost::util::write_file_atomically(p, bad); }),
             Contains("writer gave up"));
  CHECK(read_bytes(p) == "original content");
  CHECK(dir.entries() == std::vector<std::string>{"keep.bin"});
}

TEST_CASE("write_file_atomically reports system errors naming the path") {
  TempDir dir;
  const auto missing = dir / "no_such_dir" / "f.bin";
  const auto msg = message_of<std::system_error>([&] { anycost::util::write_file_atomically(missing, writes("x")); });
  CHECK_THAT(msg, Contains("no_such_dir") && Contains("No such file or directory"));

  // The io wrapper turns the same failure into IoError naming the caller.
  const auto io_msg = message_of<anycost::IoError>([&] { anycost::io::write_atomically(missing, "my_writer", writes("x")); });
  CHECK_THAT(io_msg, Contains("my_writer") && Contains("no_such_dir"));

  // A directory in the way of the destination: rename fails, the directory and its content survive.
  std::filesystem::create_directory(dir / "sub");
  write_bytes(dir / "sub" / "inner", "inner");
  CHECK_THAT(message_of<anycost::IoError>([&] { anycost::io::write_atomically(dir / "sub", "my_writer", writes("x")); }),
             Contains("rename"));
  CHECK(std::filesystem::is_directory(dir / "sub"));
  CHECK(read_bytes(dir / "sub" / "inner") == "inner");
  CHECK(dir.entries() == std::vector<std::string>{"sub"});

  CHECK_THROWS_AS(anycost::util::write_file_atomically("", writes("x")), std::system_error);
}

TEST_CASE("write_file_atomically: a full disk (file size limit) leaves the old file byte-identical") {
  TempDir dir;
  const auto p = dir / "big.bin";
  write_bytes(p, "small old file");
  // RLIMIT_FSIZE makes write(2) fail with EFBIG, as a full disk fails with ENOSPC.
  struct rlimit old {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limited = old;
  limited.rlim_cur = 4096;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::string msg;
  try {
    msg = message_of<anycost::IoError>(
        [&] { anycost::io::write_atomically(p, "big_writer", writes(std::string(1 << 20, 'z'))); });
  } catch (...) {
    ::setrlimit(RLIMIT_FSIZE, &old);
    ::signal(SIGXFSZ, old_handler);
    throw;
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  // The message names the destination, not the temporary file (which no longer exists).
  CHECK_THAT(msg, Contains("big_writer: write_file_atomically: cannot write '" + p.string() + "': File too large"));
  CHECK(read_bytes(p) == "small old file");
  CHECK(dir.entries() == std::vector<std::string>{"big.bin"});
}

TEST_CASE("write_file_atomically keeps the mode of a replaced file and applies the umask to new ones") {
  TempDir dir;
  const auto p = dir / "mode.bin";
  write_bytes(p, "x");
  REQUIRE(::chmod(p.c_str(), 0640) == 0);
  anycost::util::write_file_atomically(p, writes("y"));
  struct ::stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);

  const ::mode_t mask = ::umask(022);
  const auto fresh = dir / "fresh.bin";
  anycost::util::write_file_atomically(fresh, writes("z"));
  ::umask(mask);
  REQUIRE(::stat(fresh.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);  // not mkstemp's 0600
}

TEST_CASE("write_file_atomically writes through symbolic links: the link stays, its target is replaced") {
  namespace fs = std::filesystem;
  TempDir dir;
  fs::create_directory(dir / "data");
  write_bytes(dir / "data" / "real.bin", "old target");
  fs::create_symlink("data/real.bin", dir / "link.bin");  // relative, resolved against the link's folder
  fs::create_symlink("link.bin", dir / "link2.bin");      // a chain of two
  anycost::util::write_file_atomically(dir / "link2.bin", writes("new content"));
  CHECK(fs::is_symlink(dir / "link.bin"));
  CHECK(fs::is_symlink(dir / "link2.bin"));
  CHECK(read_bytes(dir / "data" / "real.bin") == "new content");
  CHECK(anycost::util::resolve_output_path(dir / "link2.bin") == dir / "data" / "real.bin");
  // The temporary file went next to the target and is gone.
  CHECK(TempDir::list(dir / "data") == std::vector<std::string>{"real.bin"});

  // A writer failing through the link leaves the target byte-identical.
  auto bad = [](std::ostream& os) {
    os << "partial";
    throw std::logic_error("stopped");
  };
  CHECK_THROWS_AS(anycost::util::write_file_atomically(dir / "link.bin", bad), std::logic_error);
  CHECK(read_bytes(dir / "data" / "real.bin") == "new content");
  CHECK(TempDir::list(dir / "data") == std::vector<std::string>{"real.bin"});

  // A dangling link: its target is created, as a shell redirection would.
  fs::create_symlink("data/fresh.bin", dir / "dangling.bin");
  anycost::util::write_file_atomically(dir / "dangling.bin", writes("fresh"));
  CHECK(read_bytes(dir / "data" / "fresh.bin") == "fresh");
  CHECK(fs::is_symlink(dir / "dangling.bin"));

  // A loop is an error naming the link; nothing is created.
  fs::create_symlink("loop_b", dir / "loop_a");
  fs::create_symlink("loop_a", dir / "loop_b");
  CHECK_THAT(message_of<anycost::IoError>([&] { anycost::io::write_atomically(dir / "loop_a", "my_writer", writes("x")); }),
             Contains("my_writer") && Contains("cannot resolve the link") && Contains("loop_a") &&
                 Contains("Too many levels of symbolic links"));
  // A link into a missing folder names the target and the link.
  fs::create_symlink("nowhere/x.bin", dir / "lost.bin");
  CHECK_THAT(message_of<anycost::IoError>([&] { anycost::io::write_atomically(dir / "lost.bin", "my_writer", writes("x")); }),
             Contains("nowhere/x.bin' (the target of the link '") && Contains("No such file or directory"));
}

TEST_CASE("write_file_atomically into a read-only folder: Permission denied, the old file byte-identical") {
  namespace fs = std::filesystem;
  TempDir dir;
  fs::create_directory(dir / "ro");
  write_bytes(dir / "ro" / "keep.bin", "old");
  // root ignores the mode bits: the write then runs in a child process as user nobody.
  const std::string msg = anycost_test::message_unprivileged<anycost::IoError>([&] {
    anycost::io::write_atomically(dir / "ro" / "keep.bin", "my_writer", writes("new"));
  }, {dir.path()}, dir / "ro");
  CHECK_THAT(msg, Contains("my_writer") && Contains("cannot create a temporary file next to") && Contains("keep.bin") &&
                      Contains("Permission denied"));
  CHECK(read_bytes(dir / "ro" / "keep.bin") == "old");
  CHECK(TempDir::list(dir / "ro") == std::vector<std::string>{"keep.bin"});
}
