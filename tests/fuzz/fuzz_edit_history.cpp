// libFuzzer entry point for the studio edit history harness (harness.hpp); built with -DANYCOST_FUZZ=ON.
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return anycost_fuzz::edit_history(data, size);
}
