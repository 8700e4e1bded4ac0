// Failing-build test: tensors bound to handle leaves by position come in an array of exactly one tensor per
// leaf; an array of another size does not compile.
#include <array>

#include "anycost/expr/evaluate.hpp"
#include "anycost/ops/elementwise.hpp"

int main() {
  using namespace anycost;
  const Var a(Tensor::ones({3})), b(Tensor::ones({3}));
  const Tensor out = Tensor::empty({3});
#if defined(ANYCOST_SHOULD_FAIL)
  expr::evaluate_into(out, a + b, std::array<Tensor, 3>{a.data(), b.data(), a.data()});
#else
  expr::evaluate_into(out, a + b, std::array<Tensor, 2>{a.data(), b.data()});
#endif
  return 0;
}
