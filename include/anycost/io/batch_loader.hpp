// BatchLoader: deterministic, resumable mini-batches of an ImageFolder, prepared by background threads.
//
// The official trainer (tools/train_gan.py) shuffles with a DistributedSampler reseeded per epoch and flips
// with RandomHorizontalFlip (multi-resolution: utils/datasets.py GroupRandomHorizontalFlip, one decision for
// all resolutions of a sample). Its order depends on torch's global generator and its flips on the worker
// processes' Python RNG; here both are pure functions of (seed, epoch, index) drawn from Philox
// (core/rng.hpp), so the batches are the same for any number of threads and a run resumed from a saved
// DataPosition continues with exactly the batches it would have read.
//
// Contract:
//   * Order: epoch e visits the folder's files in epoch_permutation(size, seed, e) (Fisher-Yates driven by
//     Philox stream 2e). Samples are numbered globally, g = e * size + index; batch k of a loader started at
//     g0 holds samples g0 + kB .. g0 + kB + B - 1, so batches run across epoch boundaries without a short or
//     dropped batch, and a batch may span several epochs when B > size.
//   * Flip: sample (e, index) is mirrored left-right when flip_decision(seed, e, index) (p = 1/2, Philox
//     stream 2e + 1), for all of its resolutions; LoaderOptions::xflip = false turns flips off.
//   * Late decode failures (ImageFolder's contract): a file that fails to decode is recorded in the folder's
//     failed() and replaced by the next file of the same epoch's permutation that decodes (wrapping around),
//     which depends only on the files, never on timing. Other errors (IoError: a file vanished or became
//     unreadable; allocation failures) are not replaced.
//   * Prefetch: `workers` threads prepare samples of the next `prefetch` batches ahead of the consumer;
//     next() returns them strictly in order. An error while preparing batch k is rethrown by the next() that
//     would return batch k; the loader is then broken (every later next() rethrows it, position() stays at
//     batch k), and a new loader built from position() retries.
//   * Rows (LoaderOptions::rows, data-parallel training): when given, every batch holds only those rows of
//     the B samples above, in that order (a rank's shard, train/communicator.hpp shard_rows); the order, flips
//     and positions are those of the whole batch, and the other rows are never read.
//   * Destruction stops the workers after the sample each is preparing and joins them (no detached thread).
//   * The folder must outlive the loader. A position is only meaningful for a folder with the same files.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <thread>
#include <utility>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/rng.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/io/image_folder.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

// Where a run stands in the data: the next sample is position `index` of epoch `epoch`'s permutation.
struct DataPosition {
  std::uint64_t epoch = 0, index = 0;
  friend bool operator==(const DataPosition&, const DataPosition&) = default;
};

inline std::ostream& operator<<(std::ostream& os, const DataPosition& p) {
  return os << "epoch " << p.epoch << ", index " << p.index;
}

struct LoaderOptions {
  int workers = 4;    // threads that decode and resize (>= 1)
  int prefetch = 4;   // batches prepared ahead of the consumer (>= 1)
  bool xflip = true;  // random horizontal flips, p = 1/2 (the official trainer always flips)
  std::vector<std::int64_t> rows = {};  // empty: every row of a batch; else only these rows of each batch
};

struct Batch {
  std::vector<Tensor> images;          // per folder resolution, [B, 3, r, r] float32 in [-1, 1] on the host
  DataPosition next;                   // the position after this batch
  std::vector<std::size_t> files;      // the folder index each sample was read from (after replacement)
  std::vector<std::uint8_t> flipped;   // 1 where the sample was mirrored
};

// 64 random bits from Philox block `block` of `stream` under key `seed`.
inline std::uint64_t philox_u64(std::uint64_t seed, std::uint64_t block, std::uint64_t stream) {
  const philox::Block b = philox::generate(seed, block, stream);
  return (static_cast<std::uint64_t>(b.x[0]) << 32) | b.x[1];
}

// The visiting order of epoch `epoch`: a permutation of [0, n).
inline std::vector<std::uint32_t> epoch_permutation(std::size_t n, std::uint64_t seed, std::uint64_t epoch) {
  ANYCOST_CHECK(n <= std::uint64_t{1} << 32, ValueError, "epoch_permutation: ", n, " items, at most 2^32");
  std::vector<std::uint32_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint32_t>(i);
  for (std::size_t i = n; i > 1; --i) {
    // j uniform in [0, i): the high 64 bits of r * i (Lemire's multiply-shift), split so no 128-bit type is
    // needed; the bias is below i / 2^64.
    const std::uint64_t r = philox_u64(seed, i - 1, 2 * epoch), m = i;
    const std::uint64_t j = ((r >> 32) * m + (((r & 0xFFFFFFFFu) * m) >> 32)) >> 32;
    std::swap(p[i - 1], p[j]);
  }
  return p;
}

// Whether sample `index` of epoch `epoch` is mirrored (p = 1/2).
inline bool flip_decision(std::uint64_t seed, std::uint64_t epoch, std::uint64_t index) {
  return (philox::generate(seed, index, 2 * epoch + 1).x[0] >> 31) != 0;
}

class BatchLoader {
 public:
  BatchLoader(const ImageFolder& folder, std::int64_t batch, std::uint64_t seed, DataPosition start = {},
              LoaderOptions opts = {})
      : folder_(folder), batch_(batch), seed_(seed), opts_(opts), n_(folder.size()) {
    ANYCOST_CHECK(batch >= 1, ValueError, "BatchLoader: batch size must be >= 1, got ", batch);
    ANYCOST_CHECK(opts.workers >= 1, ValueError, "BatchLoader: workers must be >= 1, got ", opts.workers);
    ANYCOST_CHECK(opts.prefetch >= 1, ValueError, "BatchLoader: prefetch must be >= 1, got ", opts.prefetch);
    ANYCOST_CHECK(n_ <= std::uint64_t{1} << 32, ValueError, "BatchLoader: ", n_, " images, at most 2^32");
    for (std::int64_t r : opts.rows)
      ANYCOST_CHECK(r >= 0 && r < batch, ValueError, "BatchLoader: row ", r, " is outside a batch of ", batch);
    local_ = opts.rows.empty() ? batch : static_cast<std::int64_t>(opts.rows.size());
    ANYCOST_CHECK(start.index < n_, ValueError, "BatchLoader: start position (", start, ") is past the ", n_,
                  " images of '", folder.root().string(), "'");
    ANYCOST_CHECK(start.epoch <= (~std::uint64_t{0} - start.index) / n_ - 1, ValueError,
                  "BatchLoader: start position (", start, ") overflows the sample counter");
    start_ = start.epoch * n_ + start.index;
    for (int i = 0; i < opts.workers; ++i) threads_.emplace_back([this] { work(); });
  }

  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  ~BatchLoader() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // The next batch, in order; blocks until it is prepared. Rethrows the error that broke the loader.
  Batch next() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (broken_) std::rethrow_exception(broken_);
    ready_cv_.wait(lock, [&] {
      const auto it = slots_.find(consumed_);
      return it != slots_.end() && it->second.remaining == 0;
    });
    auto node = slots_.extract(consumed_);
    Slot& slot = node.mapped();
    if (slot.error) {
      broken_ = slot.error;
      stop_ = true;
      lock.unlock();
      work_cv_.notify_all();
      std::rethrow_exception(broken_);
    }
    ++consumed_;
    const std::uint64_t epoch_now = (start_ + consumed_ * static_cast<std::uint64_t>(batch_)) / n_;
    perms_.erase(perms_.begin(), perms_.lower_bound(epoch_now));  // older epochs are never read again
    Batch out{std::move(slot.images), position_locked(), std::move(slot.files), std::move(slot.flipped)};
    lock.unlock();
    work_cv_.notify_all();
    return out;
  }

  // The position of the batch the next call to next() returns (save it to resume).
  DataPosition position() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return position_locked();
  }

  std::int64_t batch_size() const { return batch_; }
  std::uint64_t seed() const { return seed_; }
  const LoaderOptions& options() const { return opts_; }

 private:
  struct Slot {
    std::vector<Tensor> images;
    std::vector<std::size_t> files;
    std::vector<std::uint8_t> flipped;
    std::int64_t remaining = 0;
    std::exception_ptr error;
  };

  DataPosition position_locked() const {
    const std::uint64_t g = start_ + consumed_ * static_cast<std::uint64_t>(batch_);
    return DataPosition{g / n_, g % n_};
  }

  Slot& slot_locked(std::uint64_t k) {
    auto [it, fresh] = slots_.try_emplace(k);
    if (fresh) {
      Slot& s = it->second;
      for (int r : folder_.resolutions()) s.images.push_back(Tensor::empty(Shape{local_, 3, r, r}, DType::float32));
      s.files.assign(static_cast<std::size_t>(local_), 0);
      s.flipped.assign(static_cast<std::size_t>(local_), 0);
      s.remaining = local_;
    }
    return it->second;
  }

  std::shared_ptr<const std::vector<std::uint32_t>> permutation_locked(std::uint64_t epoch) {
    auto& p = perms_[epoch];
    if (!p) p = std::make_shared<const std::vector<std::uint32_t>>(epoch_permutation(n_, seed_, epoch));
    return p;
  }

  // Reads sample `index` of the permutation, or the next one that decodes (see the contract).
  std::pair<std::size_t, std::shared_ptr<const ImageSample>> load(const std::vector<std::uint32_t>& perm,
                                                                  std::uint64_t index) const {
    for (std::uint64_t t = 0; t < n_; ++t) {
      const std::size_t file = perm[(index + t) % n_];
      if (folder_.is_failed(file)) continue;
      try {
        return {file, folder_.sample(file)};
      } catch (const FormatError&) {
        // Recorded in folder_.failed() by sample(); try the next file of the permutation.
      }
    }
    anycost::detail::raise<FormatError>("BatchLoader: none of the ", n_, " images in '", folder_.root().string(),
                                        "' decodes (see ImageFolder::failed())");
  }

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    const std::uint64_t b = static_cast<std::uint64_t>(local_);  // samples prepared per batch
    for (;;) {
      const auto ahead = static_cast<std::uint64_t>(opts_.prefetch);
      work_cv_.wait(lock, [&] { return stop_ || next_item_ / b < consumed_ + ahead; });
      if (stop_) return;
      const std::uint64_t item = next_item_++, k = item / b;
      const auto slot_index = static_cast<std::size_t>(item % b);
      Slot& slot = slot_locked(k);  // map nodes stay put until next() extracts the finished slot
      const std::uint64_t row = opts_.rows.empty() ? item % b : static_cast<std::uint64_t>(opts_.rows[slot_index]);
      const std::uint64_t g = start_ + k * static_cast<std::uint64_t>(batch_) + row, epoch = g / n_, index = g % n_;
      const auto perm = permutation_locked(epoch);
      std::vector<float*> dst;
      for (const Tensor& t : slot.images) dst.push_back(t.data<float>());
      lock.unlock();

      std::exception_ptr error;
      std::size_t file = 0;
      bool flip = false;
      try {
        auto [f, sample] = load(*perm, index);
        file = f;
        flip = opts_.xflip && flip_decision(seed_, epoch, index);
        for (std::size_t r = 0; r < sample->images.size(); ++r) {
          const Image8& img = sample->images[r];
          const std::int64_t offset = static_cast<std::int64_t>(slot_index) * 3 * img.height * img.width;
          detail::write_chw(img, flip, dst[r] + offset);
        }
      } catch (...) {
        error = std::current_exception();
      }

      lock.lock();
      slot.files[slot_index] = file;
      slot.flipped[slot_index] = flip ? 1 : 0;
      if (error && !slot.error) slot.error = error;
      if (--slot.remaining == 0) ready_cv_.notify_all();
    }
  }

  const ImageFolder& folder_;
  const std::int64_t batch_;
  const std::uint64_t seed_;
  const LoaderOptions opts_;
  const std::uint64_t n_;
  std::int64_t local_ = 0;   // rows per batch (batch_ unless opts_.rows)
  std::uint64_t start_ = 0;  // global sample number of the first batch

  mutable std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  std::map<std::uint64_t, Slot> slots_;  // batch number -> batch being prepared or ready
  std::map<std::uint64_t, std::shared_ptr<const std::vector<std::uint32_t>>> perms_;
  std::uint64_t consumed_ = 0, next_item_ = 0;
  bool stop_ = false;
  std::exception_ptr broken_;
  std::vector<std::thread> threads_;  // last: started after every member above is initialised
};

}  // namespace io
ANYCOST_NAMESPACE_END
