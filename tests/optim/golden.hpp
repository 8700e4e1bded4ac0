// Loader and runner for the optimiser golden values written by tools/golden/make_optim_goldens.py.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <anycost/anycost.hpp>
#include <anycost/optim.hpp>

namespace anycost::test {

inline const nlohmann::json& optim_goldens() {
  static const nlohmann::json doc = [] {
    const std::string path = std::string(ANYCOST_TEST_DATA_DIR) + "/optim/optim_goldens.json";
    std::ifstream in(path);
    if (!in) throw IoError("cannot open golden file " + path + " (run tools/golden/make_optim_goldens.py)");
    return nlohmann::json::parse(in);
  }();
  return doc;
}

inline const nlohmann::json& optim_golden_case(const std::string& name) {
  for (const auto& c : optim_goldens().at("cases"))
    if (c.at("name") == name) return c;
  throw ValueError("no golden case named " + name);
}

inline Shape shape_of(const nlohmann::json& j) {
  Shape s;
  for (const auto& x : j) s.push_back(x.get<std::int64_t>());
  return s;
}

inline Tensor tensor_of(const nlohmann::json& values, const Shape& shape, DType dtype) {
  return Tensor::from_vector(values.get<std::vector<double>>(), shape).to(dtype);
}

// |actual - expected| <= abs + rel * |expected| for every element; reports the worst element.
inline void check_close(const Tensor& actual, const std::vector<double>& expected, double rel, double abs,
                        const std::string& what) {
  const std::vector<double> a = actual.to_vector<double>();
  REQUIRE(a.size() == expected.size());
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double excess = std::abs(a[i] - expected[i]) - (abs + rel * std::abs(expected[i]));
    if (i == 0 || excess > worst) {
      worst = excess;
      at = i;
    }
  }
  INFO(what << ": element " << at << " is " << a[at] << ", expected " << expected[at]);
  CHECK(worst <= 0);
}

// Tolerances: float64 follows PyTorch to rounding; float32 to a few ulps (PyTorch fuses some multiply-adds).
inline double golden_rel(DType dt) { return dt == DType::float64 ? 1e-12 : 1e-6; }

// Runs one golden case through the optimiser that make_opt builds from the named parameters and the case.
inline void run_golden_case(
    const std::string& name,
    const std::function<std::unique_ptr<optim::Optimizer>(optim::NamedParameters, const nlohmann::json&)>& make_opt) {
  const nlohmann::json& c = optim_golden_case(name);
  const DType dt = c.at("dtype") == "float64" ? DType::float64 : DType::float32;
  optim::NamedParameters ps;
  for (const auto& p : c.at("params")) {
    const Shape s = shape_of(p.at("shape"));
    ps.push_back({p.at("name").get<std::string>(), Var(tensor_of(p.at("init"), s, dt), true)});
  }
  auto opt = make_opt(ps, c);
  const double rel = golden_rel(dt);
  const auto& grads = c.at("grads");
  const auto& expected = c.at("expected");
  for (std::size_t step = 0; step < grads.size(); ++step) {
    for (std::size_t i = 0; i < ps.size(); ++i) {
      const auto& g = grads[step][i];
      if (g.is_null())
        ps[i].var.zero_grad();
      else
        ps[i].var.set_grad(Var(tensor_of(g, ps[i].var.shape(), dt)));
    }
    opt->step();
    for (std::size_t i = 0; i < ps.size(); ++i)
      check_close(ps[i].var.data(), expected[step][i].get<std::vector<double>>(), rel, 0.0,
                  name + " step " + std::to_string(step + 1) + " parameter " + ps[i].name);
  }
  // The final state under anycost's keys matches PyTorch's state.
  const optim::StateDict sd = opt->state_dict();
  for (const auto& [key, values] : c.at("expected_state").items()) {
    const Tensor* t = nullptr;
    for (const auto& kv : sd)
      if (kv.first == key) t = &kv.second;
    INFO(name << ": state key " << key);
    REQUIRE(t != nullptr);
    check_close(*t, values.get<std::vector<double>>(), rel, 0.0, name + " state " + key);
  }
}

}  // namespace anycost::test
