// The R1 penalty against the official utils/losses.py d_r1_loss through the official conditioned
// DiscriminatorMultiRes (fixtures of tools/golden/make_discriminator_goldens.py): the value and its parameter
// gradients (a double backward through D) at input resolutions 32 and 16.
//
// Tolerances (measured with ANYCOST_REPORT_TOLERANCES=1 ./test_losses "[r1]"; per tensor, the largest error
// relative to the tensor's max |value|): float32 6.5e-6 (r 32) / 2.1e-6 (r 16), float64 <= 5.7e-8 (golden
// gradients stored as float32). Tolerance 5e-5 for float32, 2e-7 for float64; the value to 1e-5 / 1e-12
// relative. Reference gradients that are zero up to roundoff are checked absolutely (support header).
#include <anycost/anycost.hpp>

#include "support/discriminator_golden.hpp"

using namespace anycost;
using namespace anycost::models;

TEST_CASE("R1 through the conditioned D matches PyTorch, value and double-backward gradients", "[r1][parity]") {
  const auto& gold = test::discriminator_golden();
  for (DType dtype : {DType::float32, DType::float64}) {
    Discriminator d = nn::deep_copy(gold.multi);
    nn::to_dtype(d, dtype);
    for (int r : {32, 16}) {
      INFO(dtype << " r " << r);
      const Var code = gold.var("code_u0.5", dtype);
      const Var x = gold.images(r, 4, dtype);
      const Var pen = losses::r1(x, [&](const Var& im) { return d.forward(im, code); });
      CHECK_FALSE(x.requires_grad());  // the caller's images are left alone
      CHECK(pen.item() ==
            Approx(gold["r1_" + std::to_string(r)].item()).epsilon(dtype == DType::float32 ? 1e-5 : 1e-12));
      std::vector<std::string> names;
      std::vector<Var> params;
      nn::visit_parameters(d, [&](const std::string& n, Var& p) {
        names.push_back(n);
        params.push_back(p);
      });
      const auto g = grad({pen}, params, {}, {.allow_unused = true});
      test::check_gradients(gold, "r1_" + std::to_string(r), names, g, dtype == DType::float32 ? 5e-5 : 2e-7);
    }
  }
}

TEST_CASE("R1 of a linear critic is the squared weight norm", "[r1]") {
  // D(x) = sum(w * x) per sample: dD/dx = w for every sample, so R1 = sum(w^2).
  Rng rng(3);
  const Var w(randn({1, 2, 3, 3}, rng, DType::float64), true);
  const Var x(randn({4, 2, 3, 3}, rng, DType::float64));
  const Var pen = losses::r1(x, [&](const Var& im) { return sum(Var(im * w), {1, 2, 3}); });
  CHECK(pen.item() == Approx(sum(Var(square(w))).item()).epsilon(1e-12));
  // d R1 / d w = 2 w.
  const auto g = grad({pen}, {w});
  CHECK(test::max_abs_diff(g[0].data(), Var(w * 2.0).data()) < 1e-12);
  CHECK_THROWS_WITH(losses::r1(Var(), [&](const Var& im) { return im; }), Catch::Contains("real images"));
}
