// io/batch_loader.hpp: the order and flips as functions of (seed, epoch, index), independence from the thread
// count, bitwise resumption, epoch crossing, clean shutdown and errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "anycost/core/tensor.hpp"
#include "anycost/io/batch_loader.hpp"
#include "anycost/io/image_folder.hpp"
#include "io/io_test_support.hpp"
#include "support/compare.hpp"
#include "support/image_folder_fixture.hpp"

using anycost::FormatError;
using anycost::IoError;
using anycost::Shape;
using anycost::Tensor;
using anycost::ValueError;
using anycost::io::Batch;
using anycost::io::BatchLoader;
using anycost::io::DataPosition;
using anycost::io::epoch_permutation;
using anycost::io::flip_decision;
using anycost::io::ImageFolder;
using anycost::io::ImageFolderOptions;
using anycost::io::LoaderOptions;
using anycost_test::message_of;
using anycost_test::TempDir;
using anycost_test::write_bytes;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;
namespace test = anycost::test;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  if (!(a.shape() == b.shape())) return false;
  const auto x = a.to_vector<float>(), y = b.to_vector<float>();
  return std::equal(x.begin(), x.end(), y.begin(),
                    [](float p, float q) { return std::memcmp(&p, &q, sizeof p) == 0; });
}

bool same_batch(const Batch& a, const Batch& b) {
  if (a.images.size() != b.images.size() || !(a.next == b.next) || a.files != b.files || a.flipped != b.flipped)
    return false;
  for (std::size_t r = 0; r < a.images.size(); ++r)
    if (!same_bits(a.images[r], b.images[r])) return false;
  return true;
}

std::vector<Batch> take(BatchLoader& loader, int count) {
  std::vector<Batch> out;
  for (int i = 0; i < count; ++i) out.push_back(loader.next());
  return out;
}

}  // namespace

TEST_CASE("epoch_permutation and flip_decision are pure functions of (seed, epoch, index)") {
  const auto p = epoch_permutation(1000, 7, 3);
  std::vector<std::uint32_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::uint32_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0u);
  CHECK(sorted == iota);
  CHECK(p == epoch_permutation(1000, 7, 3));
  CHECK(p != epoch_permutation(1000, 7, 4));
  CHECK(p != epoch_permutation(1000, 8, 3));
  CHECK(p != iota);
  CHECK(epoch_permutation(1, 7, 0) == std::vector<std::uint32_t>{0});
  CHECK(epoch_permutation(0, 7, 0).empty());
  // Every position is equally likely to hold a given item: item 0's position over 4000 epochs of n = 4.
  std::vector<int> where(4, 0);
  for (std::uint64_t e = 0; e < 4000; ++e) {
    const auto q = epoch_permutation(4, 1, e);
    ++where[static_cast<std::size_t>(std::find(q.begin(), q.end(), 0u) - q.begin())];
  }
  for (int w : where) CHECK(std::abs(w - 1000) < 120);  // about 4 standard deviations
  int flips = 0, differ = 0;
  for (std::uint64_t i = 0; i < 10000; ++i) {
    flips += flip_decision(5, 2, i);
    differ += flip_decision(5, 2, i) != flip_decision(5, 3, i);
  }
  CHECK(std::abs(flips - 5000) < 200);
  CHECK(std::abs(differ - 5000) < 200);
}

TEST_CASE("BatchLoader batches are the permutation's samples, flipped by flip_decision, across epochs") {
  TempDir dir;
  test::write_image_folder(dir.path(), 7, 8, 11);
  const ImageFolder folder(ImageFolderOptions{dir.path(), {8, 4}});
  const std::uint64_t seed = 42;
  BatchLoader loader(folder, 3, seed, DataPosition{}, LoaderOptions{2, 2, true});
  CHECK(loader.position() == DataPosition{0, 0});
  int flips = 0;
  for (std::uint64_t k = 0; k < 6; ++k) {  // 18 samples: epochs 0, 1 and the start of 2
    const Batch b = loader.next();
    REQUIRE(b.images.size() == 2);
    CHECK(b.images[0].shape() == Shape{3, 3, 8, 8});
    CHECK(b.images[1].shape() == Shape{3, 3, 4, 4});
    const std::uint64_t end = 3 * (k + 1);
    CHECK(b.next == DataPosition{end / 7, end % 7});
    CHECK(loader.position() == b.next);
    for (std::uint64_t s = 0; s < 3; ++s) {
      const std::uint64_t g = 3 * k + s, e = g / 7, i = g % 7;
      const std::size_t file = epoch_permutation(7, seed, e)[i];
      const bool flip = flip_decision(seed, e, i);
      INFO("batch " << k << " sample " << s << " (epoch " << e << ", index " << i << ")");
      CHECK(b.files[s] == file);
      CHECK(b.flipped[s] == (flip ? 1 : 0));
      flips += flip;
      const auto expected = folder.images(file, flip);  // one decision for both resolutions
      for (std::size_t r = 0; r < 2; ++r)
        CHECK(same_bits(b.images[r].select(0, static_cast<std::int64_t>(s)), expected[r]));
      if (flip) CHECK_FALSE(same_bits(expected[1], folder.images(file, false)[1]));  // the flip is visible
    }
  }
  CHECK(flips > 0);
  CHECK(flips < 18);
}

TEST_CASE("BatchLoader gives the same batches with 1 or 4 workers and any prefetch depth") {
  TempDir dir;
  test::write_image_folder(dir.path(), 10, 8, 3);
  const ImageFolder folder(ImageFolderOptions{dir.path(), {8, 4, 2}});
  BatchLoader one(folder, 4, 9, DataPosition{}, LoaderOptions{1, 1, true});
  BatchLoader four(folder, 4, 9, DataPosition{}, LoaderOptions{4, 3, true});
  const auto a = take(one, 8), b = take(four, 8);
  for (std::size_t k = 0; k < a.size(); ++k) {
    INFO("batch " << k);
    CHECK(same_batch(a[k], b[k]));
  }
  BatchLoader other_seed(folder, 4, 10, DataPosition{}, LoaderOptions{2, 2, true});
  CHECK_FALSE(same_batch(a[0], other_seed.next()));
}

TEST_CASE("BatchLoader resumed from position() reads exactly the batches of an uninterrupted run") {
  TempDir dir;
  test::write_image_folder(dir.path(), 9, 8, 4);
  const ImageFolder folder(ImageFolderOptions{dir.path(), {8, 4}});
  BatchLoader full(folder, 4, 123, DataPosition{}, LoaderOptions{3, 2, true});
  const auto reference = take(full, 10);
  for (int k : {1, 2, 5}) {
    DataPosition saved;
    {
      BatchLoader first(folder, 4, 123, DataPosition{}, LoaderOptions{2, 4, true});
      take(first, k);
      saved = first.position();
    }  // destroyed with batches still prefetched
    CHECK(saved == reference[static_cast<std::size_t>(k - 1)].next);
    BatchLoader resumed(folder, 4, 123, saved, LoaderOptions{1, 1, true});
    for (int j = k; j < 10; ++j) {
      INFO("resumed after " << k << " batches, batch " << j);
      CHECK(same_batch(resumed.next(), reference[static_cast<std::size_t>(j)]));
    }
  }
}

TEST_CASE("BatchLoader batches larger than the folder span several epochs") {
  TempDir dir;
  test::write_image_folder(dir.path(), 3, 4, 5);
  const ImageFolder folder(ImageFolderOptions{dir.path(), {4}});
  BatchLoader loader(folder, 8, 1, DataPosition{1, 2}, LoaderOptions{2, 2, false});
  const Batch b = loader.next();
  std::vector<std::size_t> expected;
  for (std::uint64_t g = 5; g < 13; ++g) expected.push_back(epoch_permutation(3, 1, g / 3)[g % 3]);
  CHECK(b.files == expected);
  CHECK(b.next == DataPosition{4, 1});
  CHECK(b.flipped == std::vector<std::uint8_t>(8, 0));  // xflip off
}

TEST_CASE("BatchLoader stops cleanly whenever it is destroyed") {
  TempDir dir;
  test::write_image_folder(dir.path(), 6, 32, 6);
  const ImageFolder folder(ImageFolderOptions{dir.path(), {32, 16}, 0});
  for (int consumed : {0, 1, 3}) {
    BatchLoader loader(folder, 2, 0, DataPosition{}, LoaderOptions{4, 8, true});
    for (int i = 0; i < consumed; ++i) CHECK(loader.next().images[0].shape() == Shape{2, 3, 32, 32});
    CHECK(loader.position() == DataPosition{static_cast<std::uint64_t>(2 * consumed / 6),
                                            static_cast<std::uint64_t>(2 * consumed % 6)});
  }  // each destructor joins 4 workers mid-epoch; a hang fails the test by timeout
}

TEST_CASE("BatchLoader replaces files that fail to decode and surfaces other errors in next()") {
  TempDir dir;
  const auto paths = test::write_image_folder(dir.path(), 5, 8, 8);
  SECTION("a late decode failure is replaced by the permutation's next decodable file, deterministically") {
    write_bytes(paths[2], anycost_test::read_bytes(paths[2]).substr(0, 40));  // header intact, pixels gone
    const ImageFolder folder(ImageFolderOptions{dir.path(), {8}});
    REQUIRE(folder.size() == 5);
    BatchLoader loader(folder, 5, 3, DataPosition{}, LoaderOptions{3, 2, true});
    const Batch b = loader.next();
    const auto perm = epoch_permutation(5, 3, 0);
    const auto bad_at = static_cast<std::size_t>(std::find(perm.begin(), perm.end(), 2u) - perm.begin());
    for (std::size_t s = 0; s < 5; ++s) {
      const std::size_t expected = s == bad_at ? perm[(s + 1) % 5] : perm[s];
      CHECK(b.files[s] == expected);
    }
    REQUIRE(folder.failed().size() == 1);
    CHECK_THAT(folder.failed()[0], Contains(paths[2].string()));
    BatchLoader again(folder, 5, 3, DataPosition{}, LoaderOptions{1, 1, true});  // now known as failed
    CHECK(same_batch(again.next(), b));
  }
  SECTION("a file removed after the scan is an IoError from next(); the loader then stays broken") {
    const ImageFolder folder(ImageFolderOptions{dir.path(), {8}, 0});
    fs::remove(paths[4]);
    BatchLoader loader(folder, 5, 3, DataPosition{}, LoaderOptions{2, 2, true});
    CHECK_THAT(message_of<IoError>([&] { loader.next(); }), Contains(paths[4].string()));
    CHECK(loader.position() == DataPosition{0, 0});
    CHECK_THAT(message_of<IoError>([&] { loader.next(); }), Contains(paths[4].string()));
  }
  SECTION("when no file decodes, next() says so") {
    for (const auto& p : paths) write_bytes(p, anycost_test::read_bytes(p).substr(0, 40));
    const ImageFolder folder(ImageFolderOptions{dir.path(), {8}});
    BatchLoader loader(folder, 2, 3, DataPosition{}, LoaderOptions{2, 2, true});
    CHECK_THAT(message_of<FormatError>([&] { loader.next(); }), Contains("none of the 5 images"));
    CHECK(folder.failed().size() == 5);
  }
}

TEST_CASE("BatchLoader rejects bad arguments by name") {
  TempDir dir;
  test::write_image_folder(dir.path(), 3, 4);
  const ImageFolder folder(ImageFolderOptions{dir.path(), {4}});
  CHECK_THAT(message_of<ValueError>([&] { BatchLoader(folder, 0, 1); }), Contains("batch size must be >= 1, got 0"));
  CHECK_THAT(message_of<ValueError>([&] { BatchLoader(folder, 2, 1, {}, LoaderOptions{0, 1, true}); }),
             Contains("workers must be >= 1, got 0"));
  CHECK_THAT(message_of<ValueError>([&] { BatchLoader(folder, 2, 1, {}, LoaderOptions{1, 0, true}); }),
             Contains("prefetch must be >= 1, got 0"));
  CHECK_THAT(message_of<ValueError>([&] { BatchLoader(folder, 2, 1, DataPosition{2, 3}); }),
             Contains("start position (epoch 2, index 3) is past the 3 images"));
}
