// libFuzzer entry point for the latency table harness (harness.hpp); built with -DANYCOST_FUZZ=ON.
#include "harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return anycost_fuzz::latency_table(data, size);
}
