// A scatter plot of cost (x: MACs or milliseconds) against distance (y) as a PNG, for the trade-off a search
// finds: every configuration it scored, the chosen ones, and the uniform-ratio sub-networks for comparison.
// Plain raster drawing (no text: the CLI prints the numbers): white background, axes from the origin
// of the data box with tick marks at each fifth of the range, each series a colour and a marker size.
// pareto_front keeps the points no other point beats in both coordinates.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/io/image.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace search {

struct PlotSeries {
  std::vector<std::pair<double, double>> points;  // (cost, distance)
  float rgb[3] = {0.5f, 0.5f, 0.5f};              // in [0, 1]
  int radius = 1;                                 // marker half-size in pixels
};

// Points not dominated (lower-or-equal cost and distance, one strictly lower) by another, by ascending cost.
inline std::vector<std::pair<double, double>> pareto_front(std::vector<std::pair<double, double>> pts) {
  std::sort(pts.begin(), pts.end());
  std::vector<std::pair<double, double>> front;
  for (const auto& p : pts)
    if (front.empty() || p.second < front.back().second) {
      if (!front.empty() && front.back().first == p.first) front.pop_back();
      front.push_back(p);
    }
  return front;
}

// The plot as a [3, height, width] float32 image in [-1, 1].
inline Tensor plot_scatter(const std::vector<PlotSeries>& series, int width = 640, int height = 480) {
  ANYCOST_CHECK(width >= 64 && height >= 64 && width <= 8192 && height <= 8192, ValueError, "plot_scatter: size ",
                width, "x", height, " is outside 64..8192");
  double x0 = INFINITY, x1 = -INFINITY, y0 = 0, y1 = -INFINITY;  // distance axis starts at 0
  for (const auto& s : series)
    for (const auto& [x, y] : s.points) {
      ANYCOST_CHECK(std::isfinite(x) && std::isfinite(y), ValueError, "plot_scatter: point (", x, ", ", y,
                    ") is not finite");
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y1 = 1;  // no points: an empty frame
  x0 = std::min(x0, 0.0);
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  y1 += 0.05 * (y1 - y0), x1 += 0.05 * (x1 - x0);  // room for the largest markers
  Tensor img = Tensor::full(Shape{3, height, width}, 1.0, DType::float32);
  float* p = img.data<float>();
  const int left = 40, right = width - 16, top = 16, bottom = height - 32;
  auto put = [&](int px, int py, const float* c) {
    if (px < 0 || py < 0 || px >= width || py >= height) return;
    for (int ch = 0; ch < 3; ++ch)
      p[(static_cast<std::int64_t>(ch) * height + py) * width + px] = c[ch] * 2.0f - 1.0f;
  };
  const float black[3] = {0, 0, 0};
  for (int x = left; x <= right; ++x) put(x, bottom, black);
  for (int y = top; y <= bottom; ++y) put(left, y, black);
  for (int k = 1; k <= 5; ++k) {
    const int tx = left + (right - left) * k / 5, ty = bottom - (bottom - top) * k / 5;
    for (int d = 1; d <= 5; ++d) put(tx, bottom + d, black), put(left - d, ty, black);
  }
  for (const auto& s : series)
    for (const auto& [x, y] : s.points) {
      const int px = left + static_cast<int>(std::lround((x - x0) / (x1 - x0) * (right - left)));
      const int py = bottom - static_cast<int>(std::lround((y - y0) / (y1 - y0) * (bottom - top)));
      for (int dy = -s.radius; dy <= s.radius; ++dy)
        for (int dx = -s.radius; dx <= s.radius; ++dx) put(px + dx, py + dy, s.rgb);
    }
  return img;
}

// Writes plot_scatter(series) as a PNG (atomic).
inline void save_scatter_png(const std::filesystem::path& path, const std::vector<PlotSeries>& series, int width = 640,
                             int height = 480) {
  io::write_png(path, plot_scatter(series, width, height));
}

}  // namespace search
ANYCOST_NAMESPACE_END
