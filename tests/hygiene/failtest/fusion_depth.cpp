// Failing-build test: fusing is capped at expr::max_fusion_depth, so a runaway expression is a compile error
// ("fused expression too deep"), not a compile hang. A realistic depth compiles.
#include "anycost/ops/elementwise.hpp"

template <int N, class E>
auto nest(const E& e) {
  if constexpr (N == 0)
    return e;
  else
    return nest<N - 1>(anycost::tanh(e) * 0.5);
}

int main() {
  anycost::Var v(anycost::Tensor::ones({2}), true);
#if defined(ANYCOST_SHOULD_FAIL)
  anycost::Var y = nest<20>(v);  // depth 41
#else
  anycost::Var y = nest<4>(v);  // depth 9: tanh(x) * 0.5 four times
#endif
  return y.numel() == 2 ? 0 : 1;
}
