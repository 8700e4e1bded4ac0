// The CPU fused-expression paths: float's compiled loop (expr/eval_cpu.hpp) evaluates whole vectors with selects
// as blends, double's runs the lowered program a block at a time (backend/cpu/program.hpp). Every element must
// be the value the scalar functor gives, for contiguous, strided and broadcast operands, the vector body and its
// scalar tail, and the special values (signed zeros, infinities, NaN, denormals).
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "support/gradcheck.hpp"

using namespace anycost;

namespace {

template <class T>
std::vector<T> special_values(int n) {
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  const T base[] = {T(0), T(-0.0), T(1), T(-1), T(0.5), T(-2), inf, -inf, nan, std::numeric_limits<T>::denorm_min(),
                    T(255.9), T(256.1), T(-300), T(0.2), T(-0.2), T(3.25), T(-7.5)};
  std::vector<T> v;
  for (int i = 0; i < n; ++i) v.push_back(base[(i * 7) % (sizeof(base) / sizeof(T))] * (i % 3 == 2 ? T(-1) : T(1)));
  return v;
}

// Same value, NaN equal to NaN, and the same sign for zeros.
template <class T>
bool same(T a, T b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

template <class T, class F>
void check_unary(const Var& a, F f, const Var& got, const char* name) {
  const auto x = a.data().contiguous().to_vector<T>(), y = got.data().contiguous().to_vector<T>();
  REQUIRE(x.size() == y.size());
  int bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!same<T>(y[i], f(x[i]))) ++bad;
  INFO(name << ": " << bad << " of " << x.size() << " elements differ");
  CHECK(bad == 0);
}

template <class T>
void check_selects(const Var& a) {
  namespace e = expr;
  using L = e::Leaf<Var>;
  check_unary<T>(a, e::LeakyRelu{0.2}, Var(lrelu(a, 0.2)), "lrelu");
  check_unary<T>(a, e::LeakyReluGrad{0.2}, Var(e::Unary<e::LeakyReluGrad, L>{{0.2}, {a}}), "lrelu_grad");
  check_unary<T>(a, e::Clamp{-256, 256}, Var(clamp(a, -256.0, 256.0)), "clamp");
  check_unary<T>(a, e::InRange{-1, 1}, Var(e::Unary<e::InRange, L>{{-1, 1}, {a}}), "in_range");
  check_unary<T>(a, e::Sign{}, Var(sign(a)), "sign");
  check_unary<T>(a, e::Abs{}, Var(abs(a)), "abs");
  check_unary<T>(a, e::Neg{}, Var(-a), "neg");
  check_unary<T>(a, e::Square{}, Var(square(a)), "square");
  check_unary<T>(a, e::Recip{}, Var(reciprocal(a)), "reciprocal");
  check_unary<T>(a, e::Exp{}, Var(exp(a)), "exp");
  check_unary<T>(a, e::Tanh{}, Var(tanh(a)), "tanh");
  check_unary<T>(a, e::Sigmoid{}, Var(sigmoid(a)), "sigmoid");
  check_unary<T>(a, e::PowScalar{2.5}, Var(pow(a, 2.5)), "pow");
  check_unary<T>(a, [](T x) { return e::Clamp{-1, 1}(e::LeakyRelu{0.2}(x) * T(2)); },
                 Var(clamp(lrelu(a, 0.2) * 2.0, -1.0, 1.0)), "chain");
}

template <class T>
void check_layouts() {
  const int n = 37;  // four float vectors and a tail
  const auto v = special_values<T>(n * 3);
  const Tensor flat = Tensor::from_vector(v, {3, n});
  check_selects<T>(Var(flat));                        // contiguous
  check_selects<T>(Var(flat.transpose(0, 1)));        // strided
  check_selects<T>(Var(flat.narrow(1, 3, 29)));       // rows with an offset
  const Tensor col = Tensor::from_vector(std::vector<T>(v.begin(), v.begin() + 3), {3, 1});
  // Broadcast operand: a * b with b a column, against the scalar product.
  const Var a(flat), b(col);
  const Var prod = a * b;
  const auto y = prod.data().to_vector<T>();
  int bad = 0;
  for (int r = 0; r < 3; ++r)
    for (int j = 0; j < n; ++j)
      if (!same<T>(y[r * n + j], v[r * n + j] * v[r])) ++bad;
  CHECK(bad == 0);
}

// The value of one op by three routes: its functor, the fused CPU loop (vector body and tail), and the
// program the generic CUDA kernel interprets (backend::run_program, run here on the host).
template <class T, class E, class F>
void check_routes(const E& e, const std::vector<T>& x, const std::vector<T>& y, F f, const char* name) {
  const auto cpu = Var(e).data().template to_vector<T>();
  const backend::Program program = expr::lower(e);
  int bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const T want = f(x[i], y[i]);
    const T run = backend::run_program<T>(program, [&](int leaf) { return leaf == 0 ? x[i] : y[i]; });
    if (!same<T>(cpu[i], want) || !same<T>(run, want)) ++bad;
  }
  INFO(name << ": " << bad << " of " << x.size() << " elements differ");
  CHECK(bad == 0);
}

template <class T>
void check_table() {
  const int n = 37;
  const auto x = special_values<T>(n);
  auto y = special_values<T>(n + 5);
  y.erase(y.begin(), y.begin() + 5);  // another pairing of the same special values
  const Var a(Tensor::from_vector(x, {n})), b(Tensor::from_vector(y, {n}));
  using L = expr::Leaf<Var>;
  // One check per row, so that a new row is covered without touching this test.
#define CHECK_UNARY(F, name, value, partial) \
  check_routes<T>(expr::Unary<expr::F, L>{{}, {a}}, x, y, [](T u, T) { return expr::F{}(u); }, #name);
#define CHECK_UNARY1(F, name, q, value, partial) \
  check_routes<T>(expr::Unary<expr::F, L>{{0.2}, {a}}, x, y, [](T u, T) { return expr::F{0.2}(u); }, #name);
#define CHECK_UNARY2(F, name, q0, q1, value, partial) \
  check_routes<T>(expr::Unary<expr::F, L>{{-1, 2}, {a}}, x, y, [](T u, T) { return expr::F{-1, 2}(u); }, #name);
#define CHECK_BINARY(F, name, value, partial_a, partial_b) \
  check_routes<T>(expr::Binary<expr::F, L, L>{{}, {a}, {b}}, x, y, [](T u, T v) { return expr::F{}(u, v); }, #name);
  ANYCOST_UNARY_OPS(CHECK_UNARY)
  ANYCOST_UNARY1_OPS(CHECK_UNARY1)
  ANYCOST_UNARY2_OPS(CHECK_UNARY2)
  ANYCOST_BINARY_OPS(CHECK_BINARY)
#undef CHECK_UNARY
#undef CHECK_UNARY1
#undef CHECK_UNARY2
#undef CHECK_BINARY
}

}  // namespace

TEST_CASE("every op of the table: functor, fused CPU loop and CUDA program interpreter agree", "[elementwise][kernels]") {
  check_table<float>();
  check_table<double>();
}

TEST_CASE("fused CPU loop: vector evaluation gives the scalar functors' values", "[elementwise][kernels]") {
  check_layouts<float>();
  check_layouts<double>();
}

TEST_CASE("fused CPU loop: arithmetic chains agree with one-op-at-a-time evaluation", "[elementwise][kernels]") {
  Rng rng(11);
  for (std::int64_t n : {1, 7, 8, 9, 1000, 70001}) {
    const Var a(randn({n}, rng)), b(randn({n}, rng)), c(randn({n}, rng));
    const Var fused = clamp(lrelu(a * b + c, 0.2) * 1.41, -256.0, 256.0);
    const Var t1 = a * b;
    const Var t2 = t1 + c;
    const Var t3 = lrelu(t2, 0.2);
    const Var t4 = t3 * 1.41;
    const Var unfused = clamp(t4, -256.0, 256.0);
    const auto x = fused.data().to_vector<float>(), y = unfused.data().to_vector<float>();
    double err = 0;
    // a*b + c may be contracted into one FMA when fused: one rounding less.
    for (std::size_t i = 0; i < x.size(); ++i) err = std::max(err, std::abs(double(x[i]) - double(y[i])));
    CHECK(err < 1e-5);
  }
}
