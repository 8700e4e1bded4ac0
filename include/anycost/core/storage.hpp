// Reference-counted memory on one device, with a version counter that autograd uses to detect a tensor
// modified in place after it was saved for backward.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "anycost/core/cuda_hooks.hpp"
#include "anycost/core/device.hpp"

ANYCOST_NAMESPACE_BEGIN

class Storage {
 public:
  Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
    if (bytes_ == 0) return;
    if (device.is_cpu()) {
      // 64-byte alignment (cache lines, every SIMD width) for real buffers; below 1 KiB plain malloc (16-byte
      // aligned), since memalign costs hundreds of instructions and dominated recording a scalar op.
      data_ = bytes_ < 1024 ? std::malloc(bytes_) : std::aligned_alloc(64, (bytes_ + 63) / 64 * 64);
      if (!data_) throw std::bad_alloc();
    } else {
      data_ = cuda_hooks::allocate(device.index, bytes_);
    }
  }
  // Wraps memory owned elsewhere (memory-mapped checkpoints); `keep_alive` owns it.
  Storage(void* data, std::size_t bytes, Device device, std::shared_ptr<void> keep_alive)
      : data_(data), bytes_(bytes), device_(device), owner_(std::move(keep_alive)) {}
  ~Storage() {
    if (owner_ || !data_) return;
    if (device_.is_cpu())
      std::free(data_);
    else
      cuda_hooks::deallocate(device_.index, data_, bytes_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  std::uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  Device device_;
  std::shared_ptr<void> owner_;
  std::uint64_t version_ = 0;
};

ANYCOST_NAMESPACE_END
