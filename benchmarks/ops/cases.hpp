// The benchmark items of bench_ops, shared by the anycost side (one file per op) and the LibTorch side
// (torch_reference_bench.cpp), so that both time exactly the same shapes. Names follow
// "<group>/<case>/<impl>" (see support/ratio_table.hpp).
#pragma once

#include <cstdint>
#include <string>

namespace anycost::bench {

inline constexpr int gemm_sizes[] = {512, 1024, 2048};

// 3×3 stride-1 padding-1 convolutions, Cin = Cout.
struct ConvCase {
  const char* name;
  int n, c, hw;
  bool backward;  // also timed forward + backward (input and weight gradients)
};
inline constexpr ConvCase conv_cases[] = {
    {"N4_C256_32x32", 4, 256, 32, true},
    {"N4_C512_8x8", 4, 512, 8, true},
    // The interactive preview path: batch 1, low resolution, full width.
    {"N1_C512_4x4", 1, 512, 4, false},
    {"N1_C512_8x8", 1, 512, 8, false},
    {"N1_C512_16x16", 1, 512, 16, false},
};
inline double conv_flops(const ConvCase& c) { return 2.0 * c.n * c.c * c.c * 9.0 * c.hw * c.hw; }

// The generator's up-convolution: conv_transpose2d, 3×3, stride 2, padding 0 (output 2H+1).
inline constexpr ConvCase up_conv_cases[] = {
    {"N1_C512_8x8", 1, 512, 8, false},
    {"N4_C256_32x32", 4, 256, 32, false},
};

// upfirdn2d with StyleGAN2's [1,3,3,1] blur (outer product, normalised, times up² when upsampling).
struct UpFirDnCase {
  const char* name;
  int n, c, hw, up, pad0, pad1;
};
inline constexpr UpFirDnCase upfirdn_cases[] = {
    // ToRGB skip: upsample the RGB image by 2 (pad (2, 1)).
    {"up2_N4_C3_256x256", 4, 3, 256, 2, 2, 1},
    // The blur after the stride-2 transposed convolution (pad (1, 1)): 2H+1 -> 2H.
    {"blur_N4_C256_65x65", 4, 256, 65, 1, 1, 1},
    {"blur_N1_C512_17x17", 1, 512, 17, 1, 1, 1},
};

// Elementwise: a 5-op chain on 1M floats, y = clamp(lrelu(a*b + c, 0.2) * sqrt(2), -256, 256).
inline constexpr std::int64_t chain_elements = 1 << 20;
inline constexpr double chain_gain = 1.4142135623730951;

// Autodiff overhead: forward + backward through a chain of single-op nodes on a 1-element tensor.
inline constexpr int autodiff_chain_ops = 64;

inline std::string bench_name(const char* group, const std::string& item, const char* impl) {
  return std::string(group) + "/" + item + "/" + impl;
}

}  // namespace anycost::bench
