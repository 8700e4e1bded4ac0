// Agreement with PyTorch: tests/data/foundation/*.json, written by tools/golden/make_foundation_goldens.py.
// Each case holds inputs, the output, a projection r and the gradients of sum(out * r); the ops run here in
// float32 (the working type) and float64 (which must match the float64 references to their float32
// rounding) and are compared element by element.
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "support/golden.hpp"

using namespace anycost;
using anycost::test::golden_tensor;
using anycost::test::Json;

namespace {
using Leaves = std::map<std::string, Var>;
using OpFn = std::function<Var(const Leaves&, const Json& params, DType)>;

struct Tolerance {
  double rtol, atol_scale;  // atol = atol_scale * max |expected|
};
Tolerance tolerance(DType dtype, double loosen = 1.0) {
  return dtype == DType::float32 ? Tolerance{1e-4 * loosen, 1e-5 * loosen} : Tolerance{3e-7, 1e-9};
}

void check_against(const char* what, const Tensor& actual, const Json& expected_json, Tolerance tol) {
  const Tensor expected = golden_tensor(expected_json);
  const double atol = tol.atol_scale * std::max(1.0, test::max_abs(expected));
  const auto r = test::compare_close(actual, expected, tol.rtol, atol);
  INFO(what << ": " << r.message);
  CHECK(r.ok);
}

// Runs one case: the output and the gradient of sum(out * r) with respect to every input listed in "grads".
void run_case(const Json& c, const OpFn& op, DType dtype, double loosen = 1.0) {
  const std::string name = c.at("name");
  INFO("case " << name << " in " << dtype);
  Leaves leaves;
  std::vector<std::string> wrt;
  for (const auto& [key, value] : c.at("inputs").items()) {
    const bool needs = c.at("grads").contains(key);
    leaves[key] = Var(golden_tensor(value, dtype), needs);
    if (needs) wrt.push_back(key);
  }
  const Json params = c.value("params", Json::object());
  Var out = op(leaves, params, dtype);
  const Tolerance tol = tolerance(dtype, loosen);
  check_against("output", out.data(), c.at("output"), tol);
  Var loss = sum(out * Var(golden_tensor(c.at("projection"), dtype)));
  std::vector<Var> inputs;
  for (const auto& k : wrt) inputs.push_back(leaves.at(k));
  const auto grads = grad({loss}, inputs, {}, {.allow_unused = true});
  for (std::size_t i = 0; i < wrt.size(); ++i) {
    const Tensor g = grads[i].defined() ? grads[i].data() : Tensor::zeros(inputs[i].shape(), dtype);
    check_against(("gradient of " + wrt[i]).c_str(), g, c.at("grads").at(wrt[i]), tol);
  }
}

// Runs every case of a file through the table, and checks that the table and the file name the same cases.
void run_file(const std::string& file, const std::map<std::string, OpFn>& table) {
  const Json doc = test::load_golden(file);
  std::set<std::string> seen;
  for (const auto& name : test::golden_case_names(doc)) {
    INFO(file << ": case " << name);
    REQUIRE(table.count(name) == 1);  // a case without a C++ counterpart is a gap in this test
    seen.insert(name);
    for (DType dtype : {DType::float32, DType::float64}) run_case(test::golden_case(doc, name), table.at(name), dtype);
  }
  for (const auto& [name, fn] : table) {
    INFO(file << ": the table names " << name);
    CHECK(seen.count(name) == 1);
  }
}

template <class F>
OpFn unary(F f) {
  return [f](const Leaves& l, const Json&, DType) { return Var(f(l.at("a"))); };
}

Conv2dParams conv_params(const Json& p) {
  const int s = p.at("stride"), pad = p.at("padding"), g = p.at("groups");
  return {s, s, pad, pad, g};
}
}  // namespace

TEST_CASE("elementwise ops agree with PyTorch", "[golden][elementwise]") {
  std::map<std::string, OpFn> t;
  t["neg"] = unary([](const Var& a) { return Var(-a); });
  t["exp"] = unary([](const Var& a) { return Var(exp(a)); });
  t["log"] = unary([](const Var& a) { return Var(log(a)); });
  t["sqrt"] = unary([](const Var& a) { return Var(sqrt(a)); });
  t["rsqrt"] = unary([](const Var& a) { return Var(rsqrt(a)); });
  t["square"] = unary([](const Var& a) { return Var(square(a)); });
  t["reciprocal"] = unary([](const Var& a) { return Var(reciprocal(a)); });
  t["abs"] = unary([](const Var& a) { return Var(abs(a)); });
  t["sigmoid"] = unary([](const Var& a) { return Var(sigmoid(a)); });
  t["softplus"] = unary([](const Var& a) { return Var(softplus(a)); });
  t["tanh"] = unary([](const Var& a) { return Var(tanh(a)); });
  t["lrelu"] = unary([](const Var& a) { return Var(lrelu(a, 0.2)); });
  t["relu"] = unary([](const Var& a) { return Var(relu(a)); });
  t["clamp"] = unary([](const Var& a) { return Var(clamp(a, -0.5, 0.5)); });
  t["pow"] = unary([](const Var& a) { return Var(pow(a, 2.5)); });
  t["add_broadcast"] = [](const Leaves& l, const Json&, DType) { return Var(l.at("a") + l.at("b")); };
  t["sub_broadcast"] = [](const Leaves& l, const Json&, DType) { return Var(l.at("a") - l.at("b")); };
  t["mul_broadcast"] = [](const Leaves& l, const Json&, DType) { return Var(l.at("a") * l.at("b")); };
  t["div_broadcast"] = [](const Leaves& l, const Json&, DType) { return Var(l.at("a") / l.at("c")); };
  t["fused_bias_lrelu"] = [](const Leaves& l, const Json&, DType) {
    const Var &a = l.at("a"), &b = l.at("b"), &c = l.at("c");
    return Var(lrelu(a * b + c, 0.2) * std::sqrt(2.0) + 1.5 / (1.0 + a * a));
  };
  run_file("foundation/elementwise.json", t);
}

TEST_CASE("views and reductions agree with PyTorch", "[golden][view][reduce]") {
  std::map<std::string, OpFn> t;
  auto dims_of = [](const Json& p) { return p.at("dims").get<std::vector<int>>(); };
  t["sum_all"] = [](const Leaves& l, const Json&, DType) { return sum(l.at("x")); };
  t["sum_dims_1_2"] = [dims_of](const Leaves& l, const Json& p, DType) {
    return sum(l.at("x"), dims_of(p), p.at("keepdim"));
  };
  t["sum_dim_neg1_keepdim"] = t["sum_dims_1_2"];
  t["mean_dim_0"] = [dims_of](const Leaves& l, const Json& p, DType) {
    return mean(l.at("x"), dims_of(p), p.at("keepdim"));
  };
  t["mean_all"] = t["mean_dim_0"];
  t["view_chain"] = [](const Leaves& l, const Json&, DType) {
    return Var(square(transpose(reshape(narrow(permute(l.at("x"), {2, 0, 1}), 0, 1, 2), {2, 6}), 0, 1)));
  };
  t["cat_dim1"] = [](const Leaves& l, const Json& p, DType) {
    return cat({l.at("x"), Var(l.at("y") * l.at("y"))}, p.at("dim").get<int>());
  };
  run_file("foundation/views_reductions.json", t);
}

TEST_CASE("matmul and linear agree with PyTorch", "[golden][linalg]") {
  std::map<std::string, OpFn> t;
  auto mm = [](const Leaves& l, const Json&, DType) { return matmul(l.at("a"), l.at("b")); };
  t["matmul_2d"] = mm;
  t["matmul_batched"] = mm;
  t["matmul_broadcast_a"] = mm;
  t["matmul_broadcast_b"] = mm;
  t["matmul_transposed"] = [](const Leaves& l, const Json&, DType) {
    return matmul(transpose(l.at("a"), 0, 1), transpose(l.at("b"), 0, 1));
  };
  t["linear_bias"] = [](const Leaves& l, const Json&, DType) { return linear(l.at("x"), l.at("w"), l.at("bias")); };
  run_file("foundation/linalg.json", t);
}

TEST_CASE("conv2d and conv_transpose2d agree with PyTorch", "[golden][conv2d]") {
  std::map<std::string, OpFn> t;
  auto conv = [](const Leaves& l, const Json& p, DType) { return conv2d(l.at("x"), l.at("w"), conv_params(p)); };
  t["conv2d_3x3_pad1"] = conv;
  t["conv2d_3x3_stride2_pad0"] = conv;
  t["conv2d_3x3_stride2_pad1_groups2"] = conv;
  t["conv2d_1x1"] = conv;
  auto convt = [](const Leaves& l, const Json& p, DType) {
    const int op = p.at("output_padding");
    return conv_transpose2d(l.at("z"), l.at("w"), conv_params(p), op, op);
  };
  t["conv_transpose2d_stride2"] = convt;
  t["conv_transpose2d_stride2_pad1_outpad1"] = convt;
  run_file("foundation/conv2d.json", t);
}

TEST_CASE("upfirdn2d agrees with PyTorch (implemented from its definition)", "[golden][upfirdn2d]") {
  std::map<std::string, OpFn> t;
  auto op = [](const Leaves& l, const Json& p, DType dtype) {
    const UpFirDnParams q{p.at("up"), p.at("down"), p.at("pad_y0"), p.at("pad_y1"), p.at("pad_x0"), p.at("pad_x1")};
    return upfirdn2d(l.at("x"), golden_tensor(p.at("kernel"), dtype), q);
  };
  for (const char* name : {"g_upconv_blur", "g_torgb_upsample", "d_conv3x3_preblur", "d_skip1x1_preblur", "down2",
                           "asymmetric_negative_pads"})
    t[name] = op;
  run_file("foundation/upfirdn2d.json", t);
}

namespace {
// The discriminator of tools/golden/make_foundation_goldens.py (r1_discriminator), in anycost ops.
Var act(const Var& h, const Var& b) { return Var(lrelu(h + reshape(b, {1, -1, 1, 1}), 0.2) * std::sqrt(2.0)); }
Var scaled(const Var& w, double fan_in) { return Var(w * (1.0 / std::sqrt(fan_in))); }
Var discriminator(const Var& x, const Leaves& p, const Tensor& blur) {
  Var h = act(conv2d(x, scaled(p.at("w0"), 3 * 1 * 1)), p.at("b0"));
  h = act(conv2d(h, scaled(p.at("w1"), 4 * 3 * 3), {1, 1, 1, 1, 1}), p.at("b1"));
  h = upfirdn2d(h, blur, UpFirDnParams::make(1, 1, 2, 2));
  h = act(conv2d(h, scaled(p.at("w2"), 4 * 3 * 3), {2, 2, 0, 0, 1}), p.at("b2"));
  h = reshape(h, {h.size(0), -1});
  return linear(h, scaled(p.at("wl"), static_cast<double>(h.size(1))), p.at("bl"));
}
}  // namespace

TEST_CASE("R1 of a small conv discriminator and its parameter gradients agree with PyTorch", "[golden][r1]") {
  const Json doc = test::load_golden("foundation/r1_discriminator.json");
  for (DType dtype : {DType::float32, DType::float64}) {
    INFO("dtype " << dtype);
    const Tolerance tol = tolerance(dtype, 10.0);  // a double backward through four layers in float32
    Var x(golden_tensor(doc.at("inputs").at("x"), dtype), true);
    Leaves params;
    std::vector<std::string> names;
    std::vector<Var> leaves;
    for (const auto& [name, value] : doc.at("params").items()) {
      params[name] = Var(golden_tensor(value, dtype), true);
      names.push_back(name);
      leaves.push_back(params[name]);
    }
    const Tensor blur = golden_tensor(doc.at("blur_kernel"), dtype);
    Var d = discriminator(x, params, blur);
    check_against("D(x)", d.data(), doc.at("d_out"), tol);
    Var gx = grad({sum(d)}, {x}, {}, {.create_graph = true})[0];
    check_against("dD/dx", gx.data(), doc.at("grad_x"), tol);
    Var r1 = mean(sum(square(gx), {1, 2, 3}));
    CHECK(r1.item() == Approx(doc.at("r1").get<double>()).epsilon(dtype == DType::float32 ? 1e-4 : 1e-6));
    const auto g = grad({r1}, leaves, {}, {.allow_unused = true});
    for (std::size_t i = 0; i < names.size(); ++i) {
      const Tensor gi = g[i].defined() ? g[i].data() : Tensor::zeros(leaves[i].shape(), dtype);
      check_against(("dR1/d" + names[i]).c_str(), gi, doc.at("r1_grads").at(names[i]), tol);
    }
    // The weights carry real second-order signal (the biases only move leaky-ReLU masks, so theirs are zero).
    for (const char* w : {"w0", "w1", "w2", "wl"})
      CHECK(test::max_abs(golden_tensor(doc.at("r1_grads").at(w))) > 1e-3);
  }
}
