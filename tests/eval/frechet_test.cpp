// evaluation::FeatureStats and frechet_distance: goldens from numpy/scipy (pytorch-fid's formula, sqrtm of the
// product), and identities that hold for any data.
#include <catch2/catch.hpp>

#include <cmath>

#include <anycost/anycost.hpp>

using namespace anycost;
using namespace anycost::evaluation;

namespace {

// x[i][j] = sin(1.7 i (j + 1) + 0.3 j) + 0.2 j, y[i][j] = cos(0.9 i (j + 2)) (j + 1) / 3 + 0.5 j: covariances
// well away from singular (eigenvalues 0.016 to 1.4), where the square roots are well conditioned.
Tensor golden_x(std::int64_t first, std::int64_t rows) {
  Tensor t = Tensor::empty({rows, 5}, DType::float64);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < 5; ++j) {
      const double a = static_cast<double>(first + i), b = static_cast<double>(j);
      t.data<double>()[i * 5 + j] = std::sin(1.7 * a * (b + 1) + 0.3 * b) + 0.2 * b;
    }
  return t;
}
Tensor golden_y(std::int64_t rows) {
  Tensor t = Tensor::empty({rows, 5}, DType::float64);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < 5; ++j) {
      const double a = static_cast<double>(i), b = static_cast<double>(j);
      t.data<double>()[i * 5 + j] = std::cos(0.9 * a * (b + 2)) * (b + 1) / 3 + 0.5 * b;
    }
  return t;
}
FeatureStats stats_of(const Tensor& t, std::int64_t chunk) {
  FeatureStats s;
  for (std::int64_t i = 0; i < t.size(0); i += chunk) s.add(t.narrow(0, i, std::min(chunk, t.size(0) - i)));
  return s;
}

}  // namespace

// The goldens, computed once with numpy 1.24 / scipy 1.10:
//   m1, m2 = a.mean(0), b.mean(0); s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
//   fd = ((m1 - m2)**2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
// with i = np.arange(60)[:, None], j = np.arange(5)[None, :] and x, y as golden_x / golden_y above:
//   x = np.sin(1.7 * i * (j + 1) + 0.3 * j) + 0.2 * j; y = np.cos(0.9 * i * (j + 2)) * (j + 1) / 3 + 0.5 * j
//   fd(x, y) = 3.6856594733316017, fd(x[:40], x[20:]) = 0.025349216954167808,
//   np.cov(x, rowvar=False)[1, 3] = 0.00030408540461106297, x.mean(0)[2] = 0.4060452787527631
TEST_CASE("frechet_distance matches numpy/scipy", "[eval][frechet]") {
  const Tensor x = golden_x(0, 60), y = golden_y(60);
  for (std::int64_t chunk : {1, 7, 60}) {
    INFO("chunk " << chunk);
    const FeatureStats sx = stats_of(x, chunk), sy = stats_of(y, chunk);
    CHECK(sx.count() == 60);
    CHECK(sx.mean()(2) == Approx(0.4060452787527631).epsilon(1e-12));
    CHECK(sx.covariance()(1, 3) == Approx(0.00030408540461106297).margin(1e-14));
    CHECK(sx.covariance()(3, 1) == sx.covariance()(1, 3));
    CHECK(frechet_distance(sx, sy) == Approx(3.6856594733316017).epsilon(1e-10));
    CHECK(frechet_distance(sy, sx) == Approx(3.6856594733316017).epsilon(1e-10));
    CHECK(frechet_distance(stats_of(golden_x(0, 40), chunk), stats_of(golden_x(20, 40), chunk)) ==
          Approx(0.025349216954167808).epsilon(1e-9));
  }
  // float32 features are accumulated in double.
  CHECK(frechet_distance(stats_of(x.to(DType::float32), 16), stats_of(y.to(DType::float32), 16)) ==
        Approx(3.6856594733316017).epsilon(1e-6));
}

TEST_CASE("frechet_distance identities: FD(x, x) = 0, a shift adds |d|^2, scaling", "[eval][frechet]") {
  Rng rng(3);
  const Tensor x = randn({300, 16}, rng, DType::float64);
  const FeatureStats sx = stats_of(x, 64);
  CHECK(std::abs(frechet_distance(sx, sx)) < 1e-10);
  // Shift every row by d: the covariance is unchanged, the means move by d.
  Tensor shifted = x.clone();
  double d2 = 0;
  for (std::int64_t j = 0; j < 16; ++j) {
    const double d = 0.1 * static_cast<double>(j) - 0.7;
    d2 += d * d;
    for (std::int64_t i = 0; i < 300; ++i) shifted.data<double>()[i * 16 + j] += d;
  }
  CHECK(frechet_distance(sx, stats_of(shifted, 300)) == Approx(d2).epsilon(1e-9));
  // Scaling by c: covariance c^2 S, FD = (1 - c)^2 (|mu|^2 + tr S).
  const double c = 1.5;
  Tensor scaled = x.clone();
  for (std::int64_t i = 0; i < scaled.numel(); ++i) scaled.data<double>()[i] *= c;
  const double expected = (1 - c) * (1 - c) * (sx.mean().squaredNorm() + sx.covariance().trace());
  CHECK(frechet_distance(sx, stats_of(scaled, 300)) == Approx(expected).epsilon(1e-9));
  // A large common offset (features far from zero) does not hurt the one-pass covariance.
  Tensor offset = x.clone();
  for (std::int64_t i = 0; i < offset.numel(); ++i) offset.data<double>()[i] += 1e6;
  CHECK((stats_of(offset, 50).covariance() - sx.covariance()).cwiseAbs().maxCoeff() < 1e-8);
  // Rank-deficient covariances (fewer samples than dimensions) still give a finite, symmetric distance.
  const FeatureStats few_a = stats_of(x.narrow(0, 0, 5), 5), few_b = stats_of(x.narrow(0, 5, 5), 5);
  CHECK(std::isfinite(frechet_distance(few_a, few_b)));
  CHECK(frechet_distance(few_a, few_b) == Approx(frechet_distance(few_b, few_a)).epsilon(1e-8));
}

TEST_CASE("FeatureStats errors", "[eval][frechet]") {
  FeatureStats s;
  CHECK_THROWS_WITH(s.mean(), Catch::Contains("0 samples, need at least 1"));
  s.add(Tensor::zeros({1, 4}));
  CHECK_THROWS_WITH(s.covariance(), Catch::Contains("1 samples, need at least 2"));
  CHECK_THROWS_WITH(s.add(Tensor::zeros({2, 3})), Catch::Contains("features have 3 dimensions, the statistics 4"));
  CHECK_THROWS_WITH(s.add(Tensor::zeros({4})), Catch::Contains("are not [N, D]"));
  CHECK_THROWS_WITH(s.add(Tensor::full({1, 4}, std::nan(""))), Catch::Contains("non-finite"));
  FeatureStats t;
  t.add(Tensor::zeros({3, 5}));
  s.add(Tensor::ones({2, 4}));
  CHECK_THROWS_AS(frechet_distance(s, t), ShapeError);
}
