// Channel sorting (Lin et al. 2021, Sec. 3, adaptive-channel training): the full generator is unchanged,
// sub-networks change, and the first channels are the important ones.
#include "models/models_test_support.hpp"

using namespace anycost;
using namespace anycost::models;
using anycost::test::max_abs;
using anycost::test::max_abs_diff;

TEST_CASE("Channel sorting keeps the full generator and reorders sub-networks", "[channel_sort]") {
  Generator g = test::random_generator({.resolution = 32, .style_dim = 12, .n_mlp = 2, .channel_max = 16}, 21);
  Rng rng(2);
  const Var z(randn({3, 12}, rng));
  const SubnetConfig sub = g.channel_table().uniform(0.25), flex = g.channel_table().flexible(
                                                                   {10, 8, 12, 6, 16, 9, 5, 7});
  Tensor before_full, before_sub, before_flex;
  {
    NoGradGuard no_grad;
    before_full = g.generate(z, g.full_config()).image.data();
    before_sub = g.generate(z, sub).image.data();
    before_flex = g.generate(z, flex).image.data();
  }
  const Tensor old_weight = g.blocks.back().conv.conv.weight.data();
  sort_channels(g, {.samples = 500, .seed = 3, .chunk = 128});
  CHECK(g.blocks.back().conv.conv.weight.data().storage() != old_weight.storage());  // replaced, not edited
  NoGradGuard no_grad;
  const Tensor after_full = g.generate(z, g.full_config()).image.data();
  CHECK(max_abs_diff(before_full, after_full) <= 1e-5 * std::max(1.0, max_abs(before_full)));
  CHECK(max_abs_diff(before_sub, g.generate(z, sub).image.data()) > 1e-3);
  CHECK(max_abs_diff(before_flex, g.generate(z, flex).image.data()) > 1e-3);

  // The top ToRGB's inputs are now in descending order of importance.
  const auto& top = g.blocks.back().to_rgb.conv;
  const Var w = g.map(Var(randn({500, 12}, rng)));
  const auto s = Var(abs(top.modulation.forward(w))).data().to_vector<double>();
  const auto wt = top.weight.data().to_vector<double>();  // [1, 3, C, 1, 1]
  const std::int64_t c = top.in_channels();
  std::vector<double> imp(static_cast<std::size_t>(c), 0.0);
  for (std::int64_t i = 0; i < c; ++i) {
    double l1 = 0, ms = 0;
    for (int o = 0; o < 3; ++o) l1 += std::abs(wt[static_cast<std::size_t>(o * c + i)]);
    for (std::int64_t n = 0; n < 500; ++n) ms += s[static_cast<std::size_t>(n * c + i)];
    imp[static_cast<std::size_t>(i)] = l1 * ms;
  }
  int inversions = 0;
  for (std::int64_t i = 0; i + 1 < c; ++i) inversions += imp[static_cast<std::size_t>(i)] < imp[static_cast<std::size_t>(i + 1)];
  CHECK(inversions <= 1);  // other latents than the sort's, so near-ties may swap
  CHECK(imp.front() > imp.back());
}
