// Fuzz harnesses: one function per parser, taking raw bytes. libFuzzer targets (fuzz_*.cpp, built with
// -DANYCOST_FUZZ=ON) and the corpus replay test (replay.cpp, every build) call the same functions.
//
// The contract checked: bad input is rejected with the error kind the API promises (caught here, returns);
// anything else escaping (another exception, an invariant broken on accepted input, reported by throwing
// HarnessFailure) is a finding, and so is whatever the sanitizers report. Limits are set low here so that
// one input cannot reach libFuzzer's -malloc_limit_mb while staying inside the library's own checks.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "anycost/editing/edit_history.hpp"
#include "anycost/io/bounded_json.hpp"
#include "anycost/io/image.hpp"
#include "anycost/io/safetensors.hpp"
#include "anycost/models/evolve_config.hpp"
#include "anycost/search/latency_table.hpp"
#include "anycost/train/config.hpp"

namespace anycost_fuzz {

// A promise the library broke on an input it accepted (not an anycost::Error, so nothing catches it).
struct HarnessFailure : std::logic_error {
  using std::logic_error::logic_error;
};

// A string_view, so that a check inside a per-pixel loop builds no string unless it fails.
inline void expect(bool ok, std::string_view what) {
  if (!ok) throw HarnessFailure(std::string(what));
}

// safetensors from memory: accepted files hold exactly the listed tensors, CPU float32/float64, contiguous,
// and every element is readable (ASan checks the reads).
inline int safetensors(const std::uint8_t* data, std::size_t size) {
  anycost::io::SafetensorsLimits limits;
  limits.max_header_bytes = 1 << 20;
  limits.max_tensors = 1 << 10;
  anycost::io::SafetensorsFile f;
  try {
    f = anycost::io::load_safetensors_from_memory(data, size, "fuzz input", limits);
  } catch (const anycost::FormatError&) {
    return 0;
  }
  expect(f.names.size() == f.tensors.size(), "names and tensors disagree in number");
  expect(f.tensors.size() <= limits.max_tensors, "more tensors than the limit");
  double sum = 0;
  std::uint64_t bytes = 0;
  for (const std::string& name : f.names) {
    const anycost::Tensor& t = f.at(name);
    expect(t.device().is_cpu() && t.is_contiguous(), "tensor '" + name + "' is not a contiguous CPU tensor");
    expect(t.dtype() == anycost::DType::float32 || t.dtype() == anycost::DType::float64,
           "tensor '" + name + "' is neither float32 nor float64");
    bytes += static_cast<std::uint64_t>(t.numel());
    if (t.dtype() == anycost::DType::float32)
      for (std::int64_t i = 0; i < t.numel(); ++i) sum += t.data<float>()[i];
    else
      for (std::int64_t i = 0; i < t.numel(); ++i) sum += t.data<double>()[i];
  }
  // Every element came from at least one byte of the input.
  expect(bytes <= size, "more elements than input bytes");
  (void)sum;
  return 0;
}

// PNG/JPEG: accepted images are [3,H,W] float32 within the pixel limit, every value in [-1, 1].
inline int image(const std::uint8_t* data, std::size_t size) {
  constexpr std::int64_t max_pixels = 1 << 20;
  anycost::Tensor t;
  try {
    t = anycost::io::decode_image(data, size, "fuzz input", max_pixels);
  } catch (const anycost::FormatError&) {
    return 0;
  }
  expect(t.dim() == 3 && t.size(0) == 3 && t.size(1) >= 1 && t.size(2) >= 1, "decoded image has a bad shape");
  expect(t.size(1) * t.size(2) <= max_pixels, "decoded image is above the pixel limit");
  expect(t.dtype() == anycost::DType::float32 && t.is_contiguous(), "decoded image is not contiguous float32");
  const float* p = t.data<float>();
  const std::int64_t n = t.numel();
  for (std::int64_t i = 0; i < n; ++i) expect(p[i] >= -1.0f && p[i] <= 1.0f, "pixel value outside [-1, 1]");
  return 0;
}

// Evolve configs against a 32x32 table: accepted entries fit the table, and writing them gives a file that
// reads back to the same entries.
inline int evolve_config(const std::uint8_t* data, std::size_t size) {
  static const anycost::models::ChannelTable table = anycost::models::ChannelTable::stylegan2(32, 1.0, 64);
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<anycost::models::EvolveEntry> entries;
  try {
    entries = anycost::models::parse_evolve_configs(text, table, "fuzz input");
  } catch (const anycost::FormatError&) {
    return 0;
  }
  for (const auto& e : entries)
    expect(e.config.resolution() <= table.resolution() && e.config.n_entries() == table.n_entries(),
           "budget \"" + e.label + "\" does not fit the table");
  const auto again = anycost::models::parse_evolve_configs(anycost::models::format_evolve_configs(entries), table, "again");
  expect(again.size() == entries.size(), "written evolve config reads back with another number of budgets");
  for (std::size_t i = 0; i < entries.size(); ++i)
    expect(again[i].label == entries[i].label && again[i].config == entries[i].config &&
               again[i].macs == entries[i].macs && again[i].dist == entries[i].dist,
           "budget \"" + entries[i].label + "\" changes when written and read back");
  return 0;
}

// Training configs (JSON with comments): an accepted config's stored JSON (what checkpoints keep) parses
// again, within the limits, to the same run.
inline int train_config(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  anycost::train::TrainConfig c;
  try {
    c = anycost::train::parse_train_config_text(text, {}, "fuzz input");
  } catch (const anycost::ValueError&) {
    return 0;
  }
  expect(c.total_steps() >= 1 && c.batch >= 1, "accepted a config without steps or batch");
  const anycost::train::TrainConfig again = anycost::train::parse_train_config_text(c.source.dump(), {}, "stored");
  expect(again.total_steps() == c.total_steps() && again.batch == c.batch && again.seed == c.seed &&
             again.generator.resolution == c.generator.resolution && again.generator.channels == c.generator.channels &&
             again.d_channels == c.d_channels && again.n_res == c.n_res,
         "stored config parses to another run");
  return 0;
}

// Studio edit histories (JSON a browser uploads): parsed within the studio's limits; an accepted history has
// 1..max entries, a valid position, bases of the declared shape with finite values, and writes back to JSON
// that reads to the same history.
inline int edit_history(const std::uint8_t* data, std::size_t size) {
  anycost::editing::HistoryShape shape;
  shape.model = "fuzz";
  shape.n_style = 2;
  shape.style_dim = 3;
  shape.directions = {"age", "smile"};
  shape.max_strength = 5;
  const std::string text(reinterpret_cast<const char*>(data), size);
  anycost::editing::EditHistory h;
  try {
    h = anycost::editing::history_from_json(anycost::io::parse_json_bounded(text, {1 << 20, 8}, "fuzz input"), shape, 64);
  } catch (const anycost::FormatError&) {
    return 0;
  }
  expect(h.size() >= 1 && h.size() <= 64 && h.position() < h.size(), "accepted a history with a bad size or position");
  for (const auto& e : h.entries()) {
    const anycost::Tensor& w = e.base->wplus;
    expect(w.dim() == 3 && w.size(0) == 1 && w.size(1) == 2 && w.size(2) == 3, "a base has the wrong shape");
    for (float v : w.to_vector<float>()) expect(std::isfinite(v), "a base holds a non-finite value");
    for (const auto& [name, strength] : e.edits)
      expect(shape.directions.count(name) && std::abs(strength) <= 5 && strength != 0, "an edit escaped the checks");
  }
  const auto again = anycost::editing::history_from_json(anycost::editing::history_to_json(h, "fuzz"), shape, 64);
  expect(again.size() == h.size() && again.position() == h.position(), "a written history reads back differently");
  for (std::size_t i = 0; i < h.size(); ++i)
    expect(again.entries()[i].edits == h.entries()[i].edits &&
               again.entries()[i].base->wplus.to_vector<float>() == h.entries()[i].base->wplus.to_vector<float>(),
           "entry " + std::to_string(i) + " changes when written and read back");
  return 0;
}

// Latency tables (the search's per-layer timings, a file that may come from another machine): an accepted
// table has a finite positive scale and finite non-negative times, and writes back to text that reads to the
// same table.
inline int latency_table(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  anycost::search::LatencyTable t;
  try {
    t = anycost::search::LatencyTable::from_json(text, "fuzz input");
  } catch (const anycost::FormatError&) {
    return 0;
  }
  expect(t.scale() > 0 && std::isfinite(t.scale()) && t.calibrated(), "accepted a table without a usable scale");
  const std::string written = t.to_json();
  const anycost::search::LatencyTable again = anycost::search::LatencyTable::from_json(written, "written table");
  expect(again.key() == t.key() && again.size() == t.size() && again.to_json() == written,
         "a written table reads back differently");
  return 0;
}

}  // namespace anycost_fuzz
