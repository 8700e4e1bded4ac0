// The CUDA convolution executor with host primitives (conv_plan.hpp's Exec interface): the test of the drivers
// and the emulated device (emulated_device.cpp) run the drivers through it. Buffers start as NaN so that
// reading a column or gradient element the driver never wrote poisons the result.
#pragma once

#include <catch2/catch.hpp>

#include <anycost/backend/cpu/gemm.hpp>
#include <anycost/backend/cuda/conv_plan.hpp>

#include <cstdint>
#include <limits>
#include <vector>

namespace anycost::test {

struct HostConvExec {
  int gemm_calls = 0, im2col_calls = 0;
  template <class T>
  struct Buffer {
    std::vector<T> v;
    T* get() { return v.data(); }
  };
  template <class T>
  Buffer<T> alloc(std::int64_t n) {
    return Buffer<T>{std::vector<T>(static_cast<std::size_t>(n), std::numeric_limits<T>::quiet_NaN())};
  }
  template <class T>
  void im2col(const backend::cuda::Im2colArgs<T>& a) {
    ++im2col_calls;
    for (std::int64_t e = 0; e < a.size(); ++e) backend::cuda::im2col_at(a, e);
  }
  template <class T>
  void col2im(const backend::cuda::Col2imArgs<T>& a) {
    for (std::int64_t e = 0; e < a.size(); ++e) backend::cuda::col2im_at(a, e);
  }
  template <class T>
  void permute(const T* src, T* dst, std::int64_t nb, std::int64_t rows, std::int64_t p) {
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t i = 0; i < nb; ++i)
        for (std::int64_t q = 0; q < p; ++q) dst[(r * nb + i) * p + q] = src[(i * rows + r) * p + q];
  }
  template <class T>
  void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
            std::int64_t sa, const T* b, std::int64_t ldb, std::int64_t sb, T beta, T* c, std::int64_t ldc,
            std::int64_t sc, std::int64_t batch) {
    ++gemm_calls;
    // The same argument checks the cuBLAS entry makes.
    REQUIRE(ldc >= n);
    REQUIRE(lda >= (ta ? m : k));
    REQUIRE(ldb >= (tb ? k : n));
    for (std::int64_t i = 0; i < batch; ++i)
      backend::cpu::gemm<T>(ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc, ldc);
  }
};

}  // namespace anycost::test
