// A small generated image folder for tests and CI training runs: structured pictures (a two-colour gradient,
// a disc and a bar in other colours), deterministic in (seed, index), written as PNGs with io::write_png.
//
//   anycost::test::write_image_folder(dir, 32, 16);           // 32 images 16x16: dir/img_0000.png ...
//   anycost::io::ImageFolder folder({dir, {16, 8}});
//
// Every image differs from its mirror image (the disc sits off-centre), so flips are visible, and the content
// is smooth enough that downscaled versions still look alike, which is what a GAN can learn in a few steps.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <anycost/core/rng.hpp>
#include <anycost/core/tensor.hpp>
#include <anycost/io/image.hpp>

namespace anycost::test {

// Image `index` of the generated set: [3, height, width] float32 in [-1, 1].
inline Tensor generated_image(std::uint64_t seed, std::uint64_t index, std::int64_t height, std::int64_t width) {
  // 16 uniforms per image from Philox (key = seed, blocks 4 * index ..): colours, centre, radius, bar.
  float u[16];
  for (int i = 0; i < 16; ++i) u[i] = philox::uniform_at(seed, 4 * index, static_cast<std::uint64_t>(i));
  auto colour = [&](int at, int c) { return 2.0f * u[at + c] - 1.0f; };
  const double cx = (0.15 + 0.3 * u[12]) * static_cast<double>(width);  // left half: never mirror-symmetric
  const double cy = (0.25 + 0.5 * u[13]) * static_cast<double>(height);
  const double radius = (0.15 + 0.15 * u[14]) * static_cast<double>(std::min(height, width));
  const auto bar_row = static_cast<std::int64_t>(u[15] * static_cast<float>(height));
  Tensor img = Tensor::empty(Shape{3, height, width});
  float* p = img.data<float>();
  for (std::int64_t y = 0; y < height; ++y)
    for (std::int64_t x = 0; x < width; ++x) {
      const float t = static_cast<float>(x + y) / static_cast<float>(std::max<std::int64_t>(height + width - 2, 1));
      const bool disc = std::hypot(static_cast<double>(x) + 0.5 - cx, static_cast<double>(y) + 0.5 - cy) < radius;
      const bool bar = y == bar_row && x > width / 2;
      for (int c = 0; c < 3; ++c) {
        float v = (1 - t) * colour(0, c) + t * colour(3, c);  // gradient between two colours
        if (disc) v = colour(6, c);
        if (bar) v = colour(9, c);
        p[(c * height + y) * width + x] = v;
      }
    }
  return img;
}

// Writes `count` generated PNGs of height x width (width 0: square) to `dir`, created if missing, named
// img_0000.png, img_0001.png, ... (sorted order = index order). Returns their paths.
inline std::vector<std::filesystem::path> write_image_folder(const std::filesystem::path& dir, int count,
                                                             std::int64_t height, std::uint64_t seed = 0,
                                                             std::int64_t width = 0) {
  std::filesystem::create_directories(dir);
  std::vector<std::filesystem::path> paths;
  for (int i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "img_%04d.png", i);
    paths.push_back(dir / name);
    io::write_png(paths.back(), generated_image(seed, static_cast<std::uint64_t>(i), height, width ? width : height));
  }
  return paths;
}

}  // namespace anycost::test
