#include <catch2/catch.hpp>

#include <sstream>

#include <anycost/anycost.hpp>

using namespace anycost;

TEST_CASE("Dims is a small fixed-capacity list", "[shape]") {
  Dims d{2, 3, 4};
  CHECK(d.size() == 3);
  CHECK(d.back() == 4);
  d.insert(0, 7);
  CHECK(d == Dims{7, 2, 3, 4});
  d.erase(2);
  CHECK(d == Dims{7, 2, 4});
  d.push_back(1);
  CHECK(d == Dims{7, 2, 4, 1});
  CHECK_FALSE(d == Dims{7, 2, 4});
  CHECK(Dims::filled(3, 5) == Dims{5, 5, 5});
  CHECK(Dims().empty());
  std::ostringstream os;
  os << Dims{1, 2} << Dims{};
  CHECK(os.str() == "[1, 2][]");
  Dims full = Dims::filled(max_rank, 1);
  CHECK_THROWS_WITH(full.push_back(1), Catch::Contains("rank") && Catch::Contains("8"));
  CHECK_THROWS_AS(full.insert(0, 1), ShapeError);
  CHECK_THROWS_AS((Dims{1, 2, 3, 4, 5, 6, 7, 8, 9}), ShapeError);
  CHECK_THROWS_AS(Dims::filled(9, 0), ShapeError);
}

TEST_CASE("numel, contiguous strides and dim normalisation", "[shape]") {
  CHECK(numel(Shape{}) == 1);
  CHECK(numel(Shape{2, 0, 3}) == 0);
  CHECK(numel(Shape{2, 3, 4}) == 24);
  CHECK(contiguous_strides({2, 3, 4}) == Strides{12, 4, 1});
  CHECK(contiguous_strides({2, 0, 4}) == Strides{4, 4, 1});  // zero extents do not zero the strides
  CHECK(contiguous_strides({}) == Strides{});
  CHECK(normalize_dim(-1, 3, "op") == 2);
  CHECK(normalize_dim(0, 3, "op") == 0);
  CHECK_THROWS_WITH(normalize_dim(3, 3, "my_op"), Catch::Contains("my_op") && Catch::Contains("dim 3") &&
                                                      Catch::Contains("rank-3"));
  CHECK_THROWS_AS(normalize_dim(-4, 3, "op"), ShapeError);
}

TEST_CASE("broadcast_shapes follows NumPy rules and names the op on failure", "[shape]") {
  CHECK(broadcast_shapes({2, 3, 4}, {3, 1}, "op") == Shape{2, 3, 4});
  CHECK(broadcast_shapes({1}, {5, 1, 2}, "op") == Shape{5, 1, 2});
  CHECK(broadcast_shapes({}, {2, 2}, "op") == Shape{2, 2});
  CHECK(broadcast_shapes({0, 1}, {1, 3}, "op") == Shape{0, 3});
  CHECK_THROWS_WITH(broadcast_shapes({2, 3}, {4}, "add"), Catch::Contains("add") && Catch::Contains("[2, 3]") &&
                                                             Catch::Contains("[4]"));
  CHECK_THROWS_AS(broadcast_shapes({2, 1, 3}, {2, 2, 2}, "op"), ShapeError);
}
