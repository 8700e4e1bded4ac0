// safetensors: the native checkpoint format (the format of Hugging Face's safetensors library).
//
// Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
//   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}
// then the data buffer; offsets are relative to the buffer, tensors are row-major little-endian.
//
// load_safetensors validates everything and throws FormatError naming the file and the problem: a file
// shorter than 8 bytes, a header length beyond the limit or the file, invalid JSON or UTF-8, duplicate keys,
// non-object entries, unknown or unsupported dtypes, bad shapes (negative, non-integer, rank above
// max_rank, element counts overflowing 64 bits), byte counts that do not match the shape, offsets outside
// the buffer. Like the reference reader it requires the tensors to tile the buffer exactly: no overlaps, no
// gaps, no trailing bytes. Missing or unreadable files are IoError.
//   dtypes: F32 and F64 load as they are; F16, BF16, the integer types (I8..I64, U8..U64) and BOOL load as
//   float32, since tensors hold only float32/float64. An integer beyond +-2^24, which float32 cannot hold
//   exactly, is a FormatError rather than a silent rounding. F8 and other types are rejected by name.
//   Memory: the file is memory-mapped (mapped_file.hpp); F32/F64 tensors whose data are aligned alias the
//   mapping (no copy), the others are converted into fresh storage. load_safetensors_from_memory parses
//   bytes already in memory (the fuzz target uses it) and always copies.
//   Limits (SafetensorsLimits): file bytes, header bytes, tensor count; every tensor must lie inside the file,
//   so no load allocates more than 4x the file's size (U8/I8/BOOL widened to float32).
// save_safetensors writes float32/float64 tensors (views are written contiguous, CUDA tensors are copied
// to the host) in the order given, "__metadata__" first when not empty, compact JSON padded with spaces to
// a multiple of 8 bytes, as the reference writer does. The write is atomic (io/atomic_write.hpp).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"
#include "anycost/io/atomic_write.hpp"
#include "anycost/io/half.hpp"
#include "anycost/io/mapped_file.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

struct SafetensorsFile {
  std::vector<std::string> names;               // tensor names in file order (by data offset)
  std::map<std::string, Tensor> tensors;        // CPU tensors, float32 or float64
  std::map<std::string, std::string> metadata;  // the "__metadata__" object
  std::filesystem::path path;                   // where it was loaded from, for messages

  // FormatError naming the file and the missing key.
  const Tensor& at(const std::string& name) const {
    const auto it = tensors.find(name);
    if (it == tensors.end())
      anycost::detail::raise<FormatError>("safetensors file '", path.string(), "' has no tensor '", name, "' (it holds ",
                                 tensors.size(), " tensors)");
    return it->second;
  }
  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
};

struct SafetensorsLimits {
  std::uint64_t max_header_bytes = 100 << 20;  // the reference reader's bound
  std::uint64_t max_file_bytes = 64ull << 30;  // bounds the data too: every tensor must lie inside the file
  std::uint64_t max_tensors = 1 << 16;         // a training checkpoint (G, D, EMA, teacher, Adam) holds a few thousand
};

namespace detail {

enum class StDtype { f64, f32, f16, bf16, i64, i32, i16, i8, u64, u32, u16, u8, boolean };

struct StDtypeInfo {
  const char* name = "";
  StDtype dtype = StDtype::f32;
  std::uint64_t size = 0;
};
inline constexpr StDtypeInfo st_dtypes[] = {
    {"F64", StDtype::f64, 8}, {"F32", StDtype::f32, 4}, {"F16", StDtype::f16, 2}, {"BF16", StDtype::bf16, 2},
    {"I64", StDtype::i64, 8}, {"I32", StDtype::i32, 4}, {"I16", StDtype::i16, 2}, {"I8", StDtype::i8, 1},
    {"U64", StDtype::u64, 8}, {"U32", StDtype::u32, 4}, {"U16", StDtype::u16, 2}, {"U8", StDtype::u8, 1},
    {"BOOL", StDtype::boolean, 1}};

struct StEntry {
  std::string name;
  StDtypeInfo dtype;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

// Reads a little-endian T from possibly unaligned bytes.
template <class T>
T load_le(const unsigned char* p) {
  unsigned char b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) std::reverse(b, b + sizeof(T));
  T v;
  std::memcpy(&v, b, sizeof(T));
  return v;
}

template <class... Parts>
[[noreturn]] void st_fail(const std::filesystem::path& path, const Parts&... parts) {
  anycost::detail::raise<FormatError>("load_safetensors: '", path.string(), "': ", parts...);
}

inline std::uint64_t st_uint(const nlohmann::ordered_json& v, const std::filesystem::path& path,
                             const std::string& name, const char* field) {
  if (!v.is_number_unsigned())
    st_fail(path, "tensor '", name, "': ", field, " entry ", v.dump(), " is not a non-negative integer");
  return v.get<std::uint64_t>();
}

// Parses and validates the JSON header against a data buffer of `buffer_bytes`; returns the entries sorted
// by offset.
inline std::vector<StEntry> parse_st_header(const std::string& text, std::uint64_t buffer_bytes,
                                            const std::filesystem::path& path,
                                            std::map<std::string, std::string>& metadata,
                                            const SafetensorsLimits& limits) {
  using Json = nlohmann::ordered_json;
  // The JSON library keeps the last of duplicate keys silently, and a hostile header could nest deeply;
  // the callback catches both while parsing.
  std::vector<std::set<std::string>> keys;
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) {
      if (depth > 2) st_fail(path, "header nests deeper than a safetensors header can");
      if (event == Json::parse_event_t::object_start) keys.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      keys.pop_back();
    } else if (event == Json::parse_event_t::key) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(k).second) st_fail(path, "duplicate key '", k, "' in the header");
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, check);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number beyond 64 bits (fuzz finding)
    st_fail(path, "header is not valid JSON (", e.what(), ")");
  }
  if (!header.is_object()) st_fail(path, "header is a JSON ", header.type_name(), ", not an object");
  const std::uint64_t n_tensors = header.size() - (header.contains("__metadata__") ? 1 : 0);
  if (n_tensors > limits.max_tensors)
    st_fail(path, "header lists ", n_tensors, " tensors, more than the limit of ", limits.max_tensors);

  std::vector<StEntry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object()) st_fail(path, "__metadata__ is a JSON ", value.type_name(), ", not an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) st_fail(path, "__metadata__ value of '", k, "' is a JSON ", v.type_name(), ", not a string");
        metadata[k] = v.get<std::string>();
      }
      continue;
    }
    if (!value.is_object()) st_fail(path, "entry '", name, "' is a JSON ", value.type_name(), ", not an object");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field)) st_fail(path, "tensor '", name, "' has no \"", field, "\"");

    StEntry e;
    e.name = name;
    const auto& dt = value["dtype"];
    if (!dt.is_string()) st_fail(path, "tensor '", name, "': dtype ", dt.dump(), " is not a string");
    const auto& dts = dt.get_ref<const std::string&>();
    const auto* info = std::find_if(std::begin(st_dtypes), std::end(st_dtypes),
                                    [&](const StDtypeInfo& d) { return dts == d.name; });
    if (info == std::end(st_dtypes)) {
      const bool known = dts.rfind("F8_", 0) == 0 || dts.rfind("F6_", 0) == 0 || dts == "F4" || dts == "C64";
      st_fail(path, "tensor '", name, "': ", known ? "unsupported" : "unknown", " dtype '", dts,
              "' (supported: F32, F64, F16, BF16, I8, I16, I32, I64, U8, U16, U32, U64, BOOL)");
    }
    e.dtype = *info;

    const auto& shape = value["shape"];
    if (!shape.is_array()) st_fail(path, "tensor '", name, "': shape ", shape.dump(), " is not an array");
    if (shape.size() > static_cast<std::size_t>(max_rank))
      st_fail(path, "tensor '", name, "': shape has rank ", shape.size(), ", above the maximum of ", max_rank);
    constexpr auto int64_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    std::uint64_t numel = 1, span = 1;
    bool overflow = false;
    for (const auto& s : shape) {
      const std::uint64_t extent = st_uint(s, path, name, "shape");
      if (extent > int64_max) overflow = true;
      overflow = __builtin_mul_overflow(numel, extent, &numel) || overflow;
      // Strides skip zero extents, so [0, 2^32, 2^32] has no elements yet a stride of 2^64 (fuzz harness
      // finding, tests/fuzz/regressions/safetensors/zero_extent_stride_overflow).
      overflow = __builtin_mul_overflow(span, std::max<std::uint64_t>(extent, 1), &span) || span > int64_max || overflow;
      e.shape.push_back(static_cast<std::int64_t>(extent));
    }
    std::uint64_t bytes = 0;
    overflow = __builtin_mul_overflow(numel, e.dtype.size, &bytes) || overflow || numel > int64_max;
    if (overflow) st_fail(path, "tensor '", name, "': shape ", shape.dump(), " has more bytes than fit in 64 bits");

    const auto& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2)
      st_fail(path, "tensor '", name, "': data_offsets ", offsets.dump(), " is not an array of two integers");
    e.begin = st_uint(offsets[0], path, name, "data_offsets");
    e.end = st_uint(offsets[1], path, name, "data_offsets");
    if (e.begin > e.end) st_fail(path, "tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] end before they begin");
    if (e.end > buffer_bytes)
      st_fail(path, "tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] run past the end of the ",
              buffer_bytes, "-byte data buffer (file truncated?)");
    if (e.end - e.begin != bytes)
      st_fail(path, "tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] span ", e.end - e.begin,
              " bytes, but shape ", shape.dump(), " of ", dts, " needs ", bytes);
    entries.push_back(std::move(e));
  }

  // Stable: zero-byte tensors at the same offset keep header order.
  std::stable_sort(entries.begin(), entries.end(), [](const StEntry& a, const StEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t covered = 0;
  const StEntry* previous = nullptr;
  for (const auto& e : entries) {
    if (e.begin < covered)
      st_fail(path, "tensor '", e.name, "' at data_offsets [", e.begin, ", ", e.end, "] overlaps tensor '",
              previous->name, "' at [", previous->begin, ", ", previous->end, "]");
    if (e.begin > covered)
      st_fail(path, "bytes [", covered, ", ", e.begin, ") of the data buffer belong to no tensor (gap before '",
              e.name, "')");
    covered = e.end;
    previous = &e;
  }
  if (covered != buffer_bytes)
    st_fail(path, "the data buffer has ", buffer_bytes - covered,
            " trailing bytes that belong to no tensor (buffer is ", buffer_bytes, " bytes, tensors cover ", covered, ")");
  return entries;
}

// Converts one entry to float32 (integers must be exact).
template <class T>
void st_convert(const unsigned char* p, float* out, std::int64_t n, const StEntry& e,
                const std::filesystem::path& path) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T v = load_le<T>(p + i * static_cast<std::int64_t>(sizeof(T)));
    if constexpr (sizeof(T) >= 4) {  // 8- and 16-bit integers always fit
      constexpr T limit = T{1} << 24;
      bool exact = v <= limit;
      if constexpr (std::is_signed_v<T>) exact = exact && v >= -limit;
      if (!exact)
        st_fail(path, "tensor '", e.name, "' (", e.dtype.name, ") holds ", v,
                ", which float32 cannot represent exactly (|value| > 2^24)");
    }
    out[i] = static_cast<float>(v);
  }
}

// keep_alive owns the bytes when tensors may alias them (a private mapping); null: every tensor is copied.
inline Tensor st_decode(const std::shared_ptr<void>& keep_alive, const unsigned char* p, const StEntry& e,
                        const std::filesystem::path& path) {
  const std::int64_t n = anycost::numel(e.shape);
  const bool wide = e.dtype.dtype == StDtype::f32 || e.dtype.dtype == StDtype::f64;
  if (wide) {
    const DType dt = e.dtype.dtype == StDtype::f32 ? DType::float32 : DType::float64;
    const bool aligned = reinterpret_cast<std::uintptr_t>(p) % e.dtype.size == 0;
    if (std::endian::native == std::endian::little && aligned && n > 0 && keep_alive) {
      auto storage = std::make_shared<Storage>(const_cast<unsigned char*>(p), static_cast<std::size_t>(e.end - e.begin),
                                               Device::cpu(), keep_alive);
      return Tensor::from_storage(std::move(storage), 0, e.shape, contiguous_strides(e.shape), dt);
    }
    Tensor t = Tensor::empty(e.shape, dt);
    dispatch_dtype(dt, [&](auto z) {
      using T = decltype(z);
      T* out = t.data<T>();
      for (std::int64_t i = 0; i < n; ++i) out[i] = load_le<T>(p + i * static_cast<std::int64_t>(sizeof(T)));
    });
    return t;
  }
  Tensor t = Tensor::empty(e.shape, DType::float32);
  float* out = t.data<float>();
  switch (e.dtype.dtype) {
    case StDtype::f16:
      for (std::int64_t i = 0; i < n; ++i) out[i] = float16_to_float(load_le<std::uint16_t>(p + 2 * i));
      break;
    case StDtype::bf16:
      for (std::int64_t i = 0; i < n; ++i) out[i] = bfloat16_to_float(load_le<std::uint16_t>(p + 2 * i));
      break;
    case StDtype::i64: st_convert<std::int64_t>(p, out, n, e, path); break;
    case StDtype::i32: st_convert<std::int32_t>(p, out, n, e, path); break;
    case StDtype::i16: st_convert<std::int16_t>(p, out, n, e, path); break;
    case StDtype::i8: st_convert<std::int8_t>(p, out, n, e, path); break;
    case StDtype::u64: st_convert<std::uint64_t>(p, out, n, e, path); break;
    case StDtype::u32: st_convert<std::uint32_t>(p, out, n, e, path); break;
    case StDtype::u16: st_convert<std::uint16_t>(p, out, n, e, path); break;
    case StDtype::u8: st_convert<std::uint8_t>(p, out, n, e, path); break;
    case StDtype::boolean:
      for (std::int64_t i = 0; i < n; ++i) {
        if (p[i] > 1) st_fail(path, "tensor '", e.name, "' (BOOL) holds byte ", int{p[i]}, ", not 0 or 1");
        out[i] = p[i];
      }
      break;
    default: break;  // f32/f64 handled above
  }
  return t;
}

// Loads from `size` bytes at `data`; `path` names the source in messages.
inline SafetensorsFile load_st_bytes(const unsigned char* data, std::uint64_t size, const std::shared_ptr<void>& keep_alive,
                                     const std::filesystem::path& path, const SafetensorsLimits& limits) {
  if (size > limits.max_file_bytes)
    st_fail(path, "file is ", size, " bytes, more than the limit of ", limits.max_file_bytes, " bytes");
  if (size < 8) st_fail(path, "file is ", size, " bytes, shorter than the 8-byte header length");
  const auto header_bytes = load_le<std::uint64_t>(data);
  if (header_bytes > limits.max_header_bytes)
    st_fail(path, "header length ", header_bytes, " exceeds the limit of ", limits.max_header_bytes,
            " bytes (not a safetensors file?)");
  if (header_bytes > size - 8)
    st_fail(path, "header length ", header_bytes, " runs past the end of the ", size, "-byte file");
  if (header_bytes == 0) st_fail(path, "header is empty");

  SafetensorsFile out;
  out.path = path;
  const std::string text(reinterpret_cast<const char*>(data) + 8, static_cast<std::size_t>(header_bytes));
  const std::uint64_t buffer_bytes = size - 8 - header_bytes;
  const auto entries = parse_st_header(text, buffer_bytes, path, out.metadata, limits);
  const unsigned char* buffer = data + 8 + header_bytes;
  for (const auto& e : entries) {
    out.names.push_back(e.name);
    out.tensors.emplace(e.name, st_decode(keep_alive, buffer + e.begin, e, path));
  }
  return out;
}

}  // namespace detail

inline SafetensorsFile load_safetensors(const std::filesystem::path& path, SafetensorsLimits limits = {}) {
  const auto file = MappedFile::open(path, limits.max_file_bytes, "load_safetensors");
  return detail::load_st_bytes(file->data(), file->size(), file, path, limits);
}

// The same from bytes in memory (`name` stands for the path in messages and in SafetensorsFile::path). The
// tensors are copies: nothing refers to `data` after the call.
inline SafetensorsFile load_safetensors_from_memory(const void* data, std::size_t size, const std::string& name,
                                                    SafetensorsLimits limits = {}) {
  return detail::load_st_bytes(static_cast<const unsigned char*>(data), size, nullptr, name, limits);
}

// Tensor names must be unique, not empty and not "__metadata__" (ValueError).
inline void save_safetensors(const std::filesystem::path& path,
                             const std::vector<std::pair<std::string, Tensor>>& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
  using Json = nlohmann::ordered_json;
  Json header = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  std::uint64_t offset = 0;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    ANYCOST_CHECK(!name.empty() && name != "__metadata__", ValueError, "save_safetensors: '", name,
                  "' is not a valid tensor name (writing '", path.string(), "')");
    ANYCOST_CHECK(seen.insert(name).second, ValueError, "save_safetensors: tensor name '", name,
                  "' appears twice (writing '", path.string(), "')");
    ANYCOST_CHECK(t.defined(), ValueError, "save_safetensors: tensor '", name, "' is undefined (writing '",
                  path.string(), "')");
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * dtype_size(t.dtype());
    Json entry = Json::object();
    entry["dtype"] = t.dtype() == DType::float32 ? "F32" : "F64";
    entry["shape"] = Json::array();
    for (auto s : t.shape()) entry["shape"].push_back(s);
    entry["data_offsets"] = Json::array({offset, offset + bytes});
    header[name] = std::move(entry);
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::type_error& e) {
    anycost::detail::raise<ValueError>("save_safetensors: a tensor name or metadata string is not valid UTF-8 (", e.what(), ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  write_atomically(path, "save_safetensors", [&](std::ostream& os) {
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i));
    os.write(reinterpret_cast<const char*>(len), 8);
    os.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& [name, t] : tensors) {
      const Tensor c = t.to(Device::cpu()).contiguous();
      const auto bytes = static_cast<std::size_t>(c.numel()) * dtype_size(c.dtype());
      if (bytes == 0) continue;
      if constexpr (std::endian::native == std::endian::little) {
        os.write(static_cast<const char*>(c.raw_data()), static_cast<std::streamsize>(bytes));
      } else {
        std::vector<char> swapped(static_cast<const char*>(c.raw_data()), static_cast<const char*>(c.raw_data()) + bytes);
        const std::size_t w = dtype_size(c.dtype());
        for (std::size_t i = 0; i < bytes; i += w) std::reverse(swapped.begin() + i, swapped.begin() + i + w);
        os.write(swapped.data(), static_cast<std::streamsize>(bytes));
      }
    }
  });
}

}  // namespace io
ANYCOST_NAMESPACE_END
