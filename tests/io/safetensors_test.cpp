#include <signal.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "anycost/core/tensor.hpp"
#include "anycost/io/safetensors.hpp"
#include "io/io_test_support.hpp"

using anycost::DType;
using anycost::FormatError;
using anycost::IoError;
using anycost::Shape;
using anycost::Tensor;
using anycost::ValueError;
using anycost::io::load_safetensors;
using anycost::io::save_safetensors;
using anycost_test::io_data;
using anycost_test::message_of;
using anycost_test::read_bytes;
using anycost_test::TempDir;
using anycost_test::write_bytes;
using Catch::Matchers::Contains;

namespace {

Tensor arange(const Shape& shape, DType dtype, double scale = 1.0, double shift = 0.0) {
  Tensor t = Tensor::empty(shape, dtype);
  anycost::dispatch_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    for (std::int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(i * scale + shift);
  });
  return t;
}

// Bytes of a safetensors file: little-endian length, header text, data buffer. `length` overrides the
// stored header length.
std::string st_bytes(const std::string& header, const std::string& buffer = "",
                     std::uint64_t length = std::numeric_limits<std::uint64_t>::max()) {
  if (length == std::numeric_limits<std::uint64_t>::max()) length = header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + header + buffer;
}

// One tensor entry of a header.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

// Writes `bytes` to a file, requires load_safetensors to throw FormatError and returns the message, which
// must name the file.
std::string load_error(const std::string& bytes, anycost::io::SafetensorsLimits limits = {}) {
  TempDir dir;
  const auto p = dir / "bad.safetensors";
  write_bytes(p, bytes);
  const auto msg = message_of<FormatError>([&] { (void)load_safetensors(p, limits); });
  CHECK_THAT(msg, Contains("bad.safetensors"));
  return msg;
}

// True when `address` lies in a memory mapping of `file` (Linux /proc/self/maps).
bool mapped_from(const void* address, const std::filesystem::path& file) {
  std::ifstream maps("/proc/self/maps");
  const auto a = reinterpret_cast<std::uintptr_t>(address);
  for (std::string line; std::getline(maps, line);) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode >> path;
    const auto dash = range.find('-');
    const auto lo = std::stoull(range.substr(0, dash), nullptr, 16), hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (a >= lo && a < hi) return path == file.string();
  }
  return false;
}

void check_equal(const Tensor& got, const Tensor& want) {
  REQUIRE(got.defined());
  CHECK(got.shape() == want.shape());
  REQUIRE(got.dtype() == want.dtype());
  anycost::dispatch_dtype(want.dtype(), [&](auto z) {
    using T = decltype(z);
    CHECK(got.to_vector<T>() == want.to_vector<T>());
  });
}

}  // namespace

TEST_CASE("safetensors round trip: float32/float64, views, empty and 0-d tensors, metadata") {
  TempDir dir;
  const auto p = dir / "model.safetensors";
  const Tensor w = arange(Shape{3, 4}, DType::float32, 0.25, -1.0);
  const Tensor d = arange(Shape{2, 2, 2}, DType::float64, 1.0 / 3.0);
  const Tensor transposed = w.transpose(0, 1);                 // non-contiguous
  const Tensor narrowed = d.narrow(2, 1, 1);                    // non-contiguous, offset
  const Tensor expanded = arange(Shape{1, 3}, DType::float32).expand(Shape{2, 3});  // stride 0
  const Tensor empty = Tensor::empty(Shape{0, 5}, DType::float32);
  const Tensor scalar = Tensor::scalar(-7.5, DType::float64);
  REQUIRE_FALSE(transposed.is_contiguous());
  REQUIRE_FALSE(narrowed.is_contiguous());
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"w", w}, {"d", d}, {"t", transposed}, {"empty", empty}, {"n", narrowed}, {"e", expanded}, {"s", scalar}};
  const std::map<std::string, std::string> meta = {{"format", "anycost"}, {"note", "ünïcödé ✓"}};
  save_safetensors(p, tensors, meta);

  const auto f = load_safetensors(p);
  CHECK(f.names == std::vector<std::string>{"w", "d", "t", "empty", "n", "e", "s"});  // given order
  CHECK(f.metadata == meta);
  for (const auto& [name, t] : tensors) check_equal(f.at(name), t.contiguous());
  CHECK(f.at("s").dim() == 0);
  CHECK(f.at("s").item() == -7.5);
  CHECK(f.at("empty").numel() == 0);
  CHECK(f.contains("w"));
  CHECK_FALSE(f.contains("nope"));
  CHECK(f.path == p);

  // The header is padded to a multiple of 8 bytes with spaces, and its JSON is compact.
  const std::string bytes = read_bytes(p);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  const std::string header = bytes.substr(8, n);
  CHECK(header.find(": ") == std::string::npos);
  CHECK(header.rfind("{\"__metadata__\":", 0) == 0);
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors: at() names the file and the missing key") {
  TempDir dir;
  const auto p = dir / "one.safetensors";
  save_safetensors(p, {{"a", Tensor::zeros(Shape{2})}});
  const auto f = load_safetensors(p);
  CHECK_THAT(message_of<FormatError>([&] { (void)f.at("conv1.weight"); }),
             Contains("one.safetensors") && Contains("conv1.weight"));
}

TEST_CASE("safetensors: loaded tensors alias a private mapping and writing them never touches the file") {
  TempDir dir;
  const auto p = dir / "cow.safetensors";
  save_safetensors(p, {{"a", arange(Shape{1024}, DType::float32)}, {"b", arange(Shape{7}, DType::float64)}});
  const std::string before = read_bytes(p);
  {
    const auto f = load_safetensors(p);
    const Tensor a = f.at("a");
    // Zero-copy: the tensor's data lie inside a mapping of this very file.
    CHECK(mapped_from(a.raw_data(), std::filesystem::canonical(p)));
    a.data<float>()[0] = 1234.0f;  // copy-on-write
    CHECK(a.data<float>()[0] == 1234.0f);
  }
  CHECK(read_bytes(p) == before);
  CHECK(load_safetensors(p).at("a").data<float>()[0] == 0.0f);

  // Tensors outlive the SafetensorsFile they came from (the mapping is kept alive by their storage).
  Tensor kept;
  { kept = load_safetensors(p).at("b"); }
  CHECK(kept.to_vector<double>() == arange(Shape{7}, DType::float64).to_vector<double>());
}

TEST_CASE("safetensors: a file laid out by the reference writer decodes, and our writer reproduces it byte for byte") {
  const auto fixture = io_data("reference_f32_f64.safetensors");
  const auto f = load_safetensors(fixture);
  CHECK(f.names == std::vector<std::string>{"b.weight", "a.bias", "empty", "scalar"});
  CHECK(f.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"step", "1000"}});
  const Tensor b = f.at("b.weight"), a = f.at("a.bias"), e = f.at("empty"), s = f.at("scalar");
  CHECK(b.dtype() == DType::float64);
  CHECK(b.shape() == Shape{2, 3});
  CHECK(b.to_vector<double>() == std::vector<double>{-1.0, -0.5, 0.0, 0.5, 1.0, 1.5});
  CHECK(a.dtype() == DType::float32);
  CHECK(a.to_vector<float>() == std::vector<float>{1.5f, -2.25f, 3.0f});
  CHECK(e.shape() == Shape{0, 4});
  CHECK(s.dim() == 0);
  CHECK(s.item() == 42.0);

  TempDir dir;
  const auto ours = dir / "ours.safetensors";
  save_safetensors(ours, {{"b.weight", b}, {"a.bias", a}, {"empty", e}, {"scalar", s}}, f.metadata);
  CHECK(read_bytes(ours) == read_bytes(fixture));
}

TEST_CASE("safetensors: F16, BF16, integer and BOOL tensors at unaligned offsets decode as float32") {
  const auto f = load_safetensors(io_data("half_and_int.safetensors"));
  const auto expected = nlohmann::json::parse(read_bytes(io_data("half_and_int.expected.json")));
  // File order is the data order, although the header lists the entries in reverse.
  CHECK(f.names == expected["order"].get<std::vector<std::string>>());
  CHECK(f.at("f16").shape() == Shape{2, 5});
  CHECK(f.at("i32").shape() == Shape{3, 1});
  for (const auto& name : f.names) {
    INFO("tensor " << name);
    const Tensor t = f.at(name);
    REQUIRE(t.dtype() == DType::float32);
    const auto got = t.to_vector<float>();
    const auto want = expected[name].get<std::vector<std::string>>();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("element " << i << ": " << want[i]);
      const float w = std::strtof(want[i].c_str(), nullptr);  // hex floats, "inf", "nan"
      if (std::isnan(w))
        CHECK(std::isnan(got[i]));
      else
        CHECK((got[i] == w && std::signbit(got[i]) == std::signbit(w)));
    }
  }
  // Spot checks by hand, independent of the JSON.
  CHECK(f.at("f16").to_vector<float>()[2] == 65504.0f);
  CHECK(f.at("bf16").to_vector<float>()[2] == 3.140625f);
  CHECK(f.at("i64").to_vector<float>() == std::vector<float>{-16777216.0f, 0.0f, 16777216.0f});
}

TEST_CASE("safetensors: malformed, truncated and hostile files are FormatErrors naming the problem") {
  const std::string f32x4 = entry("a", "F32", "[2,2]", "[0,16]");
  const std::string zeros16(16, '\0');

  SECTION("too short") {
    CHECK_THAT(load_error(""), Contains("0 bytes, shorter than the 8-byte header length"));
    CHECK_THAT(load_error("abcde"), Contains("shorter than the 8-byte"));
  }
  SECTION("header length") {
    CHECK_THAT(load_error(st_bytes("{}", "", 1ull << 40)), Contains("exceeds the limit"));
    CHECK_THAT(load_error(st_bytes("{}", "", std::numeric_limits<std::uint64_t>::max() - 1)), Contains("exceeds the limit"));
    CHECK_THAT(load_error(st_bytes("{}", "", 1000)), Contains("header length 1000 runs past the end of the 10-byte file"));
    CHECK_THAT(load_error(st_bytes("", "")), Contains("header is empty"));
    anycost::io::SafetensorsLimits small;
    small.max_header_bytes = 8;
    CHECK_THAT(load_error(st_bytes("{" + f32x4 + "}", zeros16), small), Contains("exceeds the limit of 8"));
  }
  SECTION("file size limit") {
    anycost::io::SafetensorsLimits small;
    small.max_file_bytes = 16;
    CHECK_THAT(load_error(st_bytes("{" + f32x4 + "}", zeros16), small), Contains("more than the limit of 16 bytes"));
  }
  SECTION("JSON syntax, UTF-8, top-level type") {
    CHECK_THAT(load_error(st_bytes("{\"a\": ", zeros16)), Contains("not valid JSON"));
    CHECK_THAT(load_error(st_bytes("{\"\xff\xfe\":{}}")), Contains("not valid JSON") && Contains("UTF-8"));
    CHECK_THAT(load_error(st_bytes("[1,2]")), Contains("header is a JSON array, not an object"));
    CHECK_THAT(load_error(st_bytes("{}   x")), Contains("not valid JSON"));
  }
  SECTION("entries") {
    CHECK_THAT(load_error(st_bytes("{\"a\":5}")), Contains("entry 'a' is a JSON number, not an object"));
    CHECK_THAT(load_error(st_bytes("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd")),
               Contains("tensor 'a' has no \"dtype\""));
    CHECK_THAT(load_error(st_bytes("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", "abcd")),
               Contains("tensor 'a' has no \"shape\""));
    CHECK_THAT(load_error(st_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", "abcd")),
               Contains("tensor 'a' has no \"data_offsets\""));
    CHECK_THAT(load_error(st_bytes("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd")),
               Contains("dtype 4 is not a string"));
  }
  SECTION("dtypes") {
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F33", "[1]", "[0,4]") + "}", "abcd")),
               Contains("unknown dtype 'F33'") && Contains("supported: F32, F64, F16, BF16"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F8_E4M3", "[4]", "[0,4]") + "}", "abcd")),
               Contains("unsupported dtype 'F8_E4M3'"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "f32", "[1]", "[0,4]") + "}", "abcd")),
               Contains("unknown dtype 'f32'"));  // names are case-sensitive
  }
  SECTION("shapes") {
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[-1]", "[0,4]") + "}", "abcd")),
               Contains("shape entry -1 is not a non-negative integer"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[2.5]", "[0,4]") + "}", "abcd")),
               Contains("shape entry 2.5 is not a non-negative integer"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[\"1\"]", "[0,4]") + "}", "abcd")),
               Contains("is not a non-negative integer"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "4", "[0,4]") + "}", "abcd")),
               Contains("shape 4 is not an array"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") + "}", "abcd")),
               Contains("rank 9, above the maximum of 8"));
    // Products that overflow 64 bits, in the element count and in the byte count.
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[4294967296,4294967296,2]", "[0,4]") + "}", "abcd")),
               Contains("more bytes than fit in 64 bits"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F64", "[4611686018427387904]", "[0,4]") + "}", "abcd")),
               Contains("more bytes than fit in 64 bits"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[9223372036854775808]", "[0,4]") + "}", "abcd")),
               Contains("more bytes than fit in 64 bits"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[18446744073709551616]", "[0,4]") + "}", "abcd")),
               Contains("is not a non-negative integer"));  // beyond uint64: parsed as a float
    // A zero extent makes the product zero even with huge other extents; the byte count then decides.
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[0,9223372036854775807]", "[0,4]") + "}", "abcd")),
               Contains("span 4 bytes") && Contains("needs 0"));
  }
  SECTION("byte counts and offsets") {
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[2,2]", "[0,12]") + "}", std::string(12, '\0'))),
               Contains("tensor 'a': data_offsets [0, 12] span 12 bytes, but shape [2,2] of F32 needs 16"));
    CHECK_THAT(load_error(st_bytes("{" + f32x4 + "}", std::string(15, '\0'))),
               Contains("data_offsets [0, 16] run past the end of the 15-byte data buffer"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[1]", "[8,4]") + "}", zeros16)),
               Contains("end before they begin"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[1]", "[0]") + "}", "abcd")),
               Contains("is not an array of two integers"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[1]", "[0,-4]") + "}", "abcd")),
               Contains("data_offsets entry -4 is not a non-negative integer"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[1]", "[0,18446744073709551615]") + "}", "abcd")),
               Contains("run past the end"));
  }
  SECTION("coverage of the buffer: overlaps, gaps, trailing bytes") {
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[4]", "[0,16]") + "," + entry("b", "F32", "[2]", "[8,16]") + "}",
                                   zeros16)),
               Contains("tensor 'b' at data_offsets [8, 16] overlaps tensor 'a' at [0, 16]"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[2]", "[0,8]") + "," + entry("b", "F32", "[1]", "[12,16]") + "}",
                                   zeros16)),
               Contains("bytes [8, 12) of the data buffer belong to no tensor (gap before 'b')"));
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[2]", "[4,12]") + "}", std::string(12, '\0'))),
               Contains("bytes [0, 4) of the data buffer belong to no tensor"));
    CHECK_THAT(load_error(st_bytes("{" + f32x4 + "}", std::string(20, '\0'))),
               Contains("4 trailing bytes that belong to no tensor"));
    CHECK_THAT(load_error(st_bytes("{}", "xyz")), Contains("3 trailing bytes"));
  }
  SECTION("duplicate keys and deep nesting") {
    CHECK_THAT(load_error(st_bytes("{" + entry("a", "F32", "[1]", "[0,4]") + "," + entry("a", "F32", "[1]", "[4,8]") + "}",
                                   std::string(8, '\0'))),
               Contains("duplicate key 'a'"));
    CHECK_THAT(load_error(st_bytes("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd")),
               Contains("duplicate key 'dtype'"));
    CHECK_THAT(load_error(st_bytes("{\"a\":{\"dtype\":\"F32\",\"shape\":[[1]],\"data_offsets\":[0,4]}}", "abcd")),
               Contains("nests deeper"));
    CHECK_THAT(load_error(st_bytes("{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}")),
               Contains("nests deeper"));
  }
  SECTION("__metadata__") {
    CHECK_THAT(load_error(st_bytes("{\"__metadata__\":[1]}")), Contains("__metadata__ is a JSON array, not an object"));
    CHECK_THAT(load_error(st_bytes("{\"__metadata__\":{\"step\":1000}}")),
               Contains("__metadata__ value of 'step' is a JSON number, not a string"));
  }
  SECTION("integer values float32 cannot hold, BOOL bytes other than 0/1") {
    std::string big(8, '\0');
    const std::int64_t v = (std::int64_t{1} << 24) + 1;
    std::memcpy(big.data(), &v, 8);
    CHECK_THAT(load_error(st_bytes("{" + entry("step", "I64", "[]", "[0,8]") + "}", big)),
               Contains("tensor 'step' (I64) holds 16777217, which float32 cannot represent exactly"));
    CHECK_THAT(load_error(st_bytes("{" + entry("mask", "BOOL", "[2]", "[0,2]") + "}", std::string("\x01\x02", 2))),
               Contains("tensor 'mask' (BOOL) holds byte 2"));
  }
  SECTION("a valid file cut short") {
    TempDir dir;
    const auto good = dir / "good.safetensors";
    save_safetensors(good, {{"w", arange(Shape{4, 4}, DType::float32)}});
    const std::string bytes = read_bytes(good);
    CHECK_THAT(load_error(bytes.substr(0, bytes.size() - 1)), Contains("run past the end of the 63-byte data buffer"));
    CHECK_THAT(load_error(bytes.substr(0, 20)), Contains("runs past the end of the 20-byte file"));
    CHECK_THAT(load_error(bytes + "X"), Contains("1 trailing bytes"));
  }
}

TEST_CASE("safetensors: empty header object and null metadata are valid") {
  TempDir dir;
  const auto p = dir / "empty.safetensors";
  write_bytes(p, st_bytes("{\"__metadata__\":null}   "));
  const auto f = load_safetensors(p);
  CHECK(f.names.empty());
  CHECK(f.metadata.empty());
  save_safetensors(p, {});
  CHECK(read_bytes(p) == st_bytes("{}      "));
  CHECK(load_safetensors(p).tensors.empty());
}

TEST_CASE("safetensors: missing files and directories are IoErrors") {
  TempDir dir;
  CHECK_THAT(message_of<IoError>([&] { (void)load_safetensors(dir / "absent.safetensors"); }),
             Contains("absent.safetensors") && Contains("No such file or directory"));
  CHECK_THAT(message_of<IoError>([&] { (void)load_safetensors(dir.path()); }), Contains("is a directory"));
}

TEST_CASE("save_safetensors: bad input and unwritable paths leave an existing file byte-identical") {
  TempDir dir;
  const auto p = dir / "ckpt.safetensors";
  save_safetensors(p, {{"w", arange(Shape{3}, DType::float32)}});
  const std::string before = read_bytes(p);
  const Tensor t = Tensor::ones(Shape{2});

  CHECK_THAT(message_of<ValueError>([&] { save_safetensors(p, {{"a", t}, {"a", t}}); }), Contains("'a' appears twice"));
  CHECK_THAT(message_of<ValueError>([&] { save_safetensors(p, {{"__metadata__", t}}); }), Contains("not a valid tensor name"));
  CHECK_THAT(message_of<ValueError>([&] { save_safetensors(p, {{"", t}}); }), Contains("not a valid tensor name"));
  CHECK_THAT(message_of<ValueError>([&] { save_safetensors(p, {{"u", Tensor()}}); }), Contains("'u' is undefined"));
  CHECK_THAT(message_of<ValueError>([&] { save_safetensors(p, {{std::string("bad\xff"), t}}); }), Contains("UTF-8"));
  CHECK(read_bytes(p) == before);

  // Destination directory missing, destination path a directory.
  CHECK_THAT(message_of<IoError>([&] { save_safetensors(dir / "nodir" / "x.safetensors", {{"a", t}}); }),
             Contains("save_safetensors") && Contains("nodir"));
  std::filesystem::create_directory(dir / "adir");
  CHECK_THROWS_AS(save_safetensors(dir / "adir", {{"a", t}}), IoError);
  CHECK(std::filesystem::is_directory(dir / "adir"));

  // The disk fills up half way through (simulated with a file size limit): the old checkpoint survives.
  struct rlimit old {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limited = old;
  limited.rlim_cur = 1 << 16;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::string msg;
  try {
    msg = message_of<IoError>([&] { save_safetensors(p, {{"big", Tensor::ones(Shape{1 << 18})}}); });
  } catch (...) {
    ::setrlimit(RLIMIT_FSIZE, &old);
    ::signal(SIGXFSZ, old_handler);
    throw;
  }
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, old_handler);
  CHECK_THAT(msg, Contains("ckpt.safetensors") && Contains("File too large"));
  CHECK(read_bytes(p) == before);
  CHECK(dir.entries().size() == 2);  // ckpt.safetensors and adir: no temporary file left
}
