// The two LPIPS trunks as layer tables: torchvision's AlexNet and VGG16 `features` stacks, cut into the five
// slices whose last ReLU outputs LPIPS compares (lpips 0.1, lpips/pretrained_networks.py: alexnet, vgg16).
//
// Every step is a convolution followed by ReLU, or a max pooling. A step carries the torchvision index of
// its layer in `features` and the slice it belongs to, so parameter names are the lpips state_dict keys
// "net.slice<s>.<index>.weight" / ".bias". `tap` marks the step after whose ReLU a slice ends.
#pragma once

#include <cstdint>
#include <vector>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace losses {

enum class LpipsNet : std::uint8_t { alex, vgg };

inline const char* lpips_net_name(LpipsNet n) { return n == LpipsNet::alex ? "alex" : "vgg"; }

struct LpipsStep {
  bool conv = true;   // conv + ReLU, else max pooling
  int index = 0;      // position in torchvision's `features`
  int slice = 1;      // lpips slice (1..5)
  int in = 0, out = 0;
  int kernel = 3, stride = 1, pad = 1;
  bool tap = false;   // the slice's output (relu1..relu5 / relu1_2..relu5_3) is taken after this step
};

inline std::vector<LpipsStep> lpips_steps(LpipsNet net) {
  auto conv = [](int index, int slice, int in, int out, int k, int s, int p, bool tap = false) {
    return LpipsStep{true, index, slice, in, out, k, s, p, tap};
  };
  auto pool = [](int index, int slice, int k, int s) { return LpipsStep{false, index, slice, 0, 0, k, s, 0, false}; };
  if (net == LpipsNet::alex)
    return {conv(0, 1, 3, 64, 11, 4, 2, true),  pool(2, 2, 3, 2),
            conv(3, 2, 64, 192, 5, 1, 2, true), pool(5, 3, 3, 2),
            conv(6, 3, 192, 384, 3, 1, 1, true), conv(8, 4, 384, 256, 3, 1, 1, true),
            conv(10, 5, 256, 256, 3, 1, 1, true)};
  return {conv(0, 1, 3, 64, 3, 1, 1),        conv(2, 1, 64, 64, 3, 1, 1, true),
          pool(4, 2, 2, 2),                  conv(5, 2, 64, 128, 3, 1, 1),
          conv(7, 2, 128, 128, 3, 1, 1, true), pool(9, 3, 2, 2),
          conv(10, 3, 128, 256, 3, 1, 1),    conv(12, 3, 256, 256, 3, 1, 1),
          conv(14, 3, 256, 256, 3, 1, 1, true), pool(16, 4, 2, 2),
          conv(17, 4, 256, 512, 3, 1, 1),    conv(19, 4, 512, 512, 3, 1, 1),
          conv(21, 4, 512, 512, 3, 1, 1, true), pool(23, 5, 2, 2),
          conv(24, 5, 512, 512, 3, 1, 1),    conv(26, 5, 512, 512, 3, 1, 1),
          conv(28, 5, 512, 512, 3, 1, 1, true)};
}

// Channels of the five tapped feature maps (the widths of the linear heads lin0..lin4).
inline std::vector<int> lpips_tap_channels(LpipsNet net) {
  std::vector<int> c;
  for (const LpipsStep& s : lpips_steps(net))
    if (s.tap) c.push_back(s.out);
  return c;
}

}  // namespace losses
ANYCOST_NAMESPACE_END
