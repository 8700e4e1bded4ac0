#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>
#include <anycost/optim.hpp>

using namespace anycost;
using anycost::optim::Adam;
using anycost::optim::Sgd;

namespace {
// A module with the visitor the nn layer provides: fn(name, Var&).
struct TinyModule {
  Var weight{Tensor::zeros({2, 2}), true};
  Var bias{Tensor::zeros({2}), true};
  template <class F>
  void visit_parameters(F&& fn) {
    fn("layer.weight", weight);
    fn("layer.bias", bias);
  }
};
// The same through a free function and a parameter holder with var().
struct Holder {
  Var v;
  const Var& var() const { return v; }
};
struct FreeModule {
  Holder h{Var(Tensor::zeros({3}), true)};
};
template <class F>
void visit_parameters(FreeModule& m, F&& fn) {
  fn("h", m.h);
}
// The nn/ contract: visit_state over parameters (Var) and buffers (Tensor).
struct StateModule {
  Var weight{Tensor::zeros({2}), true};
  Tensor kernel = Tensor::ones({4});
  TinyModule child;
  template <class F>
  void visit_state(F&& fn, const std::string& prefix) {
    fn(prefix + "weight", weight);
    fn(prefix + "kernel", kernel);
    fn(prefix + "child.w", child.weight);
  }
};
}  // namespace

TEST_CASE("optimisers reject views and computed values, naming the parameter", "[optim][parameters]") {
  Var full(Tensor::zeros({4, 3}), true);
  Var view = narrow(full, 0, 0, 2);  // a sub-network's prefix slice
  CHECK_THROWS_AS(Adam({{"slice", view}}), ValueError);
  CHECK_THROWS_WITH(Adam({{"slice", view}}), Catch::Contains("parameter 'slice' (index 0) is not a leaf") &&
                                                 Catch::Contains("NarrowBackward") &&
                                                 Catch::Contains("pass the full parameter"));
  Var computed = full * 2.0;
  CHECK_THROWS_WITH(Sgd({full, computed}), Catch::Contains("parameter '1' (index 1) is not a leaf"));
  // The full parameter is accepted, and a view's gradient reaches it.
  Adam opt({full});
  backward(sum(view));
  opt.step();
  const auto v = full.data().to_vector<float>();
  CHECK(v[0] != 0.0f);
  CHECK(v[6] == 0.0f);  // rows outside the slice got no gradient (zeros): Adam leaves them at 0
}

TEST_CASE("optimisers reject bad parameter lists", "[optim][parameters]") {
  Var w(Tensor::zeros({3}), true);
  Var frozen(Tensor::zeros({3}));
  CHECK_THROWS_WITH(Adam({w, frozen}), Catch::Contains("does not require grad"));
  CHECK_THROWS_WITH(Adam({w, w}), Catch::Contains("same variable"));
  CHECK_THROWS_WITH(Adam({{"a", w}, {"a", Var(Tensor::zeros({1}), true)}}), Catch::Contains("name 'a' is used"));
  CHECK_THROWS_WITH(Adam({{"", w}}), Catch::Contains("empty name"));
  CHECK_THROWS_WITH(Adam({Var()}), Catch::Contains("undefined"));
  // Two leaves over overlapping memory would be updated twice.
  const Tensor buffer = Tensor::zeros({10});
  Var a(buffer.narrow(0, 0, 6), true), b(buffer.narrow(0, 4, 6), true), c(buffer.narrow(0, 6, 4), true);
  CHECK_THROWS_WITH(Adam({a, b}), Catch::Contains("shares memory"));
  CHECK_NOTHROW(Adam({a, c}));  // disjoint views of one buffer (a flat parameter store) are fine
}

TEST_CASE("named_parameters collects through a module's visitor", "[optim][parameters]") {
  TinyModule m;
  const auto ps = optim::named_parameters(m);
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].name == "layer.weight");
  CHECK(same(ps[0].var, m.weight));
  CHECK(ps[1].name == "layer.bias");
  Adam opt(ps);
  CHECK(opt.state_dict()[0].first == "layer.weight.exp_avg");

  FreeModule f;
  const auto fs = optim::named_parameters(f);
  REQUIRE(fs.size() == 1);
  CHECK(fs[0].name == "h");
  CHECK(same(fs[0].var, f.h.v));

  StateModule sm;
  const auto ss = optim::named_parameters(sm);
  REQUIRE(ss.size() == 2);  // the buffer is not a parameter
  CHECK(ss[0].name == "weight");
  CHECK(ss[1].name == "child.w");
  CHECK(same(ss[1].var, sm.child.weight));

  const auto byp = optim::name_by_position({m.weight, m.bias});
  CHECK(byp[1].name == "1");
}

TEST_CASE("gradients that do not match the parameter are errors", "[optim][parameters]") {
  Var w(Tensor::zeros({3}), true);
  Adam opt({{"w", w}});
  w.set_grad(Var(Tensor::zeros({3}, DType::float64)));
  CHECK_THROWS_WITH(opt.step(), Catch::Contains("gradient of parameter 'w'") && Catch::Contains("float64"));
}
