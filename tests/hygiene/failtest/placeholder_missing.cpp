// Failing-build test: an in-place update written with placeholders binds Arg<I> to the I-th tensor given,
// and the placeholders must be exactly Arg<0> ... Arg<N-1>: leaving out an operand does not compile.
#include "anycost/expr/evaluate.hpp"
#include "anycost/ops/elementwise.hpp"

int main() {
  using namespace anycost;
  const Tensor m = Tensor::ones({3}), g = Tensor::ones({3});
  constexpr expr::Arg<0> M;
  constexpr expr::Arg<1> G;
#if defined(ANYCOST_SHOULD_FAIL)
  expr::evaluate_into(m, 0.9 * M + 0.1 * G, m);  // G has no tensor
#else
  expr::evaluate_into(m, 0.9 * M + 0.1 * G, m, g);
#endif
  return 0;
}
