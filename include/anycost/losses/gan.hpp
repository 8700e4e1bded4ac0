// The adversarial losses of StyleGAN2 / Anycost GAN training (Goodfellow et al. 2014, the non-saturating
// logistic form; the official utils/losses.py d_logistic_loss and g_nonsaturating_loss):
//
//   d_logistic(real, fake)  = mean(softplus(-real)) + mean(softplus(fake))
//   g_nonsaturating(fake)   = mean(softplus(-fake))
//
// Inputs are discriminator logits of any shape (usually [B, 1]); the results are scalars (shape []).
#pragma once

#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/reduce.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace losses {

inline Var d_logistic(const Var& real_logits, const Var& fake_logits) {
  ANYCOST_CHECK(real_logits.defined() && fake_logits.defined() && real_logits.numel() > 0 && fake_logits.numel() > 0,
                ShapeError, "d_logistic: the real and fake logits must be non-empty");
  return mean(softplus(-real_logits)) + mean(softplus(fake_logits));
}

inline Var g_nonsaturating(const Var& fake_logits) {
  ANYCOST_CHECK(fake_logits.defined() && fake_logits.numel() > 0, ShapeError,
                "g_nonsaturating: the fake logits must be non-empty");
  return mean(softplus(-fake_logits));
}

}  // namespace losses
ANYCOST_NAMESPACE_END
