// Corpus replay: feeds every file of the given folders (the seed corpus and the regression inputs of one
// target) through that target's harness, in the normal build without libFuzzer, so the harnesses compile and
// every past finding stays fixed. Usage: fuzz_replay TARGET DIR...; fails when a folder is missing, when no
// input was found, or when any input escapes the harness (see harness.hpp).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "harness.hpp"

int main(int argc, char** argv) {
  using Harness = int (*)(const std::uint8_t*, std::size_t);
  const std::map<std::string, Harness> harnesses = {{"safetensors", anycost_fuzz::safetensors},
                                                    {"image", anycost_fuzz::image},
                                                    {"evolve_config", anycost_fuzz::evolve_config},
                                                    {"train_config", anycost_fuzz::train_config},
                                                    {"edit_history", anycost_fuzz::edit_history},
                                                    {"latency_table", anycost_fuzz::latency_table}};
  if (argc < 3 || !harnesses.count(argv[1])) {
    std::fprintf(stderr, "usage: fuzz_replay safetensors|image|evolve_config|train_config|edit_history|latency_table DIR...\n");
    return 2;
  }
  const Harness run = harnesses.at(argv[1]);
  std::vector<std::filesystem::path> files;
  for (int i = 2; i < argc; ++i) {
    if (!std::filesystem::is_directory(argv[i])) {
      std::fprintf(stderr, "fuzz_replay: '%s' is not a folder\n", argv[i]);
      return 2;
    }
    for (const auto& e : std::filesystem::directory_iterator(argv[i]))
      // Dot files (.gitkeep holds an empty folder in git) are not inputs.
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "fuzz_replay: no inputs for %s\n", argv[1]);
    return 2;
  }
  int failed = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Named before running: a sanitizer report aborts the process, and the last name says which input did it.
    std::fprintf(stderr, "%s\n", f.string().c_str());
    try {
      run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "FAILED: %s: %s\n", f.string().c_str(), e.what());
      ++failed;
    }
  }
  std::fprintf(stderr, "fuzz_replay %s: %zu inputs, %d failed\n", argv[1], files.size(), failed);
  return failed == 0 ? 0 : 1;
}
