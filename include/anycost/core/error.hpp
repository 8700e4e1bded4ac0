// The library's exception hierarchy and the always-on argument check.
//
// Every error that leaves the API is an anycost::Error; the subclass says what kind of problem it is, the
// message names the operation, the argument and the expected and actual values. Nothing aborts.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Shapes, ranks, dims or dtypes of arguments do not fit the operation.
class ShapeError : public Error {
 public:
  using Error::Error;
};
// A value is out of its allowed range (a negative stride, NaN where a number is needed, a bad flag).
class ValueError : public Error {
 public:
  using Error::Error;
};
// Reading or writing a file failed.
class IoError : public Error {
 public:
  using Error::Error;
};
// A file was read but its content is malformed (checkpoint headers, JSON, images).
class FormatError : public Error {
 public:
  using Error::Error;
};
// Device mismatch, CUDA runtime failure, host access to device memory.
class DeviceError : public Error {
 public:
  using Error::Error;
};
// The feature exists but this build does not include it (for example CUDA in a CPU-only build).
class NotCompiledError : public Error {
 public:
  using Error::Error;
};
// Misuse of the autograd graph: backward through a freed graph, a tensor modified after it was saved.
class AutogradError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

template <class Kind, class... Parts>
[[noreturn]] void raise(const Parts&... parts) {
  throw Kind(concat(parts...));
}
}  // namespace detail

ANYCOST_NAMESPACE_END

// ANYCOST_CHECK(cond, Kind, parts...): throws anycost::Kind with the streamed parts when cond is false.
// Always on: it guards O(1) argument checks at API boundaries, never inner loops.
#define ANYCOST_CHECK(cond, Kind, ...)                       \
  do {                                                       \
    if (!(cond)) [[unlikely]] {                              \
      ::anycost::detail::raise<::anycost::Kind>(__VA_ARGS__); \
    }                                                        \
  } while (false)

#if defined(NDEBUG)
#define ANYCOST_DEBUG_ASSERT(cond) ((void)0)
#else
#include <cassert>
#define ANYCOST_DEBUG_ASSERT(cond) assert(cond)
#endif
