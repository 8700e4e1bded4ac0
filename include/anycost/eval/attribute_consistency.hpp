// Attribute consistency of a sub-generator with the full generator (the official
// metrics/attribute_consistency.py): an attribute predictor scores the sub-network's image and the full
// generator's image of the same latent and noise, and per attribute the score is the fraction of images on
// which the two predictions (present: logit > 0; absent otherwise) agree. 1 means the cheap preview never
// changes what the predictor sees. The official metric uses a 40-attribute CelebA ResNet; here any predictor
// with one logit per attribute, e.g. the evaluation classifier (eval/classifier.hpp), whose labels are the
// dataset's categories.
#pragma once

#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace evaluation {

class AttributeAgreement {
 public:
  // Logits [B, A] of the sub-network's images and of the full generator's images of the same latents.
  void add(const Tensor& sub, const Tensor& full) {
    ANYCOST_CHECK(sub.dim() == 2 && sub.shape() == full.shape(), ShapeError, "AttributeAgreement: logits ",
                  sub.shape(), " and ", full.shape(), " must both be [batch, attributes]");
    const std::int64_t b = sub.size(0), a = sub.size(1);
    ANYCOST_CHECK(agree_.empty() || static_cast<std::int64_t>(agree_.size()) == a, ShapeError,
                  "AttributeAgreement: ", a, " attributes, earlier batches had ", agree_.size());
    agree_.resize(static_cast<std::size_t>(a), 0);
    const std::vector<double> s = sub.to(Device::cpu()).to(DType::float64).to_vector<double>();
    const std::vector<double> f = full.to(Device::cpu()).to(DType::float64).to_vector<double>();
    for (std::int64_t i = 0; i < b; ++i)
      for (std::int64_t k = 0; k < a; ++k) {
        const auto at = static_cast<std::size_t>(i * a + k);
        if ((s[at] > 0) == (f[at] > 0)) ++agree_[static_cast<std::size_t>(k)];
      }
    n_ += b;
  }

  std::int64_t count() const { return n_; }
  // Fraction of agreeing images, per attribute (empty before the first batch).
  std::vector<double> per_attribute() const {
    std::vector<double> out;
    for (std::int64_t a : agree_) out.push_back(static_cast<double>(a) / static_cast<double>(n_));
    return out;
  }
  // The mean over attributes; NaN before the first batch.
  double mean() const {
    const std::vector<double> p = per_attribute();
    if (p.empty()) return std::numeric_limits<double>::quiet_NaN();
    return std::accumulate(p.begin(), p.end(), 0.0) / static_cast<double>(p.size());
  }

 private:
  std::vector<std::int64_t> agree_;
  std::int64_t n_ = 0;
};

}  // namespace evaluation
ANYCOST_NAMESPACE_END
