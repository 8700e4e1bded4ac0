// ImageFolder: the training images of a GAN, found under one folder and prepared at every training resolution.
//
// The official trainer (tools/train_gan.py) reads a torchvision ImageFolder and, for multi-resolution training,
// resizes each image from the original to every resolution with PIL bilinear (utils/datasets.py: MultiResize);
// paper §4.2 of the implementation notes: 128, 256, 512 and 1024 for FFHQ. This class does the same with
// io/resize_image.hpp, on the 8-bit pixels the decoder returns, so for PNG input a sample holds the bytes the
// official pipeline holds before ToTensor. Unlike torchvision it needs no class sub-folders and it centre-crops
// non-square images (torchvision CenterCrop), since the generator's outputs are square.
//
// Contract:
//   * Scan (constructor): every regular file below `root` (recursively, following file symlinks, skipping
//     unreadable directories) whose extension is .png, .jpg or .jpeg in any case. Paths are sorted, so the
//     index of a file is the same on every run and machine. Each candidate's header is read (the signature
//     and the dimensions, not the pixels); a file whose header does not decode is left out and
//     reported in skipped() as "<path>: <reason>". A folder that does not exist is an IoError; a folder with
//     no usable image is a FormatError naming it (and the first skipped files, if any).
//   * Late failures: a file whose header is fine but whose pixel data does not decode (a truncated PNG, say)
//     is found only when sample() decodes it. sample() then throws FormatError naming the file and the
//     decoder's reason, and records the file in failed(), which the trainer logs; io/batch_loader.hpp
//     replaces such a sample deterministically. A file that cannot be read any more is an IoError.
//   * Decoding: 8-bit RGB (gray is replicated, alpha dropped, 16-bit PNG reduced to its high byte, as PIL's
//     convert("RGB") does), by io/image_decode.hpp (libpng, libjpeg-turbo: PIL's decoders too). Images above
//     image_max_pixels fail as undecodable ones do.
//   * Samples: for each requested resolution r (strictly descending, the first is the training resolution
//     R), the original's short side is resized to r with PIL's bilinear filter and the centre r x r is kept.
//   * Cache: prepared samples of the indices [0, cache_capacity()) are kept in memory after their first
//     load, cache_capacity() = min(size(), cache_bytes / sample_bytes()). A dataset that fits the budget is
//     thus decoded once; a larger one caches a fixed prefix (deterministic, independent of thread timing).
//   * Thread safety: sample(), images() and failed() may be called from many threads at once.
#pragma once

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/io/image_decode.hpp"
#include "anycost/io/mapped_file.hpp"
#include "anycost/io/resize_image.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

struct ImageFolderOptions {
  std::filesystem::path root;
  std::vector<int> resolutions;  // strictly descending; the first is the training resolution R
  std::size_t cache_bytes = std::size_t{1} << 30;
};

// One prepared training image: an r x r 8-bit RGB image per resolution, in the folder's resolution order.
struct ImageSample {
  std::vector<Image8> images;
};

namespace detail {

inline bool has_image_extension(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Writes an r x r x 3 Image8 as [3, r, r] floats v / 127.5 - 1 (io/image.hpp's 8-bit mapping), mirrored
// left-right when `xflip`.
inline void write_chw(const Image8& img, bool xflip, float* dst) {
  static const auto table = [] {
    std::vector<float> t(256);
    for (int v = 0; v < 256; ++v) t[static_cast<std::size_t>(v)] = static_cast<float>(v / 127.5 - 1.0);
    return t;
  }();
  const std::int64_t h = img.height, w = img.width, plane = h * w;
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) {
      const std::uint8_t* px = img.pixels.data() + (y * w + (xflip ? w - 1 - x : x)) * 3;
      for (int c = 0; c < 3; ++c) dst[c * plane + y * w + x] = table[px[c]];
    }
}

}  // namespace detail

class ImageFolder {
 public:
  explicit ImageFolder(const ImageFolderOptions& options) : options_(options), state_(std::make_unique<State>()) {
    const auto& res = options_.resolutions;
    ANYCOST_CHECK(!res.empty(), ValueError, "ImageFolder: no resolutions requested for '", options_.root.string(), "'");
    for (std::size_t i = 0; i < res.size(); ++i) {
      ANYCOST_CHECK(res[i] >= 1, ValueError, "ImageFolder: resolution ", i, " is ", res[i], ", must be >= 1");
      ANYCOST_CHECK(i == 0 || res[i] < res[i - 1], ValueError,
                    "ImageFolder: resolutions must be strictly descending (training resolution first), got ",
                    res[i - 1 + (i == 0)], " then ", res[i]);
      sample_bytes_ += static_cast<std::size_t>(res[i]) * static_cast<std::size_t>(res[i]) * 3;
    }
    scan();
    capacity_ = std::min(files_.size(), options_.cache_bytes / sample_bytes_);
    state_->cache.resize(capacity_);
    state_->failed_flag.assign(files_.size(), 0);
  }

  std::size_t size() const { return files_.size(); }
  const std::vector<std::filesystem::path>& files() const { return files_; }
  // Candidates left out by the scan, "<path>: <reason>", in path order.
  const std::vector<std::string>& skipped() const { return skipped_; }
  const std::vector<int>& resolutions() const { return options_.resolutions; }
  const std::filesystem::path& root() const { return options_.root; }
  // Bytes of one prepared sample (3 * sum of r^2) and how many samples the cache holds.
  std::size_t sample_bytes() const { return sample_bytes_; }
  std::size_t cache_capacity() const { return capacity_; }

  // Files that passed the scan but failed to decode when loaded, "<path>: <reason>", in the order found.
  std::vector<std::string> failed() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->failed;
  }
  bool is_failed(std::size_t index) const {
    check_index(index, "is_failed");
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->failed_flag[index] != 0;
  }

  // The prepared sample of file `index` (decoded, resized, cropped; from the cache when it holds it).
  std::shared_ptr<const ImageSample> sample(std::size_t index) const {
    check_index(index, "sample");
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (index < capacity_ && state_->cache[index]) return state_->cache[index];
      if (state_->failed_flag[index])
        anycost::detail::raise<FormatError>("ImageFolder: cannot decode '", files_[index].string(),
                                            "' (failed before)");
    }
    auto prepared = std::make_shared<const ImageSample>(prepare(index));
    if (index < capacity_) {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (!state_->cache[index]) state_->cache[index] = prepared;
    }
    return prepared;
  }

  // Sample `index` as [3, r, r] float32 tensors in [-1, 1], one per resolution, mirrored when `xflip`.
  std::vector<Tensor> images(std::size_t index, bool xflip = false) const {
    const auto s = sample(index);
    std::vector<Tensor> out;
    for (const Image8& img : s->images) {
      Tensor t = Tensor::empty(Shape{3, img.height, img.width}, DType::float32);
      detail::write_chw(img, xflip, t.data<float>());
      out.push_back(t);
    }
    return out;
  }

 private:
  struct State {
    mutable std::mutex mutex;
    std::vector<std::shared_ptr<const ImageSample>> cache;
    std::vector<std::uint8_t> failed_flag;
    std::vector<std::string> failed;
  };

  void check_index(std::size_t index, const char* op) const {
    ANYCOST_CHECK(index < files_.size(), ValueError, "ImageFolder::", op, ": index ", index, " out of range for ",
                  files_.size(), " images in '", options_.root.string(), "'");
  }

  void scan() {
    namespace fs = std::filesystem;
    const fs::path& root = options_.root;
    std::error_code ec;
    ANYCOST_CHECK(fs::is_directory(root, ec), IoError, "ImageFolder: '", root.string(), "' is not a directory");
    std::vector<fs::path> candidates;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
    ANYCOST_CHECK(!ec, IoError, "ImageFolder: cannot list '", root.string(), "': ", ec.message());
    for (; it != end; it.increment(ec)) {
      ANYCOST_CHECK(!ec, IoError, "ImageFolder: cannot list '", root.string(), "': ", ec.message());
      std::error_code fe;
      if (it->is_regular_file(fe) && detail::has_image_extension(it->path())) candidates.push_back(it->path());
    }
    std::sort(candidates.begin(), candidates.end());
    for (const fs::path& p : candidates) {
      // The header only (mapped pages are read on demand); the pixels are decoded at load time.
      std::string reason;
      try {
        const auto file = MappedFile::open(p, static_cast<std::uint64_t>(INT_MAX), "ImageFolder");
        reason = file->size() == 0 ? "the file is empty" : read_image_header(file->data(), file->size()).error;
      } catch (const Error& e) {
        reason = e.what();
      }
      if (reason.empty())
        files_.push_back(p);
      else
        skipped_.push_back(p.string() + ": " + reason);
    }
    if (files_.empty()) {
      std::string examples;
      for (std::size_t i = 0; i < skipped_.size() && i < 3; ++i) examples += (i ? "; " : "") + skipped_[i];
      anycost::detail::raise<FormatError>(
          "ImageFolder: no decodable .png/.jpg/.jpeg image under '", root.string(), "' (", candidates.size(),
          " candidate files", skipped_.empty() ? "" : ", skipped: ", examples, skipped_.size() > 3 ? "; ..." : "",
          ")");
    }
  }

  ImageSample prepare(std::size_t index) const {
    const std::filesystem::path& path = files_[index];
    std::shared_ptr<MappedFile> file;
    try {
      file = MappedFile::open(path, static_cast<std::uint64_t>(INT_MAX), "ImageFolder");  // unreadable: IoError
    } catch (const FormatError& e) {  // larger than the decoder accepts
      record_failure(index, e.what());
      throw;
    }
    ImageDecodeResult d;
    if (file->size() == 0) d.error = "the file is empty";
    else d = decode_rgb(file->data(), file->size(), image_max_pixels, false);
    if (d.error.empty() && static_cast<std::int64_t>(d.width) * d.height > image_max_pixels)
      d.error = std::to_string(d.width) + "x" + std::to_string(d.height) + " pixels, more than the limit of " +
                std::to_string(image_max_pixels);
    if (!d.error.empty()) {
      record_failure(index, d.error);
      anycost::detail::raise<FormatError>("ImageFolder: cannot decode '", path.string(), "' (", d.error, ")");
    }
    Image8 original{d.height, d.width, 3, std::move(d.rgb8)};
    ImageSample s;
    for (int r : options_.resolutions) s.images.push_back(resize_center_crop(original, r));
    return s;
  }

  void record_failure(std::size_t index, const std::string& reason) const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->failed_flag[index]) return;
    state_->failed_flag[index] = 1;
    state_->failed.push_back(files_[index].string() + ": " + reason);
  }

  ImageFolderOptions options_;
  std::vector<std::filesystem::path> files_;
  std::vector<std::string> skipped_;
  std::size_t sample_bytes_ = 0, capacity_ = 0;
  std::unique_ptr<State> state_;  // behind a pointer so the folder stays movable
};

}  // namespace io
ANYCOST_NAMESPACE_END
