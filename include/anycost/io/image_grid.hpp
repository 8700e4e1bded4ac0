// make_grid / save_image_grid: tile a batch of images into one image for sample sheets.
//
// Contract: images [N,C,H,W] with N >= 1 and C = 1 or 3, any dtype and device (the grid keeps both).
// cols = min(nrow, N) images per row (nrow = 0 means ceil(sqrt(N))), rows = ceil(N / cols); the result is
// [C, rows*(H+padding)+padding, cols*(W+padding)+padding]. Image i sits at row i / cols, column i % cols,
// its top-left pixel at (padding + row*(H+padding), padding + col*(W+padding)). Padding and the empty cells
// of a last, partly filled row hold `pad_value`. Like torchvision's make_grid, but clamping nrow to N
// (no empty columns) and defaulting to a square layout.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/io/image.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

inline Tensor make_grid(const Tensor& images, int nrow = 0, int padding = 2, double pad_value = -1.0) {
  ANYCOST_CHECK(images.defined(), ValueError, "make_grid: images are undefined");
  ANYCOST_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), ShapeError,
                "make_grid: images must be [N,C,H,W] with C = 1 or 3, got ", images.shape());
  ANYCOST_CHECK(images.size(0) >= 1, ShapeError, "make_grid: no images (shape ", images.shape(), ")");
  ANYCOST_CHECK(nrow >= 0, ValueError, "make_grid: nrow is ", nrow, ", must be >= 0 (0 picks a square grid)");
  ANYCOST_CHECK(padding >= 0, ValueError, "make_grid: padding is ", padding, ", must be >= 0");
  const std::int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  std::int64_t cols = nrow;
  if (cols == 0)
    for (cols = 1; cols * cols < n;) ++cols;  // integer ceil(sqrt(n)), no floating-point edge cases
  cols = std::min(cols, n);
  const std::int64_t rows = (n + cols - 1) / cols;
  const Tensor grid = Tensor::full(Shape{c, rows * (h + padding) + padding, cols * (w + padding) + padding},
                                   pad_value, images.dtype(), images.device());
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t y = padding + i / cols * (h + padding), x = padding + i % cols * (w + padding);
    grid.narrow(1, y, h).narrow(2, x, w).copy_(images.select(0, i));
  }
  return grid;
}

// Writes make_grid(images, nrow, padding) as a PNG (atomic; see write_png), padding black (-1).
inline void save_image_grid(const std::filesystem::path& path, const Tensor& images, int nrow = 0,
                            int padding = 2) {
  write_png(path, make_grid(images, nrow, padding, -1.0));
}

}  // namespace io
ANYCOST_NAMESPACE_END
