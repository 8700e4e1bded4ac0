// The Fréchet distance between two Gaussians fitted to feature sets (FID's formula, Heusel et al. 2017):
//
//   FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( (S1^1/2 S2 S1^1/2)^1/2 )
//
// The last trace equals tr((S1 S2)^1/2), which pytorch-fid computes with scipy.linalg.sqrtm of the
// non-symmetric product; here both square roots are of symmetric positive semi-definite matrices, taken
// by Eigen's SelfAdjointEigenSolver with eigenvalues below zero (rounding) clamped to zero, so no complex
// parts and no 1e-6 I regularisation are needed. Everything is double precision.
//
// FeatureStats accumulates features [N, D] batch by batch (sums shifted by the first row, which keeps the
// one-pass covariance accurate); the covariance is the unbiased one (divided by N - 1), numpy.cov's default
// and pytorch-fid's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <Eigen/Dense>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace evaluation {

class FeatureStats {
 public:
  FeatureStats() = default;
  explicit FeatureStats(std::int64_t dim) { reset(dim); }

  std::int64_t dim() const { return sum_.size(); }
  std::int64_t count() const { return n_; }

  // Adds the rows of features [B, D] (float32 or float64, any device).
  void add(const Tensor& features) {
    ANYCOST_CHECK(features.defined() && features.dim() == 2, ShapeError, "FeatureStats::add: features ",
                  features.defined() ? features.shape() : Shape{}, " are not [N, D]");
    if (sum_.size() == 0 && n_ == 0) reset(features.size(1));
    ANYCOST_CHECK(features.size(1) == dim(), ShapeError, "FeatureStats::add: features have ", features.size(1),
                  " dimensions, the statistics ", dim());
    const Tensor f = features.to(Device::cpu()).to(DType::float64).contiguous();
    const std::int64_t rows = f.size(0), d = dim();
    if (rows == 0) return;
    using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const RowMajor> x(f.data<double>(), rows, d);
    if (n_ == 0) shift_ = x.row(0).transpose();
    const RowMajor c = x.rowwise() - shift_.transpose();
    ANYCOST_CHECK(c.allFinite(), ValueError, "FeatureStats::add: the features hold a non-finite value");
    sum_ += c.colwise().sum().transpose();
    outer_.selfadjointView<Eigen::Lower>().rankUpdate(c.transpose());
    n_ += rows;
  }

  Eigen::VectorXd mean() const {
    check_count(1, "mean");
    return shift_ + sum_ / static_cast<double>(n_);
  }
  // Unbiased covariance (N - 1 in the denominator).
  Eigen::MatrixXd covariance() const {
    check_count(2, "covariance");
    const Eigen::MatrixXd full = outer_.selfadjointView<Eigen::Lower>();
    const Eigen::VectorXd m = sum_ / static_cast<double>(n_);
    const Eigen::MatrixXd c = (full - static_cast<double>(n_) * m * m.transpose()) / static_cast<double>(n_ - 1);
    return 0.5 * (c + c.transpose());  // exactly symmetric (the product above rounds (i, j) and (j, i) apart)
  }

 private:
  void reset(std::int64_t dim) {
    ANYCOST_CHECK(dim >= 1, ShapeError, "FeatureStats: dimension ", dim, " must be >= 1");
    n_ = 0;
    shift_ = Eigen::VectorXd::Zero(dim);
    sum_ = Eigen::VectorXd::Zero(dim);
    outer_ = Eigen::MatrixXd::Zero(dim, dim);
  }
  void check_count(std::int64_t need, const char* what) const {
    ANYCOST_CHECK(n_ >= need, ValueError, "FeatureStats::", what, ": ", n_, " samples, need at least ", need);
  }

  std::int64_t n_ = 0;
  Eigen::VectorXd shift_, sum_;
  Eigen::MatrixXd outer_;  // lower triangle of sum (x - shift)(x - shift)^T
};

// Symmetric PSD square root (eigenvalues < 0 from rounding clamped to 0).
inline Eigen::MatrixXd sqrt_psd(const Eigen::MatrixXd& s) {
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(s);
  ANYCOST_CHECK(es.info() == Eigen::Success, ValueError, "sqrt_psd: the eigen-decomposition did not converge");
  const Eigen::VectorXd r = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * r.asDiagonal() * es.eigenvectors().transpose();
}

inline double frechet_distance(const Eigen::VectorXd& mu1, const Eigen::MatrixXd& s1, const Eigen::VectorXd& mu2,
                               const Eigen::MatrixXd& s2) {
  const auto d = mu1.size();
  ANYCOST_CHECK(mu2.size() == d && s1.rows() == d && s1.cols() == d && s2.rows() == d && s2.cols() == d, ShapeError,
                "frechet_distance: means of ", d, " and ", mu2.size(), " dimensions, covariances ", s1.rows(), "x",
                s1.cols(), " and ", s2.rows(), "x", s2.cols());
  const Eigen::MatrixXd r1 = sqrt_psd(0.5 * (s1 + s1.transpose()));
  const Eigen::MatrixXd m = r1 * (0.5 * (s2 + s2.transpose())) * r1;
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(0.5 * (m + m.transpose()), Eigen::EigenvaluesOnly);
  ANYCOST_CHECK(es.info() == Eigen::Success, ValueError, "frechet_distance: the eigen-decomposition did not converge");
  const double tr_sqrt = es.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return (mu1 - mu2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * tr_sqrt;
}

inline double frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  return frechet_distance(a.mean(), a.covariance(), b.mean(), b.covariance());
}

}  // namespace evaluation
ANYCOST_NAMESPACE_END
