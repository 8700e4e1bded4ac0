// Element-wise comparison of tensors for tests: |actual - expected| <= atol + rtol * |expected| everywhere,
// reported with the first failing index, the two values and the largest error, so a failure says where.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <anycost/anycost.hpp>

namespace anycost::test {

struct CloseReport {
  bool ok = true;
  double max_abs_error = 0;
  std::string message;
};

inline CloseReport compare_close(const Tensor& actual, const Tensor& expected, double rtol, double atol) {
  CloseReport r;
  if (!(actual.shape() == expected.shape())) {
    std::ostringstream os;
    os << "shape " << actual.shape() << " differs from expected " << expected.shape();
    return {false, 0, os.str()};
  }
  const auto a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(a[i] - e[i]);
    r.max_abs_error = std::max(r.max_abs_error, std::isnan(err) ? INFINITY : err);
    if (r.ok && !(err <= atol + rtol * std::abs(e[i]))) {
      r.ok = false;
      std::ostringstream os;
      os.precision(9);
      os << "element " << i << " of shape " << expected.shape() << ": got " << a[i] << ", expected " << e[i];
      r.message = os.str();
    }
  }
  std::ostringstream os;
  os << (r.ok ? "all close" : r.message) << " (max abs error " << r.max_abs_error << ", rtol " << rtol << ", atol "
     << atol << ")";
  r.message = os.str();
  return r;
}

// Largest |a - b| over two tensors of one shape (either device); NaN anywhere counts as infinitely far, so
// a NaN never passes a "below tolerance" check.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double d = std::abs(x[i] - y[i]);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

// Euclidean norm of a - b (either device); NaN anywhere gives infinity, as in max_abs_diff.
inline double l2_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += (x[i] - y[i]) * (x[i] - y[i]);
  return std::isnan(s) ? INFINITY : std::sqrt(s);
}

// Largest |x| of a tensor (a scale for absolute tolerances).
inline double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

inline Tensor tensor64(std::vector<double> values, const Shape& shape) { return Tensor::from_vector(values, shape); }

}  // namespace anycost::test

// CHECK_ALLCLOSE(actual, expected, rtol, atol): both anycost::Tensor (or Var .data()), any dtype.
#define CHECK_ALLCLOSE(actual, expected, rtol, atol)                                                   \
  do {                                                                                                \
    const auto anycost_close_ = ::anycost::test::compare_close((actual), (expected), (rtol), (atol)); \
    INFO(#actual " vs " #expected ": " << anycost_close_.message);                                    \
    CHECK(anycost_close_.ok);                                                                         \
  } while (false)
