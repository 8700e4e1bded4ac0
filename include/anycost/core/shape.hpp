// Shape and strides: a fixed-capacity list of extents (rank <= 8), cheap to copy, no heap allocation.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>

#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN

inline constexpr int max_rank = 8;

class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<std::int64_t> v) { assign(v.begin(), v.size()); }
  explicit Dims(std::span<const std::int64_t> v) { assign(v.data(), v.size()); }
  static Dims filled(int rank, std::int64_t value) {
    Dims d;
    d.resize(rank, value);
    return d;
  }

  int size() const { return rank_; }
  bool empty() const { return rank_ == 0; }
  std::int64_t operator[](int i) const { return v_[i]; }
  std::int64_t& operator[](int i) { return v_[i]; }
  const std::int64_t* begin() const { return v_.data(); }
  const std::int64_t* end() const { return v_.data() + rank_; }
  std::int64_t* begin() { return v_.data(); }
  std::int64_t* end() { return v_.data() + rank_; }
  const std::int64_t* data() const { return v_.data(); }
  std::int64_t back() const { return v_[rank_ - 1]; }

  void push_back(std::int64_t x) {
    ANYCOST_CHECK(rank_ < max_rank, ShapeError, "tensor rank exceeds the maximum of ", max_rank);
    v_[rank_++] = x;
  }
  void resize(int r, std::int64_t fill = 0) {
    ANYCOST_CHECK(r >= 0 && r <= max_rank, ShapeError, "tensor rank ", r, " outside [0, ", max_rank, "]");
    for (int i = rank_; i < r; ++i) v_[i] = fill;
    rank_ = r;
  }
  void erase(int i) {
    for (int j = i; j + 1 < rank_; ++j) v_[j] = v_[j + 1];
    --rank_;
  }
  void insert(int i, std::int64_t x) {
    ANYCOST_CHECK(rank_ < max_rank, ShapeError, "tensor rank exceeds the maximum of ", max_rank);
    for (int j = rank_; j > i; --j) v_[j] = v_[j - 1];
    v_[i] = x;
    ++rank_;
  }

  friend bool operator==(const Dims& a, const Dims& b) {
    return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  void assign(const std::int64_t* p, std::size_t n) {
    ANYCOST_CHECK(n <= static_cast<std::size_t>(max_rank), ShapeError, "tensor rank ", n,
                  " exceeds the maximum of ", max_rank);
    std::copy(p, p + n, v_.begin());
    rank_ = static_cast<int>(n);
  }
  std::array<std::int64_t, max_rank> v_{};
  int rank_ = 0;
};

using Shape = Dims;
using Strides = Dims;

inline std::ostream& operator<<(std::ostream& os, const Dims& d) {
  os << '[';
  for (int i = 0; i < d.size(); ++i) os << (i ? ", " : "") << d[i];
  return os << ']';
}

inline std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto x : s) n *= x;
  return n;
}

inline Strides contiguous_strides(const Shape& s) {
  Strides st = Dims::filled(s.size(), 1);
  for (int i = s.size() - 2; i >= 0; --i) st[i] = st[i + 1] * std::max<std::int64_t>(s[i + 1], 1);
  return st;
}

// Normalises a possibly negative dim index against rank; throws naming the op.
inline int normalize_dim(int dim, int rank, const char* op) {
  const int d = dim < 0 ? dim + rank : dim;
  ANYCOST_CHECK(d >= 0 && d < rank, ShapeError, op, ": dim ", dim, " out of range for a rank-", rank, " tensor");
  return d;
}

// NumPy broadcasting of two shapes; throws a ShapeError naming the op when they are incompatible.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int r = std::max(a.size(), b.size());
  Shape out = Dims::filled(r, 1);
  for (int i = 0; i < r; ++i) {
    const int ia = i - (r - a.size()), ib = i - (r - b.size());
    const std::int64_t x = ia >= 0 ? a[ia] : 1, y = ib >= 0 ? b[ib] : 1;
    ANYCOST_CHECK(x == y || x == 1 || y == 1, ShapeError, op, ": shapes ", a, " and ", b,
                  " cannot be broadcast together");
    out[i] = x == 1 ? y : x;
  }
  return out;
}

ANYCOST_NAMESPACE_END
