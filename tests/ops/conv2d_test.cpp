#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;

namespace {
// Direct-loop references (cross-correlation, PyTorch semantics), on any strided views.
Tensor conv2d_reference(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  const std::int64_t n = x.size(0), cin = x.size(1), h = x.size(2), wd = x.size(3);
  const std::int64_t cout = w.size(0), cig = w.size(1), kh = w.size(2), kw = w.size(3), cog = cout / p.groups;
  const std::int64_t ho = (h + 2 * p.pad_h - kh) / p.stride_h + 1, wo = (wd + 2 * p.pad_w - kw) / p.stride_w + 1;
  const auto xv = x.contiguous().to_vector<double>(), wv = w.contiguous().to_vector<double>();
  std::vector<double> y(static_cast<std::size_t>(n * cout * ho * wo), 0.0);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t o = 0; o < cout; ++o)
      for (std::int64_t i = 0; i < ho; ++i)
        for (std::int64_t j = 0; j < wo; ++j) {
          double acc = 0;
          const std::int64_t g = o / cog;
          for (std::int64_t c = 0; c < cig; ++c)
            for (std::int64_t a = 0; a < kh; ++a)
              for (std::int64_t e = 0; e < kw; ++e) {
                const std::int64_t yi = i * p.stride_h + a - p.pad_h, xj = j * p.stride_w + e - p.pad_w;
                if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue;
                acc += xv[((b * cin + g * cig + c) * h + yi) * wd + xj] * wv[((o * cig + c) * kh + a) * kw + e];
              }
          y[((b * cout + o) * ho + i) * wo + j] = acc;
        }
  (void)cin;
  return Tensor::from_vector(y, {n, cout, ho, wo});
}

// out[b, g*cog + o, i*s + a - p, j*s + e - p] += z[b, g*czg + c, i, j] * w[g*czg + c, o, a, e].
Tensor conv_transpose2d_reference(const Tensor& z, const Tensor& w, const Conv2dParams& p, int oph, int opw) {
  const std::int64_t n = z.size(0), cz = z.size(1), hz = z.size(2), wz = z.size(3);
  const std::int64_t cog = w.size(1), kh = w.size(2), kw = w.size(3), czg = cz / p.groups, cout = cog * p.groups;
  const std::int64_t ho = (hz - 1) * p.stride_h - 2 * p.pad_h + kh + oph, wo = (wz - 1) * p.stride_w - 2 * p.pad_w + kw + opw;
  const auto zv = z.contiguous().to_vector<double>(), wv = w.contiguous().to_vector<double>();
  std::vector<double> out(static_cast<std::size_t>(n * cout * ho * wo), 0.0);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ci = 0; ci < cz; ++ci)
      for (std::int64_t o = 0; o < cog; ++o)
        for (std::int64_t i = 0; i < hz; ++i)
          for (std::int64_t j = 0; j < wz; ++j)
            for (std::int64_t a = 0; a < kh; ++a)
              for (std::int64_t e = 0; e < kw; ++e) {
                const std::int64_t yi = i * p.stride_h + a - p.pad_h, xj = j * p.stride_w + e - p.pad_w;
                if (yi < 0 || yi >= ho || xj < 0 || xj >= wo) continue;
                const std::int64_t oc = (ci / czg) * cog + o;
                out[((b * cout + oc) * ho + yi) * wo + xj] +=
                    zv[((b * cz + ci) * hz + i) * wz + j] * wv[((ci * cog + o) * kh + a) * kw + e];
              }
  return Tensor::from_vector(out, {n, cout, ho, wo});
}
}  // namespace

TEST_CASE("conv2d family: first and second derivatives", "[conv2d]") {
  const Tensor x = rand64({2, 4, 6, 5}, 1), w = rand64({3, 4, 3, 3}, 2), wg = rand64({4, 2, 3, 3}, 3);
  for (Conv2dParams p : {Conv2dParams{1, 1, 1, 1, 1}, Conv2dParams{2, 2, 1, 1, 1}, Conv2dParams{2, 2, 0, 0, 1},
                         Conv2dParams{1, 2, 0, 1, 1}, Conv2dParams{3, 1, 2, 0, 1}}) {
    INFO("stride " << p.stride_h << "x" << p.stride_w << " pad " << p.pad_h << "x" << p.pad_w);
    CHECK_GRADIENTS([p](const std::vector<Var>& v) { return conv2d(v[0], v[1], p); }, x, w);
  }
  for (Conv2dParams p : {Conv2dParams{1, 1, 1, 1, 2}, Conv2dParams{2, 2, 0, 0, 2}}) {
    CHECK_GRADIENTS([p](const std::vector<Var>& v) { return conv2d(v[0], v[1], p); }, x, wg);
  }
  // 1x1 kernels (the direct, im2col-free path), with and without stride, and depthwise groups.
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv2d(v[0], v[1]); }, x, rand64({5, 4, 1, 1}, 4));
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv2d(v[0], v[1], {2, 2, 0, 0, 1}); }, x,
                  rand64({5, 4, 1, 1}, 5));
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv2d(v[0], v[1], {1, 1, 1, 1, 4}); }, x,
                  rand64({4, 1, 3, 3}, 6));
  // A sliced weight (first 2 outputs, first 3 inputs of a larger weight): the gradient lands in the slice.
  CHECK_GRADIENTS([](const std::vector<Var>& v) {
    return conv2d(narrow(v[0], 1, 0, 3), narrow(narrow(v[1], 0, 0, 2), 1, 0, 3), {1, 1, 1, 1, 1});
  }, x, rand64({5, 6, 3, 3}, 7));
  // A permuted weight (rows not contiguous) is copied.
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv2d(v[0], permute(v[1], {1, 0, 2, 3}), {1, 1, 1, 1, 1}); },
                  x, rand64({4, 3, 3, 3}, 8));

  const Tensor z = rand64({2, 3, 3, 4}, 9), wt = rand64({3, 2, 3, 3}, 10);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv_transpose2d(v[0], v[1], {2, 2, 0, 0, 1}); }, z, wt);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv_transpose2d(v[0], v[1], {2, 2, 1, 1, 1}, 1, 1); }, z, wt);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv_transpose2d(v[0], v[1], {1, 1, 1, 1, 1}); }, z, wt);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv_transpose2d(v[0], v[1], {2, 1, 0, 1, 1}, 1, 0); }, z,
                  wt);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv_transpose2d(v[0], v[1], {2, 2, 0, 0, 2}); },
                  rand64({2, 4, 3, 3}, 11), rand64({4, 2, 3, 3}, 12));
  // A sliced transposed-conv weight (first k_out of the output axis), as the up-sampling modulated conv uses.
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv_transpose2d(v[0], narrow(v[1], 1, 0, 2), {2, 2, 0, 0, 1}); },
                  z, rand64({3, 4, 3, 3}, 13));

  const Tensor gy = rand64({2, 3, 3, 3}, 14);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv2d_weight(v[0], v[1], {3, 4, 3, 3}, {2, 2, 1, 1, 1}); },
                  x.narrow(3, 0, 5).contiguous(), gy);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return conv2d_weight(v[0], v[1], {4, 2, 3, 3}, {1, 1, 1, 1, 2}); },
                  rand64({1, 4, 4, 4}, 15), rand64({1, 4, 4, 4}, 16));
}

TEST_CASE("conv2d family matches direct loops", "[conv2d]") {
  const double tol = 1e-12;
  const Tensor x = rand64({2, 4, 7, 6}, 21);
  for (Conv2dParams p : {Conv2dParams{1, 1, 1, 1, 1}, Conv2dParams{2, 2, 0, 0, 1}, Conv2dParams{2, 1, 1, 2, 2},
                         Conv2dParams{1, 1, 0, 0, 4}}) {
    const Tensor w = rand64({4, 4 / p.groups, 3, 3}, 22);
    INFO("stride " << p.stride_h << "x" << p.stride_w << " pad " << p.pad_h << "x" << p.pad_w << " groups "
                   << p.groups);
    CHECK_ALLCLOSE(conv2d(Var(x), Var(w), p).data(), conv2d_reference(x, w, p), tol, tol);
  }
  // A prefix slice of a larger weight, read in place.
  const Tensor wfull = rand64({6, 8, 3, 3}, 23);
  const Tensor ws = wfull.narrow(0, 0, 2).narrow(1, 0, 4);
  CHECK_ALLCLOSE(conv2d(Var(x), Var(ws), {1, 1, 1, 1, 1}).data(), conv2d_reference(x, ws, {1, 1, 1, 1, 1}), tol, tol);
  // Transposed convolution: the scatter definition, with groups, stride, padding and output padding.
  const Tensor z = rand64({2, 4, 3, 4}, 24);
  struct T {
    Conv2dParams p;
    int oph, opw;
  };
  for (T t : {T{{2, 2, 0, 0, 1}, 0, 0}, T{{2, 2, 1, 1, 1}, 1, 1}, T{{3, 2, 1, 0, 2}, 2, 1}, T{{1, 1, 1, 1, 1}, 0, 0}}) {
    const Tensor w = rand64({4, 3, 3, 3}, 25);
    INFO("transposed: stride " << t.p.stride_h << "x" << t.p.stride_w << " groups " << t.p.groups);
    CHECK_ALLCLOSE(conv_transpose2d(Var(z), Var(w), t.p, t.oph, t.opw).data(),
                   conv_transpose2d_reference(z, w, t.p, t.oph, t.opw), tol, tol);
  }
  // The generator's up-conv shape rule: H x W -> (2H+1) x (2W+1) at stride 2, padding 0.
  CHECK(conv_transpose2d(Var(Tensor::zeros({1, 2, 4, 4})), Var(Tensor::zeros({2, 3, 3, 3})), {2, 2, 0, 0, 1}).shape() ==
        Shape{1, 3, 9, 9});
  // conv2d_weight is the gradient of <gy, conv2d(x, w)> with respect to w.
  const Conv2dParams p{2, 2, 1, 1, 2};
  const Tensor w = rand64({6, 2, 3, 3}, 26);
  const Tensor gy = rand64({2, 6, 4, 3}, 27);
  Var wv(w, true);
  const Tensor expected = grad({sum(conv2d(Var(x), wv, p) * Var(gy))}, {wv})[0].data();
  CHECK_ALLCLOSE(conv2d_weight(Var(x), Var(gy), w.shape(), p).data(), expected, tol, tol);
  // Brute force for one entry of dw: d/dw[o,c,a,e] sum(gy * conv2d(x, w)) = sum over outputs.
  const Tensor dw = conv2d_weight(Var(x), Var(gy), w.shape(), p).data();
  const Tensor unit = Tensor::zeros(w.shape(), DType::float64);
  unit.data<double>()[((3 * 2 + 1) * 3 + 2) * 3 + 0] = 1.0;
  CHECK(dw.to_vector<double>()[((3 * 2 + 1) * 3 + 2) * 3 + 0] ==
        Approx(sum(Var(conv2d_reference(x, unit, p)) * Var(gy)).item()).epsilon(1e-12));
}

TEST_CASE("conv2d rejects bad arguments, naming the op and the shapes", "[conv2d]") {
  Var x(Tensor::zeros({1, 3, 8, 8})), w(Tensor::zeros({4, 2, 3, 3}));
  CHECK_THROWS_WITH(conv2d(x, w), Catch::Contains("conv2d") && Catch::Contains("3 channels") &&
                                      Catch::Contains("[1, 3, 8, 8]") && Catch::Contains("[4, 2, 3, 3]"));
  CHECK_THROWS_WITH(conv2d(x, Var(Tensor::zeros({4, 3, 9, 9}))),
                    Catch::Contains("conv2d") && Catch::Contains("smaller than kernel"));
  CHECK_THROWS_WITH(conv2d(Var(Tensor::zeros({3, 8, 8})), w), Catch::Contains("conv2d") && Catch::Contains("4-D") &&
                                                                  Catch::Contains("[3, 8, 8]"));
  CHECK_THROWS_WITH(conv2d(Var(Tensor::zeros({1, 4, 8, 8})), Var(Tensor::zeros({3, 2, 3, 3})), {1, 1, 1, 1, 2}),
                    Catch::Contains("conv2d") && Catch::Contains("3 output channels") && Catch::Contains("2 groups"));
  CHECK_THROWS_WITH(conv2d(x, Var(Tensor::zeros({4, 3, 3, 3})), {0, 1, 0, 0, 1}),
                    Catch::Contains("conv2d") && Catch::Contains("stride 0x1"));
  CHECK_THROWS_AS(conv2d(x, Var(Tensor::zeros({4, 3, 3, 3})), {1, 1, -1, 0, 1}), ValueError);
  CHECK_THROWS_AS(conv2d(x, Var(Tensor::zeros({4, 3, 3, 3})), {1, 1, 0, 0, 0}), ValueError);
  CHECK_THROWS_WITH(conv2d(x, Var(Tensor::zeros({4, 3, 3, 3}, DType::float64))),
                    Catch::Contains("conv2d") && Catch::Contains("float32") && Catch::Contains("float64"));
  CHECK_THROWS_WITH(conv2d(x, Var(test::fake_cuda({4, 3, 3, 3}))),
                    Catch::Contains("conv2d") && Catch::Contains("cuda:0"));
  CHECK_THROWS_AS(conv2d(x, Var(test::fake_cuda({4, 3, 3, 3}))), DeviceError);

  Var z(Tensor::zeros({1, 4, 3, 3}));
  CHECK_THROWS_WITH(conv_transpose2d(z, Var(Tensor::zeros({3, 2, 3, 3}))),
                    Catch::Contains("conv_transpose2d") && Catch::Contains("[1, 4, 3, 3]") &&
                        Catch::Contains("[3, 2, 3, 3]"));
  CHECK_THROWS_WITH(conv_transpose2d(z, Var(Tensor::zeros({4, 2, 3, 3})), {2, 2, 0, 0, 1}, 2, 0),
                    Catch::Contains("conv_transpose2d") && Catch::Contains("output padding"));
  CHECK_THROWS_AS(conv_transpose2d(z, Var(Tensor::zeros({4, 2, 3, 3})), {1, 1, 3, 3, 1}), ShapeError);
  CHECK_THROWS_AS(conv_transpose2d(z, Var(test::fake_cuda({4, 2, 3, 3}))), DeviceError);

  CHECK_THROWS_WITH(conv2d_weight(x, Var(Tensor::zeros({1, 4, 6, 6})), {4, 2, 3, 3}),
                    Catch::Contains("conv2d_weight") && Catch::Contains("[1, 3, 8, 8]") &&
                        Catch::Contains("[4, 2, 3, 3]"));
  CHECK_THROWS_WITH(conv2d_weight(x, Var(Tensor::zeros({1, 4, 5, 6})), {4, 3, 3, 3}),
                    Catch::Contains("conv2d_weight") && Catch::Contains("[1, 4, 5, 6]"));
  CHECK_THROWS_WITH(conv2d_weight(x, Var(Tensor::zeros({1, 4, 6, 6}, DType::float64)), {4, 3, 3, 3}),
                    Catch::Contains("conv2d_weight") && Catch::Contains("float64"));
  CHECK_THROWS_AS(conv2d_weight(x, Var(test::fake_cuda({1, 4, 6, 6})), {4, 3, 3, 3}), DeviceError);
}
