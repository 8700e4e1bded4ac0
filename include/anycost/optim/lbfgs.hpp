// Limited-memory BFGS with a weak-Wolfe line search, over a flat vector of doubles.
//
// The official projection (tools/project.py) optimises W+ with full-batch L-BFGS: lr 1, history 10, a
// weak-Wolfe line search of at most 10 steps, 100 iterations. This is that method written from the textbook
// (Nocedal & Wright, Alg. 7.4 two-loop recursion; Lewis & Overton's bisection/expansion search for the weak
// Wolfe conditions):
//   sufficient decrease   f(x + t d) <= f(x) + c1 t g'd
//   curvature (weak)      g(x + t d)'d >= c2 g'd
// The objective is any callable f(x, grad) -> value that fills grad; it runs in double precision here, so a
// float32 model only has to convert at the edge.
#pragma once

#include <cmath>
#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace optim {

struct LbfgsOptions {
  int max_iterations = 100;
  int history = 10;
  double lr = 1.0;               // the first trial step of every line search (scaled down on the first iteration)
  int max_line_search = 10;      // function evaluations per line search
  double c1 = 1e-4, c2 = 0.9;    // the weak Wolfe constants
  double tolerance_grad = 1e-7;  // stop when max |g| falls below this
  double tolerance_change = 1e-9;  // stop when f changes by less than this in one iteration
};

struct LbfgsResult {
  double value = 0;
  int iterations = 0;
  int evaluations = 0;
  std::string stop;  // why it stopped, in words
};

namespace lbfgs_detail {
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
inline double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::abs(v));
  return m;
}
}  // namespace lbfgs_detail

// Minimises f from x (updated in place). `on_iteration(iteration, value)` is called after every iteration.
template <class F>
LbfgsResult lbfgs_minimize(F&& f, std::vector<double>& x, const LbfgsOptions& o = {},
                           const std::function<void(int, double)>& on_iteration = {}) {
  ANYCOST_CHECK(o.max_iterations >= 1 && o.history >= 1 && o.max_line_search >= 1 && o.lr > 0 && o.c1 > 0 &&
                    o.c1 < o.c2 && o.c2 < 1,
                ValueError, "lbfgs: invalid options (need max_iterations, history, max_line_search >= 1, lr > 0, ",
                "0 < c1 < c2 < 1)");
  using lbfgs_detail::dot;
  const std::size_t n = x.size();
  std::vector<double> g(n), gn(n), xn(n), d(n);
  LbfgsResult r;
  double fx = f(x, g);
  ++r.evaluations;
  ANYCOST_CHECK(std::isfinite(fx), ValueError, "lbfgs: the objective is not finite at the starting point");
  std::deque<std::vector<double>> S, Y;
  std::deque<double> rho;
  for (r.iterations = 0; r.iterations < o.max_iterations;) {
    if (lbfgs_detail::max_abs(g) <= o.tolerance_grad) {
      r.stop = "gradient below tolerance";
      break;
    }
    // d = -H g by the two-loop recursion, H0 = (s'y / y'y) I.
    d = g;
    std::vector<double> alpha(S.size());
    for (std::size_t i = S.size(); i-- > 0;) {
      alpha[i] = rho[i] * dot(S[i], d);
      for (std::size_t j = 0; j < n; ++j) d[j] -= alpha[i] * Y[i][j];
    }
    const double gamma = S.empty() ? 1.0 : dot(S.back(), Y.back()) / dot(Y.back(), Y.back());
    for (double& v : d) v *= gamma;
    for (std::size_t i = 0; i < S.size(); ++i) {
      const double beta = rho[i] * dot(Y[i], d);
      for (std::size_t j = 0; j < n; ++j) d[j] += (alpha[i] - beta) * S[i][j];
    }
    for (double& v : d) v = -v;
    double gd = dot(g, d);
    if (!(gd < 0)) {  // not a descent direction (numerical trouble): restart from steepest descent
      S.clear(), Y.clear(), rho.clear();
      for (std::size_t j = 0; j < n; ++j) d[j] = -g[j];
      gd = dot(g, d);
    }
    // The first step has no curvature estimate: keep it within a unit L1 move, as PyTorch's L-BFGS does.
    double t = o.lr;
    if (S.empty()) {
      double l1 = 0;
      for (double v : g) l1 += std::abs(v);
      t *= std::min(1.0, 1.0 / std::max(l1, 1e-300));
    }
    double lo = 0, hi = std::numeric_limits<double>::infinity(), fn = fx;
    bool accepted = false;
    double best_t = 0, best_f = fx;
    std::vector<double> best_g;
    for (int ls = 0; ls < o.max_line_search; ++ls) {
      for (std::size_t j = 0; j < n; ++j) xn[j] = x[j] + t * d[j];
      fn = f(xn, gn);
      ++r.evaluations;
      if (std::isfinite(fn) && fn < best_f) best_t = t, best_f = fn, best_g = gn;
      if (!std::isfinite(fn) || fn > fx + o.c1 * t * gd) {
        hi = t;
      } else if (dot(gn, d) < o.c2 * gd) {
        lo = t;
      } else {
        accepted = true;
        break;
      }
      t = std::isfinite(hi) ? 0.5 * (lo + hi) : 2.0 * lo;
    }
    if (!accepted) {  // take the best decrease seen, if any
      if (best_t == 0) {
        r.stop = "line search found no decrease";
        break;
      }
      t = best_t, fn = best_f, gn = best_g;
      for (std::size_t j = 0; j < n; ++j) xn[j] = x[j] + t * d[j];
    }
    std::vector<double> s(n), y(n);
    for (std::size_t j = 0; j < n; ++j) s[j] = xn[j] - x[j], y[j] = gn[j] - g[j];
    const double sy = dot(s, y);
    if (sy > 1e-10 * dot(y, y)) {  // keep the pair only when it adds positive curvature
      if (static_cast<int>(S.size()) == o.history) S.pop_front(), Y.pop_front(), rho.pop_front();
      S.push_back(std::move(s)), Y.push_back(std::move(y)), rho.push_back(1.0 / sy);
    }
    const double change = fx - fn;
    x.swap(xn), g.swap(gn), fx = fn;
    ++r.iterations;
    if (on_iteration) on_iteration(r.iterations, fx);
    if (std::abs(change) < o.tolerance_change) {
      r.stop = "change below tolerance";
      break;
    }
  }
  if (r.stop.empty()) r.stop = "iteration limit";
  r.value = fx;
  return r;
}

}  // namespace optim
ANYCOST_NAMESPACE_END
