// Evaluating an expression into a tensor on the tensor's device: the one dispatch point for fused
// elementwise work. CPU runs the compiled loop of expr/eval_cpu.hpp; CUDA runs the lowered program in the
// generic kernel.
#pragma once

#include <array>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/expr/eval_cpu.hpp"
#include "anycost/expr/program.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace expr {

// Writes e into out; `leaves` are the leaf tensors in position order, already broadcast to out's shape,
// with out's dtype and device.
template <class E, std::size_t L>
void evaluate_into(const Tensor& out, const E& e, const std::array<Tensor, L>& leaves) {
  if (out.numel() == 0) return;
  if (out.device().is_cpu()) {
    dispatch_dtype(out.dtype(), [&](auto z) { eval_cpu<decltype(z)>(out, e, leaves); });
    return;
  }
  const Program p = lower(e);
  std::array<cuda_hooks::StridedRef, L> refs;
  for (std::size_t k = 0; k < L; ++k) refs[k] = leaves[k].strided_ref();
  backend::cuda::eval_program(p, refs.data(), static_cast<int>(L), out.strided_ref());
}

}  // namespace expr
ANYCOST_NAMESPACE_END
