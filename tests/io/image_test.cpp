#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "anycost/core/tensor.hpp"
#include "anycost/io/image.hpp"
#include "io/io_test_support.hpp"

using anycost::DType;
using anycost::FormatError;
using anycost::IoError;
using anycost::Shape;
using anycost::ShapeError;
using anycost::Tensor;
using anycost::ValueError;
using anycost::io::read_image;
using anycost::io::write_png;
using anycost_test::io_data;
using anycost_test::message_of;
using anycost_test::read_bytes;
using anycost_test::TempDir;
using anycost_test::write_bytes;
using Catch::Matchers::Contains;

namespace {

// A [c,h,w] image with a spread of values in [-1, 1], float32.
Tensor pattern(std::int64_t c, std::int64_t h, std::int64_t w) {
  Tensor t = Tensor::empty(Shape{c, h, w});
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)) * 0.999);
  return t;
}

std::uint32_t be32(const std::string& s, std::size_t at) {
  return (std::uint32_t(std::uint8_t(s[at])) << 24) | (std::uint32_t(std::uint8_t(s[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(s[at + 2])) << 8) | std::uint32_t(std::uint8_t(s[at + 3]));
}

// The 8-bit value a pixel in [0, 255] reads back as.
float level(int v) { return static_cast<float>(v / 127.5 - 1.0); }

}  // namespace

TEST_CASE("write_png then read_image round-trips an RGB image within one 8-bit step") {
  TempDir dir;
  const auto p = dir / "rgb.png";
  const Tensor img = pattern(3, 5, 7);
  write_png(p, img);
  const std::string bytes = read_bytes(p);
  REQUIRE(bytes.size() > 26);
  CHECK(bytes.substr(1, 3) == "PNG");
  CHECK(be32(bytes, 16) == 7);  // IHDR width
  CHECK(be32(bytes, 20) == 5);  // IHDR height
  CHECK(int(std::uint8_t(bytes[24])) == 8);  // bit depth
  CHECK(int(std::uint8_t(bytes[25])) == 2);  // colour type RGB

  const Tensor back = read_image(p);
  REQUIRE(back.shape() == Shape{3, 5, 7});
  REQUIRE(back.dtype() == DType::float32);
  const auto a = img.to_vector<float>(), b = back.to_vector<float>();
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  CHECK(worst <= 1.0 / 255.0 + 1e-6);  // rounding to the nearest of 256 levels spaced 2/255 apart
  CHECK(worst > 0);                     // the values really went through 8 bits
  CHECK(dir.entries() == std::vector<std::string>{"rgb.png"});
}

TEST_CASE("write_png clamps, maps -1 and 1 to 0 and 255, rounds half up, and takes views and float64") {
  TempDir dir;
  const auto p = dir / "levels.png";
  // x = 0 maps to 127.5, which rounds half up to 128; 2*10/255 - 1 maps back to level 10.
  const std::vector<double> xs = {-5.0, -1.0, 0.0, 1.0, 7.0, std::numeric_limits<double>::infinity(),
                                  -std::numeric_limits<double>::infinity(), 2.0 * 10 / 255 - 1};
  Tensor img = Tensor::from_vector(xs, Shape{1, 1, 8});
  write_png(p, img);
  const std::string bytes = read_bytes(p);
  CHECK(int(std::uint8_t(bytes[25])) == 0);  // grayscale PNG for one channel
  const auto back = read_image(p);
  REQUIRE(back.shape() == Shape{3, 1, 8});
  const std::vector<float> want = {level(0), level(0), level(128), level(255), level(255), level(255), level(0), level(10)};
  for (int c = 0; c < 3; ++c) {
    const auto got = back.select(0, c).to_vector<float>();
    CHECK(got == want);
  }
  CHECK(back.to_vector<float>()[0] == -1.0f);
  CHECK(back.to_vector<float>()[3] == 1.0f);

  // A non-contiguous float64 view (transposed spatial dims) is written as the view shows it.
  Tensor base = Tensor::empty(Shape{3, 4, 2}, DType::float64);
  for (std::int64_t i = 0; i < base.numel(); ++i) base.data<double>()[i] = (i % 5) * 0.5 - 1.0;
  const Tensor view = base.transpose(1, 2);  // [3, 2, 4]
  write_png(p, view);
  const Tensor r = read_image(p);
  REQUIRE(r.shape() == Shape{3, 2, 4});
  const auto got = r.to_vector<float>();
  const auto want_view = view.to_vector<double>();
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want_view[i]) <= 1.0 / 255.0 + 1e-6);
}

TEST_CASE("write_png rejects bad images with clear errors and leaves existing files alone") {
  TempDir dir;
  const auto p = dir / "keep.png";
  write_bytes(p, "old");
  CHECK_THAT(message_of<ShapeError>([&] { write_png(p, Tensor::zeros(Shape{4, 2, 2})); }), Contains("[3,H,W] or [1,H,W]"));
  CHECK_THAT(message_of<ShapeError>([&] { write_png(p, Tensor::zeros(Shape{2, 2})); }), Contains("got [2, 2]"));
  CHECK_THAT(message_of<ShapeError>([&] { write_png(p, Tensor::zeros(Shape{3, 0, 2})); }), Contains("no pixels"));
  CHECK_THROWS_AS(write_png(p, Tensor()), ValueError);
  Tensor nan = Tensor::zeros(Shape{3, 2, 2});
  nan.data<float>()[1 * 4 + 1 * 2 + 0] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THAT(message_of<ValueError>([&] { write_png(p, nan); }), Contains("NaN at channel 1, row 1, column 0"));
  CHECK(read_bytes(p) == "old");
  CHECK_THAT(message_of<IoError>([&] { write_png(dir / "missing" / "x.png", pattern(3, 2, 2)); }),
             Contains("write_png") && Contains("missing"));
}

TEST_CASE("read_image decodes PNGs from an independent encoder: 8-bit RGB, 16-bit gray, RGBA") {
  SECTION("8-bit RGB") {
    const Tensor t = read_image(io_data("rgb8_3x2.png"));
    REQUIRE(t.shape() == Shape{3, 2, 3});
    // Pixel (row 1, column 2) is (10, 128, 200); (row 0, column 0) is pure red.
    const int rgb[2][3][3] = {{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}}, {{0, 0, 0}, {255, 255, 255}, {10, 128, 200}}};
    const auto v = t.to_vector<float>();
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x) CHECK(v[(c * 2 + y) * 3 + x] == level(rgb[y][x][c]));
  }
  SECTION("16-bit gray keeps 16-bit precision and fills three channels") {
    const Tensor t = read_image(io_data("gray16_2x2.png"));
    REQUIRE(t.shape() == Shape{3, 2, 2});
    const auto v = t.to_vector<float>();
    const int gray[4] = {0, 65535, 32768, 1000};
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 4; ++i) CHECK(v[c * 4 + i] == static_cast<float>(gray[i] / 32767.5 - 1.0));
  }
  SECTION("alpha is dropped") {
    const Tensor t = read_image(io_data("rgba8_2x1.png"));
    REQUIRE(t.shape() == Shape{3, 1, 2});
    CHECK(t.to_vector<float>() == std::vector<float>{level(200), level(1), level(100), level(2), level(50), level(3)});
  }
}

TEST_CASE("read_image decodes JPEG") {
  // Encode a two-colour JPEG in memory with stb's writer (the reader never sees this path's code).
  const int w = 16, h = 16;
  std::vector<unsigned char> rgb(w * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      unsigned char* px = &rgb[(y * w + x) * 3];
      px[0] = x < 8 ? 230 : 20;
      px[1] = 40;
      px[2] = x < 8 ? 20 : 210;
    }
  std::string jpeg;
  auto append = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); };
  REQUIRE(stbi_write_jpg_to_func(append, &jpeg, w, h, 3, rgb.data(), 95) != 0);
  TempDir dir;
  const auto p = dir / "two.jpg";
  write_bytes(p, jpeg);
  const Tensor t = read_image(p);
  REQUIRE(t.shape() == Shape{3, 16, 16});
  const auto v = t.to_vector<float>();
  auto at = [&](int c, int y, int x) { return v[(c * h + y) * w + x]; };
  // JPEG is lossy: allow a few levels away from the encoded colour in the flat interior of each half.
  const double tol = 8.0 / 127.5;
  CHECK(std::abs(at(0, 4, 2) - level(230)) < tol);
  CHECK(std::abs(at(1, 4, 2) - level(40)) < tol);
  CHECK(std::abs(at(2, 4, 2) - level(20)) < tol);
  CHECK(std::abs(at(0, 12, 13) - level(20)) < tol);
  CHECK(std::abs(at(2, 12, 13) - level(210)) < tol);
}

TEST_CASE("read_image: missing, empty, foreign and corrupt files") {
  TempDir dir;
  CHECK_THAT(message_of<IoError>([&] { (void)read_image(dir / "absent.png"); }),
             Contains("absent.png") && Contains("No such file"));
  write_bytes(dir / "empty.png", "");
  CHECK_THAT(message_of<FormatError>([&] { (void)read_image(dir / "empty.png"); }), Contains("empty.png' is empty"));
  write_bytes(dir / "text.png", "GIF89a not really");
  CHECK_THAT(message_of<FormatError>([&] { (void)read_image(dir / "text.png"); }),
             Contains("text.png' is neither a PNG nor a JPEG"));
  // A valid PNG cut in the middle of its image data.
  const std::string png = read_bytes(io_data("rgb8_3x2.png"));
  write_bytes(dir / "cut.png", png.substr(0, png.size() - 20));
  CHECK_THAT(message_of<FormatError>([&] { (void)read_image(dir / "cut.png"); }),
             Contains("cut.png") && Contains("cannot decode PNG"));
  write_bytes(dir / "cut.jpg", std::string("\xff\xd8\xff\xe0", 4));
  CHECK_THAT(message_of<FormatError>([&] { (void)read_image(dir / "cut.jpg"); }), Contains("cannot decode JPEG"));
}
