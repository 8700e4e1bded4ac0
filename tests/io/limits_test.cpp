// Parser resource limits (io/bounded_json.hpp and the limits of the safetensors, image, evolve-config and
// training-config readers), the from-memory safetensors entry point the fuzzers use, and the fixes for what
// the fuzzers found (the inputs themselves are replayed by the "fuzz: replay" tests, tests/fuzz).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "anycost/io/bounded_json.hpp"
#include "anycost/io/image.hpp"
#include "anycost/io/safetensors.hpp"
#include "anycost/models/evolve_config.hpp"
#include "anycost/train/config.hpp"
#include "io/io_test_support.hpp"
#include "support/png_header.hpp"

using anycost::FormatError;
using anycost::IoError;
using anycost::Tensor;
using anycost::ValueError;
using anycost_test::message_of;
using anycost_test::read_bytes;
using anycost_test::TempDir;
using anycost_test::write_bytes;
using Catch::Matchers::Contains;
namespace io = anycost::io;

namespace {

std::string nested_arrays(int depth) { return std::string(static_cast<std::size_t>(depth), '[') + std::string(static_cast<std::size_t>(depth), ']'); }

std::filesystem::path regression(const std::string& target, const std::string& name) {
  return std::filesystem::path(ANYCOST_TEST_DATA_DIR) / ".." / "fuzz" / "regressions" / target / name;
}

}  // namespace

TEST_CASE("parse_json_bounded: size and depth limits, syntax errors and comments, in the caller's error kind") {
  const io::JsonLimits limits{.max_bytes = 32, .max_depth = 2};
  CHECK(io::parse_json_bounded(R"({"a": [1]})", limits, "t")["a"][0] == 1);  // depth 2 exactly
  CHECK_THAT(message_of<FormatError>([&] { io::parse_json_bounded(R"({"a": [[1]]})", limits, "t.json"); }),
             Contains("t.json: nested deeper than 2 levels"));
  CHECK_THAT(message_of<FormatError>([&] { io::parse_json_bounded(nested_arrays(100000), {.max_bytes = 1 << 20, .max_depth = 8}, "t"); }),
             Contains("nested deeper than 8"));
  CHECK_THAT(message_of<FormatError>([&] { io::parse_json_bounded(std::string(33, ' '), limits, "t.json"); }),
             Contains("t.json: 33 bytes, more than the limit of 32"));
  CHECK_THAT(message_of<ValueError>([&] { io::parse_json_bounded<ValueError>("{\"a\": ", limits, "t.json"); }),
             Contains("t.json is not valid JSON"));
  CHECK_THAT(message_of<FormatError>([&] { io::parse_json_bounded("// c\n{}", limits, "t"); }), Contains("not valid JSON"));
  CHECK(io::parse_json_bounded("// c\n{}", limits, "t", /*ignore_comments=*/true).empty());
}

TEST_CASE("read_text_bounded: reads up to the limit, refuses more, directories and missing files") {
  TempDir dir;
  write_bytes(dir / "ten", std::string(10, 'x'));
  CHECK(io::read_text_bounded(dir / "ten", 10, "op") == std::string(10, 'x'));
  CHECK_THAT(message_of<ValueError>([&] { io::read_text_bounded<ValueError>(dir / "ten", 9, "op"); }),
             Contains("op: '") && Contains("ten' is more than the limit of 9 bytes"));
  CHECK_THAT(message_of<IoError>([&] { io::read_text_bounded(dir.path(), 9, "op"); }), Contains("is a directory"));
  CHECK_THAT(message_of<IoError>([&] { io::read_text_bounded(dir / "missing", 9, "op"); }), Contains("missing"));
}

TEST_CASE("training configs: text and file limits are ValueErrors naming the file") {
  using anycost::train::parse_train_config_text;
  CHECK(parse_train_config_text("// comment\n{\"steps\": {\"1\": 3}}").total_steps() == 3);
  CHECK_THAT(message_of<ValueError>([] { parse_train_config_text("{\"steps\": " + nested_arrays(9) + "}", {}, "run.json"); }),
             Contains("config: 'run.json': nested deeper than 8 levels"));
  CHECK_THAT(message_of<ValueError>([] { parse_train_config_text(std::string((1u << 20) + 1, ' '), {}, "run.json"); }),
             Contains("more than the limit of 1048576"));
  TempDir dir;
  write_bytes(dir / "big.json", "{\"steps\": {\"1\": 3}}" + std::string(1u << 20, ' '));
  CHECK_THAT(message_of<ValueError>([&] { anycost::train::load_train_config(dir / "big.json"); }),
             Contains("big.json' is more than the limit of 1048576 bytes"));
  write_bytes(dir / "ok.json", R"({"steps": {"1": 3}, "distill": {"lpips": "vgg.safetensors"}})");
  CHECK(anycost::train::load_train_config(dir / "ok.json").lpips == dir / "vgg.safetensors");
  CHECK_THAT(message_of<IoError>([&] { anycost::train::load_train_config(dir / "missing.json"); }), Contains("missing.json"));
}

TEST_CASE("training configs: a long discriminator width list is an error, not a shift past 64 bits") {
  // Found while writing the fuzz harness: the check computed 4 << (n - 1), undefined for n > 64.
  const std::string text = read_bytes(regression("train_config", "d_channels_shift_overflow.json"));
  CHECK_THAT(message_of<ValueError>([&] { anycost::train::parse_train_config_text(text); }),
             Contains("discriminator.channels lists 70 widths; a 32x32 model needs one per resolution 4..32 (4)"));
}

TEST_CASE("safetensors from memory: the same tensors as from the file, copied, within the tensor-count limit") {
  TempDir dir;
  const Tensor a = Tensor::from_vector<float>({1.5f, -2.0f, 3.25f}, {3});
  const Tensor b = Tensor::from_vector<double>({0.5, 7.0}, {1, 2});
  io::save_safetensors(dir / "m.safetensors", {{"a", a}, {"b", b}}, {{"k", "v"}});
  std::string bytes = read_bytes(dir / "m.safetensors");
  const io::SafetensorsFile f = io::load_safetensors_from_memory(bytes.data(), bytes.size(), "in memory");
  CHECK(f.names == std::vector<std::string>{"a", "b"});
  CHECK(f.metadata.at("k") == "v");
  CHECK(f.path == "in memory");
  CHECK(f.at("a").data<float>()[2] == 3.25f);
  CHECK(f.at("b").data<double>()[1] == 7.0);
  std::memset(bytes.data(), 0, bytes.size());  // nothing refers to the input afterwards
  CHECK(f.at("a").data<float>()[0] == 1.5f);

  io::SafetensorsLimits one;
  one.max_tensors = 1;
  const std::string again = read_bytes(dir / "m.safetensors");
  CHECK_THAT(message_of<FormatError>([&] { io::load_safetensors_from_memory(again.data(), again.size(), "m", one); }),
             Contains("load_safetensors: 'm': header lists 2 tensors, more than the limit of 1"));
  CHECK_THAT(message_of<FormatError>([&] { io::load_safetensors(dir / "m.safetensors", one); }),
             Contains("more than the limit of 1"));
  one.max_tensors = 2;  // "__metadata__" is not a tensor
  CHECK(io::load_safetensors(dir / "m.safetensors", one).tensors.size() == 2);
  one.max_file_bytes = 16;
  CHECK_THAT(message_of<FormatError>([&] { io::load_safetensors_from_memory(again.data(), again.size(), "m", one); }),
             Contains("more than the limit of 16 bytes"));
}

TEST_CASE("images: the pixel limit is checked from the header, before decoding") {
  TempDir dir;
  io::write_png(dir / "p.png", Tensor::zeros({3, 4, 5}));
  const std::string png = read_bytes(dir / "p.png");
  const auto* data = reinterpret_cast<const unsigned char*>(png.data());
  CHECK(io::decode_image(data, png.size(), "p.png", 20).shape() == anycost::Shape{3, 4, 5});
  CHECK_THAT(message_of<FormatError>([&] { io::decode_image(data, png.size(), "p.png", 19); }),
             Contains("read_image: 'p.png': PNG of 5x4 pixels, more than the limit of 19"));
  // A 10000 x 10000 header with no data behind it: refused at the default limit.
  std::string huge = png;
  anycost_test::set_png_size(huge, 10000, 10000);
  CHECK_THAT(message_of<FormatError>([&] { io::decode_image(reinterpret_cast<const unsigned char*>(huge.data()), huge.size(), "h"); }),
             Contains("PNG of 10000x10000 pixels, more than the limit of 67108864"));
}

TEST_CASE("images: what the image fuzzer found is refused with the decoder's reason") {
  const auto decode = [](const std::string& bytes) {
    return message_of<FormatError>(
        [&] { io::decode_image(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), "f"); });
  };
  // Findings in stb_image, which decoded images before libpng and libjpeg-turbo: a Huffman table of more
  // than 256 codes (stb wrote past its tables), a PNG IDAT chunk declaring 1.9 GB in a 100-byte file (stb
  // allocated it first), a progressive JPEG that uses tables it never defined (stb read 1.6 GB past its
  // Huffman tables).
  CHECK_THAT(decode(read_bytes(regression("image", "jpeg_dht_over_256_codes"))),
             Contains("read_image: 'f': cannot decode JPEG (Bogus Huffman table definition)"));
  CHECK_THAT(decode(read_bytes(regression("image", "png_idat_length_past_end"))),
             Contains("read_image: 'f': cannot decode PNG ("));
  CHECK_THAT(decode(read_bytes(regression("image", "jpeg_progressive_undefined_table"))),
             Contains("read_image: 'f': cannot decode JPEG (") && Contains("table 0x00 was not defined"));
  // Valid files still decode: every fixture of the io tests.
  for (const char* name : {"rgb8_3x2.png", "gray16_2x2.png", "rgba8_2x1.png"})
    CHECK(io::read_image(anycost_test::io_data(name)).dim() == 3);
}

TEST_CASE("safetensors: a number too large for 64 bits in the header is a FormatError (fuzz finding)") {
  // nlohmann's parser reports it as out_of_range, not parse_error; it used to escape load_safetensors.
  const std::string bytes = read_bytes(regression("safetensors", "number_overflow_in_header"));
  CHECK_THAT(message_of<FormatError>([&] { io::load_safetensors_from_memory(bytes.data(), bytes.size(), "n"); }),
             Contains("load_safetensors: 'n': header is not valid JSON") && Contains("number overflow"));
  const std::string text = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e999],\"data_offsets\":[0,4]}}";
  std::string file(8, '\0');
  file[0] = static_cast<char>(text.size());
  file += text + "abcd";
  CHECK_THAT(message_of<FormatError>([&] { io::load_safetensors_from_memory(file.data(), file.size(), "n"); }),
             Contains("number overflow"));
}

TEST_CASE("evolve configs: an empty budget label is refused on reading, as on writing (fuzz harness finding)") {
  // The harness writes what it read and reads it back; write_evolve_configs threw on the empty label.
  const auto table = anycost::models::ChannelTable::stylegan2(32, 1.0, 64);
  const std::string text = read_bytes(regression("evolve_config", "empty_budget_label.json"));
  CHECK_THAT(message_of<FormatError>([&] { anycost::models::parse_evolve_configs(text, table, "e.json"); }),
             Contains("evolve config 'e.json': a budget label is empty"));
  CHECK_THAT(message_of<FormatError>([&] {
               anycost::models::parse_evolve_configs("{\"a\": " + nested_arrays(5) + "}", table, "e.json");
             }),
             Contains("evolve config 'e.json': nested deeper than 4 levels"));
}

TEST_CASE("safetensors: a zero-size tensor whose other extents overflow the strides is a FormatError") {
  // [0, 2^32, 2^32] has no elements, but its contiguous strides would be 2^64 (signed overflow).
  const std::string bytes = read_bytes(regression("safetensors", "zero_extent_stride_overflow"));
  CHECK_THAT(message_of<FormatError>([&] { io::load_safetensors_from_memory(bytes.data(), bytes.size(), "z"); }),
             Contains("tensor 'a': shape [0,4294967296,4294967296] has more bytes than fit in 64 bits"));
}
