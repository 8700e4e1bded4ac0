// Failing-build test: with the builder form, each tensor given is named by one parameter of the builder, and
// every one must be used: a builder that drops an operand (or takes a different number of them) does not
// compile.
#include "anycost/expr/evaluate.hpp"
#include "anycost/ops/elementwise.hpp"

int main() {
  using namespace anycost;
  const Tensor p = Tensor::ones({3}), g = Tensor::ones({3}), b = Tensor::ones({3});
#if defined(ANYCOST_SHOULD_FAIL)
  expr::evaluate_into(p, [](auto P, auto G, auto) { return P - 0.1 * G; }, p, g, b);  // b is never read
#else
  expr::evaluate_into(p, [](auto P, auto G, auto B) { return P - 0.1 * (G + B); }, p, g, b);
#endif
  return 0;
}
