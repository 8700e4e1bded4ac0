// The adversarial losses against the official utils/losses.py through the official models (fixtures of
// tools/golden/make_discriminator_goldens.py): d_logistic and its D-parameter gradients; g_nonsaturating
// through generator and conditioned discriminator at full and half width, gradients w.r.t. both.
//
// Tolerances (measured with ANYCOST_REPORT_TOLERANCES=1 ./test_losses "[gan]"; per tensor, the largest error
// relative to the tensor's max |value|): float32 d_logistic 6.3e-7, G loss 1.4e-6 (full) / 5.0e-6 (half width)
// over G's and D's parameters; float64 <= 5.6e-8 (the float32 rounding of the stored golden gradients).
// Tolerance 5e-5 for float32, 2e-7 for float64.
#include <anycost/anycost.hpp>

#include "support/discriminator_golden.hpp"

using namespace anycost;
using namespace anycost::models;

namespace {
template <class M>
std::pair<std::vector<std::string>, std::vector<Var>> named(M& m, const std::string& prefix = {}) {
  std::pair<std::vector<std::string>, std::vector<Var>> out;
  nn::visit_parameters(m, [&](const std::string& n, Var& p) {
    out.first.push_back(prefix + n);
    out.second.push_back(p);
  });
  return out;
}
double tol_for(DType dtype) { return dtype == DType::float32 ? 5e-5 : 2e-7; }
}  // namespace

TEST_CASE("d_logistic and g_nonsaturating: values on hand-picked logits", "[gan]") {
  const Var real(Tensor::from_vector(std::vector<double>{2.0, -1.0}, {2, 1}));
  const Var fake(Tensor::from_vector(std::vector<double>{0.5, -3.0}, {2, 1}));
  auto sp = [](double v) { return std::log1p(std::exp(v)); };
  CHECK(losses::d_logistic(real, fake).item() ==
        Approx((sp(-2.0) + sp(1.0)) / 2 + (sp(0.5) + sp(-3.0)) / 2).epsilon(1e-12));
  CHECK(losses::g_nonsaturating(fake).item() == Approx((sp(-0.5) + sp(3.0)) / 2).epsilon(1e-12));
  CHECK_THROWS_WITH(losses::g_nonsaturating(Var()), Catch::Contains("must be non-empty"));
}

TEST_CASE("d_logistic through the conditioned D matches PyTorch, with parameter gradients", "[gan][parity]") {
  const auto& gold = test::discriminator_golden();
  for (DType dtype : {DType::float32, DType::float64}) {
    INFO(dtype);
    Discriminator d = nn::deep_copy(gold.multi);
    nn::to_dtype(d, dtype);
    const Var x = gold.images(32, 8, dtype);
    const Var real = d.forward(Var(x.data().narrow(0, 0, 4).contiguous()), gold.var("code_u1", dtype));
    const Var fake = d.forward(Var(x.data().narrow(0, 4, 4).contiguous()), gold.var("code_u0.5", dtype));
    const Var loss = losses::d_logistic(real, fake);
    CHECK(loss.item() == Approx(gold["dlogistic"].item()).epsilon(dtype == DType::float32 ? 1e-5 : 1e-12));
    auto [names, params] = named(d);
    const auto g = grad({loss}, params, {}, {.allow_unused = true});
    test::check_gradients(gold, "dlogistic", names, g, tol_for(dtype));
  }
}

TEST_CASE("g_nonsaturating through G and the conditioned D at full and half width matches PyTorch",
          "[gan][parity]") {
  const auto& gold = test::discriminator_golden();
  for (DType dtype : {DType::float32, DType::float64}) {
    Generator g = nn::deep_copy(gold.g);
    nn::to_dtype(g, dtype);
    Discriminator d = nn::deep_copy(gold.multi);
    nn::to_dtype(d, dtype);
    for (const char* width : {"full", "half"}) {
      INFO(dtype << " " << width);
      const bool full = std::string(width) == "full";
      const SubnetConfig cfg = full ? g.full_config() : g.channel_table().uniform(0.5);
      const Var img = g.synthesize(g.broadcast_styles(g.map(gold.var("z", dtype))), cfg).image;
      const Var loss = losses::g_nonsaturating(d.forward(img, Var(arch_code(cfg, dtype))));
      CHECK(loss.item() ==
            Approx(gold[std::string("gloss_") + width].item()).epsilon(dtype == DType::float32 ? 1e-5 : 1e-12));
      auto [gn, gp] = named(g, "g.");
      auto [dn, dp] = named(d, "d.");
      gn.insert(gn.end(), dn.begin(), dn.end());
      gp.insert(gp.end(), dp.begin(), dp.end());
      const auto grads = grad({loss}, gp, {}, {.allow_unused = true});
      test::check_gradients(gold, std::string("gloss_") + width, gn, grads, tol_for(dtype));
    }
  }
}
