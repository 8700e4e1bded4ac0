// A linear support vector machine: the L2-regularised squared-hinge loss (liblinear's default for a linear
// SVC), minimised by L-BFGS. InterFaceGAN-style edit directions are the unit normal of the hyperplane that
// separates latents with and without an attribute.
//
//   min_{w,b}  0.5 |w|^2 + C sum_i max(0, 1 - y_i (w'x_i + b))^2,   y_i in {-1, +1}
//
// The squared hinge is differentiable, so L-BFGS applies directly; the bias is not regularised.
#pragma once

#include <cstdint>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/optim/lbfgs.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace editing {

struct LinearSvm {
  std::vector<double> w;  // the normal of the hyperplane
  double b = 0;
  double decision(const double* x) const {
    double s = b;
    for (std::size_t j = 0; j < w.size(); ++j) s += w[j] * x[j];
    return s;
  }
};

// x: n rows of d features (row-major), y: +1 / -1 labels.
inline LinearSvm fit_linear_svm(const std::vector<double>& x, const std::vector<int>& y, std::int64_t d,
                                double C = 1.0, int max_iterations = 500) {
  const std::int64_t n = static_cast<std::int64_t>(y.size());
  ANYCOST_CHECK(d >= 1 && n >= 2 && static_cast<std::int64_t>(x.size()) == n * d, ShapeError, "fit_linear_svm: ",
                x.size(), " values are not ", n, " rows of ", d, " features");
  ANYCOST_CHECK(C > 0, ValueError, "fit_linear_svm: C must be > 0, got ", C);
  bool pos = false, neg = false;
  for (int v : y) {
    ANYCOST_CHECK(v == 1 || v == -1, ValueError, "fit_linear_svm: labels must be +1 or -1, got ", v);
    (v > 0 ? pos : neg) = true;
  }
  ANYCOST_CHECK(pos && neg, ValueError, "fit_linear_svm: both classes are needed");
  const auto f = [&](const std::vector<double>& p, std::vector<double>& g) {
    g.assign(p.size(), 0.0);
    double loss = 0;
    for (std::int64_t j = 0; j < d; ++j) loss += 0.5 * p[j] * p[j], g[j] = p[j];
    for (std::int64_t i = 0; i < n; ++i) {
      const double* xi = &x[static_cast<std::size_t>(i * d)];
      double s = p[d];
      for (std::int64_t j = 0; j < d; ++j) s += p[j] * xi[j];
      const double margin = 1 - y[i] * s;
      if (margin <= 0) continue;
      loss += C * margin * margin;
      const double k = -2 * C * margin * y[i];
      for (std::int64_t j = 0; j < d; ++j) g[j] += k * xi[j];
      g[d] += k;
    }
    return loss;
  };
  std::vector<double> p(static_cast<std::size_t>(d + 1), 0.0);
  optim::LbfgsOptions o;
  o.max_iterations = max_iterations;
  o.max_line_search = 20;
  o.tolerance_grad = 1e-6;
  optim::lbfgs_minimize(f, p, o);
  LinearSvm svm;
  svm.w.assign(p.begin(), p.end() - 1);
  svm.b = p.back();
  return svm;
}

}  // namespace editing
ANYCOST_NAMESPACE_END
