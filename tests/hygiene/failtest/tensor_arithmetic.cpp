// Failing-build test: Tensor is plain storage, not an anycost expression. Tensor + Tensor must not compile
// (even though a Tensor converts to a Var): arithmetic is spelled on Vars.
#include "anycost/ops/elementwise.hpp"

int main() {
  anycost::Tensor a = anycost::Tensor::ones({2}), b = anycost::Tensor::ones({2});
#if defined(ANYCOST_SHOULD_FAIL)
  anycost::Var y = a + b;
#else
  anycost::Var y = anycost::Var(a) + anycost::Var(b);
#endif
  return y.numel() == 2 ? 0 : 1;
}
