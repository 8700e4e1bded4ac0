// Helpers shared by the io tests: a scratch directory removed at scope exit, whole-file byte access and
// the fixture folder.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
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
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) out.push_back(e.path().filename().string());
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

inline std::filesystem::path io_data(const std::string& name) {
  return std::filesystem::path(ANYCOST_TEST_DATA_DIR) / "io" / name;
}

}  // namespace anycost_test
