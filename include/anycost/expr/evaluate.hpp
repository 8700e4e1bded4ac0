// Evaluating an expression into a tensor on the tensor's device: the one dispatch point for fused
// elementwise work. CPU runs the compiled loop of expr/eval_cpu.hpp; CUDA runs the lowered program in the
// generic kernel.
//
// Three ways to bind tensors to leaves, all checked at compile time:
//   evaluate_into(out, e, leaves)         leaves in position order, one per leaf of e (std::array of exactly
//                                         leaf_count_v<E>): for trees whose leaves hold handles;
//   evaluate_into(out, e, t0, t1, ...)    e written with placeholders Arg<0>, Arg<1>, ...: Arg<I> reads tensor
//                                         tI wherever it appears in the tree, and the placeholders used must be
//                                         exactly 0..N-1 for N tensors (so a missing or extra operand does not
//                                         compile). Used for in-place updates (optimisers, gradient sums);
//   evaluate_into(out, build, t0, t1, ...) the same with the placeholders named where they are bound:
//                                         build(Arg<0>{}, Arg<1>{}, ...) returns the expression, e.g.
//     evaluate_into(m, [&](auto M, auto G) { return b1 * M + (1 - b1) * G; }, m, g);
#pragma once

#include <array>
#include <concepts>
#include <utility>

#include "anycost/backend/cuda/api.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/expr/eval_cpu.hpp"
#include "anycost/expr/lower.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace expr {

// Writes e into out; `leaves` are the leaf tensors in position order, already broadcast to out's shape,
// with out's dtype and device.
template <class E>
void evaluate_into(const Tensor& out, const E& e, const std::array<Tensor, leaf_count_v<E>>& leaves) {
  constexpr std::size_t L = leaf_count_v<E>;
  if (out.numel() == 0) return;
  if (out.device().is_cpu()) {
    dispatch_dtype(out.dtype(), [&](auto z) { eval_cpu<decltype(z)>(out, e, leaves); });
    return;
  }
  const backend::Program p = lower(e);
  std::array<cuda_hooks::StridedRef, L> refs;
  for (std::size_t k = 0; k < L; ++k) refs[k] = leaves[k].strided_ref();
  backend::cuda::eval_program(p, refs.data(), static_cast<int>(L), out.strided_ref());
}

namespace detail {
// Whether the placeholders of E are exactly Arg<0> ... Arg<N-1> (each used, none out of range, no handles).
template <class E, std::size_t N>
constexpr bool binds_exactly() {
  std::array<bool, N> used{};
  for (const int i : arg_indices<E>()) {
    if (i < 0 || i >= static_cast<int>(N)) return false;
    used[static_cast<std::size_t>(i)] = true;
  }
  for (const bool u : used)
    if (!u) return false;
  return true;
}
}  // namespace detail

// Writes e into out, Arg<I> reading tensors[I]; the tensors are already broadcast to out's shape, with out's
// dtype and device. out may be one of them (an in-place update: each element is read before it is written).
template <class E, std::same_as<Tensor>... Ts>
  requires is_expr_v<E>
void evaluate_into(const Tensor& out, const E& e, const Ts&... tensors) {
  static_assert(detail::binds_exactly<E, sizeof...(Ts)>(),
                "evaluate_into: the placeholders of the expression must be exactly expr::Arg<0> ... Arg<N-1> for "
                "the N tensors given (no handle leaves, none missing, none out of range)");
  const std::array<const Tensor*, sizeof...(Ts)> given{&tensors...};
  constexpr auto index = arg_indices<E>();
  std::array<Tensor, leaf_count_v<E>> leaves;
  for (std::size_t k = 0; k < leaves.size(); ++k) leaves[k] = *given[static_cast<std::size_t>(index[k])];
  evaluate_into(out, e, leaves);
}

// Writes build(Arg<0>{}, ..., Arg<N-1>{}) into out, Arg<I> reading tensors[I]: a builder that takes fewer or
// more parameters than there are tensors, or leaves one unused, does not compile.
template <class Build, std::same_as<Tensor>... Ts>
  requires(!is_expr_v<Build>)
void evaluate_into(const Tensor& out, const Build& build, const Ts&... tensors) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    evaluate_into(out, build(Arg<I>{}...), tensors...);
  }(std::make_integer_sequence<int, sizeof...(Ts)>{});
}

}  // namespace expr
ANYCOST_NAMESPACE_END
