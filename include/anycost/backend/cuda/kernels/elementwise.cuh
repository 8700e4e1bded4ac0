// The generic fused-elementwise kernel: every thread interprets the expression's postfix program
// (backend/program.hpp) at one output element, reading the broadcast leaves through collapsed strides. Any
// expression, from any translation unit, runs fused with this one pre-compiled kernel per dtype and index width.
// nvcc only: included by units/elementwise.cu.
#pragma once

#include <cstdint>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/backend/cuda/kernels/launch.cuh"
#include "anycost/backend/cuda/strided_plan.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

namespace detail {
template <class T, class Index>
struct ProgramOp {
  ProgramArgs<Index> a;
  __device__ void operator()(std::int64_t i) const { eval_program_at<T>(a, static_cast<Index>(i)); }
};

template <class Index>
void launch_program(const LaunchContext& ctx, const backend::Program& program, const CollapsedGeometry& g,
                    const StridedRef* leaves, int n_leaves, const StridedRef& out) {
  const ProgramArgs<Index> a = make_program_args<Index>(program, g, leaves, n_leaves, out);
  dispatch_dtype(out.dtype, [&](auto z) { launch_for_each(ctx, ProgramOp<decltype(z), Index>{a}, g.numel); });
}
}  // namespace detail

void eval_program(const backend::Program& program, const StridedRef* leaves, int n_leaves, const StridedRef& out) {
  ANYCOST_CHECK(n_leaves == program.leaves && n_leaves >= 1 && n_leaves <= backend::Program::max_leaves, ValueError,
                "eval_program: ", n_leaves, " leaves given for a program with ", program.leaves);
  const StridedRef* ops[ProgramArgs<std::int64_t>::max_ops];
  ops[0] = &out;
  for (int k = 0; k < n_leaves; ++k) {
    ANYCOST_CHECK(leaves[k].dtype == out.dtype, ShapeError, "eval_program: leaf ", k, " is ", leaves[k].dtype,
                  " but the output is ", out.dtype);
    ops[k + 1] = &leaves[k];
  }
  const CollapsedGeometry g = collapse(ops, n_leaves + 1, "eval_program");
  if (g.numel == 0) return;
  const detail::LaunchContext ctx(out.data);
  if (g.fits_int32(n_leaves + 1))
    detail::launch_program<std::int32_t>(ctx, program, g, leaves, n_leaves, out);
  else
    detail::launch_program<std::int64_t>(ctx, program, g, leaves, n_leaves, out);
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
