// Bottleneck: the residual block of ResNet-50/101/152 as torchvision builds it (He et al. 2016, "ResNet v1.5":
// the stride sits on the 3x3 convolution), used by the projection encoder (models/encoder.hpp).
//
//   out = relu( bn3(conv3( relu(bn2(conv2( relu(bn1(conv1(x))) ))) )) + identity )
//   conv1 1x1 in -> planes, conv2 3x3 stride s (padding 1) planes -> planes, conv3 1x1 planes -> 4 planes,
//   identity = x, or downsample(x) = bn(conv 1x1 stride s, in -> 4 planes) when s != 1 or in != 4 planes.
//
// State names are torchvision's: conv1.weight, bn1.*, conv2.weight, bn2.*, conv3.weight, bn3.*,
// downsample.0.weight, downsample.1.* (no conv biases).
//
// Batch normalisation: with `stats` null every BatchNorm2d uses its running statistics (eval mode); otherwise
// each uses the batch's statistics (train mode) and appends them to *stats in the order of for_each_bn, so
// that a trainer can apply them with update_running_stats.
#pragma once

#include <string>
#include <vector>

#include "anycost/nn/batch_norm.hpp"
#include "anycost/nn/conv2d.hpp"
#include "anycost/nn/module.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

// bn(x) with running statistics (stats null) or with the batch's (appended to *stats).
inline Var batch_norm_forward(const BatchNorm2d& bn, const Var& x, std::vector<BatchStats>* stats) {
  if (!stats) return bn.forward(x);
  BatchStats s;
  Var y = bn.forward_batch(x, &s);
  stats->push_back(std::move(s));
  return y;
}

class Bottleneck {
 public:
  static constexpr std::int64_t expansion = 4;

  Bottleneck() = default;
  Bottleneck(std::int64_t in_channels, std::int64_t planes, int stride, Init init, DType dtype = DType::float32) {
    ANYCOST_CHECK(in_channels >= 1 && planes >= 1 && stride >= 1, ValueError, "Bottleneck: bad geometry ", in_channels,
                  " -> ", planes, " planes, stride ", stride);
    conv1 = Conv2d(in_channels, planes, 1, 1, 0, false, init, dtype);
    bn1 = BatchNorm2d(planes, init, dtype);
    conv2 = Conv2d(planes, planes, 3, stride, 1, false, init, dtype);
    bn2 = BatchNorm2d(planes, init, dtype);
    conv3 = Conv2d(planes, planes * expansion, 1, 1, 0, false, init, dtype);
    bn3 = BatchNorm2d(planes * expansion, init, dtype);
    if (stride != 1 || in_channels != planes * expansion) {
      down_conv = Conv2d(in_channels, planes * expansion, 1, stride, 0, false, init, dtype);
      down_bn = BatchNorm2d(planes * expansion, init, dtype);
    }
  }

  bool has_downsample() const { return down_conv.weight.defined(); }
  std::int64_t in_channels() const { return conv1.in_channels(); }
  std::int64_t out_channels() const { return conv3.out_channels(); }

  Var forward(const Var& x, std::vector<BatchStats>* stats = nullptr) const {
    Var h = relu(batch_norm_forward(bn1, conv1.forward(x), stats));
    h = relu(batch_norm_forward(bn2, conv2.forward(h), stats));
    h = batch_norm_forward(bn3, conv3.forward(h), stats);
    const Var identity = has_downsample() ? batch_norm_forward(down_bn, down_conv.forward(x), stats) : x;
    return relu(h + identity);
  }

  // fn(BatchNorm2d&) in the order forward uses them (bn1, bn2, bn3, downsample).
  template <class F>
  void for_each_bn(F&& fn) {
    fn(bn1);
    fn(bn2);
    fn(bn3);
    if (has_downsample()) fn(down_bn);
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    visit_impl(*this, fn, prefix);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    visit_impl(*this, fn, prefix);
  }

  Conv2d conv1, conv2, conv3, down_conv;
  BatchNorm2d bn1, bn2, bn3, down_bn;

 private:
  template <class Self, class F>
  static void visit_impl(Self& self, F& fn, const std::string& prefix) {
    self.conv1.visit_state(fn, join_name(prefix, "conv1"));
    self.bn1.visit_state(fn, join_name(prefix, "bn1"));
    self.conv2.visit_state(fn, join_name(prefix, "conv2"));
    self.bn2.visit_state(fn, join_name(prefix, "bn2"));
    self.conv3.visit_state(fn, join_name(prefix, "conv3"));
    self.bn3.visit_state(fn, join_name(prefix, "bn3"));
    if (self.has_downsample()) {
      self.down_conv.visit_state(fn, join_name(prefix, "downsample.0"));
      self.down_bn.visit_state(fn, join_name(prefix, "downsample.1"));
    }
  }
};

}  // namespace nn
ANYCOST_NAMESPACE_END
