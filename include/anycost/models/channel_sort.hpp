// Channel sorting (Lin et al. 2021, Sec. 3, adaptive-channel training): a one-off reordering of the generator's
// channels so that "the first k channels" of every layer are its most important ones, applied before
// adaptive-channel training. It permutes the output channels of one layer together with the input channels of every
// layer that reads them, so the full generator computes exactly the same function (tested to 1e-5); only
// sub-networks change.
//
// Importance of input channel i of a modulated conv (StyledConv or ToRGB):
//   imp_i = (sum_{o, kh, kw} |W[o, i, kh, kw]|) * mean_n |s_n,i|,
// s the modulation styles of n mapped random latents (the official code uses 100,000). Walking from the top block
// down, the permutation is taken from the top ToRGB, then from each conv's inputs, and carried to the layer that
// produces them (sort_channels below gives the exact order); the mapping network and the noise are untouched.
// Parameters are replaced by permuted copies (the old tensors are not modified in place).
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <vector>

#include "anycost/models/generator.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

struct ChannelSortOptions {
  std::int64_t samples = 10000;  // latents whose styles are averaged (the reference: 100,000)
  std::uint64_t seed = 0;
  std::int64_t chunk = 1000;
};

namespace detail {
using Permutation = std::vector<std::int64_t>;

// out[..., j, ...] = t[..., perm[j], ...] along `axis` (a fresh tensor on t's device).
inline Tensor permute_axis(const Tensor& t, int axis, const Permutation& perm) {
  ANYCOST_CHECK(static_cast<std::int64_t>(perm.size()) == t.size(axis), ShapeError, "sort_channels: permutation of ",
                perm.size(), " channels for an axis of ", t.size(axis));
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  for (std::size_t j = 0; j < perm.size(); ++j)
    out.narrow(axis, static_cast<std::int64_t>(j), 1).copy_(t.narrow(axis, perm[j], 1));
  return out;
}
inline void permute_param(Var& p, int axis, const Permutation& perm) {
  p = Var(permute_axis(p.data(), axis, perm), p.requires_grad());
}

// Descending importance; ties keep the original order.
inline Permutation sort_descending(const std::vector<double>& importance) {
  Permutation perm(importance.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](std::int64_t a, std::int64_t b) {
    return importance[static_cast<std::size_t>(a)] > importance[static_cast<std::size_t>(b)];
  });
  return perm;
}

template <class Conv>
void permute_inputs(Conv& conv, const Permutation& perm) {
  permute_param(conv.weight, 2, perm);
  permute_param(conv.modulation.weight, 0, perm);
  permute_param(conv.modulation.bias, 0, perm);
}
template <class StyledConv>
void permute_outputs(StyledConv& layer, const Permutation& perm) {
  permute_param(layer.conv.weight, 1, perm);
  permute_param(layer.activate.bias, 0, perm);
}

// Mean |s| per input channel of a modulated conv, over the mapped latents (accumulated chunk by chunk).
class StyleMagnitudes {
 public:
  template <class Conv>
  void add(const Conv& conv, const Var& w) {
    const std::vector<double> s = Var(abs(conv.modulation.forward(w))).data().template to_vector<double>();
    auto& acc = sums_[&conv.modulation.weight];
    const std::size_t c = static_cast<std::size_t>(conv.in_channels());
    acc.resize(c, 0.0);
    for (std::size_t i = 0; i < s.size(); ++i) acc[i % c] += s[i];
  }
  void set_count(std::int64_t n) { count_ = n; }
  // imp_i = sum_{o,kh,kw} |W[o,i]| * mean |s_i|.
  template <class Conv>
  std::vector<double> importance(const Conv& conv) const {
    const auto& acc = sums_.at(&conv.modulation.weight);
    const Tensor w = conv.weight.data();  // [1, C_out, C_in, k, k]
    const std::int64_t co = w.size(1), ci = w.size(2), kk = w.size(3) * w.size(4);
    const std::vector<double> v = w.template to_vector<double>();
    std::vector<double> imp(static_cast<std::size_t>(ci), 0.0);
    for (std::int64_t o = 0; o < co; ++o)
      for (std::int64_t i = 0; i < ci; ++i)
        for (std::int64_t t = 0; t < kk; ++t)
          imp[static_cast<std::size_t>(i)] += std::abs(v[static_cast<std::size_t>((o * ci + i) * kk + t)]);
    for (std::int64_t i = 0; i < ci; ++i)
      imp[static_cast<std::size_t>(i)] *= acc[static_cast<std::size_t>(i)] / static_cast<double>(count_);
    return imp;
  }

 private:
  std::map<const Var*, std::vector<double>> sums_;
  std::int64_t count_ = 1;
};
}  // namespace detail

// Reorders g's channels by importance (in place; the full generator's output is unchanged).
inline void sort_channels(Generator& g, const ChannelSortOptions& opts = {}) {
  ANYCOST_CHECK(opts.samples >= 1 && opts.chunk >= 1, ValueError, "sort_channels: samples (", opts.samples,
                ") and chunk (", opts.chunk, ") must be >= 1");
  ANYCOST_CHECK(!g.blocks.empty(), ValueError, "sort_channels: the generator is not initialised");
  NoGradGuard no_grad;
  detail::StyleMagnitudes mags;
  Rng rng(opts.seed);
  for (std::int64_t done = 0; done < opts.samples; done += opts.chunk) {
    const std::int64_t m = std::min(opts.chunk, opts.samples - done);
    const Var w = g.map(Var(randn({m, g.style_dim()}, rng, g.dtype(), g.device())));
    mags.add(g.conv1.conv, w);
    mags.add(g.to_rgb1.conv, w);
    for (const SynthesisBlock& b : g.blocks) {
      mags.add(b.conv_up.conv, w);
      mags.add(b.conv.conv, w);
      mags.add(b.to_rgb.conv, w);
    }
  }
  mags.set_count(opts.samples);

  using detail::permute_inputs;
  using detail::permute_outputs;
  using detail::sort_descending;
  detail::Permutation perm = sort_descending(mags.importance(g.blocks.back().to_rgb.conv));
  for (auto it = g.blocks.rbegin(); it != g.blocks.rend(); ++it) {
    permute_inputs(it->to_rgb.conv, perm);
    permute_outputs(it->conv, perm);
    perm = sort_descending(mags.importance(it->conv.conv));
    permute_inputs(it->conv.conv, perm);
    permute_outputs(it->conv_up, perm);
    perm = sort_descending(mags.importance(it->conv_up.conv));
    permute_inputs(it->conv_up.conv, perm);
  }
  permute_inputs(g.to_rgb1.conv, perm);
  permute_outputs(g.conv1, perm);
  perm = sort_descending(mags.importance(g.conv1.conv));
  permute_inputs(g.conv1.conv, perm);
  detail::permute_param(g.input.input, 1, perm);
}

}  // namespace models
ANYCOST_NAMESPACE_END
