#include <algorithm>
#include <atomic>
#include <cmath>
#include <set>
#include <thread>

#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;

namespace {
// Counts how often its backward runs; passes gradients through.
std::atomic<int> counted_calls{0};
class CountingNode final : public Node {
 public:
  std::vector<Var> apply(std::vector<Var>& g) override {
    ++counted_calls;
    return {g[0]};
  }
  const char* name() const override { return "Counting"; }
};
Var counted(const Var& x) { return record(x.data(), std::make_shared<CountingNode>(), {&x}); }

std::vector<double> values(const Var& v) { return v.data().to_vector<double>(); }
}  // namespace

TEST_CASE("a diamond graph runs each node once with the summed gradient", "[autograd]") {
  Var x(Tensor::full({3}, 2.0, DType::float64), true);
  Var shared = counted(x * 3.0);
  Var y = sum(shared * shared + shared);  // shared reached along three paths
  counted_calls = 0;
  backward(y);
  CHECK(counted_calls == 1);
  for (double g : values(x.grad())) CHECK(g == Approx(3 * (2 * 6.0 + 1)));
}

TEST_CASE("stacked diamonds: 2^40 paths, each node still runs once", "[autograd]") {
  Var x(Tensor::full({2}, 0.5, DType::float64), true);
  Var h = x;
  const int depth = 40;
  for (int i = 0; i < depth; ++i) {
    Var s = counted(h);
    h = s * 0.5 + s * 0.5;  // two paths to s, value unchanged
  }
  counted_calls = 0;
  backward(sum(h));
  CHECK(counted_calls == depth);
  for (double g : values(x.grad())) CHECK(g == Approx(1.0));
}

TEST_CASE("gradients accumulate across backward passes and into leaves only", "[autograd]") {
  Var x(Tensor::full({2}, 1.5, DType::float64), true);
  backward(sum(x * x));
  backward(sum(x * 4.0));
  for (double g : values(x.grad())) CHECK(g == Approx(3.0 + 4.0));
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  // grad() leaves .grad untouched.
  auto g = grad({sum(x * x)}, {x});
  CHECK_FALSE(x.grad().defined());
  CHECK(values(g[0])[0] == Approx(3.0));
  // A leaf used by two graphs, and twice within one expression.
  Var a = sum(x * x * x);
  Var b = sum(exp(x));
  backward({a, b});
  for (double v : values(x.grad())) CHECK(v == Approx(3 * 1.5 * 1.5 + std::exp(1.5)));
  // Intermediate values get no .grad.
  Var mid = x * 2.0;
  backward(sum(mid));
  CHECK_FALSE(mid.grad().defined());
}

TEST_CASE("the first accumulated gradient is owned by the leaf, never aliased", "[autograd]") {
  Var x(Tensor::full({3}, 1.0, DType::float64), true);
  Var y = x + 0.0;  // d/dx = 1: the upstream gradient passes through the node unchanged
  Var upstream(Tensor::full({3}, 2.0, DType::float64));
  backward(y, upstream, {.retain_graph = true});
  CHECK(x.grad().data().storage() != upstream.data().storage());
  backward(y, upstream);  // the second pass adds in place into x.grad
  CHECK(values(upstream) == std::vector<double>(3, 2.0));  // the caller's tensor is untouched
  CHECK(values(x.grad()) == std::vector<double>(3, 4.0));
  // A broadcast gradient (a stride-0 view of one element) is copied before it is stored and added to.
  Var s(Tensor::full({4}, 1.0, DType::float64), true);
  backward(sum(s));
  CHECK(s.grad().data().is_contiguous());
  backward(sum(s));
  CHECK(values(s.grad()) == std::vector<double>(4, 2.0));
}

TEST_CASE("create_graph accumulates differentiable gradients into leaves", "[autograd]") {
  Var x(Tensor::from_vector<double>({0.5, 2.0}, {2}), true);
  backward(sum(x * x * x), {}, {.create_graph = true});
  REQUIRE(x.grad().requires_grad());
  Var g = x.grad();  // 3x^2, with history
  x.zero_grad();
  backward(sum(g));  // d/dx sum(3x^2) = 6x
  CHECK(values(x.grad()) == std::vector<double>{3.0, 12.0});
}

TEST_CASE("backward through a freed graph is an error, retain_graph allows it", "[autograd]") {
  Var x(Tensor::full({2}, 1.0, DType::float64), true);
  Var y = sum(exp(x) * x);
  backward(y, {}, {.retain_graph = true});
  backward(y);
  CHECK_THROWS_AS(backward(y), AutogradError);
  CHECK_THROWS_WITH(backward(y), Catch::Contains("freed") && Catch::Contains("retain_graph"));
  CHECK_THROWS_WITH(grad({y}, {x}), Catch::Contains("freed"));

  // Non-elementwise nodes name themselves.
  Var xi(rand64({1, 2, 4, 4}, 1), true), w(rand64({3, 2, 3, 3}, 2), true);
  Var c = sum(conv2d(xi, w, {1, 1, 1, 1, 1}));
  backward(c);
  CHECK_THROWS_WITH(backward(c), Catch::Contains("Conv2dBackward") && Catch::Contains("retain_graph"));
  Var a(rand64({2, 3}, 3), true), b(rand64({3, 2}, 4), true);
  Var m = sum(matmul(a, b));
  backward(m);
  CHECK_THROWS_WITH(backward(m), Catch::Contains("MatmulBackward") && Catch::Contains("freed"));

  // Nodes that save nothing may run again, as in PyTorch.
  Var v(Tensor::ones({3}, DType::float64), true);
  Var s = sum(narrow(v, 0, 0, 2));
  backward(s);
  backward(s);
  CHECK(values(v.grad()) == std::vector<double>{2.0, 2.0, 0.0});

  // create_graph implies retain_graph.
  Var z = sum(exp(x));
  grad({z}, {x}, {}, {.create_graph = true});
  CHECK_NOTHROW(grad({z}, {x}));
}

TEST_CASE("modifying a saved tensor in place is detected at backward time", "[autograd]") {
  SECTION("matmul weight") {
    Var x(Tensor::full({2, 2}, 1.0, DType::float64), true);
    Var w(Tensor::full({2, 2}, 2.0, DType::float64), true);
    Var y = sum(matmul(x, w));
    w.data().zero_();  // bumps the version of the saved weight
    CHECK_THROWS_WITH(backward(y), Catch::Contains("MatmulBackward") && Catch::Contains("modified in place"));
  }
  SECTION("fused elementwise operand, through another view of its storage") {
    Tensor base = rand64({4, 3}, 5);
    Var x(base.narrow(0, 0, 2), true);
    Var y = sum(x * x);
    base.narrow(0, 3, 1).zero_();  // a different row of the same storage: conservatively detected
    CHECK_THROWS_WITH(backward(y), Catch::Contains("FusedElementwise") && Catch::Contains("operand 0") &&
                                       Catch::Contains("modified in place"));
  }
  SECTION("conv input") {
    Var x(rand64({1, 2, 4, 4}, 6), true), w(rand64({3, 2, 3, 3}, 7), true);
    Var y = sum(conv2d(x, w));
    x.data().copy_(rand64({1, 2, 4, 4}, 8));
    CHECK_THROWS_WITH(backward(y), Catch::Contains("Conv2dBackward") && Catch::Contains("modified in place"));
  }
  SECTION("a modification before the op is recorded is fine") {
    Var x(rand64({3}, 9), true);
    x.data().zero_();
    Var y = sum(exp(x));
    backward(y);
    CHECK(values(x.grad()) == std::vector<double>(3, 1.0));
  }
}

TEST_CASE("grad with create_graph gives second derivatives (Hessian-vector product)", "[autograd]") {
  Var x(Tensor::from_vector<double>({0.5, -1.0, 2.0}, {3}), true);
  Var f = sum(pow(x, 3.0));                               // f = sum x^3
  Var g = grad({f}, {x}, {}, {.create_graph = true})[0];  // 3x^2
  Var h = grad({sum(g)}, {x})[0];                         // 6x
  CHECK(values(h) == std::vector<double>{3.0, -6.0, 12.0});
}

TEST_CASE("third and fourth derivatives through fused and unfused backward nodes", "[autograd]") {
  const std::vector<double> xs{-0.7, 0.2, 1.3};
  Var x(Tensor::from_vector(xs, {3}), true);
  SECTION("tanh") {
    Var g1 = grad({sum(tanh(x))}, {x}, {}, {.create_graph = true})[0];
    Var g2 = grad({sum(g1)}, {x}, {}, {.create_graph = true})[0];
    Var g3 = grad({sum(g2)}, {x})[0];
    const auto v1 = values(g1), v2 = values(g2), v3 = values(g3);
    for (int i = 0; i < 3; ++i) {
      const double t = std::tanh(xs[i]);
      CHECK(v1[i] == Approx(1 - t * t).epsilon(1e-12));
      CHECK(v2[i] == Approx(-2 * t * (1 - t * t)).epsilon(1e-12));
      CHECK(v3[i] == Approx(-2 * (1 - t * t) * (1 - 3 * t * t)).epsilon(1e-12));
    }
  }
  SECTION("a product of leaves, to fourth order") {
    Var g1 = grad({sum(x * x * x * x)}, {x}, {}, {.create_graph = true})[0];
    Var g2 = grad({sum(g1)}, {x}, {}, {.create_graph = true})[0];
    Var g3 = grad({sum(g2)}, {x}, {}, {.create_graph = true})[0];
    Var g4 = grad({sum(g3)}, {x})[0];
    const auto v3 = values(g3), v4 = values(g4);
    for (int i = 0; i < 3; ++i) {
      CHECK(v3[i] == Approx(24 * xs[i]).epsilon(1e-12));
      CHECK(v4[i] == Approx(24.0).epsilon(1e-12));
    }
  }
  SECTION("through conv2d and a non-linearity") {
    // h(w) = sum(exp(conv2d(x0, w))): third derivative along a direction, against finite differences of the
    // second derivative.
    const Tensor x0 = rand64({1, 1, 3, 3}, 11), w0 = Var(Var(rand64({1, 1, 2, 2}, 12)) * 0.3).data();
    const Tensor v = rand64({1, 1, 2, 2}, 13);
    auto second = [&](const Tensor& wt, bool create) {
      Var w(wt, true);
      Var g1 = grad({sum(exp(conv2d(Var(x0), w)))}, {w}, {}, {.create_graph = true})[0];
      Var g2 = grad({sum(g1 * Var(v))}, {w}, {}, {.create_graph = create})[0];
      return std::pair{w, g2};
    };
    auto [w, g2] = second(w0, true);
    Var g3 = grad({sum(g2 * Var(v))}, {w})[0];
    const double eps = 1e-5;
    const Tensor wp = Var(Var(w0) + Var(v) * eps).data(), wm = Var(Var(w0) - Var(v) * eps).data();
    const double fd = (sum(second(wp, false).second * Var(v)).item() - sum(second(wm, false).second * Var(v)).item()) /
                      (2 * eps);
    CHECK(sum(g3 * Var(v)).item() == Approx(fd).epsilon(1e-6));
  }
}

TEST_CASE("grad with respect to an intermediate value (path-length style)", "[autograd]") {
  // w = lrelu(z @ Wm^T) is the mapped latent; img = tanh(conv2d(style(w), Wg)); J = d sum(img * y) / dw;
  // pl = sqrt(sum J^2). The gradient of pl with respect to Wm and Wg runs through a gradient taken with
  // respect to the intermediate w, with create_graph.
  const Tensor z = rand64({1, 4}, 21), y = rand64({1, 2, 2, 2}, 22);
  auto path_length = [z, y](const std::vector<Var>& p) {
    GradModeGuard record(true);  // the inner gradient needs a graph even when the caller evaluates without one
    const Var& wm = p[0];
    const Var& wg = p[1];
    Var w = lrelu(linear(Var(z), wm), 0.2);  // [1, 4]: the intermediate
    Var x = reshape(w, {1, 1, 2, 2}) * 1.0;
    Var img = tanh(conv2d(Var(Var(x) + 0.1), wg, {1, 1, 1, 1, 1}));
    Var j = grad({sum(img * Var(y))}, {w}, {}, {.create_graph = true})[0];
    return Var(sqrt(sum(square(j)) + 1e-8));
  };
  CHECK_GRADIENTS(path_length, rand64({4, 4}, 23), rand64({2, 1, 3, 3}, 24));
  // And the inner gradient itself: a non-leaf input gives the same numbers as making it a leaf.
  Var wm(rand64({4, 4}, 23), true);
  Var w = lrelu(linear(Var(z), wm), 0.2);
  Var out = sum(exp(w) * 2.0);
  Var gw = grad({out}, {w}, {}, {.retain_graph = true})[0];
  CHECK_ALLCLOSE(gw.data(), Var(exp(Var(w.data())) * 2.0).data(), 1e-14, 0.0);
  // Both the intermediate and the leaf behind it, in one call.
  auto both = grad({out}, {w, wm});
  CHECK(both[0].shape() == w.shape());
  CHECK(both[1].shape() == wm.shape());
  CHECK_ALLCLOSE(both[0].data(), gw.data(), 1e-14, 0.0);
}

TEST_CASE("allow_unused gives undefined gradients instead of an error", "[autograd]") {
  Var x(rand64({3}, 31), true), unused(rand64({3}, 32), true);
  Var y = sum(exp(x));
  CHECK_THROWS_WITH(grad({y}, {x, unused}, {}, {.retain_graph = true}),
                    Catch::Contains("input 1") && Catch::Contains("allow_unused"));
  auto g = grad({y}, {x, unused}, {}, {.retain_graph = true, .allow_unused = true});
  CHECK(g[0].defined());
  CHECK_FALSE(g[1].defined());
  // A leaf reached only through detach() is unused too.
  Var z = sum(x.detach() * x);
  auto gz = grad({z}, {x}, {}, {.allow_unused = true});
  CHECK_ALLCLOSE(gz[0].data(), x.data(), 0.0, 0.0);
  Var c(rand64({3}, 33));
  CHECK_THROWS_WITH(grad({sum(exp(x))}, {c}), Catch::Contains("input 0") && Catch::Contains("does not require grad"));
}

TEST_CASE("teacher and student on one parameter: gradients add into the full buffer", "[autograd]") {
  const Tensor x = rand64({2, 4, 5, 5}, 41), w_full = rand64({6, 4, 3, 3}, 42);
  const Tensor r_t = rand64({2, 6, 5, 5}, 43), r_s = rand64({2, 3, 5, 5}, 44);
  auto teacher = [&](const Var& w) { return sum(conv2d(Var(x), w, {1, 1, 1, 1, 1}) * Var(r_t)); };
  auto student = [&](const Var& w) {
    Var slice = narrow(narrow(w, 0, 0, 3), 1, 0, 2);  // first 3 outputs, first 2 inputs
    return sum(square(conv2d(Var(x.narrow(1, 0, 2)), slice, {1, 1, 1, 1, 1})) * Var(r_s));
  };
  Var w(w_full, true);
  backward(Var(teacher(w) + student(w)));  // one graph reads the parameter twice
  Var w1(w_full, true), w2(w_full, true);
  const Tensor g_t = grad({teacher(w1)}, {w1})[0].data(), g_s = grad({student(w2)}, {w2})[0].data();
  CHECK_ALLCLOSE(w.grad().data(), Var(Var(g_t) + Var(g_s)).data(), 1e-12, 1e-12);
  // The student's gradient is zero outside its slice.
  const Tensor outside = g_s.narrow(0, 3, 3);
  CHECK(test::max_abs(outside) == 0.0);
  CHECK(test::max_abs(g_s.narrow(0, 0, 3).narrow(1, 2, 2)) == 0.0);
  CHECK(test::max_abs(g_s.narrow(0, 0, 3).narrow(1, 0, 2)) > 0.0);

  // The same with linear layers sliced along both dims, plus a second-order pass (R1-like) on the shared weight.
  Var lw(rand64({5, 4}, 45), true);
  const Tensor in = rand64({3, 4}, 46);
  Var xin(in, true);
  Var full = sum(tanh(linear(xin, lw)));
  Var part = sum(tanh(linear(Var(narrow(xin, 1, 0, 2)), narrow(narrow(lw, 0, 0, 2), 1, 0, 2))));
  Var gx = grad({Var(full + part)}, {xin}, {}, {.create_graph = true})[0];
  Var penalty = sum(square(gx));
  Var lw_a(lw.data(), true), lw_b(lw.data(), true);
  Var xa(in, true), xb(in, true);
  Var gxa = grad({sum(tanh(linear(xa, lw_a)))}, {xa}, {}, {.create_graph = true})[0];
  Var gxb = grad({sum(tanh(linear(Var(narrow(xb, 1, 0, 2)), narrow(narrow(lw_b, 0, 0, 2), 1, 0, 2))))}, {xb}, {},
                 {.create_graph = true})[0];
  // With the two uses of the parameter on separate leaves, the shared parameter's gradient is the sum of the
  // two leaves' gradients (chain rule at lw_a = lw_b = lw).
  Var sep = sum(square(gxa + gxb));
  auto g_sep = grad({sep}, {lw_a, lw_b});
  backward(penalty);
  CHECK_ALLCLOSE(lw.grad().data(), Var(g_sep[0] + g_sep[1]).data(), 1e-12, 1e-12);
}

TEST_CASE("no-grad scope records nothing, detach cuts history", "[autograd]") {
  Var x(Tensor::ones({2}), true);
  {
    NoGradGuard guard;
    CHECK_FALSE(GradMode::is_enabled());
    Var y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK_FALSE(conv2d(Var(Tensor::ones({1, 1, 2, 2}), true), Var(Tensor::ones({1, 1, 1, 1}), true)).requires_grad());
    {
      GradModeGuard on(true);
      CHECK(Var(x * 2.0).requires_grad());
    }
    CHECK_FALSE(GradMode::is_enabled());
    // Grad mode is per thread: another thread records as usual.
    bool other = false;
    std::thread([&] { other = Var(x * 2.0).requires_grad(); }).join();
    CHECK(other);
  }
  CHECK(GradMode::is_enabled());
  Var z = (x * 2.0);
  CHECK(z.requires_grad());
  Var d = z.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.data().storage() == z.data().storage());  // same values, no copy
  CHECK_THROWS_AS(grad({sum(z.detach())}, {x}), AutogradError);
  // Mixing a constant (no-grad) branch into a recorded one.
  Var c;
  {
    NoGradGuard guard;
    c = exp(x);
  }
  Var mixed = sum(c * x);
  backward(mixed);
  CHECK(x.grad().data().to_vector<float>()[0] == Approx(std::exp(1.0f)));
}

TEST_CASE("root gradients: explicit, repeated outputs and leaves as outputs", "[autograd]") {
  Var x(Tensor::from_vector<double>({1.0, 2.0, 3.0}, {3}), true);
  Var y = x * 2.0;
  CHECK_THROWS_WITH(backward(y), Catch::Contains("not a scalar") && Catch::Contains("[3]"));
  backward(y, Var(Tensor::from_vector<double>({1.0, 10.0, 100.0}, {3})));
  CHECK(values(x.grad()) == std::vector<double>{2.0, 20.0, 200.0});
  x.zero_grad();
  Var s = sum(x * x);
  backward({s, s}, {}, {.retain_graph = true});  // the same output twice: its gradient counts twice
  CHECK(values(x.grad()) == std::vector<double>{4.0, 8.0, 12.0});
  x.zero_grad();
  Var one(Tensor::full({1}, 5.0, DType::float64), true);
  backward(one);  // a leaf is its own output
  CHECK(values(one.grad()) == std::vector<double>{1.0});
  CHECK_THROWS_WITH(backward(Var(Tensor::ones({1}))), Catch::Contains("does not require grad"));
  CHECK_THROWS_WITH(backward({s}, {Var(Tensor::ones({1})), Var(Tensor::ones({1}))}),
                    Catch::Contains("2 gradients") && Catch::Contains("1 outputs"));
  CHECK_THROWS_WITH(backward(y, Var(Tensor::ones({4}, DType::float64))),
                    Catch::Contains("[4]") && Catch::Contains("[3]"));
  CHECK_THROWS_AS(backward(Var()), ValueError);
  // grad() of a constant output is "unused".
  CHECK_THROWS_AS(grad({Var(Tensor::ones({1}))}, {x}), AutogradError);
}

TEST_CASE("a deep chain is freed without recursion", "[autograd]") {
  Var x(Tensor::ones({1}), true);
  Var y = x;
  for (int i = 0; i < 200000; ++i) y = y * 1.0;
  backward(sum(y));
  CHECK(x.grad().data().to_vector<float>()[0] == Approx(1.0f));
  y = Var();  // destroying 200k nodes must not overflow the stack
  CHECK(x.grad().defined());
}

TEST_CASE("deep chains of view nodes and of second-order graphs", "[autograd]") {
  Var x(Tensor::full({1, 4}, 0.5, DType::float64), true);
  Var y = x;
  for (int i = 0; i < 50000; ++i) y = reshape(narrow(y, 1, 0, 4), {1, 4});
  backward(sum(y * y));
  CHECK(values(x.grad()) == std::vector<double>(4, 1.0));
  // A chain of 2000 fused multiplications differentiated twice: d2/dx2 sum((x * 1.001^n)^2) = 2 * 1.001^(2n).
  Var z(Tensor::full({2}, 0.3, DType::float64), true);
  Var h = z;
  for (int i = 0; i < 2000; ++i) h = h * 1.001;
  Var g = grad({sum(h * h)}, {z}, {}, {.create_graph = true})[0];
  Var gg = grad({sum(g)}, {z})[0];
  for (double v : values(gg)) CHECK(v == Approx(2 * std::pow(1.001, 4000)).epsilon(1e-9));
}

TEST_CASE("slices' gradients land in the prefix of the leaf's grad, in place once it exists", "[autograd]") {
  const Tensor w0 = rand64({4, 5}, 51), r1 = rand64({2, 3}, 52), r2 = rand64({3, 5}, 53), r3 = rand64({4, 5}, 54);
  // Expected: each use's gradient placed in its box of a zero 4x5 tensor.
  auto boxed = [](const Tensor& r, std::int64_t rows, std::int64_t cols) {
    Tensor out = Tensor::zeros({4, 5}, DType::float64);
    out.narrow(0, 0, rows).narrow(1, 0, cols).copy_(r);
    return out;
  };
  auto loss = [&](const Var& w, int uses) {
    Var l = sum(narrow(narrow(w, 0, 0, 2), 1, 0, 3) * Var(r1));  // a chain of two slices
    if (uses > 1) l = l + sum(narrow(w, 0, 0, 3) * Var(r2));     // a second, different slice
    if (uses > 2) l = l + sum(w * Var(r3));                      // and the whole leaf
    return l;
  };
  for (int uses = 1; uses <= 3; ++uses) {
    INFO(uses << " uses of the leaf");
    Tensor expected = boxed(r1, 2, 3);
    if (uses > 1) expected = Var(Var(expected) + Var(boxed(r2, 3, 5))).data();
    if (uses > 2) expected = Var(Var(expected) + Var(r3)).data();
    Var w(w0, true);
    backward(loss(w, uses));  // allocates grad
    CHECK_ALLCLOSE(w.grad().data(), expected, 1e-15, 0);
    const Tensor first = w.grad().data();
    backward(loss(w, uses));  // adds into the same buffer
    CHECK(w.grad().data().storage() == first.storage());
    CHECK_ALLCLOSE(w.grad().data(), Var(Var(expected) * 2.0).data(), 1e-15, 0);
    // grad(): the full-size gradient, grad untouched.
    const Var g = grad({loss(w, uses)}, {w})[0];
    CHECK(g.shape() == w.shape());
    CHECK_ALLCLOSE(g.data(), expected, 1e-15, 0);
    CHECK(w.grad().data().storage() == first.storage());
  }
  // A grad of an intermediate slice, and a slice of an intermediate (non-leaf) value.
  Var w(w0, true);
  Var mid = narrow(w, 0, 0, 3);
  Var h = mid * 2.0;
  auto gs = grad({sum(narrow(h, 1, 1, 2) * Var(rand64({3, 2}, 55)))}, {mid, w});
  CHECK(gs[0].shape() == Shape{3, 5});
  CHECK_ALLCLOSE(gs[1].data().narrow(0, 0, 3), gs[0].data(), 1e-15, 0);
  CHECK(test::max_abs(gs[0].data().narrow(1, 0, 1)) == 0.0);
  CHECK(test::max_abs(gs[1].data().narrow(0, 3, 1)) == 0.0);
}

namespace {
// Records which leaves a pass announces and finishes, and each finished leaf's gradient at that moment.
class RecordingObserver final : public LeafObserver {
 public:
  void expect(const VarImpl& leaf) override {
    CHECK(done_order.empty());  // every expect() comes before the first done()
    expected.push_back(&leaf);
  }
  void done(const VarImpl& leaf) override {
    done_order.push_back(&leaf);
    grad_when_done.push_back(leaf.grad.data().to_vector<double>());
  }
  std::vector<const VarImpl*> expected, done_order;
  std::vector<std::vector<double>> grad_when_done;
};
}  // namespace

TEST_CASE("a leaf observer hears of every leaf the pass reaches, once, with its final gradient", "[autograd]") {
  Var a(Tensor::full({2}, 1.5, DType::float64), true), b(Tensor::full({2}, -2.0, DType::float64), true);
  Var c(Tensor::full({2}, 0.5, DType::float64), true), unused(Tensor::full({2}, 7.0, DType::float64), true);
  // a feeds three consumers, so its gradient is complete only after all three have run.
  const Var y = sum(a * b) + sum(a * a * c) + sum(counted(a));
  RecordingObserver seen;
  GradOptions o;
  o.observer = &seen;
  backward(y, {}, o);
  const std::set<const VarImpl*> leaves{a.shared_impl().get(), b.shared_impl().get(), c.shared_impl().get()};
  CHECK(std::set<const VarImpl*>(seen.expected.begin(), seen.expected.end()) == leaves);
  CHECK(seen.expected.size() == 3);
  CHECK(std::set<const VarImpl*>(seen.done_order.begin(), seen.done_order.end()) == leaves);
  REQUIRE(seen.done_order.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    const VarImpl* leaf = seen.done_order[i];
    const Var& v = leaf == a.shared_impl().get() ? a : leaf == b.shared_impl().get() ? b : c;
    CHECK(seen.grad_when_done[i] == values(v.grad()));  // nothing was added after done()
  }
  for (double g : values(a.grad())) CHECK(g == Approx(-2.0 + 2 * 1.5 * 0.5 + 1));
  CHECK_FALSE(unused.grad().defined());

  // The order is a property of the graph: a second, identical graph is finished in the same order.
  Var a2(Tensor::full({2}, 1.5, DType::float64), true), b2(Tensor::full({2}, -2.0, DType::float64), true);
  Var c2(Tensor::full({2}, 0.5, DType::float64), true);
  RecordingObserver again;
  o.observer = &again;
  backward(sum(a2 * b2) + sum(a2 * a2 * c2) + sum(counted(a2)), {}, o);
  const auto position = [](const RecordingObserver& r, const VarImpl* leaf) {
    return std::find(r.done_order.begin(), r.done_order.end(), leaf) - r.done_order.begin();
  };
  CHECK(position(again, a2.shared_impl().get()) == position(seen, a.shared_impl().get()));
  CHECK(position(again, b2.shared_impl().get()) == position(seen, b.shared_impl().get()));
}
