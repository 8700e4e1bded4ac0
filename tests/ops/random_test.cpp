#include "support/gradcheck.hpp"

using namespace anycost;

TEST_CASE("randn and rand: shapes, dtypes and the Rng offset", "[random]") {
  Rng rng(3);
  const Tensor a = randn({2, 3, 5}, rng);
  CHECK(a.shape() == Shape{2, 3, 5});
  CHECK(a.dtype() == DType::float32);
  CHECK(a.is_contiguous());
  CHECK(rng.offset() == 8);  // 30 values: 8 blocks of 4
  const Tensor b = rand({7}, rng, DType::float64);
  CHECK(b.dtype() == DType::float64);
  CHECK(rng.offset() == 10);
  const Tensor e = randn({0, 4}, rng);
  CHECK(e.numel() == 0);
  CHECK(rng.offset() == 10);  // nothing drawn
  // Element i of a draw depends on (seed, first block, i) only: the value at flat index 29 of `a` is lane 1
  // of block 7.
  float n[4];
  philox::normals(philox::generate(3, 7), n);
  CHECK(a.to_vector<float>()[29] == n[1]);
  CHECK(b.to_vector<double>()[6] == static_cast<double>(philox::to_uniform(philox::generate(3, 9).x[2])));
}
