#include <atomic>

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
}  // namespace

TEST_CASE("a diamond graph runs each node once with the summed gradient", "[autograd]") {
  Var x(Tensor::full({3}, 2.0, DType::float64), true);
  Var shared = counted(x * 3.0);
  Var y = sum(shared * shared + shared);  // shared reached along three paths
  counted_calls = 0;
  backward(y);
  CHECK(counted_calls == 1);
  for (double g : x.grad().data().to_vector<double>()) CHECK(g == Approx(3 * (2 * 6.0 + 1)));
}

TEST_CASE("gradients accumulate across backward passes and into leaves only", "[autograd]") {
  Var x(Tensor::full({2}, 1.5, DType::float64), true);
  backward(sum(x * x));
  backward(sum(x * 4.0));
  for (double g : x.grad().data().to_vector<double>()) CHECK(g == Approx(3.0 + 4.0));
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  // grad() leaves .grad untouched.
  auto g = grad({sum(x * x)}, {x});
  CHECK_FALSE(x.grad().defined());
  CHECK(g[0].data().to_vector<double>()[0] == Approx(3.0));
}

TEST_CASE("backward through a freed graph is an error; retain_graph allows it", "[autograd]") {
  Var x(Tensor::full({2}, 1.0, DType::float64), true);
  Var y = sum(exp(x) * x);
  backward(y, {}, {.retain_graph = true});
  backward(y);
  CHECK_THROWS_AS(backward(y), AutogradError);
  CHECK_THROWS_WITH(backward(y), Catch::Contains("freed") && Catch::Contains("retain_graph"));
}

TEST_CASE("modifying a saved tensor in place is detected at backward time", "[autograd]") {
  Var x(Tensor::full({2, 2}, 1.0, DType::float64), true);
  Var w(Tensor::full({2, 2}, 2.0, DType::float64), true);
  Var y = sum(matmul(x, w));
  w.data().zero_();  // bumps the version of the saved weight
  CHECK_THROWS_WITH(backward(y), Catch::Contains("modified in place"));
}

TEST_CASE("grad with create_graph gives second derivatives (Hessian-vector product)", "[autograd]") {
  Var x(Tensor::from_vector<double>({0.5, -1.0, 2.0}, {3}), true);
  Var f = sum(pow(x, 3.0));                           // f = sum x^3
  Var g = grad({f}, {x}, {}, {.create_graph = true})[0];  // 3x^2
  Var h = grad({sum(g)}, {x})[0];                     // 6x
  const auto hv = h.data().to_vector<double>();
  CHECK(hv[0] == Approx(3.0));
  CHECK(hv[1] == Approx(-6.0));
  CHECK(hv[2] == Approx(12.0));
}

TEST_CASE("gradients of a sliced parameter land in the matching slice of the full gradient", "[autograd]") {
  Var w(rand64({4, 6}, 1), true);
  Var teacher = sum(square(w));                         // full width
  Var student = sum(narrow(narrow(w, 0, 0, 2), 1, 0, 3) * 5.0);  // a prefix sub-network on the same weight
  backward(teacher + student);
  const Tensor g = w.grad().data();
  const Tensor wd = w.data();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) {
      const double expect = 2 * wd.data<double>()[i * 6 + j] + (i < 2 && j < 3 ? 5.0 : 0.0);
      CHECK(g.data<double>()[i * 6 + j] == Approx(expect));
    }
}

TEST_CASE("no-grad scope records nothing; detach cuts history", "[autograd]") {
  Var x(Tensor::ones({2}), true);
  {
    NoGradGuard guard;
    Var y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
  }
  Var z = (x * 2.0);
  CHECK(z.requires_grad());
  CHECK_FALSE(z.detach().requires_grad());
  CHECK_THROWS_AS(grad({sum(z.detach())}, {x}), AutogradError);
}

TEST_CASE("non-scalar outputs need an explicit gradient", "[autograd]") {
  Var x(Tensor::ones({3}), true);
  Var y = x * 2.0;
  CHECK_THROWS_WITH(backward(y), Catch::Contains("not a scalar"));
  backward(y, Var(Tensor::ones({3})));
  CHECK(x.grad().data().to_vector<float>()[0] == Approx(2.0f));
}

TEST_CASE("a deep chain is freed without recursion", "[autograd]") {
  Var x(Tensor::ones({1}), true);
  Var y = x;
  for (int i = 0; i < 200000; ++i) y = y * 1.0;
  backward(sum(y));
  CHECK(x.grad().data().to_vector<float>()[0] == Approx(1.0f));
  y = Var();  // destroying 200k nodes must not overflow the stack
  SUCCEED();
}
