#include "support/compare.hpp"
#include "support/gradcheck.hpp"

using namespace anycost;
using anycost::test::rand64;

namespace {
// Reference product of [B?, M, K] and [B?, K, N] views (a 2-D side shared across the batch), by loops.
Tensor matmul_reference(const Tensor& a, const Tensor& b) {
  const std::int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const std::int64_t batch = a.dim() == 3 ? a.size(0) : (b.dim() == 3 ? b.size(0) : 1);
  const bool batched = a.dim() == 3 || b.dim() == 3;
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  const auto av = ac.to_vector<double>(), bv = bc.to_vector<double>();
  std::vector<double> out(static_cast<std::size_t>(batch * m * n));
  for (std::int64_t z = 0; z < batch; ++z)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (std::int64_t p = 0; p < k; ++p)
          acc += av[(a.dim() == 3 ? z * m * k : 0) + i * k + p] * bv[(b.dim() == 3 ? z * k * n : 0) + p * n + j];
        out[(z * m + i) * n + j] = acc;
      }
  return Tensor::from_vector(out, batched ? Shape{batch, m, n} : Shape{m, n});
}
}  // namespace

TEST_CASE("matmul: first and second derivatives in every layout", "[linalg]") {
  const Tensor a = rand64({3, 5}, 1), b = rand64({5, 4}, 2), ab = rand64({2, 3, 5}, 3), bb = rand64({2, 5, 4}, 4);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return matmul(v[0], v[1]); }, a, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return matmul(v[0], v[1]); }, ab, bb);  // batched
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return matmul(v[0], v[1]); }, ab, b);   // 2-D right side
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return matmul(v[0], v[1]); }, a, bb);   // 2-D left side
  // Transposed operands, read in place.
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return matmul(transpose(v[0], 0, 1), transpose(v[1], 0, 1)); },
                  rand64({5, 3}, 5), rand64({4, 5}, 6));
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return matmul(v[0], transpose(v[1], 1, 2)); }, ab,
                  rand64({2, 4, 5}, 7));
  // Prefix slices of larger matrices (sub-network weights), and the same operand on both sides.
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return matmul(narrow(v[0], 1, 0, 5), narrow(v[1], 0, 1, 5)); },
                  rand64({3, 7}, 8), rand64({6, 4}, 9));
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return matmul(v[0], transpose(v[0], 0, 1)); }, a);
  // One operand constant.
  const Tensor cb = rand64({5, 4}, 10);
  auto const_right = [cb](const std::vector<Var>& v) { return matmul(v[0], Var(cb)); };
  CHECK_GRADIENTS(const_right, a);
}

TEST_CASE("linear: first and second derivatives, with and without bias", "[linalg]") {
  const Tensor x = rand64({3, 6}, 11), w = rand64({4, 6}, 12), b = rand64({4}, 13), x3 = rand64({2, 3, 6}, 14);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return linear(v[0], v[1], v[2]); }, x, w, b);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return linear(v[0], v[1]); }, x, w);
  CHECK_GRADIENTS([](const std::vector<Var>& v) { return linear(v[0], v[1], v[2]); }, x3, w, b);
  // A prefix slice of the weight along both dims, as a sub-network uses it.
  CHECK_GRADIENTS([](const std::vector<Var>& v) {
    return linear(narrow(v[0], 1, 0, 4), narrow(narrow(v[1], 0, 0, 3), 1, 0, 4), narrow(v[2], 0, 0, 3));
  }, x, w, b);
}

TEST_CASE("matmul and linear compute the right values", "[linalg]") {
  const Tensor a = rand64({3, 5}, 21), b = rand64({5, 4}, 22), ab = rand64({2, 3, 5}, 23), bb = rand64({2, 5, 4}, 24);
  const double tol = 1e-13;
  CHECK_ALLCLOSE(matmul(Var(a), Var(b)).data(), matmul_reference(a, b), tol, tol);
  CHECK_ALLCLOSE(matmul(Var(ab), Var(bb)).data(), matmul_reference(ab, bb), tol, tol);
  CHECK_ALLCLOSE(matmul(Var(ab), Var(b)).data(), matmul_reference(ab, b), tol, tol);
  CHECK_ALLCLOSE(matmul(Var(a), Var(bb)).data(), matmul_reference(a, bb), tol, tol);
  const Tensor at = rand64({5, 3}, 25), bt = rand64({4, 5}, 26);
  CHECK_ALLCLOSE(matmul(Var(at.transpose(0, 1)), Var(bt.transpose(0, 1))).data(),
                 matmul_reference(at.transpose(0, 1), bt.transpose(0, 1)), tol, tol);
  // A permuted 3-D view: column-major matrices with an interleaved batch stride, read in place.
  const Tensor odd = rand64({5, 2, 3}, 27).permute({1, 2, 0});  // [2, 3, 5], strides (3, 1, 6)
  CHECK_ALLCLOSE(matmul(Var(odd), Var(bb)).data(), matmul_reference(odd, bb), tol, tol);
  // A broadcast (stride-0) operand is neither row- nor column-major: copied, not misread.
  const Tensor row = rand64({1, 5}, 28).expand({3, 5});
  CHECK_ALLCLOSE(matmul(Var(row), Var(b)).data(), matmul_reference(row, b), tol, tol);
  // Past a register block and a packed panel of k (384) of the CPU GEMM, both operands transposed.
  const Tensor big_a = rand64({400, 37}, 32).transpose(0, 1), big_b = rand64({70, 400}, 33).transpose(0, 1);
  CHECK_ALLCLOSE(matmul(Var(big_a), Var(big_b)).data(), matmul_reference(big_a, big_b), 1e-12, 1e-12);
  // Empty inner dimension: zeros.
  CHECK(matmul(Var(Tensor::zeros({2, 0})), Var(Tensor::zeros({0, 3}))).data().to_vector<float>() ==
        std::vector<float>(6, 0.0f));
  // linear = x w^T + b.
  const Tensor x = rand64({3, 6}, 29), w = rand64({4, 6}, 30), bias = rand64({4}, 31);
  const Tensor ref = Var(Var(matmul_reference(x, w.transpose(0, 1))) + Var(bias)).data();
  CHECK_ALLCLOSE(linear(Var(x), Var(w), Var(bias)).data(), ref, tol, tol);
  // float32 agrees with float64 to float precision.
  CHECK_ALLCLOSE(matmul(Var(ab.to(DType::float32)), Var(bb.to(DType::float32))).data(), matmul_reference(ab, bb),
                 1e-5, 1e-5);
}

TEST_CASE("matmul and linear errors name the op and the shapes", "[linalg]") {
  Var a(Tensor::zeros({3, 5})), b(Tensor::zeros({4, 2}));
  CHECK_THROWS_WITH(matmul(a, b), Catch::Contains("matmul") && Catch::Contains("[3, 5]") && Catch::Contains("[4, 2]"));
  CHECK_THROWS_WITH(matmul(Var(Tensor::zeros({5})), b), Catch::Contains("matmul") && Catch::Contains("[5]"));
  CHECK_THROWS_AS(matmul(Var(Tensor::zeros({1, 2, 3, 5})), Var(Tensor::zeros({5, 2}))), ShapeError);
  CHECK_THROWS_WITH(matmul(Var(Tensor::zeros({2, 3, 5})), Var(Tensor::zeros({3, 5, 2}))),
                    Catch::Contains("batch") && Catch::Contains("[2, 3, 5]") && Catch::Contains("[3, 5, 2]"));
  CHECK_THROWS_WITH(matmul(a, Var(Tensor::zeros({5, 2}, DType::float64))),
                    Catch::Contains("matmul") && Catch::Contains("float32") && Catch::Contains("float64"));
  CHECK_THROWS_AS(matmul(a, Var(test::fake_cuda({5, 2}))), DeviceError);
  CHECK_THROWS_WITH(linear(a, Var(Tensor::zeros({4, 6}))),
                    Catch::Contains("linear") && Catch::Contains("[3, 5]") && Catch::Contains("[4, 6]"));
  CHECK_THROWS_WITH(linear(a, Var(Tensor::zeros({4, 5})), Var(Tensor::zeros({3}))),
                    Catch::Contains("linear") && Catch::Contains("bias") && Catch::Contains("[3]"));
  CHECK_THROWS_AS(linear(a, Var(Tensor::zeros({5}))), ShapeError);
}
