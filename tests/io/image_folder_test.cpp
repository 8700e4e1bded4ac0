// io/image_folder.hpp: scanning, bad files, the official multi-resolution preparation (PIL bilinear from the
// original, tests/data/resize/ written by tools/golden/make_resize_goldens.py), JPEG input, the cache.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <stb_image_write.h>

#include "anycost/core/tensor.hpp"
#include "anycost/io/image.hpp"
#include "anycost/io/image_folder.hpp"
#include "io/io_test_support.hpp"
#include "support/compare.hpp"
#include "support/golden.hpp"
#include "support/image_folder_fixture.hpp"

using anycost::DType;
using anycost::FormatError;
using anycost::IoError;
using anycost::Shape;
using anycost::Tensor;
using anycost::ValueError;
using anycost::io::ImageFolder;
using anycost::io::ImageFolderOptions;
using anycost_test::message_of;
using anycost_test::read_bytes;
using anycost_test::TempDir;
using anycost_test::write_bytes;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;
namespace test = anycost::test;

namespace {

// A PNG cut after its IHDR chunk: the header reads, the pixels do not.
void write_truncated_png(const fs::path& p) {
  TempDir scratch;
  test::write_image_folder(scratch.path(), 1, 8, 99);
  write_bytes(p, read_bytes(scratch / "img_0000.png").substr(0, 40));
}

void write_jpeg(const fs::path& p, const Tensor& image, int quality) {
  const std::int64_t h = image.size(1), w = image.size(2);
  std::vector<unsigned char> rgb(static_cast<std::size_t>(h * w * 3));
  const float* src = image.data<float>();
  for (std::int64_t i = 0; i < h * w; ++i)
    for (int c = 0; c < 3; ++c)
      rgb[static_cast<std::size_t>(i * 3 + c)] =
          static_cast<unsigned char>(std::lround((src[c * h * w + i] + 1.0) * 127.5));
  REQUIRE(stbi_write_jpg(p.c_str(), static_cast<int>(w), static_cast<int>(h), 3, rgb.data(), quality) != 0);
}

}  // namespace

TEST_CASE("ImageFolder scans recursively, sorted, by extension in any case, and reports bad headers") {
  TempDir dir;
  test::write_image_folder(dir / "b", 2, 8, 1);                // b/img_0000.png, b/img_0001.png
  test::write_image_folder(dir / "a" / "deep", 1, 8, 2);       // a/deep/img_0000.png
  fs::rename(dir / "b" / "img_0001.png", dir / "b" / "UPPER.PNG");
  write_jpeg(dir / "c.JpEg", test::generated_image(3, 0, 8, 8), 90);
  write_bytes(dir / "notes.txt", "not an image");
  write_bytes(dir / "text.png", "this is text with a .png name");
  write_bytes(dir / "a" / "noise.jpg", std::string(64, '\x5a'));
  write_bytes(dir / "empty.png", "");
  write_truncated_png(dir / "b" / "truncated.png");

  const ImageFolder folder(ImageFolderOptions{dir.path(), {8, 4}});
  const std::vector<fs::path> expected = {dir / "a" / "deep" / "img_0000.png", dir / "b" / "UPPER.PNG",
                                          dir / "b" / "img_0000.png", dir / "b" / "truncated.png", dir / "c.JpEg"};
  CHECK(folder.files() == expected);
  CHECK(folder.size() == 5);
  REQUIRE(folder.skipped().size() == 3);  // sorted: a/noise.jpg, empty.png, text.png
  CHECK_THAT(folder.skipped()[0], Contains((dir / "a" / "noise.jpg").string() + ": "));
  CHECK_THAT(folder.skipped()[1], Contains((dir / "empty.png").string() + ": "));
  CHECK_THAT(folder.skipped()[2], Contains((dir / "text.png").string() + ": neither a PNG nor a JPEG file"));
  CHECK(folder.failed().empty());

  SECTION("a file whose pixels do not decode fails when loaded, by name, and is recorded once") {
    CHECK_THAT(message_of<FormatError>([&] { folder.sample(3); }),
               Contains("cannot decode '" + (dir / "b" / "truncated.png").string() + "'"));
    CHECK(folder.is_failed(3));
    CHECK_THAT(message_of<FormatError>([&] { folder.images(3); }), Contains("truncated.png"));
    REQUIRE(folder.failed().size() == 1);
    CHECK_THAT(folder.failed()[0], Contains((dir / "b" / "truncated.png").string() + ": "));
    CHECK_FALSE(folder.is_failed(2));
  }
  SECTION("good files give [3,r,r] samples at every resolution") {
    const auto imgs = folder.images(4);
    REQUIRE(imgs.size() == 2);
    CHECK(imgs[0].shape() == Shape{3, 8, 8});
    CHECK(imgs[1].shape() == Shape{3, 4, 4});
  }
  CHECK_THAT(message_of<ValueError>([&] { folder.sample(5); }), Contains("index 5 out of range for 5 images"));
}

TEST_CASE("ImageFolder errors name the folder: missing, empty, only bad files, bad resolutions") {
  TempDir dir;
  CHECK_THAT(message_of<IoError>([&] { ImageFolder(ImageFolderOptions{dir / "missing", {8}}); }),
             Contains("'" + (dir / "missing").string() + "' is not a directory"));
  fs::create_directories(dir / "empty" / "sub");
  write_bytes(dir / "empty" / "sub" / "readme.md", "no images here");
  CHECK_THAT(message_of<FormatError>([&] { ImageFolder(ImageFolderOptions{dir / "empty", {8}}); }),
             Contains("no decodable .png/.jpg/.jpeg image under '" + (dir / "empty").string() + "' (0 candidate"));
  fs::create_directories(dir / "bad");
  write_bytes(dir / "bad" / "x.png", "text");
  write_bytes(dir / "bad" / "y.jpg", "more text");
  CHECK_THAT(message_of<FormatError>([&] { ImageFolder(ImageFolderOptions{dir / "bad", {8}}); }),
             Contains("under '" + (dir / "bad").string() + "' (2 candidate files, skipped: ") && Contains("x.png: ") &&
                 Contains("y.jpg: "));
  test::write_image_folder(dir / "good", 1, 8);
  CHECK_THAT(message_of<ValueError>([&] { ImageFolder(ImageFolderOptions{dir / "good", {}}); }),
             Contains("no resolutions requested"));
  CHECK_THAT(message_of<ValueError>([&] { ImageFolder(ImageFolderOptions{dir / "good", {8, 8}}); }),
             Contains("strictly descending") && Contains("got 8 then 8"));
  CHECK_THAT(message_of<ValueError>([&] { ImageFolder(ImageFolderOptions{dir / "good", {8, 0}}); }),
             Contains("resolution 1 is 0"));
}

TEST_CASE("ImageFolder prepares each resolution like the official MultiResize (PIL bilinear from the original)") {
  const test::Json& doc = test::load_golden("resize/resize_goldens.json");
  TempDir dir;
  fs::copy_file(test::data_path("resize/pipeline_45x30.png"), dir / "pipeline_45x30.png");
  std::vector<int> res;
  for (const auto& s : doc.at("folder").at("samples")) res.push_back(s.at("resolution").get<int>());
  REQUIRE(res == std::vector<int>{16, 8, 5});
  const ImageFolder folder(ImageFolderOptions{dir.path(), res});
  const auto sample = folder.sample(0);
  REQUIRE(sample->images.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("resolution " << res[i]);
    CHECK(sample->images[i].height == res[i]);
    CHECK(sample->images[i].width == res[i]);
    CHECK(anycost_test::chw_bytes(sample->images[i]) == doc.at("folder").at("samples")[i].at("expected").get<std::vector<int>>());
  }
  // As tensors: v / 127.5 - 1 (io::read_image's mapping), and the flip mirrors every resolution.
  const auto plain = folder.images(0), flipped = folder.images(0, true);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto bytes = doc.at("folder").at("samples")[i].at("expected").get<std::vector<double>>();
    std::vector<double> scaled;
    for (double v : bytes) scaled.push_back(static_cast<double>(static_cast<float>(v / 127.5 - 1.0)));
    const Tensor expected = Tensor::from_vector(scaled, Shape{3, res[i], res[i]});
    CHECK_ALLCLOSE(plain[i], expected, 0.0, 0.0);
    for (std::int64_t x = 0; x < res[i]; ++x)
      CHECK_ALLCLOSE(flipped[i].narrow(2, x, 1), expected.narrow(2, res[i] - 1 - x, 1), 0.0, 0.0);
  }
}

TEST_CASE("ImageFolder reads JPEG files as io::read_image decodes them") {
  TempDir dir;
  const Tensor src = test::generated_image(5, 0, 12, 12);
  write_jpeg(dir / "photo.jpg", src, 95);
  const ImageFolder folder(ImageFolderOptions{dir.path(), {12, 6}});
  const auto imgs = folder.images(0);
  CHECK_ALLCLOSE(imgs[0], anycost::io::read_image(dir / "photo.jpg"), 0.0, 0.0);  // same decoder, same mapping
  CHECK(test::max_abs_diff(imgs[0], src) < 0.35);  // JPEG loss at quality 95 on sharp edges (levels / 127.5)
}

TEST_CASE("ImageFolder non-square images: short side resized, centre kept") {
  TempDir dir;
  const Tensor wide = test::generated_image(7, 0, 6, 10);
  anycost::io::write_png(dir / "wide.png", wide);
  const ImageFolder folder(ImageFolderOptions{dir.path(), {6, 3}});
  // 6 x 10 at resolution 6 needs no resize: the centre 6 columns, starting at column 2.
  CHECK_ALLCLOSE(folder.images(0)[0], anycost::io::read_image(dir / "wide.png").narrow(2, 2, 6), 0.0, 0.0);
  CHECK(folder.images(0)[1].shape() == Shape{3, 3, 3});
}

TEST_CASE("ImageFolder caches the prefix of indices the byte budget holds") {
  TempDir dir;
  test::write_image_folder(dir.path(), 5, 8);
  const std::size_t per_sample = 3 * (8 * 8 + 4 * 4);
  SECTION("everything fits") {
    const ImageFolder folder(ImageFolderOptions{dir.path(), {8, 4}});
    CHECK(folder.sample_bytes() == per_sample);
    CHECK(folder.cache_capacity() == 5);
    CHECK(folder.sample(4) == folder.sample(4));  // the same cached object
  }
  SECTION("a budget of two and a half samples caches indices 0 and 1") {
    const ImageFolder folder(ImageFolderOptions{dir.path(), {8, 4}, per_sample * 5 / 2});
    CHECK(folder.cache_capacity() == 2);
    CHECK(folder.sample(1) == folder.sample(1));
    const auto a = folder.sample(2), b = folder.sample(2);
    CHECK(a != b);                                                  // decoded again
    CHECK(anycost_test::chw_bytes(a->images[0]) == anycost_test::chw_bytes(b->images[0]));      // to the same bytes
  }
  SECTION("no budget, no cache; concurrent loads agree") {
    const ImageFolder folder(ImageFolderOptions{dir.path(), {8, 4}, 0});
    CHECK(folder.cache_capacity() == 0);
    std::vector<std::vector<int>> got(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] { got[static_cast<std::size_t>(t)] = anycost_test::chw_bytes(folder.sample(3)->images[1]); });
    for (auto& th : threads) th.join();
    for (int t = 1; t < 4; ++t) CHECK(got[static_cast<std::size_t>(t)] == got[0]);
  }
}

// Not run by default: ./build/tests/test_io "[timing]" prints the decode and cache costs per sample.
TEST_CASE("ImageFolder decode vs cache timing", "[.][timing]") {
  TempDir dir;
  test::write_image_folder(dir.path(), 16, 256);
  const ImageFolder cold(ImageFolderOptions{dir.path(), {256, 128, 64, 32}, 0});
  const ImageFolder warm(ImageFolderOptions{dir.path(), {256, 128, 64, 32}});
  for (std::size_t i = 0; i < warm.size(); ++i) warm.sample(i);
  auto per_sample_us = [&](const ImageFolder& f) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int rep = 0; rep < 4; ++rep)
      for (std::size_t i = 0; i < f.size(); ++i) f.images(i);
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 64.0;
  };
  const double decode = per_sample_us(cold), cached = per_sample_us(warm);
  std::printf("256x256 PNG -> {256,128,64,32} float tensors: %.0f us per sample decoded, %.0f us cached (%.1fx)\n",
              decode, cached, decode / cached);
  CHECK(cached > 0);
}
