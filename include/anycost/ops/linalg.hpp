// Matrix products on Vars: matmul (2-D, or batched 3-D with either side broadcast over the batch) and
// linear. Transposed and prefix-sliced operands are read in place through GEMM leading dimensions.
#pragma once

#include <memory>

#include "anycost/autograd/node.hpp"
#include "anycost/backend/cpu/gemm.hpp"
#include "anycost/backend/cuda/api.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN

namespace detail {
// How a matrix view [rows, cols] (strides sr, sc) reads as a row-major GEMM operand.
struct GemmOperand {
  bool ok = false, trans = false;
  std::int64_t ld = 0;
};
inline GemmOperand gemm_operand(std::int64_t rows, std::int64_t cols, std::int64_t sr, std::int64_t sc) {
  if ((sc == 1 || cols == 1) && (sr >= cols || rows == 1)) return {true, false, std::max<std::int64_t>({sr, cols, 1})};
  if ((sr == 1 || rows == 1) && (sc >= rows || cols == 1)) return {true, true, std::max<std::int64_t>({sc, rows, 1})};
  return {};
}

// c[B?, M, N] = a[B?, M, K] @ b[B?, K, N] on plain tensors; a 2-D side is shared across the batch.
inline Tensor matmul_tensor(Tensor a, Tensor b) {
  ANYCOST_CHECK(a.dim() >= 2 && a.dim() <= 3 && b.dim() >= 2 && b.dim() <= 3, ShapeError,
                "matmul: expects 2-D or 3-D operands, got ", a.shape(), " and ", b.shape());
  ANYCOST_CHECK(a.dtype() == b.dtype(), ShapeError, "matmul: dtypes ", a.dtype(), " and ", b.dtype(), " differ");
  ANYCOST_CHECK(a.device() == b.device(), DeviceError, "matmul: operands on ", a.device(), " and ", b.device());
  const std::int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  ANYCOST_CHECK(b.size(-2) == k, ShapeError, "matmul: inner dims differ in ", a.shape(), " @ ", b.shape());
  const std::int64_t ba = a.dim() == 3 ? a.size(0) : 1, bb = b.dim() == 3 ? b.size(0) : 1;
  ANYCOST_CHECK(ba == bb || a.dim() == 2 || b.dim() == 2, ShapeError, "matmul: batch sizes differ in ", a.shape(),
                " @ ", b.shape());
  const std::int64_t batch = std::max(ba, bb);
  GemmOperand ga = gemm_operand(m, k, a.stride(-2), a.stride(-1));
  if (!ga.ok) {
    a = a.contiguous();
    ga = gemm_operand(m, k, a.stride(-2), a.stride(-1));
  }
  GemmOperand gb = gemm_operand(k, n, b.stride(-2), b.stride(-1));
  if (!gb.ok) {
    b = b.contiguous();
    gb = gemm_operand(k, n, b.stride(-2), b.stride(-1));
  }
  const std::int64_t sa = a.dim() == 3 ? a.stride(0) : 0, sb = b.dim() == 3 ? b.stride(0) : 0;
  Shape out_shape = a.dim() == 3 || b.dim() == 3 ? Shape{batch, m, n} : Shape{m, n};
  Tensor c = Tensor::empty(out_shape, a.dtype(), a.device());
  if (c.numel() == 0) return c;
  if (k == 0) {
    c.zero_();
    return c;
  }
  if (a.device().is_cuda()) {
    backend::cuda::gemm_strided_batched(a.dtype(), ga.trans, gb.trans, m, n, k, 1.0, a.raw_data(), ga.ld, sa,
                                        b.raw_data(), gb.ld, sb, 0.0, c.raw_data(), n, m * n, batch);
    return c;
  }
  dispatch_dtype(a.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* ap = static_cast<const T*>(a.raw_data());
    const T* bp = static_cast<const T*>(b.raw_data());
    T* cp = static_cast<T*>(c.raw_data());
    for (std::int64_t i = 0; i < batch; ++i)
      backend::cpu::gemm<T>(ga.trans, gb.trans, m, n, k, T(1), ap + i * sa, ga.ld, bp + i * sb, gb.ld, T(0),
                            cp + i * m * n, n);
  });
  return c;
}
}  // namespace detail

Var matmul(const Var& a, const Var& b);

class MatmulBackward final : public Node {
 public:
  MatmulBackward(const Var& a, const Var& b) : a_(a), b_(b) {}
  std::vector<Var> apply(std::vector<Var>& g) override {
    const Var& a = a_.get("MatmulBackward");
    const Var& b = b_.get("MatmulBackward");
    std::vector<Var> out(2);
    if (next_edges[0].valid()) {
      Var ga = matmul(g[0], transpose(b, -1, -2));
      out[0] = a.dim() == 2 && ga.dim() == 3 ? sum(ga, {0}) : ga;
    }
    if (next_edges[1].valid()) {
      Var gb = matmul(transpose(a, -1, -2), g[0]);
      out[1] = b.dim() == 2 && gb.dim() == 3 ? sum(gb, {0}) : gb;
    }
    return out;
  }
  const char* name() const override { return "MatmulBackward"; }
  void release_saved() override {
    a_.reset();
    b_.reset();
  }

 private:
  SavedVar a_, b_;
};

// a[B?, M, K] @ b[B?, K, N]; a 2-D operand is shared across the other's batch.
inline Var matmul(const Var& a, const Var& b) {
  Tensor out = detail::matmul_tensor(a.data(), b.data());
  if (!any_requires_grad({&a, &b})) return Var(out);
  return record(out, std::make_shared<MatmulBackward>(a, b), {&a, &b});
}

// x[..., in] @ w[out, in]^T (+ bias[out]).
inline Var linear(const Var& x, const Var& w, const Var& bias = {}) {
  ANYCOST_CHECK(w.dim() == 2 && x.size(-1) == w.size(1), ShapeError, "linear: input ", x.shape(),
                " does not match weight ", w.shape());
  Var y = matmul(x, transpose(w, 0, 1));
  if (!bias.defined()) return y;
  ANYCOST_CHECK(bias.dim() == 1 && bias.size(0) == w.size(0), ShapeError, "linear: bias ", bias.shape(),
                " does not match weight ", w.shape());
  return y + bias;
}

ANYCOST_NAMESPACE_END
