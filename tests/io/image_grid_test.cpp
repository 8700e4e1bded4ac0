#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "anycost/core/tensor.hpp"
#include "anycost/io/image.hpp"
#include "anycost/io/image_grid.hpp"
#include "io/io_test_support.hpp"

using anycost::DType;
using anycost::Shape;
using anycost::ShapeError;
using anycost::Tensor;
using anycost::ValueError;
using anycost::io::make_grid;
using anycost_test::message_of;
using anycost_test::TempDir;
using Catch::Matchers::Contains;

namespace {

// images[n, c, y, x] = n + c/10 + y/100 + x/1000: every pixel says where it came from.
Tensor tagged(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, DType dtype = DType::float64) {
  Tensor t = Tensor::empty(Shape{n, c, h, w}, DType::float64);
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = 0; k < c; ++k)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) *p++ = double(i) + k / 10.0 + y / 100.0 + x / 1000.0;
  return t.to(dtype);
}

// Checks every pixel of `grid` against the documented layout.
void check_layout(const Tensor& images, const Tensor& grid, std::int64_t cols, std::int64_t pad, double pad_value) {
  const std::int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const std::int64_t rows = (n + cols - 1) / cols;
  REQUIRE(grid.shape() == Shape{c, rows * (h + pad) + pad, cols * (w + pad) + pad});
  const auto g = grid.to_vector<double>();
  const auto im = images.to_vector<double>();
  const std::int64_t gh = grid.size(1), gw = grid.size(2);
  for (std::int64_t k = 0; k < c; ++k)
    for (std::int64_t y = 0; y < gh; ++y)
      for (std::int64_t x = 0; x < gw; ++x) {
        double want = pad_value;
        const std::int64_t ty = y - pad, tx = x - pad;  // position relative to the first tile
        if (ty >= 0 && tx >= 0 && ty % (h + pad) < h && tx % (w + pad) < w) {
          const std::int64_t i = ty / (h + pad) * cols + tx / (w + pad);
          if (i < n) want = im[((i * c + k) * h + ty % (h + pad)) * w + tx % (w + pad)];
        }
        if (g[(k * gh + y) * gw + x] != want)
          FAIL("grid[" << k << "," << y << "," << x << "] = " << g[(k * gh + y) * gw + x] << ", expected " << want);
      }
}

}  // namespace

TEST_CASE("make_grid: default square layout, tile positions and padding") {
  const Tensor images = tagged(5, 3, 2, 3);
  const Tensor grid = make_grid(images);
  CHECK(grid.shape() == Shape{3, 10, 17});  // ceil(sqrt(5)) = 3 columns, 2 rows
  check_layout(images, grid, 3, 2, -1.0);
  // Spot checks written out by hand: image 4 (row 1, column 1) starts at (2 + 1*4, 2 + 1*5) = (6, 7).
  const auto g = grid.to_vector<double>();
  CHECK(g[(0 * 10 + 6) * 17 + 7] == 4.0);
  CHECK(g[(2 * 10 + 7) * 17 + 9] == 4.0 + 0.2 + 0.01 + 0.002);
  CHECK(g[(0 * 10 + 6) * 17 + 12] == -1.0);  // the empty sixth cell
  CHECK(g[0] == -1.0);                        // the border
}

TEST_CASE("make_grid: nrow, padding and pad value, dtype kept") {
  const Tensor images = tagged(5, 1, 3, 2, DType::float32);
  SECTION("two per row") {
    const Tensor grid = make_grid(images, 2, 1, 0.5);
    CHECK(grid.dtype() == DType::float32);
    CHECK(grid.shape() == Shape{1, 3 * 4 + 1, 2 * 3 + 1});
    check_layout(images, grid, 2, 1, 0.5);
  }
  SECTION("no padding, one row") {
    const Tensor grid = make_grid(images, 5, 0);
    CHECK(grid.shape() == Shape{1, 3, 10});
    check_layout(images, grid, 5, 0, -1.0);
  }
  SECTION("nrow larger than the batch is clamped to it") {
    CHECK(make_grid(images, 64, 2).shape() == Shape{1, 3 + 4, 5 * 4 + 2});
  }
  SECTION("perfect squares and single images") {
    CHECK(make_grid(tagged(4, 3, 1, 1), 0, 0).shape() == Shape{3, 2, 2});
    CHECK(make_grid(tagged(9, 3, 1, 1), 0, 0).shape() == Shape{3, 3, 3});
    CHECK(make_grid(tagged(10, 3, 1, 1), 0, 0).shape() == Shape{3, 3, 4});
    const Tensor one = tagged(1, 3, 2, 2);
    check_layout(one, make_grid(one), 1, 2, -1.0);
  }
  SECTION("a non-contiguous batch") {
    const Tensor view = tagged(3, 3, 4, 5).transpose(2, 3);  // [3, 3, 5, 4]
    check_layout(view.contiguous(), make_grid(view, 0, 1), 2, 1, -1.0);
  }
}

TEST_CASE("make_grid rejects bad arguments") {
  CHECK_THAT(message_of<ShapeError>([] { (void)make_grid(Tensor::zeros(Shape{3, 2, 2})); }), Contains("[N,C,H,W]"));
  CHECK_THAT(message_of<ShapeError>([] { (void)make_grid(Tensor::zeros(Shape{2, 2, 2, 2})); }), Contains("C = 1 or 3"));
  CHECK_THAT(message_of<ShapeError>([] { (void)make_grid(Tensor::zeros(Shape{0, 3, 2, 2})); }), Contains("no images"));
  CHECK_THAT(message_of<ValueError>([] { (void)make_grid(Tensor::zeros(Shape{1, 3, 2, 2}), -1); }), Contains("nrow"));
  CHECK_THAT(message_of<ValueError>([] { (void)make_grid(Tensor::zeros(Shape{1, 3, 2, 2}), 0, -2); }), Contains("padding"));
}

TEST_CASE("save_image_grid writes the grid as a PNG with black padding") {
  TempDir dir;
  const auto p = dir / "grid.png";
  const Tensor images = Tensor::ones(Shape{3, 3, 4, 4});
  anycost::io::save_image_grid(p, images, 3, 1);
  const Tensor back = anycost::io::read_image(p);
  REQUIRE(back.shape() == Shape{3, 6, 16});
  const auto v = back.to_vector<float>();
  CHECK(v[0] == -1.0f);             // padding: black
  CHECK(v[1 * 16 + 1] == 1.0f);     // first pixel of image 0: white
  CHECK(v[1 * 16 + 5] == -1.0f);    // the padding column between images 0 and 1
  CHECK(v[4 * 16 + 14] == 1.0f);    // last pixel of image 2
}
