// Evaluating an expression into a tensor on the tensor's device: the one dispatch point for fused
// elementwise work. On the CPU, float runs the compiled loop of expr/eval_cpu.hpp and double runs the lowered
// program (backend/cpu/program.hpp: double serves checks, and a compiled loop per expression for it would
// double the build); CUDA runs the lowered program in the generic kernel.
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
#include <vector>

#include "anycost/backend/cpu/program.hpp"
#include "anycost/backend/cuda/api.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/expr/eval_cpu.hpp"
#include "anycost/expr/lower.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace expr {

namespace detail {
template <std::size_t First, std::size_t N, std::size_t L>
std::array<Tensor, N> leaf_range(const std::array<Tensor, L>& leaves) {
  std::array<Tensor, N> out;
  for (std::size_t k = 0; k < N; ++k) out[k] = leaves[First + k];
  return out;
}

template <class E, std::size_t L>
void evaluate_program(const Tensor& out, const E& e, const std::array<Tensor, L>& leaves);

// An operand of a tree too large for one program: evaluated into a temporary that becomes leaf Arg<I> of the
// rest, or kept as it is when it holds no tensor.
template <int I, class E, std::size_t L>
auto split_operand(const Tensor& like, const E& e, const std::array<Tensor, L>& leaves, std::vector<Tensor>& temps) {
  if constexpr (L == 0) {
    return e;
  } else {
    temps.push_back(Tensor::empty(like.shape(), like.dtype(), like.device()));
    evaluate_program(temps.back(), e, leaves);
    return Arg<I>{};
  }
}

// The lowered-program route (double on the CPU, everything on CUDA).
template <class E, std::size_t L>
void evaluate_program(const Tensor& out, const E& e, const std::array<Tensor, L>& leaves) {
  static_assert(leaf_count_v<E> == L, "evaluate_program: one tensor per leaf");
  if constexpr (fits_program_v<E>) {
    const backend::Program p = lower(e);
    if (out.device().is_cpu()) {
      backend::cpu::run_program<double>(p, out, leaves.data(), static_cast<int>(L));
      return;
    }
    std::array<cuda_hooks::StridedRef, L> refs;
    for (std::size_t k = 0; k < L; ++k) refs[k] = leaves[k].strided_ref();
    backend::cuda::eval_program(p, refs.data(), static_cast<int>(L), out.strided_ref());
  } else if constexpr (requires { e.b; }) {
    using A = std::remove_cvref_t<decltype(e.a)>;
    constexpr std::size_t LA = leaf_count_v<A>, LB = L - LA;
    std::vector<Tensor> temps;
    const auto a = split_operand<0>(out, e.a, leaf_range<0, LA>(leaves), temps);
    const auto b = split_operand<(LA > 0 ? 1 : 0)>(out, e.b, leaf_range<LA, LB>(leaves), temps);
    using Root = Binary<std::remove_cvref_t<decltype(e.f)>, std::remove_cvref_t<decltype(a)>,
                        std::remove_cvref_t<decltype(b)>>;
    std::array<Tensor, leaf_count_v<Root>> rest;
    for (std::size_t k = 0; k < rest.size(); ++k) rest[k] = temps[k];
    evaluate_program(out, Root{e.f, a, b}, rest);
  } else {
    std::vector<Tensor> temps;
    const auto a = split_operand<0>(out, e.a, leaves, temps);
    const Unary<std::remove_cvref_t<decltype(e.f)>, std::remove_cvref_t<decltype(a)>> root{e.f, a};
    evaluate_program(out, root, std::array<Tensor, 1>{temps[0]});
  }
}
}  // namespace detail

// Writes e into out; `leaves` are the leaf tensors in position order, already broadcast to out's shape,
// with out's dtype and device.
template <class E>
void evaluate_into(const Tensor& out, const E& e, const std::array<Tensor, leaf_count_v<E>>& leaves) {
  if (out.numel() == 0) return;
  if (out.device().is_cpu() && out.dtype() == DType::float32)
    eval_cpu<float>(out, e, leaves);
  else
    detail::evaluate_program(out, e, leaves);
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
