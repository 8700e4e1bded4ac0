// Element types. float32 is the working type; float64 exists for gradient checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <type_traits>

#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN

enum class DType : std::uint8_t { float32, float64 };

inline constexpr std::size_t dtype_size(DType t) { return t == DType::float32 ? 4 : 8; }

inline constexpr const char* dtype_name(DType t) { return t == DType::float32 ? "float32" : "float64"; }

inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

template <class T>
inline constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "anycost tensors hold float or double");
  return std::is_same_v<T, float> ? DType::float32 : DType::float64;
}

// Calls f(T{}) with T the C++ type of dtype t: the one place that turns a run-time dtype into a type.
template <class F>
decltype(auto) dispatch_dtype(DType t, F&& f) {
  if (t == DType::float32) return f(float{});
  return f(double{});
}

ANYCOST_NAMESPACE_END
