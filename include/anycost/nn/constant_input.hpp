// ConstantInput (the constant input "c1" of StyleGAN2, Karras et al. 2020, Fig. 2): the learned 4x4 start of the
// synthesis network, [1, C, 4, 4] ~ N(0, 1), repeated over the batch. A sub-network takes its first k channels (a
// view; expand costs nothing). State name (relative): input.
#pragma once

#include <string>

#include "anycost/autograd/broadcast.hpp"
#include "anycost/nn/module.hpp"
#include "anycost/nn/subnet.hpp"
#include "anycost/ops/view.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace nn {

class ConstantInput {
 public:
  ConstantInput() = default;
  ConstantInput(std::int64_t channels, int size, Init init, DType dtype = DType::float32)
      : input(init.normal({1, channels, size, size}, dtype)) {}

  std::int64_t channels() const { return input.size(1); }

  // [batch, k, size, size], a broadcast view of input[:, :k].
  Var forward(std::int64_t batch, OutChannels out) const {
    ANYCOST_CHECK(batch >= 1, ValueError, "ConstantInput: batch must be >= 1, got ", batch);
    ANYCOST_CHECK(out.value >= 1 && out.value <= channels(), ShapeError, "ConstantInput: ", out.value,
                  " channels requested, the input has ", channels());
    const Var v = out.value == channels() ? input : narrow(input, 1, 0, out.value);
    return expand(v, Shape{batch, out.value, input.size(2), input.size(3)});
  }

  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) {
    fn(join_name(prefix, "input"), input);
  }
  template <class F>
  void visit_state(F&& fn, const std::string& prefix = {}) const {
    fn(join_name(prefix, "input"), input);
  }

  Var input;  // [1, C, size, size]
};

}  // namespace nn
ANYCOST_NAMESPACE_END
