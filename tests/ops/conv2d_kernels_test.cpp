// The CPU convolution kernels (backend/cpu/conv2d.hpp, winograd.hpp, batched_gemm.hpp) against a direct
// nested-loop reference: every algorithm (im2col + GEMM, Winograd F(2x2, 3x3)) on both instruction-set
// copies, for odd sizes, strides 1 and 2, padding, groups, prefix-sliced weights, batch 1 and > 1, float
// and double.
#include <array>
#include <cmath>
#include <vector>

#include "support/gradcheck.hpp"

using namespace anycost;
namespace cpu = anycost::backend::cpu;
using cpu::ConvAlgo;
using cpu::simd::Isa;

namespace {

struct Geo {
  int n, cin, cout, h, w, k, stride, pad, groups;
  int ho() const { return (h + 2 * pad - k) / stride + 1; }
  int wo() const { return (w + 2 * pad - k) / stride + 1; }
};

// Direct loops in double: y = conv2d(x, w), x̄ = conv_transpose2d(z, w), w̄ = weight gradient of <z, y>.
struct Reference {
  std::vector<double> y, xt, dw;
};
Reference reference(const Geo& g, const Tensor& x_, const Tensor& w_, const Tensor& z_) {
  const auto x = x_.to_vector<double>(), w = w_.contiguous().to_vector<double>(), z = z_.to_vector<double>();
  const int cig = g.cin / g.groups, cog = g.cout / g.groups, ho = g.ho(), wo = g.wo();
  Reference r{std::vector<double>(static_cast<std::size_t>(g.n) * g.cout * ho * wo, 0.0),
              std::vector<double>(x.size(), 0.0), std::vector<double>(w.size(), 0.0)};
  for (int i = 0; i < g.n; ++i)
    for (int co = 0; co < g.cout; ++co)
      for (int oy = 0; oy < ho; ++oy)
        for (int ox = 0; ox < wo; ++ox) {
          const std::size_t yi = ((static_cast<std::size_t>(i) * g.cout + co) * ho + oy) * wo + ox;
          const int gi = co / cog;
          for (int ci = 0; ci < cig; ++ci)
            for (int a = 0; a < g.k; ++a)
              for (int b = 0; b < g.k; ++b) {
                const int iy = oy * g.stride + a - g.pad, ix = ox * g.stride + b - g.pad;
                if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
                const std::size_t xi = ((static_cast<std::size_t>(i) * g.cin + gi * cig + ci) * g.h + iy) * g.w + ix;
                const std::size_t wi = ((static_cast<std::size_t>(co) * cig + ci) * g.k + a) * g.k + b;
                r.y[yi] += x[xi] * w[wi];
                r.xt[xi] += z[yi] * w[wi];
                r.dw[wi] += z[yi] * x[xi];
              }
        }
  return r;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::abs(e));
  return m;
}

// Largest |got - want| over the scale of want.
double rel_error(const Tensor& got, const std::vector<double>& want) {
  const auto g = got.to_vector<double>();
  REQUIRE(g.size() == want.size());
  double err = 0;
  for (std::size_t i = 0; i < g.size(); ++i) err = std::max(err, std::abs(g[i] - want[i]));
  return err / (max_abs(want) + 1e-30);
}

template <class T>
void check_conv(const Geo& g, ConvAlgo algo, Isa isa) {
  Rng rng(static_cast<std::uint64_t>(g.n * 131 + g.cin * 17 + g.h * 7 + g.k + g.stride * 3 + g.groups));
  const DType dt = dtype_of<T>();
  const Tensor x = randn({g.n, g.cin, g.h, g.w}, rng, dt);
  // Prefix slices of a larger weight: rows [Cin/g, k, k] stay contiguous, the row stride is larger.
  const Tensor w_full = randn({g.cout + 3, g.cin / g.groups + 2, g.k, g.k}, rng, dt);
  const Tensor w = w_full.narrow(0, 0, g.cout).narrow(1, 0, g.cin / g.groups);
  const Tensor z = randn({g.n, g.cout, g.ho(), g.wo()}, rng, dt);
  const Reference ref = reference(g, x, w, z);
  const Conv2dParams p{g.stride, g.stride, g.pad, g.pad, g.groups};
  Tensor y = Tensor::empty({g.n, g.cout, g.ho(), g.wo()}, dt), xt = Tensor::empty(x.shape(), dt);
  Tensor dw = Tensor::empty({g.cout, g.cin / g.groups, g.k, g.k}, dt);
  cpu::conv2d<T>(x, w, y, p, algo, isa);
  cpu::conv_transpose2d<T>(z, w, xt, p, algo, isa);
  cpu::conv2d_weight_grad<T>(x, z, dw, p, algo, isa);
  // Float: accumulation order differs from the reference (Winograd transforms add a few roundings, F(3x3)
  // about three times more than F(2x2), F(4x4) about ten times).
  const double tol = sizeof(T) == 4 ? (algo == ConvAlgo::winograd_4x4   ? 2e-4
                                       : algo == ConvAlgo::winograd_3x3 ? 6e-5
                                                                        : 2e-5)
                                    : 1e-12;
  INFO("n" << g.n << " " << g.cin << "->" << g.cout << " " << g.h << "x" << g.w << " k" << g.k << " s" << g.stride
            << " p" << g.pad << " g" << g.groups << " algo " << static_cast<int>(algo) << " isa "
            << cpu::simd::isa_name(isa) << " T" << sizeof(T));
  CHECK(rel_error(y, ref.y) < tol);
  CHECK(rel_error(xt, ref.xt) < tol);
  CHECK(rel_error(dw, ref.dw) < tol);
}

const Geo geometries[] = {
    {1, 5, 7, 9, 11, 3, 1, 1, 1},    // batch 1, odd sizes
    {3, 8, 6, 7, 5, 3, 1, 0, 2},     // groups, no padding
    {2, 6, 4, 8, 8, 3, 1, 2, 2},     // padding 2
    {2, 6, 10, 9, 7, 3, 2, 1, 1},    // stride 2
    {1, 6, 10, 9, 7, 4, 2, 1, 2},    // 4x4 stride 2, groups
    {2, 6, 10, 9, 7, 1, 1, 0, 2},    // pointwise
    {2, 6, 10, 9, 7, 1, 2, 0, 1},    // 1x1 stride 2
    {2, 32, 24, 13, 11, 3, 1, 1, 1}, // large enough for Winograd under `automatic`
    {1, 20, 18, 17, 19, 3, 1, 1, 2}, // several tile rows and a partial vector of tiles per row
    {2, 4, 6, 10, 8, 2, 3, 0, 1},    // stride 3 > kernel 2: transposed phases without taps, output padding
};

}  // namespace

TEST_CASE("conv2d kernels match direct loops on every algorithm and instruction set", "[conv2d][kernels]") {
  for (Isa isa : cpu::simd::supported_isas())
    for (ConvAlgo algo : {ConvAlgo::gemm, ConvAlgo::winograd, ConvAlgo::winograd_3x3, ConvAlgo::winograd_4x4,
                           ConvAlgo::polyphase, ConvAlgo::automatic})
      for (const Geo& g : geometries) {
        check_conv<double>(g, algo, isa);
        check_conv<float>(g, algo, isa);
      }
}

TEST_CASE("Winograd float error stays near im2col's on a deep, wide layer", "[conv2d][kernels]") {
  // 512 channels: the largest fan-in of the generator. Unit-variance input, fan-in-scaled weights.
  Rng rng(5);
  const Tensor x = randn({1, 512, 8, 8}, rng);
  const Tensor w = Var(Var(randn({64, 512, 3, 3}, rng)) * (1.0 / std::sqrt(512.0 * 9.0))).data();
  const Conv2dParams p{1, 1, 1, 1, 1};
  Tensor want = Tensor::empty({1, 64, 8, 8}, DType::float64);
  cpu::conv2d<double>(x.to(DType::float64), w.to(DType::float64), want, p, ConvAlgo::gemm);
  const auto ref = want.to_vector<double>();
  auto max_error = [&](ConvAlgo algo) {
    Tensor y = Tensor::empty({1, 64, 8, 8});
    cpu::conv2d<float>(x, w, y, p, algo);
    const auto a = y.to_vector<double>();
    double err = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::abs(a[i] - ref[i]));
    return err;
  };
  const double err_gemm = max_error(ConvAlgo::gemm), err_wino = max_error(ConvAlgo::winograd),
               err_wino3 = max_error(ConvAlgo::winograd_3x3);
  INFO("max abs error: winograd F(2x2) " << err_wino << ", F(3x3) " << err_wino3 << ", im2col " << err_gemm);
  CHECK(err_wino < 1e-5);
  CHECK(err_wino < 8 * err_gemm + 1e-6);
  CHECK(err_wino3 < 3e-5);
  CHECK(err_wino3 < 24 * err_gemm + 3e-6);
}

TEST_CASE("the generator's up-convolution (stride 2, 3x3) matches direct loops", "[conv2d][kernels]") {
  for (Isa isa : cpu::simd::supported_isas())
    for (int n : {1, 3}) {
      // conv_transpose2d is the adjoint of conv2d: z is [n, C, H, W], the output [n, Cout, 2H+1, 2W+1].
      const Geo g{n, 10, 12, 2 * 5 + 1, 2 * 4 + 1, 3, 2, 0, 1};
      Rng rng(9);
      const Tensor x = randn({g.n, g.cin, g.h, g.w}, rng, DType::float64);
      const Tensor w_full = randn({g.cout + 2, g.cin + 1, 3, 3}, rng, DType::float64);
      const Tensor w = w_full.narrow(0, 0, g.cout).narrow(1, 0, g.cin);
      const Tensor z = randn({g.n, g.cout, g.ho(), g.wo()}, rng, DType::float64);
      const Reference ref = reference(g, x, w, z);
      Tensor xt = Tensor::empty(x.shape(), DType::float64);
      cpu::conv_transpose2d<double>(z, w, xt, {2, 2, 0, 0, 1}, ConvAlgo::automatic, isa);
      CHECK(rel_error(xt, ref.xt) < 1e-12);
    }
}

namespace {
// C (+)= A·B + A2·B2ᵀ through gemm_products against a double loop: A read transposed, B row-major with a
// padded row, a second term with B transposed, C with a padding column that must stay untouched.
template <class T>
void check_gemm(Isa isa, int m, int n, int k) {
  Rng rng(static_cast<std::uint64_t>(m * 100 + n + k));
  const DType dt = dtype_of<T>();
  const auto a = randn({std::max(k, 1), m + 3}, rng, dt).to_vector<T>();
  const auto b = randn({std::max(k, 1), n + 2}, rng, dt).to_vector<T>();
  const auto b2 = randn({n, 5}, rng, dt).to_vector<T>();  // Bᵀ term with k = 5
  const auto a2 = randn({m, 5}, rng, dt).to_vector<T>();
  std::vector<T> c(static_cast<std::size_t>(m) * (n + 1), T(1.5));
  std::vector<cpu::GemmTerm<T>> terms{{{a.data(), 1, m + 3}, {b.data(), n + 2, 1}, k},
                                      {{a2.data(), 5, 1}, {b2.data(), 1, 5}, 5}};
  const cpu::GemmProduct<T> prod{m, n, terms.data(), 2, c.data(), n + 1, true};
  cpu::gemm_products(&prod, 1, isa);
  double err = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double want = 1.5;
      for (int l = 0; l < k; ++l) want += double(a[l * (m + 3) + i]) * double(b[l * (n + 2) + j]);
      for (int l = 0; l < 5; ++l) want += double(a2[i * 5 + l]) * double(b2[j * 5 + l]);
      err = std::max(err, std::abs(double(c[i * (n + 1) + j]) - want));
    }
  INFO("m " << m << " n " << n << " k " << k << " isa " << cpu::simd::isa_name(isa) << " T" << sizeof(T));
  CHECK(err < (sizeof(T) == 8 ? 1e-11 : 2e-6 * (k + 5)));
  for (int i = 0; i < m; ++i) CHECK(c[i * (n + 1) + n] == T(1.5));  // the padding column is untouched
}
}  // namespace

TEST_CASE("batched GEMM: edge blocks, strided and transposed operands, several terms, accumulation",
          "[conv2d][kernels][gemm]") {
  // Shapes around every register block (6 x 16 and 8 x 48 floats, 6 x 8 and 8 x 24 doubles) and the k split.
  for (Isa isa : cpu::simd::supported_isas())
    for (auto [m, n, k] : {std::array<int, 3>{1, 1, 1}, {7, 17, 5}, {13, 33, 400}, {64, 200, 9}, {6, 16, 0},
                           {8, 48, 3}, {17, 97, 20}, {24, 193, 385}}) {
      check_gemm<double>(isa, m, n, k);
      check_gemm<float>(isa, m, n, k);
    }
}

TEST_CASE("conv2d through Vars picks Winograd and still matches im2col in value and gradient",
          "[conv2d][kernels]") {
  Rng rng(3);
  const Var x(randn({2, 16, 12, 12}, rng, DType::float64), true);
  const Var w(randn({16, 16, 3, 3}, rng, DType::float64), true);
  const Var gy(randn({2, 16, 12, 12}, rng, DType::float64));
  Var y = conv2d(x, w, {1, 1, 1, 1, 1});
  backward(y, gy);
  Tensor want_y = Tensor::empty(y.shape(), DType::float64), want_dx = Tensor::empty(x.shape(), DType::float64);
  Tensor want_dw = Tensor::empty(w.shape(), DType::float64);
  const Conv2dParams p{1, 1, 1, 1, 1};
  cpu::conv2d<double>(x.data(), w.data(), want_y, p, ConvAlgo::gemm);
  cpu::conv_transpose2d<double>(gy.data(), w.data(), want_dx, p, ConvAlgo::gemm);
  cpu::conv2d_weight_grad<double>(x.data(), gy.data(), want_dw, p, ConvAlgo::gemm);
  CHECK(rel_error(y.data(), want_y.to_vector<double>()) < 1e-12);
  CHECK(rel_error(x.grad().data(), want_dx.to_vector<double>()) < 1e-12);
  CHECK(rel_error(w.grad().data(), want_dw.to_vector<double>()) < 1e-12);
}
