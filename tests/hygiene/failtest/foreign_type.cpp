// Failing-build test: a user's own type never becomes an anycost operand, and anycost's operators do not
// hijack the user's operators through argument-dependent lookup (see the header of ops/elementwise.hpp).
#include <type_traits>

#include "anycost/ops/elementwise.hpp"

namespace user {
struct Meters {
  double v;
};
inline Meters operator+(Meters a, Meters b) { return {a.v + b.v}; }

// A generic user template whose argument type drags namespace anycost into ADL.
template <class T>
struct Box {
  T value;
};
template <class A, class B>
Box<A> operator*(const Box<A>& a, const Box<B>&) {
  return a;
}
// Scaling by a double: with an int argument this needs a conversion, so an unconstrained
// template <class A, class B> operator*(const A&, const B&) found by ADL in anycost would be the better match
// and silently win.
template <class T>
Box<T> operator*(const Box<T>& a, double) {
  return a;
}
}  // namespace user

int main() {
  anycost::Var v(anycost::Tensor::ones({2}));
  user::Meters m{1.0};
  // The user's operators still work and are the ones chosen, even with anycost types inside.
  const user::Meters two = m + m;
  user::Box<anycost::Var> a{v}, b{v};
  auto boxed = a * b;
  static_assert(std::is_same_v<decltype(boxed), user::Box<anycost::Var>>);
  auto scaled = a * 2;
  static_assert(std::is_same_v<decltype(scaled), user::Box<anycost::Var>>);
#if defined(ANYCOST_SHOULD_FAIL)
  anycost::Var y = v + m;  // a foreign type is not an Operand: no operator+ applies
#else
  anycost::Var y = v + two.v;
#endif
  return y.numel() == 2 ? 0 : 1;
}
