// Plain-data iteration plans for the CUDA kernels, built on the host from StridedRefs and passed to kernels by
// value. Every per-element function here is ANYCOST_HOST_DEVICE, so the host tests run exactly the code a
// kernel runs for one element (no GPU needed to check the index math).
//
//   StridedPlan<N, Index>   N same-shaped strided operands, dims collapsed; offsets of linear element i.
//   ProgramArgs<Index>      a fused elementwise program over up to Program::max_leaves broadcast leaves.
//   CopyArgs<Index>         strided copy with dtype conversion.
//   ReducePlan              kept / reduced dims of a keepdim sum.
//
// Index is std::int32_t when every element count and offset fits (cheaper division), std::int64_t otherwise.
#pragma once

#include <cstdint>
#include <type_traits>

#include "anycost/core/cuda_hooks.hpp"
#include "anycost/core/error.hpp"
#include "anycost/core/shape.hpp"
#include "anycost/backend/program.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

using cuda_hooks::StridedRef;

template <int N, class Index>
struct StridedPlan {
  int rank = 1;  // >= 1
  Index numel = 0;
  Index shape[max_rank] = {};
  Index strides[N][max_rank] = {};

  // Element offsets of every operand at row-major linear index i of the (collapsed) shape.
  ANYCOST_HOST_DEVICE void offsets(Index i, Index (&off)[N], int n_ops = N) const {
    for (int k = 0; k < n_ops; ++k) off[k] = 0;
    for (int d = rank - 1; d > 0; --d) {
      const Index q = i / shape[d], r = i - q * shape[d];
      i = q;
      for (int k = 0; k < n_ops; ++k) off[k] += r * strides[k][d];
    }
    for (int k = 0; k < n_ops; ++k) off[k] += i * strides[k][0];
  }
};

namespace detail {
// Collapsed dims shared by n_ops operands of the same shape: size-1 dims dropped, neighbours merged where every
// operand is contiguous across them. Outputs int64 shape/strides and the collapsed rank.
inline int collapse_dims(int rank, const std::int64_t* shape, const std::int64_t* const* strides, int n_ops,
                         std::int64_t* out_shape, std::int64_t (*out_strides)[max_rank]) {
  int r = 0;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    bool merge = r > 0;
    for (int k = 0; k < n_ops && merge; ++k) merge = out_strides[k][r - 1] == strides[k][d] * shape[d];
    if (merge) {
      out_shape[r - 1] *= shape[d];
      for (int k = 0; k < n_ops; ++k) out_strides[k][r - 1] = strides[k][d];
    } else {
      out_shape[r] = shape[d];
      for (int k = 0; k < n_ops; ++k) out_strides[k][r] = strides[k][d];
      ++r;
    }
  }
  if (r == 0) {
    out_shape[0] = 1;
    for (int k = 0; k < n_ops; ++k) out_strides[k][0] = 1;
    r = 1;
  }
  return r;
}

inline std::int64_t abs64(std::int64_t v) { return v < 0 ? -v : v; }
}  // namespace detail

// Collapsed int64 geometry of n_ops same-shaped views (ops[0] gives the shape), before choosing the index type.
struct CollapsedGeometry {
  int rank = 1;
  std::int64_t numel = 0;
  std::int64_t shape[max_rank] = {};
  std::int64_t strides[backend::Program::max_leaves + 1][max_rank] = {};
  // True when every element index and every offset fits in int32.
  bool fits_int32(int n_ops) const {
    constexpr std::int64_t lim = 2147483647;
    if (numel > lim) return false;
    for (int k = 0; k < n_ops; ++k) {
      std::int64_t span = 0;
      for (int d = 0; d < rank; ++d) span += (shape[d] - 1) * detail::abs64(strides[k][d]);
      if (span > lim) return false;
    }
    return true;
  }
};

// Geometry of operands that all have ops[0]'s shape (checked).
inline CollapsedGeometry collapse(const StridedRef* const* ops, int n_ops, const char* what) {
  ANYCOST_CHECK(n_ops >= 1 && n_ops <= backend::Program::max_leaves + 1, ValueError, what, ": ", n_ops,
                " operands (at most ", backend::Program::max_leaves + 1, ")");
  const StridedRef& o = *ops[0];
  ANYCOST_CHECK(o.rank >= 0 && o.rank <= max_rank, ShapeError, what, ": rank ", o.rank);
  const std::int64_t* strides[backend::Program::max_leaves + 1];
  for (int k = 0; k < n_ops; ++k) {
    ANYCOST_CHECK(ops[k]->rank == o.rank, ShapeError, what, ": operand ", k, " has rank ", ops[k]->rank,
                  ", expected ", o.rank);
    for (int d = 0; d < o.rank; ++d)
      ANYCOST_CHECK(ops[k]->shape[d] == o.shape[d], ShapeError, what, ": operand ", k, " extent ", ops[k]->shape[d],
                    " differs from ", o.shape[d], " in dim ", d);
    strides[k] = ops[k]->strides;
  }
  CollapsedGeometry g;
  g.numel = 1;
  for (int d = 0; d < o.rank; ++d) g.numel *= o.shape[d];
  g.rank = detail::collapse_dims(o.rank, o.shape, strides, n_ops, g.shape, g.strides);
  return g;
}

template <int N, class Index>
StridedPlan<N, Index> make_plan(const CollapsedGeometry& g, int n_ops) {
  StridedPlan<N, Index> p;
  p.rank = g.rank;
  p.numel = static_cast<Index>(g.numel);
  for (int d = 0; d < g.rank; ++d) {
    p.shape[d] = static_cast<Index>(g.shape[d]);
    for (int k = 0; k < n_ops && k < N; ++k) p.strides[k][d] = static_cast<Index>(g.strides[k][d]);
  }
  return p;
}

// ---- fused elementwise program ------------------------------------------------------------------------
template <class Index>
struct ProgramArgs {
  static constexpr int max_ops = backend::Program::max_leaves + 1;  // operand 0 is the output
  backend::Program program;
  int n_leaves = 0;
  StridedPlan<max_ops, Index> plan;
  const void* leaves[backend::Program::max_leaves] = {};
  void* out = nullptr;
};

template <class T, class Index>
struct LeafReader {
  const ProgramArgs<Index>* args;
  const Index* off;
  ANYCOST_HOST_DEVICE T operator()(int k) const { return static_cast<const T*>(args->leaves[k])[off[k + 1]]; }
};

// Element i of the output: what one thread of the elementwise kernel does.
template <class T, class Index>
ANYCOST_HOST_DEVICE void eval_program_at(const ProgramArgs<Index>& a, Index i) {
  Index off[ProgramArgs<Index>::max_ops];
  a.plan.offsets(i, off, a.n_leaves + 1);
  static_cast<T*>(a.out)[off[0]] = backend::run_program<T>(a.program, LeafReader<T, Index>{&a, off});
}

template <class Index>
ProgramArgs<Index> make_program_args(const backend::Program& program, const CollapsedGeometry& g,
                                     const StridedRef* leaves, int n_leaves, const StridedRef& out) {
  ProgramArgs<Index> a;
  a.program = program;
  a.n_leaves = n_leaves;
  a.plan = make_plan<ProgramArgs<Index>::max_ops, Index>(g, n_leaves + 1);
  for (int k = 0; k < n_leaves; ++k) a.leaves[k] = leaves[k].data;
  a.out = out.data;
  return a;
}

// ---- strided copy with dtype conversion ---------------------------------------------------------------
template <class Index>
struct CopyArgs {
  StridedPlan<2, Index> plan;  // operand 0 = dst, 1 = src
  void* dst = nullptr;
  const void* src = nullptr;
};

template <class D, class S, class Index>
ANYCOST_HOST_DEVICE void copy_at(const CopyArgs<Index>& a, Index i) {
  Index off[2];
  a.plan.offsets(i, off);
  static_cast<D*>(a.dst)[off[0]] = static_cast<D>(static_cast<const S*>(a.src)[off[1]]);
}

// ---- keepdim sums -------------------------------------------------------------------------------------
// in has rank r; out has the same rank with extent 1 on every reduced dim. Kept dims are collapsed over
// (in, out), reduced dims over in alone; offsets are int64 (reductions are bandwidth-bound).
struct ReducePlan {
  int kept_rank = 1, red_rank = 1;
  std::int64_t n_out = 1, n_red = 1;
  std::int64_t kept_shape[max_rank] = {1}, kept_in[max_rank] = {0}, kept_out[max_rank] = {0};
  std::int64_t red_shape[max_rank] = {1}, red_in[max_rank] = {0};

  ANYCOST_HOST_DEVICE void kept_offsets(std::int64_t o, std::int64_t& in_off, std::int64_t& out_off) const {
    in_off = out_off = 0;
    for (int d = kept_rank - 1; d >= 0; --d) {
      const std::int64_t q = d > 0 ? o / kept_shape[d] : 0, r = o - q * kept_shape[d];
      o = q;
      in_off += r * kept_in[d];
      out_off += r * kept_out[d];
    }
  }
  ANYCOST_HOST_DEVICE std::int64_t red_offset(std::int64_t j) const {
    std::int64_t off = 0;
    for (int d = red_rank - 1; d >= 0; --d) {
      const std::int64_t q = d > 0 ? j / red_shape[d] : 0, r = j - q * red_shape[d];
      j = q;
      off += r * red_in[d];
    }
    return off;
  }
  // Whether the input's unit-stride dim is a kept one (adjacent outputs read adjacent inputs).
  bool inner_dim_kept() const { return kept_in[kept_rank - 1] == 1 && kept_shape[kept_rank - 1] > 1; }
};

// Sum, in double, of the reduced elements j = j0, j0 + step, ... < j1 of the output whose input offset is
// in_off: a whole output (step 1) for the thread-per-output kernel, one thread's share of a split otherwise.
template <class T>
ANYCOST_HOST_DEVICE double sum_reduced(const ReducePlan& p, const T* in, std::int64_t in_off, std::int64_t j0,
                                       std::int64_t j1, std::int64_t step) {
  const T* base = in + in_off;
  double acc = 0;
  for (std::int64_t j = j0; j < j1; j += step) acc += static_cast<double>(base[p.red_offset(j)]);
  return acc;
}

inline ReducePlan make_reduce_plan(const StridedRef& in, const StridedRef& out) {
  ANYCOST_CHECK(in.rank == out.rank, ShapeError, "sum_keepdim: input rank ", in.rank, " differs from output rank ",
                out.rank);
  std::int64_t ks[max_rank], ki[max_rank], ko[max_rank], rs[max_rank], ri[max_rank];
  int nk = 0, nr = 0;
  for (int d = 0; d < in.rank; ++d) {
    if (out.shape[d] == 1 && in.shape[d] != 1) {
      rs[nr] = in.shape[d];
      ri[nr++] = in.strides[d];
    } else {
      ANYCOST_CHECK(out.shape[d] == in.shape[d], ShapeError, "sum_keepdim: output extent ", out.shape[d],
                    " in dim ", d, " is neither 1 nor the input's ", in.shape[d]);
      ks[nk] = in.shape[d];
      ki[nk] = in.strides[d];
      ko[nk++] = out.strides[d];
    }
  }
  ReducePlan p;
  const std::int64_t* kept_strides[2] = {ki, ko};
  std::int64_t kept_out_strides[2][max_rank];
  p.kept_rank = detail::collapse_dims(nk, ks, kept_strides, 2, p.kept_shape, kept_out_strides);
  for (int d = 0; d < p.kept_rank; ++d) {
    p.kept_in[d] = kept_out_strides[0][d];
    p.kept_out[d] = kept_out_strides[1][d];
  }
  const std::int64_t* red_strides[1] = {ri};
  std::int64_t red_out_strides[1][max_rank];
  p.red_rank = detail::collapse_dims(nr, rs, red_strides, 1, p.red_shape, red_out_strides);
  for (int d = 0; d < p.red_rank; ++d) p.red_in[d] = red_out_strides[0][d];
  p.n_out = p.n_red = 1;
  for (int d = 0; d < p.kept_rank; ++d) p.n_out *= p.kept_shape[d];
  for (int d = 0; d < p.red_rank; ++d) p.n_red *= p.red_shape[d];
  return p;
}

// How a keepdim sum is split into kernels.
struct ReduceSchedule {
  enum class Kind : std::uint8_t { thread_per_output, block_per_output } kind = Kind::thread_per_output;
  std::int64_t splits = 1;   // blocks per output (block kind); > 1 needs a second pass over partial sums
  std::int64_t chunk = 0;    // reduced elements per split
};

// Threads per output when adjacent outputs read adjacent inputs or the sums are short; otherwise a block per
// output, split further when there are too few outputs to fill the device (target_blocks blocks in flight).
inline ReduceSchedule schedule_reduce(const ReducePlan& p, std::int64_t target_blocks) {
  ReduceSchedule s;
  if (p.n_red <= 32 || (p.inner_dim_kept() && p.n_out >= 4 * target_blocks) || p.n_out >= 256 * target_blocks) {
    s.kind = ReduceSchedule::Kind::thread_per_output;
    s.chunk = p.n_red;
    return s;
  }
  s.kind = ReduceSchedule::Kind::block_per_output;
  const std::int64_t min_chunk = 4096;
  std::int64_t splits = (target_blocks + p.n_out - 1) / p.n_out;
  const std::int64_t max_splits = (p.n_red + min_chunk - 1) / min_chunk;
  if (splits > max_splits) splits = max_splits;
  if (splits < 1) splits = 1;
  s.splits = splits;
  s.chunk = (p.n_red + splits - 1) / splits;
  return s;
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
