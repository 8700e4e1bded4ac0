// Helpers of the data-parallel training tests (train_mpi_test.sh), one program so the script needs no Python:
//
//   mpi_train_tool images DIR N SIZE SEED   writes N generated SIZExSIZE PNGs (support/image_folder_fixture.hpp)
//   mpi_train_tool diff A B TOL             max |a - b| over every tensor of two safetensors files (same names
//                                           and shapes); prints it; exit status 1 when it exceeds TOL
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "support/image_folder_fixture.hpp"

#include "anycost/io/safetensors.hpp"

int main(int argc, char** argv) {
  using namespace anycost;
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "images" && argc == 6) {
      test::write_image_folder(argv[2], std::atoi(argv[3]), std::atoi(argv[4]),
                               static_cast<std::uint64_t>(std::atoll(argv[5])));
      return 0;
    }
    if (cmd == "diff" && argc == 5) {
      const io::SafetensorsFile a = io::load_safetensors(argv[2]), b = io::load_safetensors(argv[3]);
      const double tol = std::atof(argv[4]);
      if (a.tensors.size() != b.tensors.size()) {
        std::fprintf(stderr, "diff: %zu vs %zu tensors\n", a.tensors.size(), b.tensors.size());
        return 1;
      }
      double worst = 0, scale = 0;
      std::string where = "(none)";
      std::size_t values = 0;
      for (const auto& [name, ta] : a.tensors) {
        const auto it = b.tensors.find(name);
        if (it == b.tensors.end() || it->second.shape() != ta.shape()) {
          std::fprintf(stderr, "diff: tensor %s missing or of another shape in %s\n", name.c_str(), argv[3]);
          return 1;
        }
        const std::vector<double> va = ta.to_vector<double>(), vb = it->second.to_vector<double>();
        values += va.size();
        for (std::size_t i = 0; i < va.size(); ++i) {
          const double d = std::abs(va[i] - vb[i]);
          if (!(d <= worst)) {
            worst = d;
            where = name;
          }
          scale = std::max(scale, std::abs(va[i]));
        }
      }
      std::printf("max abs difference %.3g (in %s; %zu values, max |value| %.3g) tolerance %.3g: %s\n", worst,
                  where.c_str(), values, scale, tol, worst <= tol ? "ok" : "EXCEEDED");
      return worst <= tol ? 0 : 1;
    }
    std::fprintf(stderr, "usage: mpi_train_tool images DIR N SIZE SEED | diff A B TOL\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_train_tool: %s\n", e.what());
    return 1;
  }
}
