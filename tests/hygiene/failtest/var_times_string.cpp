// Failing-build test: operators on Vars accept only anycost operands and arithmetic scalars (the Operand
// concept), so multiplying a Var by a std::string must not compile. Built twice by tests/hygiene: without
// ANYCOST_SHOULD_FAIL it must compile, with it it must not.
#include <string>

#include "anycost/ops/elementwise.hpp"

int main() {
  anycost::Var v(anycost::Tensor::ones({2}));
#if defined(ANYCOST_SHOULD_FAIL)
  std::string s = "2";
  anycost::Var y = v * s;
#else
  anycost::Var y = v * 2.0;
#endif
  return y.numel() == 2 ? 0 : 1;
}
