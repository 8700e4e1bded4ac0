// Classifier: the small CNN whose penultimate activations are the feature space of the evaluation's
// Fréchet distance (eval/frechet.hpp, eval/evaluate.hpp). FID proper uses Inception-v3 pool3 features
// (Heusel et al. 2017; pytorch-fid), whose weights cannot be downloaded here, so a network trained on the
// dataset's own labels (eval/classifier_train.hpp) stands in for it: the scores are comparable between
// configurations and runs that use the same classifier file, not with published FIDs.
//
// Architecture (images [B, 3, R, R] in [-1, 1], R = resolution(), a multiple of 2^depth):
//   convs.i   3x3 convolution, stride 2, padding 1, equalised learning rate (nn/equal_conv2d.hpp), then
//             sqrt(2) * lrelu(. + bias, 0.2)          channels 3 -> c_0 -> c_1 -> ... -> c_{depth-1}
//   features  the mean over the last feature map's positions: [B, c_{depth-1}] (the global average pool)
//   head      a linear layer (nn/equal_linear.hpp) to one logit per label (multi-label, sigmoid)
// The default, channels {32, 64, 128, 256} at R = 64, is 15.0M multiply-adds per image and 256 features.
//
// classifier_input(images, R) brings any generator output to the classifier's input: clamped to [-1, 1] (the
// range real images have) and resized to R x R with bilinear interpolation, align_corners = false (as the
// FID network resizes its input to 299; a 2x bilinear upsample is exact on every second pixel, and lower
// resolutions become smooth, not blocky). Real images of a lower resolution go through the same call, so
// every resolution is compared in one feature space.
//
// Files (safetensors, written atomically): tensors "convs.<i>.weight" [c_i, c_{i-1}, 3, 3], "convs.<i>.bias",
// "head.weight" [labels, c_last], "head.bias"; metadata "format" = "anycost-classifier", "resolution", "labels"
// (a JSON array of the label names, in column order) and whatever the writer adds (the training summary).
// Loading infers the architecture from the shapes and checks everything (models/state_io.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "anycost/io/safetensors.hpp"
#include "anycost/models/state_io.hpp"
#include "anycost/nn/equal_conv2d.hpp"
#include "anycost/nn/equal_linear.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/resize.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace evaluation {

struct ClassifierConfig {
  int resolution = 64;
  std::vector<int> channels = {32, 64, 128, 256};
  std::vector<std::string> labels = {};  // one logit per name

  void validate() const {
    ANYCOST_CHECK(!channels.empty() && channels.size() <= 8, ValueError, "ClassifierConfig: ", channels.size(),
                  " conv layers, expected 1..8");
    for (int c : channels)
      ANYCOST_CHECK(c >= 1 && c <= 4096, ValueError, "ClassifierConfig: a width of ", c, " channels (1..4096)");
    const int step = 1 << channels.size();
    ANYCOST_CHECK(resolution >= step && resolution % step == 0 && resolution <= 1024, ValueError,
                  "ClassifierConfig: resolution ", resolution, " is not a multiple of 2^", channels.size(), " up to 1024");
    ANYCOST_CHECK(!labels.empty(), ValueError, "ClassifierConfig: no labels");
  }
};

class Classifier {
 public:
  Classifier() = default;
  Classifier(ClassifierConfig config, nn::Init init, DType dtype = DType::float32) : config_(std::move(config)) {
    config_.validate();
    std::int64_t in = 3;
    for (int c : config_.channels) {
      convs.emplace_back(in, c, 3, 2, 1, true, init, dtype);
      in = c;
    }
    head = nn::EqualLinear<nn::Activation::linear>(in, static_cast<std::int64_t>(config_.labels.size()), init, 0.0,
                                                   1.0, dtype);
  }

  const ClassifierConfig& config() const { return config_; }
  int resolution() const { return config_.resolution; }
  std::int64_t feature_dim() const { return config_.channels.back(); }
  std::int64_t n_labels() const { return static_cast<std::int64_t>(config_.labels.size()); }
  const std::vector<std::string>& labels() const { return config_.labels; }
  DType dtype() const { return head.weight.dtype(); }

  // images [B, 3, R, R] -> features [B, feature_dim()] (the penultimate activations).
  Var features(const Var& images) const {
    ANYCOST_CHECK(!convs.empty(), ValueError, "Classifier: not initialised");
    ANYCOST_CHECK(images.defined() && images.dim() == 4 && images.size(1) == 3 && images.size(2) == resolution() &&
                      images.size(3) == resolution(),
                  ShapeError, "Classifier: images ", images.defined() ? images.shape() : Shape{}, " are not [B, 3, ",
                  resolution(), ", ", resolution(), "] (classifier_input resizes them)");
    Var h = images;
    for (const nn::EqualConv2d& c : convs)
      h = lrelu(c.forward_unscaled(h) * c.scale() + reshape(c.bias, {1, c.out_channels(), 1, 1}), 0.2) *
          std::sqrt(2.0);
    return mean(h, {2, 3});
  }
  // features [B, F] -> logits [B, n_labels()].
  Var logits(const Var& features) const { return head.forward(features); }
  Var forward(const Var& images) const { return logits(features(images)); }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }

  std::vector<nn::EqualConv2d> convs;
  nn::EqualLinear<nn::Activation::linear> head;

 private:
  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    for (std::size_t i = 0; i < self.convs.size(); ++i)
      self.convs[i].visit_state(fn, nn::join_name(prefix, "convs." + std::to_string(i)));
    self.head.visit_state(fn, nn::join_name(prefix, "head"));
  }

  ClassifierConfig config_;
};

// Generator output or real images [B, 3, H, W] -> the classifier's input [B, 3, R, R]: clamped to [-1, 1],
// bilinear (align_corners = false) to R x R when H x W differs.
inline Var classifier_input(const Var& images, int resolution) {
  ANYCOST_CHECK(images.defined() && images.dim() == 4 && images.size(1) == 3, ShapeError,
                "classifier_input: images ", images.defined() ? images.shape() : Shape{}, " are not [B, 3, H, W]");
  const Var c = clamp(images, -1.0, 1.0);
  return resize_bilinear(c, resolution, resolution, AlignCorners::no);
}

// Writes the classifier (atomically), with `metadata` added to its own.
inline void save_classifier(const std::filesystem::path& path, const Classifier& c,
                            std::map<std::string, std::string> metadata = {}) {
  metadata["format"] = "anycost-classifier";
  metadata["resolution"] = std::to_string(c.resolution());
  metadata["labels"] = nlohmann::json(c.labels()).dump();
  io::save_safetensors(path, models::module_state(c), metadata);
}

// Loads a classifier written by save_classifier onto the CPU (float32).
inline Classifier load_classifier(const std::filesystem::path& path) {
  const io::SafetensorsFile f = io::load_safetensors(path);
  const std::string src = "classifier '" + path.string() + "'";
  const auto meta = [&](const char* key) -> const std::string& {
    const auto it = f.metadata.find(key);
    ANYCOST_CHECK(it != f.metadata.end(), FormatError, src, ": no metadata '", key,
                  "' (not written by anycost train-classifier?)");
    return it->second;
  };
  ANYCOST_CHECK(meta("format") == "anycost-classifier", FormatError, src, ": format '", meta("format"),
                "', expected 'anycost-classifier'");
  ClassifierConfig cfg;
  try {
    cfg.resolution = std::stoi(meta("resolution"));
    const nlohmann::json labels = nlohmann::json::parse(meta("labels"));
    cfg.labels = labels.get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    ::anycost::detail::raise<FormatError>(src, ": bad metadata 'resolution' or 'labels' (", e.what(), ")");
  }
  cfg.channels.clear();
  for (int i = 0;; ++i) {
    const auto it = f.tensors.find("convs." + std::to_string(i) + ".weight");
    if (it == f.tensors.end()) break;
    ANYCOST_CHECK(it->second.dim() == 4 && it->second.size(0) >= 1, FormatError, src, ": 'convs.", i,
                  ".weight' has shape ", it->second.shape(), ", expected [C_out, C_in, 3, 3]");
    cfg.channels.push_back(static_cast<int>(it->second.size(0)));
  }
  try {
    cfg.validate();
  } catch (const ValueError& e) {
    ::anycost::detail::raise<FormatError>(src, ": ", e.what());
  }
  Classifier c(cfg, nn::Init::none());
  models::StateTensors st(f.tensors.begin(), f.tensors.end());
  models::load_module_state(c, st, src, "classifier", [](const std::string&) { return false; });
  return c;
}

}  // namespace evaluation
ANYCOST_NAMESPACE_END
