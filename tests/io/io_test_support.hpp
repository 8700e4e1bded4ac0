// Helpers shared by the io tests: a scratch directory removed at scope exit, whole-file byte access, the
// fixture folder, and a run without root's privileges (for read-only folders).
#pragma once

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace anycost_test {

// Runs f, requires it to throw exactly kind E, and returns the message for matching.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("threw the wrong exception type: " << e.what());
  }
  FAIL("did not throw");
  return {};
}

// The pixels of an interleaved 8-bit image (io::Image8: height, width, channels, pixels HWC) as CHW ints,
// the layout of the golden files.
template <class Image>
std::vector<int> chw_bytes(const Image& img) {
  std::vector<int> out(img.pixels.size());
  const std::int64_t plane = img.height * img.width;
  for (std::int64_t c = 0; c < img.channels; ++c)
    for (std::int64_t i = 0; i < plane; ++i)
      out[static_cast<std::size_t>(c * plane + i)] = img.pixels[static_cast<std::size_t>(i * img.channels + c)];
  return out;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "anycost_io_test.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Names of the entries in the directory (to prove no temporary file was left behind).
  std::vector<std::string> entries() const { return list(path_); }
  static std::vector<std::string> list(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::filesystem::path path_;
};

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

// Runs f with `read_only` made read-only (mode 0555, restored afterwards) and returns the message of the E it
// throws ("did not throw" or "wrong exception: ..." otherwise, for the caller's check to fail on). The mode
// does not bind root, so as root f runs in a forked child as user nobody, for whom the folders in `traverse`
// are opened up (0755).
template <class E, class F>
std::string message_unprivileged(F&& f, const std::vector<std::filesystem::path>& traverse,
                                 const std::filesystem::path& read_only) {
  namespace fs = std::filesystem;
  const auto rx = fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read | fs::perms::group_exec |
                  fs::perms::others_read | fs::perms::others_exec;
  fs::permissions(read_only, rx);
  struct Restore {
    fs::path p;
    ~Restore() {
      std::error_code ec;
      fs::permissions(p, fs::perms::owner_write, fs::perm_options::add, ec);
    }
  } restore{read_only};
  auto run = [&]() -> std::string {
    try {
      f();
    } catch (const E& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string("wrong exception: ") + e.what();
    }
    return "did not throw";
  };
  if (::geteuid() != 0) return run();
  for (const fs::path& p : traverse) fs::permissions(p, rx | fs::perms::owner_write);
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const ::pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    const std::string out = ::setgid(65534) == 0 && ::setuid(65534) == 0 ? run() : "cannot become nobody";
    [[maybe_unused]] const auto w = ::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (::ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return text;
}

inline std::filesystem::path io_data(const std::string& name) {
  return std::filesystem::path(ANYCOST_TEST_DATA_DIR) / "io" / name;
}

}  // namespace anycost_test
