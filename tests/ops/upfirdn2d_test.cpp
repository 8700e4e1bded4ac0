#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;

namespace {
Tensor blur_kernel(double scale) {
  const double a[4] = {1, 3, 3, 1};
  std::vector<double> k;
  for (double i : a)
    for (double j : a) k.push_back(i * j / 64.0 * scale);
  return Tensor::from_vector(k, {4, 4});
}
}  // namespace

TEST_CASE("upfirdn2d: StyleGAN2 configurations, first and second derivatives", "[upfirdn2d]") {
  const Tensor x = rand64({1, 2, 5, 4}, 1);
  const Tensor asym = rand64({3, 2}, 2);
  for (auto [k, p] : {std::pair{blur_kernel(4), UpFirDnParams::make(1, 1, 1, 1)},
                      std::pair{blur_kernel(4), UpFirDnParams::make(2, 1, 2, 1)},
                      std::pair{blur_kernel(1), UpFirDnParams::make(1, 1, 2, 2)},
                      std::pair{blur_kernel(1), UpFirDnParams::make(1, 2, 1, 1)},
                      std::pair{asym, UpFirDnParams{2, 3, 1, 0, -1, 2}}}) {
    Tensor kk = k;
    UpFirDnParams pp = p;
    auto f = [kk, pp](const std::vector<Var>& v) { return upfirdn2d(v[0], kk, pp); };
    CHECK_GRADIENTS(f, x);
  }
}

TEST_CASE("upfirdn2d output sizes follow the reference formula", "[upfirdn2d]") {
  Var x(Tensor::ones({1, 1, 8, 8}));
  CHECK(upfirdn2d(x, blur_kernel(4), UpFirDnParams::make(2, 1, 2, 1)).shape() == Shape{1, 1, 16, 16});
  CHECK(upfirdn2d(x, blur_kernel(1), UpFirDnParams::make(1, 1, 2, 2)).shape() == Shape{1, 1, 9, 9});
  // A constant image stays constant away from the borders (the kernel sums to 1, 4 with up=2 zero-stuffing).
  const Tensor y = upfirdn2d(x, blur_kernel(4), UpFirDnParams::make(2, 1, 2, 1)).data();
  CHECK(y.data<float>()[8 * 16 + 8] == Approx(1.0f));
}
