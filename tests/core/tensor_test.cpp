#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>

#include "support/compare.hpp"

using namespace anycost;

namespace {
Tensor iota(const Shape& s, DType dtype = DType::float32) {
  std::vector<double> v(static_cast<std::size_t>(numel(s)));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return Tensor::from_vector(v, s).to(dtype);
}
// Element (i, j, k) of a rank-3 view through its strides (independent of contiguous()).
double at3(const Tensor& t, std::int64_t i, std::int64_t j, std::int64_t k) {
  const float* base = static_cast<const float*>(t.storage()->data());
  return base[t.offset() + i * t.stride(0) + j * t.stride(1) + k * t.stride(2)];
}
}  // namespace

TEST_CASE("views share storage, contiguous copies only when needed", "[tensor]") {
  Tensor t = iota({2, 3, 4});
  Tensor n = t.narrow(2, 1, 2);
  CHECK(n.shape() == Shape{2, 3, 2});
  CHECK(n.storage() == t.storage());
  CHECK(n.offset() == 1);
  CHECK_FALSE(n.is_contiguous());
  CHECK(n.contiguous().to_vector<float>() == std::vector<float>{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22});
  CHECK(n.contiguous().storage() != t.storage());
  CHECK(t.contiguous().storage() == t.storage());  // already contiguous: no copy
  Tensor p = t.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Strides{1, 12, 4});
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) CHECK(at3(p, i, j, k) == j * 12 + k * 4 + i);
  CHECK(p.contiguous().to_vector<float>()[1] == 4.0f);
  CHECK(t.transpose(0, 2).shape() == Shape{4, 3, 2});
  CHECK(t.transpose(-1, 0).strides() == Strides{1, 4, 12});
}

TEST_CASE("empty tensors are contiguous whatever their extents", "[tensor]") {
  // Strides skip zero extents, so a zero in the middle leaves the outer strides non-zero.
  const Tensor e = Tensor::empty({3, 0, 5});
  CHECK(e.numel() == 0);
  CHECK(e.strides() == Strides{5, 5, 1});
  CHECK(e.is_contiguous());
  CHECK(e.contiguous().storage() == e.storage());
  CHECK(Tensor::empty({2, 4, 0}).narrow(1, 1, 2).is_contiguous());
}

TEST_CASE("select, unsqueeze and squeeze are views with the right strides", "[tensor]") {
  Tensor t = iota({2, 3, 4});
  Tensor s = t.select(1, 2);
  CHECK(s.shape() == Shape{2, 4});
  CHECK(s.strides() == Strides{12, 1});
  CHECK(s.to_vector<float>() == std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23});
  CHECK(t.select(-1, 3).to_vector<float>() == std::vector<float>{3, 7, 11, 15, 19, 23});
  Tensor u = t.unsqueeze(1);
  CHECK(u.shape() == Shape{2, 1, 3, 4});
  CHECK(u.is_contiguous());
  CHECK(t.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
  CHECK(t.unsqueeze(3).strides() == Strides{12, 4, 1, 1});
  CHECK(u.squeeze(1).shape() == Shape{2, 3, 4});
  CHECK(u.squeeze(1).storage() == t.storage());
  CHECK_THROWS_WITH(t.squeeze(0), Catch::Contains("squeeze") && Catch::Contains("extent 2"));
  // A view of a view keeps composing offsets.
  Tensor vv = t.narrow(0, 1, 1).narrow(1, 1, 2).select(2, 3);
  CHECK(vv.to_vector<float>() == std::vector<float>{19, 23});
}

TEST_CASE("reshape is a view exactly when the strides allow it", "[tensor]") {
  Tensor t = iota({2, 3, 4});
  SECTION("contiguous tensors reshape freely, with one inferred extent") {
    CHECK(t.reshape({6, -1}).shape() == Shape{6, 4});
    CHECK(t.reshape({-1}).shape() == Shape{24});
    CHECK(t.reshape({4, 3, 2}).storage() == t.storage());
    CHECK(t.flatten().to_vector<float>() == t.to_vector<float>());
  }
  struct Case {
    const char* what;
    Tensor view;
    Shape target;
    bool viewable;
  };
  const Tensor expanded = iota({3, 1}).expand({3, 4});
  const std::vector<Case> cases = {
      {"transposed, split the last dim", t.transpose(0, 1), {3, 2, 2, 2}, true},
      {"transposed, merge swapped dims", t.transpose(0, 1), {6, 4}, false},
      {"transposed, full flatten", t.transpose(0, 1), {24}, false},
      {"narrowed last dim, merge the leading dims", t.narrow(2, 1, 2), {6, 2}, true},
      {"narrowed last dim, flatten", t.narrow(2, 1, 2), {12}, false},
      {"narrowed first dim, flatten", t.narrow(0, 1, 1), {12}, true},
      {"narrowed middle dim, merge the last two", t.narrow(1, 0, 2), {2, 8}, true},
      {"narrowed middle dim, merge the first two", t.narrow(1, 0, 2), {4, 4}, false},
      {"permuted, add unit dims", t.permute({2, 0, 1}), {4, 1, 2, 3, 1}, true},
      {"permuted, merge the untouched pair", t.permute({2, 0, 1}), {4, 6}, true},
      {"broadcast, split the broadcast dim", expanded, {3, 2, 2}, true},
      {"broadcast, flatten", expanded, {12}, false},
      {"select, then a size-1 dim in between", t.select(2, 1).unsqueeze(1), {6}, true},
      {"select of the middle dim, flatten", t.select(1, 1), {8}, false},
      {"select of the leading dim", t.select(0, 1), {12}, true},
  };
  for (const Case& c : cases) {
    INFO(c.what << ": shape " << c.view.shape() << " strides " << c.view.strides() << " -> " << c.target);
    if (c.viewable) {
      Tensor r = c.view.reshape(c.target);
      CHECK(r.storage() == c.view.storage());
      CHECK(r.shape() == c.target);
      // Same elements in the same logical (row-major) order as a copy would have.
      CHECK(r.contiguous().to_vector<float>() == c.view.contiguous().to_vector<float>());
    } else {
      CHECK_THROWS_AS(c.view.reshape(c.target), ShapeError);
      CHECK_THROWS_WITH(c.view.reshape(c.target), Catch::Contains("contiguous()"));
      CHECK(c.view.contiguous().reshape(c.target).shape() == c.target);
    }
  }
  CHECK_THROWS_WITH(t.reshape({5, -1}), Catch::Contains("cannot infer -1"));
  CHECK_THROWS_WITH(t.reshape({-1, -1}), Catch::Contains("more than one -1"));
  CHECK_THROWS_WITH(t.reshape({5, 5}), Catch::Contains("[2, 3, 4]") && Catch::Contains("[5, 5]"));
  CHECK_THROWS_AS(t.reshape({-2, 12}), ShapeError);
}

TEST_CASE("expand gives stride-0 broadcast views", "[tensor]") {
  Tensor col = iota({3, 1});
  Tensor e = col.expand({2, 3, 4});
  CHECK(e.strides() == Strides{0, 1, 0});
  CHECK(e.storage() == col.storage());
  const auto v = e.contiguous().to_vector<float>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) CHECK(v[(i * 3 + j) * 4 + k] == j);
  CHECK(col.expand({3, 1}).strides() == col.strides());
  CHECK(Tensor::scalar(2.5).expand({2, 2}).to_vector<float>() == std::vector<float>(4, 2.5f));
  CHECK_THROWS_WITH(col.expand({3, 2, 4}), Catch::Contains("expand") && Catch::Contains("[3, 1]") &&
                                               Catch::Contains("[3, 2, 4]"));
  CHECK_THROWS_AS(col.expand({4}), ShapeError);
}

TEST_CASE("copy_ converts dtypes and writes through strided views", "[tensor]") {
  SECTION("float64 to float32 rounds, float32 to float64 is exact") {
    Tensor d = Tensor::from_vector<double>({0.1, -1.0 / 3.0, 1e-40, 3.5}, {4});
    Tensor f = Tensor::empty({4}, DType::float32);
    f.copy_(d);
    const auto fv = f.to_vector<float>();
    CHECK(fv[0] == 0.1f);
    CHECK(fv[1] == static_cast<float>(-1.0 / 3.0));
    CHECK(fv[2] == static_cast<float>(1e-40));
    CHECK(fv[3] == 3.5f);
    Tensor back = Tensor::empty({4}, DType::float64);
    back.copy_(f);
    CHECK(back.to_vector<double>()[0] == static_cast<double>(0.1f));
    CHECK(d.to(DType::float32).to_vector<float>() == fv);
    CHECK(d.to(DType::float64).storage() == d.storage());  // same dtype: no copy
  }
  SECTION("into a transposed view and from a broadcast source") {
    Tensor dst = Tensor::zeros({3, 2}, DType::float64);
    dst.transpose(0, 1).copy_(iota({2, 3}, DType::float32));
    CHECK(dst.to_vector<double>() == std::vector<double>{0, 3, 1, 4, 2, 5});
    Tensor row = Tensor::from_vector<float>({7, 8}, {1, 2});
    dst.copy_(row.expand({3, 2}));
    CHECK(dst.to_vector<double>() == std::vector<double>{7, 8, 7, 8, 7, 8});
  }
  SECTION("into a narrow view leaves the rest alone and bumps the version") {
    Tensor base = Tensor::zeros({2, 4});
    const auto v0 = base.version();
    base.narrow(1, 1, 2).copy_(Tensor::ones({2, 2}));
    CHECK(base.to_vector<float>() == std::vector<float>{0, 1, 1, 0, 0, 1, 1, 0});
    CHECK(base.version() > v0);
    const auto v1 = base.version();
    base.narrow(1, 0, 1).zero_();
    CHECK(base.version() > v1);
  }
  Tensor a = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(a.copy_(Tensor::zeros({3, 2})), Catch::Contains("copy_") && Catch::Contains("[3, 2]") &&
                                                        Catch::Contains("[2, 3]"));
}

TEST_CASE("zero_ and clone on strided views", "[tensor]") {
  Tensor t = iota({3, 4});
  t.transpose(0, 1).narrow(0, 1, 2).zero_();  // columns 1 and 2
  CHECK(t.to_vector<float>() == std::vector<float>{0, 0, 0, 3, 4, 0, 0, 7, 8, 0, 0, 11});
  Tensor c = t.clone();
  CHECK(c.storage() != t.storage());
  c.zero_();
  CHECK(t.to_vector<float>()[3] == 3.0f);  // the original is untouched
  Tensor p = t.permute({1, 0}).clone();
  CHECK(p.is_contiguous());
  CHECK(p.to_vector<float>()[1] == 4.0f);
}

TEST_CASE("may_overlap compares storage extents", "[tensor]") {
  Tensor t = iota({4, 6});
  CHECK(t.may_overlap(t));
  CHECK_FALSE(t.narrow(0, 0, 2).may_overlap(t.narrow(0, 2, 2)));
  CHECK(t.narrow(0, 0, 3).may_overlap(t.narrow(0, 2, 2)));
  CHECK(t.narrow(1, 0, 3).may_overlap(t.narrow(1, 3, 3)));  // interleaved rows: conservative
  CHECK(t.transpose(0, 1).may_overlap(t));
  CHECK_FALSE(t.may_overlap(t.clone()));
  CHECK_FALSE(t.may_overlap(Tensor()));
  CHECK_FALSE(t.narrow(0, 0, 0).may_overlap(t));  // empty views touch nothing
  CHECK(t.narrow(0, 1, 1).expand({5, 6}).may_overlap(t.narrow(0, 1, 1)));
}

TEST_CASE("item and to_vector read any view in logical order", "[tensor]") {
  CHECK(Tensor::full({1, 1, 1}, 2.5).item() == 2.5);
  CHECK(Tensor::scalar(-3.0, DType::float64).item() == -3.0);
  CHECK(iota({2, 3}).select(1, 2).narrow(0, 1, 1).item() == 5.0);
  CHECK_THROWS_WITH(Tensor::zeros({2, 1}).item(), Catch::Contains("item") && Catch::Contains("[2, 1]"));
  Tensor t = iota({2, 3}, DType::float64).transpose(0, 1);
  CHECK(t.to_vector<double>() == std::vector<double>{0, 3, 1, 4, 2, 5});
  CHECK(t.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(Tensor::zeros({0, 3}).to_vector<float>().empty());
}

TEST_CASE("factories, metadata and empty tensors", "[tensor]") {
  Tensor f = Tensor::full({2, 2}, 1.25, DType::float64);
  CHECK(f.dtype() == DType::float64);
  CHECK(f.to_vector<double>() == std::vector<double>(4, 1.25));
  CHECK(Tensor::ones({3}).to_vector<float>() == std::vector<float>(3, 1.0f));
  CHECK(Tensor::scalar(1.0).dim() == 0);
  CHECK(Tensor::scalar(1.0).numel() == 1);
  Tensor t = Tensor::empty({2, 3, 4});
  CHECK(t.size(-1) == 4);
  CHECK(t.stride(-3) == 12);
  CHECK_THROWS_WITH(t.size(3), Catch::Contains("Tensor::size") && Catch::Contains("dim 3"));
  CHECK_THROWS_AS(t.stride(-4), ShapeError);
  CHECK_FALSE(Tensor().defined());
  CHECK_THROWS_AS(Tensor().data<float>(), ValueError);
  CHECK_THROWS_WITH(Tensor::empty({2, -1}), Catch::Contains("negative extent"));
  Tensor z = Tensor::zeros({0, 5});
  CHECK(z.numel() == 0);
  CHECK(z.reshape({5, 0}).shape() == Shape{5, 0});
  CHECK(z.contiguous().numel() == 0);
  CHECK(z.clone().shape() == Shape{0, 5});
  // Wrapping foreign storage: offset and strides are taken as given.
  Tensor base = iota({10});
  Tensor w = Tensor::from_storage(base.storage(), 2, {2, 2}, {3, 1}, DType::float32);
  CHECK(w.to_vector<float>() == std::vector<float>{2, 3, 5, 6});
}

TEST_CASE("out-of-range views and bad shapes are clear errors", "[tensor]") {
  Tensor t = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH(t.narrow(1, 2, 2), Catch::Contains("narrow") && Catch::Contains("[2, 4)") &&
                                           Catch::Contains("[2, 3]"));
  CHECK_THROWS_AS(t.narrow(0, -1, 1), ShapeError);
  CHECK_THROWS_AS(t.narrow(0, 0, -1), ShapeError);
  CHECK_THROWS_WITH(t.narrow(2, 0, 1), Catch::Contains("narrow") && Catch::Contains("dim 2"));
  CHECK_THROWS_WITH(t.permute({0, 0}), Catch::Contains("permute") && Catch::Contains("repeated"));
  CHECK_THROWS_WITH(t.permute({0}), Catch::Contains("permute") && Catch::Contains("rank 2"));
  CHECK_THROWS_AS(t.permute({0, 2}), ShapeError);
  CHECK_THROWS_AS(t.reshape({4, 2}), ShapeError);
  CHECK_THROWS_WITH(t.select(0, 2), Catch::Contains("select") && Catch::Contains("index 2"));
  CHECK_THROWS_AS(t.select(0, -1), ShapeError);
  CHECK_THROWS_AS(t.unsqueeze(4), ShapeError);
  CHECK_THROWS_AS(t.transpose(0, 2), ShapeError);
  CHECK_THROWS_WITH(t.data<double>(), Catch::Contains("float32") && Catch::Contains("float64"));
  CHECK_THROWS_AS(Tensor::from_vector<float>({1, 2, 3}, {2, 2}), ShapeError);
}
