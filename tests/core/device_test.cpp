#include <sstream>

#include "support/gradcheck.hpp"

using namespace anycost;

TEST_CASE("devices parse, print and compare", "[device]") {
  CHECK(parse_device("cpu") == Device::cpu());
  CHECK(parse_device("cuda") == Device::cuda(0));
  CHECK(parse_device("cuda:1") == Device::cuda(1));
  CHECK_FALSE(Device::cuda(0) == Device::cuda(1));
  CHECK_THROWS_WITH(parse_device("gpu"), Catch::Contains("parse_device") && Catch::Contains("'gpu'"));
  CHECK_THROWS_AS(parse_device("cuda:"), ValueError);
  CHECK_THROWS_AS(parse_device("cuda:x1"), ValueError);
  CHECK_THROWS_AS(parse_device("cuda:-1"), ValueError);
  std::ostringstream os;
  os << Device::cpu() << ' ' << Device::cuda(2);
  CHECK(os.str() == "cpu cuda:2");
}

TEST_CASE("dtypes: sizes, names and the dispatch point", "[dtype]") {
  CHECK(dtype_size(DType::float32) == 4);
  CHECK(dtype_size(DType::float64) == 8);
  CHECK(std::string(dtype_name(DType::float64)) == "float64");
  CHECK(dtype_of<float>() == DType::float32);
  CHECK(dtype_of<double>() == DType::float64);
  CHECK(dispatch_dtype(DType::float32, [](auto z) { return sizeof(z); }) == 4);
  CHECK(dispatch_dtype(DType::float64, [](auto z) { return sizeof(z); }) == 8);
}

TEST_CASE("every error is an anycost::Error and carries its message", "[error]") {
  auto message_of = [](auto thrower) {
    try {
      thrower();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  CHECK(message_of([] { ANYCOST_CHECK(1 + 1 == 3, ShapeError, "op: got ", 2, " and ", Shape{1, 2}); }) ==
        "op: got 2 and [1, 2]");
  CHECK(message_of([] { throw ValueError("v"); }) == "v");
  CHECK(message_of([] { throw IoError("i"); }) == "i");
  CHECK(message_of([] { throw FormatError("f"); }) == "f");
  CHECK(message_of([] { throw DeviceError("d"); }) == "d");
  CHECK(message_of([] { throw NotCompiledError("n"); }) == "n");
  CHECK(message_of([] { throw AutogradError("a"); }) == "a");
  CHECK_NOTHROW([] { ANYCOST_CHECK(true, ValueError, "never"); }());
  CHECK_THROWS_AS([] { ANYCOST_CHECK(false, DeviceError, "x"); }(), std::runtime_error);
}

TEST_CASE("CUDA tensors in a CPU-only build are NotCompiledError, never a crash", "[device]") {
  if (with_cuda) {
    // A CUDA build on a machine without a GPU (or driver): a clear DeviceError, not NotCompiledError.
    if (cuda_hooks::device_count() == 0) {
      CHECK_THROWS_AS(Tensor::zeros({2}, DType::float32, Device::cuda()), DeviceError);
      CHECK_THROWS_WITH(Tensor::empty({2}, DType::float32, Device::cuda()), Catch::Contains("no CUDA device"));
    }
    SUCCEED("this build has the CUDA backend; tests/cuda covers it");
    return;
  }
  CHECK(cuda_hooks::device_count() == 0);
  CHECK_THROWS_AS(Tensor::zeros({2}, DType::float32, Device::cuda()), NotCompiledError);
  CHECK_THROWS_WITH(Tensor::empty({2}, DType::float32, Device::cuda()), Catch::Contains("anycost::cuda"));
  CHECK_THROWS_AS(Tensor::ones({2}, DType::float32, Device::cuda()), NotCompiledError);
  CHECK_THROWS_AS(Tensor::from_vector<float>({1, 2}, {2}, Device::cuda()), NotCompiledError);
  CHECK_THROWS_AS(Tensor::ones({2}).to(Device::cuda()), NotCompiledError);
  Rng rng(1);
  CHECK_THROWS_AS(randn({4}, rng, DType::float32, Device::cuda()), NotCompiledError);
  // A tensor that claims to be on the GPU: host reads are refused, transfers need the backend.
  const Tensor g = test::fake_cuda({2, 2});
  CHECK(g.device() == Device::cuda(0));
  CHECK_THROWS_WITH(g.data<float>(), Catch::Contains("host access") && Catch::Contains("cuda:0"));
  CHECK_THROWS_AS(g.item(), ShapeError);  // four elements: the shape check comes first
  CHECK_THROWS_AS(g.narrow(0, 0, 1).narrow(1, 0, 1).item(), NotCompiledError);
  CHECK_THROWS_AS(g.to_vector<float>(), NotCompiledError);
  CHECK_THROWS_AS(g.clone(), NotCompiledError);
  CHECK_THROWS_AS(g.zero_(), NotCompiledError);
  CHECK_THROWS_WITH(Tensor::zeros({2, 2}).copy_(g), Catch::Contains("copy_") && Catch::Contains("cuda:0") &&
                                                        Catch::Contains("to()"));
  // Ops on GPU-resident inputs reach the CUDA entry points, which are stubs here.
  CHECK_THROWS_AS(Var(Var(g) * 2.0), NotCompiledError);
  CHECK_THROWS_AS(matmul(Var(g), Var(g)), NotCompiledError);
  CHECK_THROWS_AS(sum(Var(g)), NotCompiledError);
  CHECK_THROWS_AS(conv2d(Var(g.reshape({1, 1, 2, 2})), Var(test::fake_cuda({1, 1, 1, 1}))), NotCompiledError);
}
