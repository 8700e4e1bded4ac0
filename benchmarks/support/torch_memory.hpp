// Peak tensor memory of LibTorch on the CPU, comparable with our storage counters (core/storage.hpp): a
// counting allocator installed in front of LibTorch's default CPU allocator. It sees every CPU tensor storage
// LibTorch allocates (at::empty and everything built on it); it does not see what oneDNN or OpenBLAS
// allocate internally (scratch buffers, packed weights), just as our counters do not see our scratch arenas.
//
//   TorchMemory& m = TorchMemory::install();   // once, before the tensors to be counted are made
//   m.reset_peak(); const auto base = m.allocated(); ... ; m.peak() - base
#pragma once

#if defined(ANYCOST_BENCH_WITH_TORCH)

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <unordered_map>

namespace anycost::bench {

class TorchMemory final : public c10::Allocator {
 public:
  static TorchMemory& install() {
    static TorchMemory* m = [] {
      auto* a = new TorchMemory(c10::GetDefaultCPUAllocator());  // lives as long as the tensors it made
      c10::SetCPUAllocator(a, /*priority=*/100);
      return a;
    }();
    return *m;
  }

  std::size_t allocated() const { return allocated_.load(); }
  std::size_t peak() const { return peak_.load(); }
  void reset_peak() { peak_.store(allocated_.load()); }

  c10::DataPtr allocate(std::size_t n) const override {
    void* p = base_->raw_allocate(n);
    if (p) {
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_[p] = n;
      const std::size_t now = allocated_.fetch_add(n) + n;
      std::size_t old = peak_.load();
      while (now > old && !peak_.compare_exchange_weak(old, now)) {
      }
    }
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  // Storages hold the data pointer as their context, so raw_allocate/raw_deallocate work through us too.
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  explicit TorchMemory(c10::Allocator* base) : base_(base) {}

  static void release(void* p) {
    if (!p) return;
    TorchMemory& m = install();
    {
      std::lock_guard<std::mutex> lock(m.mutex_);
      const auto it = m.sizes_.find(p);
      if (it != m.sizes_.end()) {
        m.allocated_.fetch_sub(it->second);
        m.sizes_.erase(it);
      }
    }
    m.base_->raw_deallocate(p);
  }

  c10::Allocator* base_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<void*, std::size_t> sizes_;
  mutable std::atomic<std::size_t> allocated_{0}, peak_{0};
};

}  // namespace anycost::bench

#endif  // ANYCOST_BENCH_WITH_TORCH
