// The fuzz build compiles stb_image's decoder here, with the fuzzer's coverage and the sanitizers, instead of
// calling Debian's uninstrumented libstb.so: libFuzzer can only steer by code it instruments. The
// executable's definitions take precedence over the shared library's.
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
