// Encoder: the image -> W+ network of Anycost GAN's projection (Lin et al. 2021, Sec. 3.3; the official
// models/encoder.py): a torchvision ResNet trunk, a global average pool and a linear layer whose output,
// reshaped to [N, n_style, style_dim], is added to the stored mean latent, so that an encoder predicts offsets
// from the mean w.
//
//   conv1 7x7/2 (pad 3) -> bn1 -> relu -> max-pool 3x3/2 (pad 1)
//   layer1..layerS: blocks[i] Bottlenecks of planes = base_width * 2^i (nn/bottleneck.hpp), stride 1 for
//                   layer1, 2 after
//   mean over H, W -> fc (linear, 4 planes_last -> n_style * style_dim) -> [N, n_style, style_dim] + mean_latent
//
// The official encoder is ResNet-50 (blocks 3,4,6,3, base width 64) on 256x256 images in [-1, 1] (no ImageNet
// normalisation) with n_style 18, style_dim 512. Depth, width and resolution are run-time values so that a small
// encoder (say blocks 1,1,1,1, base width 16, 64x64) trains on a CPU for a small generator. Images go through
// encoder_input first (clamp to [-1, 1], bilinear align-corners resize to the encoder's resolution, as the
// official metrics/eval_encoder.py and tools/project.py prepare them).
//
// State names are the official state_dict's (torchvision's ResNet plus fc and mean_latent):
// conv1.weight, bn1.*, layer<i>.<j>.{conv1,bn1,conv2,bn2,conv3,bn3,downsample.0,downsample.1}.*, fc.weight,
// fc.bias, mean_latent. models/encoder_checkpoint.hpp reads and writes them.
//
// Batch normalisation: forward(x) uses the running statistics (PyTorch's eval mode, what inference and the
// official evaluation use); forward(x, &stats) uses each batch's statistics (train mode) and returns them for
// update_running_stats.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "anycost/nn/bottleneck.hpp"
#include "anycost/ops/linalg.hpp"
#include "anycost/ops/pool.hpp"
#include "anycost/ops/resize.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

struct EncoderConfig {
  std::vector<int> blocks = {3, 4, 6, 3};  // bottlenecks per stage (ResNet-50)
  int base_width = 64;                     // planes of layer1; layer i has base_width * 2^(i-1)
  int resolution = 256;                    // input images are resolution x resolution
  int n_style = 18;                        // W+ rows
  int style_dim = 512;

  // The trunk's output width: 4 planes of the last stage.
  std::int64_t feature_dim() const {
    return nn::Bottleneck::expansion * (static_cast<std::int64_t>(base_width) << (blocks.size() - 1));
  }
  void validate() const {
    ANYCOST_CHECK(!blocks.empty() && blocks.size() <= 6, ValueError, "EncoderConfig: ", blocks.size(),
                  " stages, expected 1..6");
    for (int b : blocks)
      ANYCOST_CHECK(b >= 1 && b <= 64, ValueError, "EncoderConfig: ", b, " blocks in a stage, expected 1..64");
    ANYCOST_CHECK(base_width >= 1 && base_width <= 1024, ValueError, "EncoderConfig: base width ", base_width,
                  ", expected 1..1024");
    // conv1 and the max-pool halve twice, every stage after the first halves once: at least one pixel must remain.
    const int min_res = 4 << (blocks.size() - 1);
    ANYCOST_CHECK(resolution >= min_res && resolution <= 4096, ValueError, "EncoderConfig: resolution ", resolution,
                  " is outside ", min_res, "..4096 for ", blocks.size(), " stages");
    ANYCOST_CHECK(n_style >= 1 && n_style <= 64 && style_dim >= 1 && style_dim <= 4096, ValueError,
                  "EncoderConfig: n_style ", n_style, " (1..64) or style_dim ", style_dim, " (1..4096) out of range");
  }
};

// Images [N, 3, H, W] (real images or generator outputs) -> the encoder's input [N, 3, R, R]: clamped to
// [-1, 1], bilinear align-corners resize when H x W differs from R x R.
inline Var encoder_input(const Var& images, int resolution) {
  ANYCOST_CHECK(images.defined() && images.dim() == 4 && images.size(1) == 3, ShapeError, "encoder_input: images ",
                images.defined() ? images.shape() : Shape{}, " are not [N, 3, H, W]");
  const Var c = clamp(images, -1.0, 1.0);
  if (images.size(2) == resolution && images.size(3) == resolution) return c;
  return resize_bilinear(c, resolution, resolution, AlignCorners::yes);
}

class Encoder {
 public:
  Encoder() = default;
  // Trunk: torchvision's initialisation (nn/conv2d.hpp, BN weight 1 and bias 0). fc starts at zero and
  // mean_latent at zero: a fresh encoder predicts mean_latent for every image (set it to the generator's mean
  // w before training, projection/encoder_train.hpp), the usual starting point of a projection.
  Encoder(EncoderConfig config, nn::Init init, DType dtype = DType::float32) : config_(std::move(config)) {
    config_.validate();
    conv1 = nn::Conv2d(3, config_.base_width, 7, 2, 3, false, init, dtype);
    bn1 = nn::BatchNorm2d(config_.base_width, init, dtype);
    std::int64_t in = config_.base_width;
    for (std::size_t s = 0; s < config_.blocks.size(); ++s) {
      const std::int64_t planes = static_cast<std::int64_t>(config_.base_width) << s;
      std::vector<nn::Bottleneck> stage;
      for (int b = 0; b < config_.blocks[s]; ++b) {
        stage.emplace_back(in, planes, b == 0 && s > 0 ? 2 : 1, init, dtype);
        in = planes * nn::Bottleneck::expansion;
      }
      layers.push_back(std::move(stage));
    }
    const std::int64_t out = static_cast<std::int64_t>(config_.n_style) * config_.style_dim;
    fc_weight = init.constant({out, in}, 0.0, dtype);
    fc_bias = init.constant({out}, 0.0, dtype);
    mean_latent = Tensor::zeros({config_.style_dim}, dtype);
  }

  const EncoderConfig& config() const { return config_; }
  int resolution() const { return config_.resolution; }
  int n_style() const { return config_.n_style; }
  std::int64_t style_dim() const { return config_.style_dim; }
  DType dtype() const { return fc_weight.dtype(); }
  Device device() const { return fc_weight.device(); }

  // x [N, 3, R, R] in [-1, 1] -> W+ [N, n_style, style_dim]. With `stats` given, batch statistics (train
  // mode), appended in for_each_bn order; otherwise the running statistics.
  Var forward(const Var& x, std::vector<nn::BatchStats>* stats = nullptr) const {
    ANYCOST_CHECK(fc_weight.defined(), ValueError, "Encoder: not initialised");
    ANYCOST_CHECK(x.defined() && x.dim() == 4 && x.size(0) >= 1 && x.size(1) == 3 && x.size(2) == resolution() &&
                      x.size(3) == resolution(),
                  ShapeError, "Encoder: images ", x.defined() ? x.shape() : Shape{}, " are not [N, 3, ", resolution(),
                  ", ", resolution(), "] (encoder_input resizes them)");
    Var h = relu(nn::batch_norm_forward(bn1, conv1.forward(x), stats));
    h = max_pool2d(h, 3, 2, 1);
    for (const auto& stage : layers)
      for (const nn::Bottleneck& b : stage) h = b.forward(h, stats);
    const Var features = mean(h, {2, 3});
    const Var w = reshape(linear(features, fc_weight, fc_bias), {x.size(0), n_style(), style_dim()});
    return w + Var(mean_latent);
  }

  // fn(BatchNorm2d&) in the order forward uses them.
  template <class F>
  void for_each_bn(F&& fn) {
    fn(bn1);
    for (auto& stage : layers)
      for (nn::Bottleneck& b : stage) b.for_each_bn(fn);
  }
  // Applies the statistics of one train-mode forward to the running statistics.
  void update_running_stats(const std::vector<nn::BatchStats>& stats) {
    std::size_t i = 0;
    std::size_t n = 0;
    for_each_bn([&](nn::BatchNorm2d&) { ++n; });
    ANYCOST_CHECK(stats.size() == n, ValueError, "Encoder::update_running_stats: ", stats.size(),
                  " statistics for ", n, " batch-norm layers (pass those of one forward)");
    for_each_bn([&](nn::BatchNorm2d& bn) { bn.update_running_stats(stats[i++]); });
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }

  nn::Conv2d conv1;
  nn::BatchNorm2d bn1;
  std::vector<std::vector<nn::Bottleneck>> layers;  // layer1..layerS
  Var fc_weight;       // [n_style * style_dim, feature_dim]
  Var fc_bias;         // [n_style * style_dim]
  Tensor mean_latent;  // [style_dim], a buffer

 private:
  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    self.conv1.visit_state(fn, nn::join_name(prefix, "conv1"));
    self.bn1.visit_state(fn, nn::join_name(prefix, "bn1"));
    for (std::size_t s = 0; s < self.layers.size(); ++s)
      for (std::size_t b = 0; b < self.layers[s].size(); ++b)
        self.layers[s][b].visit_state(
            fn, nn::join_name(prefix, "layer" + std::to_string(s + 1) + "." + std::to_string(b)));
    fn(nn::join_name(prefix, "fc.weight"), self.fc_weight);
    fn(nn::join_name(prefix, "fc.bias"), self.fc_bias);
    fn(nn::join_name(prefix, "mean_latent"), self.mean_latent);
  }

  EncoderConfig config_;
};

}  // namespace models
ANYCOST_NAMESPACE_END
