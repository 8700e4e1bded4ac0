// Training the evaluation classifier (eval/classifier.hpp) on an image folder and its labels
// (eval/labels.hpp): multi-label logistic regression on the CNN's logits.
//
//   loss = mean over images and labels of  softplus(x) - y x      (= BCE(sigmoid(x), y), without overflow:
//                                                                  softplus is written stably, ops/elementwise)
//   Adam (lr 2e-3, betas 0.9 / 0.999), cosine decay of the learning rate to 0 over the run, mini-batches of
//   a fresh permutation each epoch, horizontal flips with p = 1/2 (emoji labels do not depend on the side).
//
// Split: a seeded permutation of the labelled images; its first max(1, round(holdout * N)) images are held
// out (never trained on), the rest train. Every random choice is a function of the seed (Philox), so a run
// is reproducible for a given thread count.
//
// Held-out report, per label: the accuracy of thresholding the logit at 0, the majority baseline (always
// answering the label's more frequent value in the training split), both measured on the held-out images,
// and the balanced accuracy (mean of the true-positive and true-negative rates; 0.5 for any constant answer),
// which rare labels need: on a label 3% of the images carry, the majority baseline alone scores 0.97.
//
// Every image of the folder needs an entry in the labels (FormatError naming the first ones without); the
// folder's first resolution must be the classifier's.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "anycost/autograd/engine.hpp"
#include "anycost/autograd/grad_mode.hpp"
#include "anycost/core/rng.hpp"
#include "anycost/eval/classifier.hpp"
#include "anycost/eval/labels.hpp"
#include "anycost/io/batch_loader.hpp"
#include "anycost/io/image_folder.hpp"
#include "anycost/optim/adam.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace evaluation {

// mean(softplus(logits) - targets * logits): the multi-label binary cross-entropy on logits.
inline Var bce_with_logits(const Var& logits, const Var& targets) {
  ANYCOST_CHECK(logits.defined() && targets.defined() && logits.shape() == targets.shape(), ShapeError,
                "bce_with_logits: logits ", logits.defined() ? logits.shape() : Shape{}, " and targets ",
                targets.defined() ? targets.shape() : Shape{}, " differ");
  return mean(Var(softplus(logits) - targets * logits));
}

// One optimiser step on a batch (images [B, 3, R, R], targets [B, labels] in {0, 1}); returns the loss before
// the step. A non-finite loss throws ValueError before anything is updated.
inline double classifier_step(const Classifier& c, optim::Adam& opt, const Tensor& images, const Tensor& targets) {
  opt.zero_grad();
  const Var loss = bce_with_logits(c.forward(Var(images)), Var(targets));
  const double value = loss.item();
  ANYCOST_CHECK(std::isfinite(value), ValueError, "classifier training: the loss is ", value,
                " (lower the learning rate)");
  backward(loss);
  opt.step();
  return value;
}

struct ClassifierTrainOptions {
  std::vector<int> channels = {32, 64, 128, 256};
  int epochs = 12;
  std::int64_t batch = 32;
  double lr = 2e-3;
  double holdout = 0.1;  // fraction of the labelled images held out, in (0, 0.5]
  std::uint64_t seed = 0;
  bool xflip = true;
  double log_every_seconds = 10.0;
};

// A progress report: during an epoch (every log_every_seconds) and at its end (with the held-out accuracy).
struct ClassifierProgress {
  int epoch = 0, epochs = 0;  // 1-based
  std::int64_t step = 0, steps = 0;  // steps done in the run, and in all
  double loss = 0, accuracy = 0;     // means over the epoch so far (training batches, before each step)
  double images_per_second = 0, eta_seconds = 0;
  bool epoch_end = false;
  double heldout_accuracy = -1;      // epoch ends only: the mean held-out accuracy over the labels
};

struct LabelAccuracy {
  std::string name;
  std::int64_t positives = 0;  // held-out images with the label
  double accuracy = 0, majority = 0;
  // The mean of the true-positive and true-negative rates (0.5 for a constant answer, majority included;
  // NaN when the held-out images have only one value of the label).
  double balanced = 0;
};

struct HeldoutReport {
  std::vector<LabelAccuracy> labels;
  double mean_accuracy = 0, mean_majority = 0;
  double exact_match = 0;  // images whose labels are all right
  double loss = 0;
};

struct ClassifierTrainResult {
  Classifier classifier;
  std::int64_t n_train = 0, n_heldout = 0;
  HeldoutReport heldout;
  double seconds = 0;
};

// The labelled images of `folder`: targets [N, labels] in folder order. FormatError when an image has no label.
inline Tensor folder_targets(const io::ImageFolder& folder, const Labels& labels) {
  const auto n = static_cast<std::int64_t>(folder.size());
  const auto l = static_cast<std::int64_t>(labels.n_labels());
  Tensor y = Tensor::empty({n, l});
  float* p = y.data<float>();
  std::vector<std::string> missing;
  std::int64_t n_missing = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::vector<float>* t = labels.find(folder.files()[static_cast<std::size_t>(i)]);
    if (!t) {
      if (missing.size() < 3) missing.push_back(folder.files()[static_cast<std::size_t>(i)].string());
      ++n_missing;
      continue;
    }
    std::copy(t->begin(), t->end(), p + i * l);
  }
  if (n_missing > 0) {
    std::string list;
    for (std::size_t i = 0; i < missing.size(); ++i) list += (i ? ", " : "") + missing[i];
    ::anycost::detail::raise<FormatError>(n_missing, " of ", n, " images under '", folder.root().string(),
                                          "' have no entry in the labels of '", labels.root().string(), "': ", list,
                                          n_missing > 3 ? ", ..." : "");
  }
  return y;
}

namespace detail {

// Images `idx` of the folder (first resolution) as [B, 3, R, R], mirrored where flip[i].
inline Tensor gather_images(const io::ImageFolder& folder, const std::vector<std::int64_t>& idx,
                            const std::vector<std::uint8_t>& flip) {
  const int r = folder.resolutions().front();
  const auto b = static_cast<std::int64_t>(idx.size());
  Tensor out = Tensor::empty({b, 3, r, r});
  const std::int64_t plane = 3 * std::int64_t{r} * r;
  for (std::int64_t i = 0; i < b; ++i) {
    const Tensor img = folder.images(static_cast<std::size_t>(idx[static_cast<std::size_t>(i)]),
                                     !flip.empty() && flip[static_cast<std::size_t>(i)])[0];
    std::copy(img.data<float>(), img.data<float>() + plane, out.data<float>() + i * plane);
  }
  return out;
}

inline Tensor gather_rows(const Tensor& y, const std::vector<std::int64_t>& idx) {
  const std::int64_t l = y.size(1);
  Tensor out = Tensor::empty({static_cast<std::int64_t>(idx.size()), l});
  for (std::size_t i = 0; i < idx.size(); ++i)
    std::copy(y.data<float>() + idx[i] * l, y.data<float>() + (idx[i] + 1) * l,
              out.data<float>() + static_cast<std::int64_t>(i) * l);
  return out;
}

// Fraction of (image, label) pairs whose logit sign matches the target.
inline double sign_accuracy(const Tensor& logits, const Tensor& targets) {
  const float* x = logits.contiguous().data<float>();
  const float* y = targets.data<float>();
  std::int64_t right = 0;
  for (std::int64_t i = 0; i < logits.numel(); ++i) right += (x[i] > 0) == (y[i] > 0.5f);
  return static_cast<double>(right) / static_cast<double>(std::max<std::int64_t>(1, logits.numel()));
}

}  // namespace detail

// Held-out accuracy of `c` on images `heldout` of the folder, majority baselines from images `train`.
inline HeldoutReport evaluate_classifier(const Classifier& c, const io::ImageFolder& folder, const Tensor& targets,
                                         const std::vector<std::int64_t>& train,
                                         const std::vector<std::int64_t>& heldout, std::int64_t batch = 64) {
  NoGradGuard no_grad;
  const std::int64_t l = targets.size(1);
  const float* y = targets.data<float>();
  std::vector<std::int64_t> train_pos(static_cast<std::size_t>(l), 0), right(static_cast<std::size_t>(l), 0),
      pos(static_cast<std::size_t>(l), 0), major_right(static_cast<std::size_t>(l), 0),
      true_pos(static_cast<std::size_t>(l), 0);
  for (std::int64_t i : train)
    for (std::int64_t j = 0; j < l; ++j) train_pos[static_cast<std::size_t>(j)] += y[i * l + j] > 0.5f;
  HeldoutReport r;
  std::int64_t exact = 0;
  double loss_sum = 0;
  for (std::size_t s = 0; s < heldout.size(); s += static_cast<std::size_t>(batch)) {
    const std::vector<std::int64_t> idx(heldout.begin() + static_cast<std::ptrdiff_t>(s),
                                        heldout.begin() + static_cast<std::ptrdiff_t>(std::min(heldout.size(), s + static_cast<std::size_t>(batch))));
    const Tensor yb = detail::gather_rows(targets, idx);
    const Var logits = c.forward(Var(detail::gather_images(folder, idx, {})));
    loss_sum += bce_with_logits(logits, Var(yb)).item() * static_cast<double>(idx.size());
    const Tensor x = logits.data().contiguous();
    for (std::size_t i = 0; i < idx.size(); ++i) {
      bool all = true;
      for (std::int64_t j = 0; j < l; ++j) {
        const bool t = yb.data<float>()[static_cast<std::int64_t>(i) * l + j] > 0.5f;
        const bool p = x.data<float>()[static_cast<std::int64_t>(i) * l + j] > 0;
        const bool majority = 2 * train_pos[static_cast<std::size_t>(j)] > static_cast<std::int64_t>(train.size());
        right[static_cast<std::size_t>(j)] += p == t;
        true_pos[static_cast<std::size_t>(j)] += p && t;
        pos[static_cast<std::size_t>(j)] += t;
        major_right[static_cast<std::size_t>(j)] += majority == t;
        all = all && p == t;
      }
      exact += all;
    }
  }
  const double n = static_cast<double>(std::max<std::size_t>(1, heldout.size()));
  for (std::int64_t j = 0; j < l; ++j) {
    const auto u = static_cast<std::size_t>(j);
    const auto neg = static_cast<double>(heldout.size()) - static_cast<double>(pos[u]);
    const double true_neg = static_cast<double>(right[u] - true_pos[u]);
    const double balanced = pos[u] > 0 && neg > 0
                                ? 0.5 * (static_cast<double>(true_pos[u]) / static_cast<double>(pos[u]) + true_neg / neg)
                                : std::numeric_limits<double>::quiet_NaN();
    r.labels.push_back({c.labels()[u], pos[u], static_cast<double>(right[u]) / n,
                        static_cast<double>(major_right[u]) / n, balanced});
    r.mean_accuracy += r.labels.back().accuracy / static_cast<double>(l);
    r.mean_majority += r.labels.back().majority / static_cast<double>(l);
  }
  r.exact_match = static_cast<double>(exact) / n;
  r.loss = loss_sum / n;
  return r;
}

// Trains a classifier on every image of `folder` (its first resolution is the classifier's input size).
inline ClassifierTrainResult train_classifier(const io::ImageFolder& folder, const Labels& labels,
                                              const ClassifierTrainOptions& o,
                                              const std::function<void(const ClassifierProgress&)>& progress = {}) {
  ANYCOST_CHECK(o.epochs >= 1 && o.batch >= 1, ValueError, "train_classifier: epochs (", o.epochs, ") and batch (",
                o.batch, ") must be >= 1");
  ANYCOST_CHECK(o.holdout > 0 && o.holdout <= 0.5, ValueError, "train_classifier: holdout ", o.holdout,
                " must be in (0, 0.5]");
  ANYCOST_CHECK(o.lr > 0 && std::isfinite(o.lr), ValueError, "train_classifier: lr ", o.lr, " must be > 0");
  const Tensor targets = folder_targets(folder, labels);
  const auto n = static_cast<std::int64_t>(folder.size());
  ANYCOST_CHECK(n >= 2, ValueError, "train_classifier: ", n, " labelled image, need at least 2");
  const auto n_held = std::clamp<std::int64_t>(std::llround(o.holdout * static_cast<double>(n)), 1, n - 1);
  const std::vector<std::uint32_t> perm = io::epoch_permutation(static_cast<std::size_t>(n), o.seed, 0x5e1ec7ull);
  std::vector<std::int64_t> heldout(perm.begin(), perm.begin() + n_held), train(perm.begin() + n_held, perm.end());
  std::sort(heldout.begin(), heldout.end());
  std::sort(train.begin(), train.end());

  ClassifierTrainResult res;
  res.n_train = static_cast<std::int64_t>(train.size());
  res.n_heldout = n_held;
  ClassifierConfig cfg{folder.resolutions().front(), o.channels, labels.names()};
  Rng init_rng(o.seed);
  res.classifier = Classifier(cfg, nn::Init(init_rng));
  const Classifier& c = res.classifier;
  optim::Adam opt(optim::named_parameters(res.classifier), optim::AdamOptions{o.lr, 0.9, 0.999, 1e-8, 0.0});

  const std::int64_t per_epoch = (res.n_train + o.batch - 1) / o.batch;
  const std::int64_t steps = per_epoch * o.epochs;
  std::int64_t step = 0;
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  double last_log = 0;
  std::int64_t images_done = 0;
  for (int e = 0; e < o.epochs; ++e) {
    const std::vector<std::uint32_t> order =
        io::epoch_permutation(train.size(), o.seed + 1, static_cast<std::uint64_t>(e));
    double loss_sum = 0, acc_sum = 0;
    std::int64_t seen = 0;
    for (std::int64_t b = 0; b < per_epoch; ++b, ++step) {
      std::vector<std::int64_t> idx;
      std::vector<std::uint8_t> flip;
      for (std::int64_t k = b * o.batch; k < std::min(res.n_train, (b + 1) * o.batch); ++k) {
        idx.push_back(train[order[static_cast<std::size_t>(k)]]);
        flip.push_back(o.xflip && io::flip_decision(o.seed + 1, static_cast<std::uint64_t>(e), static_cast<std::uint64_t>(k)));
      }
      opt.set_lr(o.lr * 0.5 * (1 + std::cos(std::numbers::pi * static_cast<double>(step) / static_cast<double>(steps))));
      const Tensor images = detail::gather_images(folder, idx, flip), yb = detail::gather_rows(targets, idx);
      double acc = 0;
      {
        opt.zero_grad();
        const Var logits = c.forward(Var(images));
        const Var loss = bce_with_logits(logits, Var(yb));
        const double value = loss.item();
        ANYCOST_CHECK(std::isfinite(value), ValueError, "train_classifier: the loss is ", value, " at step ", step,
                      " (lower the learning rate)");
        acc = detail::sign_accuracy(logits.data(), yb);
        backward(loss);
        opt.step();
        loss_sum += value * static_cast<double>(idx.size());
      }
      acc_sum += acc * static_cast<double>(idx.size());
      seen += static_cast<std::int64_t>(idx.size());
      images_done += static_cast<std::int64_t>(idx.size());
      const double t = seconds();
      const bool end = b + 1 == per_epoch;
      if (progress && (end || t - last_log >= o.log_every_seconds)) {
        last_log = t;
        ClassifierProgress p;
        p.epoch = e + 1;
        p.epochs = o.epochs;
        p.step = step + 1;
        p.steps = steps;
        p.loss = loss_sum / static_cast<double>(seen);
        p.accuracy = acc_sum / static_cast<double>(seen);
        p.images_per_second = static_cast<double>(images_done) / t;
        p.eta_seconds = t / static_cast<double>(step + 1) * static_cast<double>(steps - step - 1);
        if (end) {
          p.epoch_end = true;
          p.heldout_accuracy = evaluate_classifier(c, folder, targets, train, heldout).mean_accuracy;
        }
        progress(p);
      }
    }
  }
  res.heldout = evaluate_classifier(c, folder, targets, train, heldout);
  res.seconds = seconds();
  return res;
}

}  // namespace evaluation
ANYCOST_NAMESPACE_END
