// Host-side checks of the CUDA backend's logic, runnable without a GPU: every per-element function a kernel
// runs (expression programs, strided copies, keepdim sums, im2col/col2im, upfirdn2d, max pooling, Philox fills) is
// ANYCOST_HOST_DEVICE, so here it runs on the host over every element and is compared with the CPU reference.
// The convolution drivers run with a host executor (CPU GEMM), exercising the same chunking, grouping and
// leading-dimension arithmetic the CUDA executor feeds to cuBLAS.
#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>
#include <anycost/backend/cuda/conv_plan.hpp>
#include <anycost/backend/cuda/pool_plan.hpp>
#include <anycost/backend/cuda/random_plan.hpp>
#include <anycost/backend/cuda/strided_plan.hpp>
#include <anycost/backend/cuda/upfirdn2d_plan.hpp>

#include "cuda/host_exec.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace anycost;
namespace bc = anycost::backend::cuda;

namespace {

Tensor randn_t(const Shape& s, std::uint64_t seed, DType dt = DType::float32) {
  Rng rng(seed);
  return randn(s, rng, dt);
}

// Max |a - b| / max(1, max |b|) over two same-shaped CPU tensors (converted to double).
double rel_error(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double num = 0, den = 1;
  for (std::size_t i = 0; i < x.size(); ++i) {
    num = std::max(num, std::fabs(x[i] - y[i]));
    den = std::max(den, std::fabs(y[i]));
  }
  return num / den;
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.raw_data(), y.raw_data(), static_cast<std::size_t>(x.numel()) * dtype_size(x.dtype())) == 0;
}

// Runs the elementwise kernel's per-element function over every output element, on the host.
template <class E>
Tensor eval_like_kernel(const E& e, const std::vector<Tensor>& leaves, const Shape& shape, DType dt, bool int64) {
  const backend::Program program = expr::lower(e);
  std::vector<bc::StridedRef> refs;
  for (const Tensor& t : leaves) refs.push_back(t.expand(shape).strided_ref());
  Tensor out = Tensor::empty(shape, dt);
  const bc::StridedRef oref = out.strided_ref();
  std::vector<const bc::StridedRef*> ops{&oref};
  for (const auto& r : refs) ops.push_back(&r);
  const bc::CollapsedGeometry g = bc::collapse(ops.data(), static_cast<int>(ops.size()), "test");
  auto run = [&](auto index) {
    using Index = decltype(index);
    const auto a = bc::make_program_args<Index>(program, g, refs.data(), static_cast<int>(refs.size()), oref);
    for (Index i = 0; i < static_cast<Index>(g.numel); ++i) {
      if (dt == DType::float32)
        bc::eval_program_at<float>(a, i);
      else
        bc::eval_program_at<double>(a, i);
    }
  };
  if (int64)
    run(std::int64_t{});
  else
    run(std::int32_t{});
  return out;
}

}  // namespace

TEST_CASE("strided plans collapse dims and reproduce every operand offset", "[cuda][plan]") {
  // [4, 6, 5] output, a permuted operand, a broadcast operand and a narrowed one.
  const Tensor base = randn_t({6, 4, 5}, 1);
  const Tensor perm = base.permute({1, 0, 2});                 // strides [5, 20, 1]
  const Tensor bcast = randn_t({1, 6, 1}, 2).expand({4, 6, 5});  // strides [0, 1, 0]
  const Tensor narrow = randn_t({4, 6, 9}, 3).narrow(2, 2, 5);   // strides [54, 9, 1]
  const Tensor out = Tensor::empty({4, 6, 5});
  const bc::StridedRef r[4] = {out.strided_ref(), perm.strided_ref(), bcast.strided_ref(), narrow.strided_ref()};
  const bc::StridedRef* ops[4] = {&r[0], &r[1], &r[2], &r[3]};
  const bc::CollapsedGeometry g = bc::collapse(ops, 4, "test");
  CHECK(g.numel == 120);
  CHECK(g.fits_int32(4));
  const auto plan = bc::make_plan<4, std::int64_t>(g, 4);
  for (std::int64_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < 6; ++j)
      for (std::int64_t k = 0; k < 5; ++k) {
        std::int64_t off[4];
        plan.offsets((i * 6 + j) * 5 + k, off);
        for (int o = 0; o < 4; ++o) CHECK(off[o] == i * r[o].strides[0] + j * r[o].strides[1] + k * r[o].strides[2]);
      }
  // Contiguous operands collapse to one dim.
  const Tensor c = Tensor::empty({3, 4, 5});
  const bc::StridedRef rc = c.strided_ref();
  const bc::StridedRef* cops[2] = {&rc, &rc};
  CHECK(bc::collapse(cops, 2, "test").rank == 1);
  // Mismatched shapes are refused.
  const bc::StridedRef bad = Tensor::empty({3, 4, 6}).strided_ref();
  const bc::StridedRef* bops[2] = {&rc, &bad};
  CHECK_THROWS_AS(bc::collapse(bops, 2, "test"), ShapeError);
}

TEST_CASE("lowered programs interpreted per element match the CPU fused loop", "[cuda][program]") {
  const Tensor a = randn_t({3, 1, 5}, 4), b = randn_t({4, 5}, 5), c = randn_t({3, 4, 5}, 6).permute({0, 2, 1});
  const Tensor cc = c.contiguous().reshape({3, 5, 4}).permute({0, 2, 1});  // [3, 4, 5] non-contiguous
  const Shape shape{3, 4, 5};
  for (bool int64 : {false, true}) {
    // lrelu(a * b + c, 0.2) * sqrt(2): the StyleGAN2 activation, three broadcast leaves.
    const Var va(a), vb(b), vc(cc);
    auto e1 = lrelu(va * vb + vc, 0.2) * std::sqrt(2.0);
    const Tensor ref1 = Var(e1).data();
    CHECK(rel_error(eval_like_kernel(e1, {a, b, cc}, shape, DType::float32, int64), ref1) <= 1e-6);
    // Every unary opcode.
    const Var pos(Tensor::full({3, 4, 5}, 0.75));
    auto e2 = exp(va) + log(pos) + sqrt(pos) + rsqrt(pos) + square(vb) + reciprocal(pos) + abs(vc) + sign(vc) +
              sigmoid(va) + softplus(vb) + tanh(vc) + clamp(va, -0.5, 0.5) + pow(pos, 1.7) - (-vb) / 3.0;
    const Tensor ref2 = Var(e2).data();
    const Tensor got2 = eval_like_kernel(e2, {a, Tensor::full({3, 4, 5}, 0.75), Tensor::full({3, 4, 5}, 0.75),
                                               Tensor::full({3, 4, 5}, 0.75), b, Tensor::full({3, 4, 5}, 0.75), cc,
                                               cc, a, b, cc, a, Tensor::full({3, 4, 5}, 0.75), b},
                                         shape, DType::float32, int64);
    CHECK(rel_error(got2, ref2) <= 1e-6);
    // Double precision.
    const Tensor a64 = a.to(DType::float64), b64 = b.to(DType::float64);
    auto e3 = Var(a64) * Var(b64) - Var(b64) / (Var(a64) * Var(a64) + 1.0);
    CHECK(rel_error(eval_like_kernel(e3, {a64, b64, b64, a64, a64}, shape, DType::float64, int64), Var(e3).data()) <=
          1e-14);
  }
}

TEST_CASE("program lowering: postfix order, constants, parameters and limits", "[cuda][program]") {
  const Var x(Tensor::ones({2})), y(Tensor::ones({2}));
  const backend::Program p = expr::lower(lrelu(x * 2.0 + y, 0.3));
  REQUIRE(p.size == 6);
  CHECK(p.leaves == 2);
  CHECK(p.code[0].op == backend::Op::leaf);
  CHECK(p.code[0].leaf == 0);
  CHECK(p.code[1].op == backend::Op::constant);
  CHECK(p.code[1].p0 == 2.0);
  CHECK(p.code[2].op == backend::Op::mul);
  CHECK(p.code[3].op == backend::Op::leaf);
  CHECK(p.code[3].leaf == 1);
  CHECK(p.code[4].op == backend::Op::add);
  CHECK(p.code[5].op == backend::Op::lrelu);
  CHECK(p.code[5].p0 == 0.3);
  CHECK(expr::lower(clamp(x, -1.0, 2.0)).code[1].p1 == 2.0);
  // A left-deep chain needs a two-slot stack however long it is; depth alone would overstate it.
  auto chain = exp(tanh(x + y + x + y + x + y + x + y + x + y + x + y + x + y + x + y));
  static_assert(expr::stack_need<decltype(chain)>::value == 2);
  static_assert(expr::depth<decltype(chain)>::value > backend::Program::max_stack);
  CHECK(expr::lower(chain).leaves == 16);
  CHECK(expr::lower(chain).size == 33);
  // More leaves than the kernel's argument block holds is a clear error, not an overflow.
  auto wide = x + y + x + y + x + y + x + y + x + y + x + y + x + y + x + y + x;
  CHECK_THROWS_AS(expr::lower(wide), ValueError);
}

TEST_CASE("strided copies convert dtypes element by element", "[cuda][copy]") {
  for (DType dd : {DType::float32, DType::float64}) {
    const DType sd = dd == DType::float32 ? DType::float64 : DType::float32;
    const Tensor src = randn_t({4, 3, 5}, 7, sd).permute({2, 0, 1});  // [5, 4, 3], strided
    const Tensor dst = Tensor::empty({6, 4, 3}, dd).narrow(0, 1, 5);    // strided destination
    const bc::StridedRef rd = dst.strided_ref(), rs = src.strided_ref();
    const bc::StridedRef* ops[2] = {&rd, &rs};
    const bc::CollapsedGeometry g = bc::collapse(ops, 2, "test");
    bc::CopyArgs<std::int32_t> a;
    a.plan = bc::make_plan<2, std::int32_t>(g, 2);
    a.dst = rd.data;
    a.src = rs.data;
    for (std::int32_t i = 0; i < static_cast<std::int32_t>(g.numel); ++i) {
      if (dd == DType::float32)
        bc::copy_at<float, double>(a, i);
      else
        bc::copy_at<double, float>(a, i);
    }
    Tensor ref = Tensor::empty({5, 4, 3}, dd);
    ref.copy_(src);
    CHECK(bit_equal(dst, ref));
  }
}

TEST_CASE("keepdim sum plans cover every input element once, in both kernel schedules", "[cuda][reduce]") {
  // Integer-valued inputs make every summation order exact, so coverage errors show as wrong sums.
  Rng rng(11);
  const Tensor base = Var(Var(rand({4, 6, 5, 7}, rng)) * 8.0).data();
  std::vector<float> v = base.to_vector<float>();
  for (float& x : v) x = std::floor(x);
  const Tensor in_c = Tensor::from_vector<float>(v, {4, 6, 5, 7});
  const Tensor in_p = in_c.permute({2, 0, 3, 1});  // [5, 4, 7, 6], strided
  for (const Tensor& in : {in_c, in_p}) {
    for (const std::vector<int>& dims : std::vector<std::vector<int>>{{0}, {1}, {3}, {0, 2}, {1, 3}, {0, 1, 2, 3}}) {
      Shape keep = in.shape();
      for (int d : dims) keep[d] = 1;
      const Tensor ref = sum(Var(in), dims, true).data();
      const bc::ReducePlan plan = bc::make_reduce_plan(in.strided_ref(), Tensor::empty(keep).strided_ref());
      const float* src = static_cast<const float*>(in.raw_data());
      // Thread per output.
      Tensor got1 = Tensor::empty(keep);
      const bc::StridedRef o1 = got1.strided_ref();
      for (std::int64_t o = 0; o < plan.n_out; ++o) {
        std::int64_t io, oo;
        plan.kept_offsets(o, io, oo);
        static_cast<float*>(o1.data)[oo] = static_cast<float>(bc::sum_reduced(plan, src, io, 0, plan.n_red, 1));
      }
      CHECK(bit_equal(got1, ref.reshape(keep)));
      // Blocks of 256 threads over `splits` chunks, then the pass over partial sums.
      for (std::int64_t target : {1, 7, 1000}) {
        bc::ReduceSchedule s = bc::schedule_reduce(plan, target);
        s.splits = std::max<std::int64_t>(s.splits, 3);  // force the two-pass form
        s.chunk = (plan.n_red + s.splits - 1) / s.splits;
        Tensor got2 = Tensor::empty(keep);
        for (std::int64_t o = 0; o < plan.n_out; ++o) {
          std::int64_t io, oo;
          plan.kept_offsets(o, io, oo);
          double total = 0;
          for (std::int64_t sp = 0; sp < s.splits; ++sp) {
            const std::int64_t j0 = sp * s.chunk, j1 = std::min(j0 + s.chunk, plan.n_red);
            for (int t = 0; t < 256; ++t) total += bc::sum_reduced(plan, src, io, j0 + t, j1, 256);
          }
          static_cast<float*>(got2.raw_data())[oo] = static_cast<float>(total);
        }
        CHECK(bit_equal(got2, ref.reshape(keep)));
      }
    }
  }
  // The schedule: short sums and outputs that read adjacent inputs go one thread per output.
  const Tensor big = Tensor::empty({64, 4096});
  const auto cols = bc::make_reduce_plan(big.strided_ref(), Tensor::empty({1, 4096}).strided_ref());
  CHECK(cols.inner_dim_kept());
  CHECK(bc::schedule_reduce(cols, 16).kind == bc::ReduceSchedule::Kind::thread_per_output);
  const auto rows = bc::make_reduce_plan(big.strided_ref(), Tensor::empty({64, 1}).strided_ref());
  CHECK(bc::schedule_reduce(rows, 1056).kind == bc::ReduceSchedule::Kind::block_per_output);
  const auto all = bc::make_reduce_plan(Tensor::empty({1 << 22}).strided_ref(), Tensor::empty({1}).strided_ref());
  const auto sa = bc::schedule_reduce(all, 1056);
  CHECK(sa.splits > 1);
  CHECK(sa.splits * sa.chunk >= all.n_red);
}

namespace {
template <class T>
double tol() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}
}  // namespace

TEMPLATE_TEST_CASE("convolution drivers with a host executor match the CPU convolutions", "[cuda][conv2d]", float,
                   double) {
  using T = TestType;
  const DType dt = dtype_of<T>();
  struct Case {
    Shape x;
    Shape w;  // full weight; the conv uses the [cout, cin/g] prefix
    std::int64_t cout, cig;
    Conv2dParams p;
  };
  const std::vector<Case> cases = {
      {{3, 4, 7, 6}, {6, 4, 3, 3}, 6, 4, {1, 1, 1, 1, 1}},    // same padding
      {{3, 4, 7, 6}, {6, 4, 3, 3}, 6, 4, {2, 2, 0, 0, 1}},    // strided
      {{3, 4, 7, 6}, {6, 2, 3, 3}, 6, 2, {1, 2, 1, 0, 2}},    // groups, mixed stride/padding
      {{2, 8, 5, 5}, {8, 2, 3, 3}, 8, 2, {1, 1, 1, 1, 4}},    // more groups than images
      {{5, 4, 6, 6}, {10, 3, 1, 1}, 8, 2, {1, 1, 0, 0, 2}},   // 1x1 identity im2col, sliced weight, groups
      {{2, 3, 5, 4}, {9, 5, 3, 3}, 4, 3, {1, 1, 1, 1, 1}},    // prefix slice of a larger weight
      {{1, 6, 4, 4}, {6, 1, 4, 4}, 6, 1, {2, 2, 1, 1, 6}},    // depthwise 4x4 (the modulated-conv shape)
  };
  for (const Case& c : cases) {
    const Tensor x = randn_t(c.x, 21, dt);
    const Tensor w = randn_t(c.w, 22, dt).narrow(0, 0, c.cout).narrow(1, 0, c.cig);
    const Tensor y_ref = conv2d(Var(x), Var(w), c.p).data();
    const Tensor gy = randn_t(y_ref.shape(), 23, dt);
    const Tensor dx_ref = conv_transpose2d(Var(gy), Var(w), c.p,
                                           static_cast<int>(x.size(2) - ((gy.size(2) - 1) * c.p.stride_h - 2 * c.p.pad_h + w.size(2))),
                                           static_cast<int>(x.size(3) - ((gy.size(3) - 1) * c.p.stride_w - 2 * c.p.pad_w + w.size(3))))
                               .data();
    const Tensor dw_ref = conv2d_weight(Var(x), Var(gy), w.shape(), c.p).data();
    REQUIRE(dx_ref.shape() == x.shape());
    for (std::int64_t budget : {std::int64_t{1}, std::int64_t{200}, std::int64_t{1} << 30}) {  // chunk sizes
      INFO("x " << c.x << " w " << w.shape() << " groups " << c.p.groups << " stride " << c.p.stride_h << "x"
                << c.p.stride_w << " budget " << budget);
      const bc::StridedRef rx = x.strided_ref(), rw = w.strided_ref();
      anycost::test::HostConvExec ex;
      Tensor y = Tensor::empty(y_ref.shape(), dt);
      const bc::ConvGeometry g = bc::conv_geometry(rx, rw, y.strided_ref(), c.p, "conv2d");
      const std::int64_t lw = bc::weight_row_stride(rw, "conv2d");
      bc::conv2d_driver<T>(ex, g, static_cast<const T*>(rx.data), static_cast<const T*>(rw.data), lw,
                           static_cast<T*>(y.raw_data()), budget);
      CHECK(rel_error(y, y_ref) <= tol<T>());
      // Column buffers are capped: a budget of one element still works, one image per chunk.
      if (budget == 1 && !g.identity_im2col()) CHECK(ex.im2col_calls == x.size(0));

      Tensor dx = Tensor::empty(x.shape(), dt);
      const bc::ConvGeometry gt = bc::conv_geometry(dx.strided_ref(), rw, gy.strided_ref(), c.p, "conv_transpose2d");
      bc::conv_transpose2d_driver<T>(ex, gt, gy.data<T>(), static_cast<const T*>(rw.data), lw, dx.data<T>(), budget);
      CHECK(rel_error(dx, dx_ref) <= tol<T>());

      Tensor dw = Tensor::empty(w.shape(), dt);
      const bc::ConvGeometry gw = bc::conv_geometry(rx, dw.strided_ref(), gy.strided_ref(), c.p, "conv2d_weight_grad");
      bc::conv2d_weight_grad_driver<T>(ex, gw, x.data<T>(), gy.data<T>(), dw.data<T>(), budget);
      CHECK(rel_error(dw, dw_ref) <= tol<T>());
    }
  }
  // Weights whose rows are not contiguous are refused (the op layer copies them first).
  const Tensor wt = randn_t({3, 3, 4, 6}, 24, dt).permute({3, 2, 0, 1});
  CHECK_THROWS_AS(bc::weight_row_stride(wt.strided_ref(), "conv2d"), ValueError);
}

TEST_CASE("grouped GEMMs take the fewer launches of the two batching orders", "[cuda][conv2d]") {
  anycost::test::HostConvExec ex;
  const Tensor x = randn_t({2, 8, 5, 5}, 31, DType::float64), w = randn_t({8, 1, 3, 3}, 32, DType::float64);
  const Tensor y = Tensor::empty({2, 8, 5, 5}, DType::float64);
  const bc::ConvGeometry g = bc::conv_geometry(x.strided_ref(), w.strided_ref(), y.strided_ref(), {1, 1, 1, 1, 8}, "c");
  bc::conv2d_driver<double>(ex, g, x.data<double>(), w.data<double>(), 9, y.data<double>(), 1 << 30);
  CHECK(ex.gemm_calls == 2);  // 8 groups, 2 images: one call per image, batched over groups
}

TEMPLATE_TEST_CASE("upfirdn2d per element matches the CPU reference", "[cuda][upfirdn2d]", float, double) {
  using T = TestType;
  const DType dt = dtype_of<T>();
  const Tensor x = randn_t({2, 3, 7, 6}, 41, dt);
  const Tensor k4 = randn_t({4, 4}, 42, dt), k3 = randn_t({3, 5}, 43, dt);
  struct Case {
    Tensor k;
    UpFirDnParams p;
  };
  const std::vector<Case> cases = {
      {k4, UpFirDnParams::make(1, 1, 2, 1)},   // blur
      {k4, UpFirDnParams::make(2, 1, 2, 1)},   // upsample
      {k4, UpFirDnParams::make(1, 2, 1, 1)},   // downsample
      {k3, {3, 2, 1, 2, -1, 3}},               // odd kernel, up 3 / down 2, a negative (cropping) pad
      {k4, {1, 1, -1, 1, 0, -1}},              // negative pads
  };
  for (const Case& c : cases) {
    const Tensor ref = upfirdn2d(Var(x), c.k, c.p).data();
    Tensor out = Tensor::empty(ref.shape(), dt);
    const bc::UpFirDnArgs<T> a{x.template data<T>(), c.k.template data<T>(), out.template data<T>(), 6, 7, 6, out.size(2), out.size(3),
                               static_cast<int>(c.k.size(0)), static_cast<int>(c.k.size(1)), c.p};
    for (std::int64_t e = 0; e < a.size(); ++e) bc::upfirdn2d_at(a, e);
    CHECK(rel_error(out, ref) <= (std::is_same_v<T, float> ? 1e-6 : 1e-14));
  }
}

TEST_CASE("the CUDA Philox fill computes the CPU's values bit for bit", "[cuda][random]") {
  for (std::int64_t n : {1, 3, 4, 5, 1001}) {
    for (bool normal : {true, false}) {
      for (DType dt : {DType::float32, DType::float64}) {
        Rng cpu(99);
        (void)cpu.reserve(17);  // a draw that does not start at block 0
        const std::uint64_t first = cpu.offset();
        const Tensor ref = normal ? randn({n}, cpu, dt) : rand({n}, cpu, dt);
        Tensor got = Tensor::empty({n}, dt);
        dispatch_dtype(dt, [&](auto z) {
          using T = decltype(z);
          const bc::PhiloxFillArgs<T> a{got.data<T>(), n, 99, first, normal};
          for (std::int64_t b = 0; b < a.blocks(); ++b) bc::philox_fill_at(a, b);
        });
        CHECK(bit_equal(got, ref));
      }
    }
  }
}

TEMPLATE_TEST_CASE("max pooling per element matches the CPU reference bit for bit", "[cuda][pool]", float, double) {
  using T = TestType;
  const DType dt = dtype_of<T>();
  struct Case {
    Shape shape;
    int kernel, stride, pad;
  };
  // AlexNet's and VGG16's LPIPS pools on odd sizes, padding, overlap with stride 1, a window of the whole plane.
  const std::vector<Case> cases = {{{2, 3, 13, 11}, 3, 2, 0}, {{2, 3, 9, 7}, 2, 2, 0}, {{1, 4, 8, 9}, 3, 2, 1},
                                   {{1, 2, 7, 6}, 3, 1, 1},   {{1, 2, 6, 5}, 5, 3, 2}, {{3, 1, 4, 4}, 4, 1, 0}};
  std::uint64_t seed = 51;
  for (const Case& c : cases) {
    for (bool ties : {false, true}) {
      INFO("shape " << c.shape << " kernel " << c.kernel << " stride " << c.stride << " pad " << c.pad << " ties "
                    << ties);
      Tensor x = randn_t(c.shape, seed++, dt);
      T* xp = x.template data<T>();
      if (ties)  // values in steps of 1/2: most windows hold tied maxima
        for (std::int64_t i = 0; i < x.numel(); ++i) xp[i] = std::round(xp[i] * T(2)) / T(2);
      xp[x.numel() / 3] = std::numeric_limits<T>::quiet_NaN();  // a NaN wins its windows
      backend::Pool2dGeometry g;
      g.planes = c.shape[0] * c.shape[1];
      g.h = c.shape[2];
      g.w = c.shape[3];
      g.kernel = c.kernel;
      g.stride = c.stride;
      g.pad = c.pad;
      g.ho = backend::conv_out_size(g.h, c.kernel, c.stride, c.pad);
      g.wo = backend::conv_out_size(g.w, c.kernel, c.stride, c.pad);
      const Shape out_shape{c.shape[0], c.shape[1], g.ho, g.wo};
      const std::size_t n_out = static_cast<std::size_t>(g.planes * g.ho * g.wo);

      Tensor ref = Tensor::empty(out_shape, dt), got = Tensor::empty(out_shape, dt);
      std::vector<std::int64_t> ref_index(n_out, -2), got_index(n_out, -2);
      backend::cpu::max_pool2d<T>(x, ref, ref_index.data(), g);
      const bc::MaxPoolArgs<T> fa{x.template data<T>(), got.template data<T>(), got_index.data(), g};
      for (std::int64_t e = 0; e < fa.size(); ++e) bc::max_pool2d_at(fa, e);
      CHECK(got_index == ref_index);
      CHECK(bit_equal(got, ref));

      // Scatter: every input element written (the output starts as NaN), sums bit-identical.
      const Tensor gy = randn_t(out_shape, seed++, dt);
      Tensor ref_in = Tensor::empty(c.shape, dt), got_in = Tensor::full(c.shape, std::nan(""), dt);
      backend::cpu::max_pool2d_scatter<T>(gy, ref_in, ref_index.data(), g);
      const bc::MaxPoolScatterArgs<T> sa{gy.template data<T>(), got_in.template data<T>(), ref_index.data(), g};
      for (std::int64_t e = 0; e < sa.size(); ++e) bc::max_pool2d_scatter_at(sa, e);
      CHECK(bit_equal(got_in, ref_in));

      // Gather.
      const Tensor gx = randn_t(c.shape, seed++, dt);
      Tensor ref_out = Tensor::empty(out_shape, dt), got_out = Tensor::empty(out_shape, dt);
      backend::cpu::max_pool2d_gather<T>(gx, ref_out, ref_index.data(), g);
      const bc::MaxPoolGatherArgs<T> ga{gx.template data<T>(), got_out.template data<T>(), ref_index.data(), g};
      for (std::int64_t e = 0; e < ga.size(); ++e) bc::max_pool2d_gather_at(ga, e);
      CHECK(bit_equal(got_out, ref_out));
    }
  }
}
