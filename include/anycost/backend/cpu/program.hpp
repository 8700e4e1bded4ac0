// A lowered expression (backend/program.hpp) run over strided tensors on the CPU, one instruction at a time
// over a block of elements. This is the CPU path of double: expr/eval_cpu.hpp compiles a loop per expression
// and SIMD target for float only, so double (gradient checks, reference computations) adds no compile time
// per fused expression. It is a few times slower than a compiled loop, which checks do not notice.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "anycost/backend/program.hpp"
#include "anycost/core/strided_loop.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cpu {

namespace detail {
inline constexpr std::int64_t program_block = 256;

// o[j] = p(leaf k at q[k][j]) for j < len, every operand unit-stride.
template <class T>
void run_program_block(const Program& p, const T* const* q, T* o, std::int64_t len) {
  T stack[Program::max_stack][program_block];
  int sp = 0;
  for (int pc = 0; pc < p.size; ++pc) {
    const Instr& in = p.code[pc];
    T* top = stack[sp > 0 ? sp - 1 : 0];
#define ANYCOST_BLOCK_UNARY(F, name, value, partial) \
  case Op::name:                                     \
    for (std::int64_t j = 0; j < len; ++j) {         \
      const T x = top[j];                            \
      top[j] = value;                                \
    }                                                \
    break;
#define ANYCOST_BLOCK_UNARY1(F, name, q, value, partial) \
  case Op::name:                                         \
    for (std::int64_t j = 0; j < len; ++j) {             \
      const T x = top[j];                                \
      const double q = in.p0;                            \
      top[j] = value;                                    \
    }                                                    \
    break;
#define ANYCOST_BLOCK_UNARY2(F, name, q0, q1, value, partial) \
  case Op::name:                                              \
    for (std::int64_t j = 0; j < len; ++j) {                  \
      const T x = top[j];                                     \
      const double q0 = in.p0, q1 = in.p1;                    \
      top[j] = value;                                         \
    }                                                         \
    break;
#define ANYCOST_BLOCK_BINARY(F, name, value, partial_a, partial_b) \
  case Op::name:                                                   \
    --sp;                                                          \
    for (std::int64_t j = 0; j < len; ++j) {                       \
      const T a = stack[sp - 1][j], b = stack[sp][j];              \
      stack[sp - 1][j] = value;                                    \
    }                                                              \
    break;
    switch (in.op) {
      case Op::leaf: std::copy_n(q[in.leaf], len, stack[sp++]); break;
      case Op::constant: std::fill_n(stack[sp++], len, static_cast<T>(in.p0)); break;
      ANYCOST_UNARY_OPS(ANYCOST_BLOCK_UNARY)
      ANYCOST_UNARY1_OPS(ANYCOST_BLOCK_UNARY1)
      ANYCOST_UNARY2_OPS(ANYCOST_BLOCK_UNARY2)
      ANYCOST_BINARY_OPS(ANYCOST_BLOCK_BINARY)
    }
#undef ANYCOST_BLOCK_UNARY
#undef ANYCOST_BLOCK_UNARY1
#undef ANYCOST_BLOCK_UNARY2
#undef ANYCOST_BLOCK_BINARY
  }
  std::copy_n(stack[0], len, o);
}
}  // namespace detail

// out = p(leaves[0], ..., leaves[n-1]); the leaves are already broadcast to out's shape, with its dtype T.
// out may alias a leaf elementwise (an in-place update): each block is read before it is written.
template <class T>
void run_program(const Program& p, const Tensor& out, const Tensor* leaves, int n) {
  constexpr int N = Program::max_leaves + 1;  // operand 0 is out; unused operands have zero strides
  std::array<Strides, N> strides;
  strides[0] = out.strides();
  std::array<const T*, Program::max_leaves> base{};
  for (int k = 0; k < Program::max_leaves; ++k) {
    strides[k + 1] = k < n ? leaves[k].strides() : Strides::filled(out.dim(), 0);
    if (k < n) base[k] = static_cast<const T*>(leaves[k].raw_data());
  }
  T* obase = static_cast<T*>(out.raw_data());
  const CollapsedLoop<N> loop(out.shape(), strides);
  const std::int64_t inner = loop.inner(), rows = loop.rows();
  const auto st = loop.inner_strides();
  constexpr std::int64_t block = detail::program_block;
  parallel_for(rows, std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(inner, 1)),
               [&](std::int64_t r0, std::int64_t r1) {
                 T buf[Program::max_leaves][block];
                 T obuf[block];
                 const T* q[Program::max_leaves];
                 for (std::int64_t r = r0; r < r1; ++r) {
                   const auto off = loop.row_offsets(r);
                   for (std::int64_t j0 = 0; j0 < inner; j0 += block) {
                     const std::int64_t len = std::min(block, inner - j0);
                     for (int k = 0; k < n; ++k) {
                       const T* src = base[k] + off[k + 1] + j0 * st[k + 1];
                       if (st[k + 1] == 1) {
                         q[k] = src;
                       } else {
                         for (std::int64_t j = 0; j < len; ++j) buf[k][j] = src[j * st[k + 1]];
                         q[k] = buf[k];
                       }
                     }
                     T* o = obase + off[0] + j0 * st[0];
                     detail::run_program_block(p, q, st[0] == 1 ? o : obuf, len);
                     if (st[0] != 1)
                       for (std::int64_t j = 0; j < len; ++j) o[j * st[0]] = obuf[j];
                   }
                 }
               });
}

}  // namespace backend::cpu
ANYCOST_NAMESPACE_END
