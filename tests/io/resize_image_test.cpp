// io/resize_image.hpp against Pillow 9.4 and torchvision 0.14 (tools/golden/make_resize_goldens.py writes
// tests/data/resize/resize_goldens.json).
//
// Measured with the tolerances set to 0 (./build/tests/test_io "*resize*"), Pillow 9.4, GCC 12 x86-64:
//   uint8 path: bit-exact with PIL's 8-bit resize on all 8 cases.
//   float32 path vs PIL mode "F": 2 of 3 cases bit-exact, max |error| 7.5e-9 (1 ulp at 0.08); asserted
//   <= 1.2e-7 (1 ulp at 1), since both sum in double into a float32 intermediate.
//   float64 path vs PIL mode "F": max |error| 4.7e-8 (PIL's float32 intermediate); asserted <= 1e-7.
//   torchvision Resize(int) + CenterCrop on uint8: bit-exact on 3 cases; the float path on the same bytes
//   differs from it by at most 0.97 levels (PIL rounds the intermediate and output to bytes); asserted <= 1.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "anycost/core/tensor.hpp"
#include "anycost/io/resize_image.hpp"
#include "io/io_test_support.hpp"
#include "support/golden.hpp"

using anycost::DType;
using anycost::Shape;
using anycost::ShapeError;
using anycost::Tensor;
using anycost::ValueError;
using anycost::io::Image8;
using anycost_test::message_of;
using Catch::Matchers::Contains;
namespace io = anycost::io;
namespace test = anycost::test;

namespace {

const test::Json& goldens() {
  static const test::Json doc = test::load_golden("resize/resize_goldens.json");
  return doc;
}

// An interleaved Image8 from channel-first bytes.
Image8 image8(const test::Json& input) {
  const auto shape = input.at("shape").get<std::vector<std::int64_t>>();
  const auto chw = input.at("data").get<std::vector<int>>();
  Image8 img{shape[1], shape[2], shape[0], {}};
  img.pixels.resize(chw.size());
  for (std::int64_t c = 0; c < img.channels; ++c)
    for (std::int64_t i = 0; i < img.height * img.width; ++i)
      img.pixels[static_cast<std::size_t>(i * img.channels + c)] =
          static_cast<std::uint8_t>(chw[static_cast<std::size_t>(c * img.height * img.width + i)]);
  return img;
}

const test::Json& input_of(const test::Json& c) { return goldens().at("inputs").at(c.at("input").get<std::string>()); }

}  // namespace

TEST_CASE("resize_bilinear on 8-bit images is bit-exact with PIL's Image.resize(BILINEAR)") {
  int checked = 0;
  for (const auto& c : goldens().at("cases")) {
    if (c.at("kind") != "uint8") continue;
    const auto name = c.at("name").get<std::string>();
    const auto out_shape = c.at("out_shape").get<std::vector<std::int64_t>>();
    const Image8 out = io::resize_bilinear(image8(input_of(c)), out_shape[1], out_shape[2]);
    INFO(name);
    CHECK(out.height == out_shape[1]);
    CHECK(out.width == out_shape[2]);
    CHECK(anycost_test::chw_bytes(out) == c.at("expected").get<std::vector<int>>());
    ++checked;
  }
  CHECK(checked == 8);
}

TEST_CASE("resize_bilinear on float32 tensors matches PIL mode F within one ulp") {
  int checked = 0;
  for (const auto& c : goldens().at("cases")) {
    if (c.at("kind") != "float") continue;
    INFO(c.at("name").get<std::string>());
    const Tensor in = test::golden_tensor(input_of(c), DType::float32);
    const auto out_shape = c.at("out_shape").get<std::vector<std::int64_t>>();
    const Tensor expected = test::golden_tensor({{"shape", out_shape}, {"data", c.at("expected")}}, DType::float32);
    const Tensor out = io::resize_bilinear(in, out_shape[1], out_shape[2]);
    CHECK(out.dtype() == DType::float32);
    CHECK_ALLCLOSE(out, expected, 0.0, 1.2e-7);
    // float64 accumulates the same sums without the float32 intermediate: within float32 rounding of PIL.
    CHECK_ALLCLOSE(io::resize_bilinear(in.to(DType::float64), out_shape[1], out_shape[2]), expected, 0.0, 1e-7);
    ++checked;
  }
  CHECK(checked == 3);
}

TEST_CASE("resize_center_crop reproduces torchvision Resize(int) + CenterCrop, on bytes and on tensors") {
  int checked = 0;
  for (const auto& c : goldens().at("cases")) {
    if (c.at("kind") != "pipeline") continue;
    INFO(c.at("name").get<std::string>());
    const auto size = c.at("size").get<std::int64_t>();
    const Image8 in = image8(input_of(c));
    const auto expected = c.at("expected").get<std::vector<int>>();
    const Image8 out = io::resize_center_crop(in, size);
    CHECK(out.height == size);
    CHECK(out.width == size);
    CHECK(anycost_test::chw_bytes(out) == expected);
    // The float path on the same bytes agrees up to the 8-bit rounding of PIL's intermediate and output.
    const Tensor t = test::golden_tensor(input_of(c), DType::float32);
    const Tensor ft = io::resize_center_crop(t, size);
    std::vector<double> e(expected.begin(), expected.end());
    CHECK_ALLCLOSE(ft, Tensor::from_vector(e, Shape{3, size, size}), 0.0, 1.0);
    ++checked;
  }
  CHECK(checked == 3);
}

TEST_CASE("resize helpers: identity, short-side sizes, crop offsets, strided input") {
  Tensor x = Tensor::empty(Shape{2, 5, 8});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) - 3.0f;
  SECTION("the same size is an unchanged copy") {
    const Tensor y = io::resize_bilinear(x, 5, 8);
    CHECK(y.storage() != x.storage());
    CHECK_ALLCLOSE(y, x, 0.0, 0.0);
  }
  SECTION("short side: 5x8 -> 3x4 (floor(3 * 8 / 5) = 4), 8x5 -> 4x3") {
    CHECK(io::resize_short_side(x, 3).shape() == Shape{2, 3, 4});
    CHECK(io::resize_short_side(x.transpose(1, 2), 3).shape() == Shape{2, 4, 3});
  }
  SECTION("centre crop offsets round half to even: 8 -> 5 starts at round(1.5) = 2, 5 -> 2 at round(1.5) = 2") {
    const Tensor c = io::center_crop(x, 2, 5);
    CHECK_ALLCLOSE(c, x.narrow(1, 2, 2).narrow(2, 2, 5), 0.0, 0.0);
    const Tensor d = io::center_crop(x, 4, 3);  // (5-4)/2 = 0.5 -> 0, (8-3)/2 = 2.5 -> 2
    CHECK_ALLCLOSE(d, x.narrow(1, 0, 4).narrow(2, 2, 3), 0.0, 0.0);
  }
  SECTION("a transposed view resizes like its contiguous copy") {
    const Tensor t = x.transpose(1, 2);
    CHECK_ALLCLOSE(io::resize_bilinear(t, 3, 2), io::resize_bilinear(t.contiguous(), 3, 2), 0.0, 0.0);
  }
  SECTION("a constant image stays constant under any resize (weights sum to one)") {
    const Tensor k = Tensor::full(Shape{1, 9, 13}, 0.25);
    CHECK_ALLCLOSE(io::resize_bilinear(k, 4, 20), Tensor::full(Shape{1, 4, 20}, 0.25), 0.0, 1e-7);
    Image8 k8{9, 13, 1, std::vector<std::uint8_t>(9 * 13, 77)};
    const Image8 r8 = io::resize_bilinear(k8, 2, 30);
    CHECK(r8.pixels == std::vector<std::uint8_t>(60, 77));
  }
}

TEST_CASE("resize helpers reject bad input by name") {
  const Tensor x = Tensor::zeros(Shape{3, 4, 4});
  CHECK_THAT(message_of<ValueError>([&] { io::resize_bilinear(x, 0, 3); }),
             Contains("resize_bilinear") && Contains("output size must be >= 1, got 0x3"));
  CHECK_THAT(message_of<ShapeError>([&] { io::resize_bilinear(Tensor::zeros(Shape{4, 4}), 2, 2); }),
             Contains("image must be [C,H,W]"));
  CHECK_THAT(message_of<ValueError>([&] { io::center_crop(x, 5, 2); }),
             Contains("center_crop: crop 5x2 does not fit in the image [3, 4, 4]"));
  CHECK_THAT(message_of<ValueError>([&] { io::resize_short_side(x, -1); }), Contains("size must be >= 1, got -1"));
  Image8 bad{2, 2, 3, std::vector<std::uint8_t>(5)};
  CHECK_THAT(message_of<ShapeError>([&] { io::resize_bilinear(bad, 1, 1); }),
             Contains("image 2x2x3 holds 5 bytes"));
  CHECK_THAT(message_of<ValueError>([&] { io::center_crop(Image8{2, 2, 1, std::vector<std::uint8_t>(4)}, 3, 1); }),
             Contains("crop 3x1 does not fit in the image 2x2"));
}
