// Gradient checking as a library feature: compares the autograd gradients of any function of Vars with
// central finite differences, to first and second order, in double precision on the CPU. Use it to test
// your own layers the way anycost tests its ops.
//
//   auto f = [](const std::vector<Var>& x) { return lrelu(x[0] * x[1]); };
//   GradcheckReport r = check_grad_grad(f, {randn({3, 4}, rng, DType::float64), ...});
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "anycost/autograd/engine.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/random.hpp"
#include "anycost/ops/reduce.hpp"

ANYCOST_NAMESPACE_BEGIN

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-6;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-4;
  std::uint64_t seed = 1234;  // for the random output projection and second-order directions
};

struct GradcheckReport {
  bool ok = true;
  double max_abs_error = 0;
  std::string message;  // the first failing entry, or a summary
};

namespace detail {
using VarFunction = std::function<Var(const std::vector<Var>&)>;

inline std::vector<Var> as_leaves(const std::vector<Tensor>& xs) {
  std::vector<Var> v;
  for (const Tensor& x : xs) v.emplace_back(x, true);
  return v;
}

// Central differences of the scalar function s at every element of every input.
inline std::vector<Tensor> numeric_gradient(const std::function<double(const std::vector<Tensor>&)>& s,
                                            const std::vector<Tensor>& inputs, double eps) {
  std::vector<Tensor> out;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Tensor g = Tensor::zeros(inputs[i].shape(), DType::float64);
    for (std::int64_t j = 0; j < inputs[i].numel(); ++j) {
      std::vector<Tensor> xs = inputs;
      xs[i] = inputs[i].clone();
      double* p = xs[i].data<double>();
      const double x0 = p[j];
      p[j] = x0 + eps;
      const double fp = s(xs);
      p[j] = x0 - eps;
      const double fm = s(xs);
      g.data<double>()[j] = (fp - fm) / (2 * eps);
    }
    out.push_back(g);
  }
  return out;
}

inline GradcheckReport compare(const char* what, const std::vector<Var>& analytic, const std::vector<Tensor>& numeric,
                               const GradcheckOptions& o) {
  GradcheckReport r;
  for (std::size_t i = 0; i < numeric.size(); ++i) {
    const Tensor a = analytic[i].defined() ? analytic[i].data().to(DType::float64).contiguous()
                                           : Tensor::zeros(numeric[i].shape(), DType::float64);
    ANYCOST_CHECK(a.shape() == numeric[i].shape(), ShapeError, what, ": gradient of input ", i, " has shape ",
                  a.shape(), ", expected ", numeric[i].shape());
    for (std::int64_t j = 0; j < a.numel(); ++j) {
      const double x = a.data<double>()[j], n = numeric[i].data<double>()[j];
      const double err = std::abs(x - n);
      r.max_abs_error = std::max(r.max_abs_error, err);
      if (r.ok && !(err <= o.atol + o.rtol * std::abs(n))) {
        r.ok = false;
        std::ostringstream os;
        os << what << ": input " << i << " element " << j << ": autograd " << x << ", finite difference " << n;
        r.message = os.str();
      }
    }
  }
  if (r.ok) r.message = std::string(what) + ": ok";
  return r;
}

inline void check_inputs(const std::vector<Tensor>& inputs) {
  for (std::size_t i = 0; i < inputs.size(); ++i)
    ANYCOST_CHECK(inputs[i].dtype() == DType::float64 && inputs[i].device().is_cpu() && inputs[i].is_contiguous(),
                  ValueError, "gradcheck: input ", i, " must be a contiguous float64 CPU tensor");
}
}  // namespace detail

// First order: d/dx sum(f(x) * r) for a fixed random r, autograd against finite differences.
inline GradcheckReport check_grad(const detail::VarFunction& f, const std::vector<Tensor>& inputs,
                                  GradcheckOptions o = {}) {
  detail::check_inputs(inputs);
  Rng rng(o.seed);
  const Tensor r = randn(f(detail::as_leaves(inputs)).shape(), rng, DType::float64);
  auto scalar = [&](const std::vector<Tensor>& xs) {
    NoGradGuard ng;
    return sum(f(detail::as_leaves(xs)) * Var(r)).item();
  };
  std::vector<Var> x = detail::as_leaves(inputs);
  Var out = sum(f(x) * Var(r));
  std::vector<Var> g = out.requires_grad() ? grad({out}, x, {}, {.allow_unused = true}) : std::vector<Var>(x.size());
  return detail::compare("check_grad", g, detail::numeric_gradient(scalar, inputs, o.eps), o);
}

// Second order: the gradient of G(x) = sum_i <d/dx_i sum(f(x) * r), v_i> (random r, v), where the inner
// gradient is built with create_graph, against finite differences of G.
inline GradcheckReport check_grad_grad(const detail::VarFunction& f, const std::vector<Tensor>& inputs,
                                       GradcheckOptions o = {}) {
  detail::check_inputs(inputs);
  Rng rng(o.seed);
  const Tensor r = randn(f(detail::as_leaves(inputs)).shape(), rng, DType::float64);
  std::vector<Tensor> v;
  for (const Tensor& x : inputs) v.push_back(randn(x.shape(), rng, DType::float64));
  auto g_of = [&](const std::vector<Var>& x, bool create_graph) {
    Var out = sum(f(x) * Var(r));
    Var total(Tensor::zeros({}, DType::float64));
    if (!out.requires_grad()) return total;
    std::vector<Var> g = grad({out}, x, {}, {.create_graph = create_graph, .allow_unused = true});
    for (std::size_t i = 0; i < x.size(); ++i)
      if (g[i].defined()) total = total + sum(g[i] * Var(v[i]));
    return total;
  };
  auto scalar = [&](const std::vector<Tensor>& xs) { return g_of(detail::as_leaves(xs), false).item(); };
  std::vector<Var> x = detail::as_leaves(inputs);
  Var gsum = g_of(x, true);
  std::vector<Var> gg = gsum.requires_grad() ? grad({gsum}, x, {}, {.allow_unused = true}) : std::vector<Var>(x.size());
  return detail::compare("check_grad_grad", gg, detail::numeric_gradient(scalar, inputs, o.eps), o);
}

ANYCOST_NAMESPACE_END
