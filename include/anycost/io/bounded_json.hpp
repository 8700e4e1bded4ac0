// Bounded JSON input for files that may come from anyone (training configs, evolve configs): the text is read
// only up to a byte limit, and the parse stops at the first value nested deeper than a depth limit, so neither
// a huge file nor a deeply nested one can exhaust memory. Each caller picks its limits and the kind of error
// (`Err`) its API promises; messages start with the caller's `what` ("config: 'run.json'").
//
// Depth counts as nlohmann's parser callback does: the top-level value is at depth 0, a value inside it at 1,
// so {"a": [1]} reaches depth 2.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace io {

struct JsonLimits {
  std::uintmax_t max_bytes = 1u << 20;
  int max_depth = 8;
};

// The whole file as text; IoError when it cannot be read (or is a directory), Err when it holds more than
// `max_bytes` (read in chunks and stopped there: the size on disk may change between a stat and the read).
template <class Err = FormatError>
std::string read_text_bounded(const std::filesystem::path& path, std::uintmax_t max_bytes, const std::string& what) {
  std::error_code ec;
  ANYCOST_CHECK(!std::filesystem::is_directory(path, ec), IoError, what, ": cannot read '", path.string(),
                "': it is a directory");
  std::ifstream in(path, std::ios::binary);
  ANYCOST_CHECK(in.good(), IoError, what, ": cannot read '", path.string(), "'");
  std::string text;
  char chunk[1 << 16];
  while (in) {
    in.read(chunk, sizeof chunk);
    const auto got = static_cast<std::uintmax_t>(in.gcount());
      if (text.size() + got > max_bytes)
      ::anycost::detail::raise<Err>(what, ": '", path.string(), "' is more than the limit of ", max_bytes, " bytes");
    text.append(chunk, static_cast<std::size_t>(got));
  }
  ANYCOST_CHECK(in.eof() && !in.bad(), IoError, what, ": reading '", path.string(), "' failed");
  return text;
}

// Parses `text` within `limits`; Err for text over the size limit, invalid JSON or nesting beyond the depth.
template <class Err = FormatError, class Json = nlohmann::json>
Json parse_json_bounded(const std::string& text, const JsonLimits& limits, const std::string& what,
                        bool ignore_comments = false) {
  // (ANYCOST_CHECK names its kind inside anycost::, not a template parameter.)
  if (text.size() > limits.max_bytes)
    ::anycost::detail::raise<Err>(what, ": ", text.size(), " bytes, more than the limit of ", limits.max_bytes);
  // Throwing from the callback stops the parse at once (the rest of a hostile text is never looked at).
  const typename Json::parser_callback_t depth_guard = [&](int depth, typename Json::parse_event_t, Json&) {
    if (depth > limits.max_depth) ::anycost::detail::raise<Err>(what, ": nested deeper than ", limits.max_depth, " levels");
    return true;
  };
  try {
    return Json::parse(text, depth_guard, /*allow_exceptions=*/true, ignore_comments);
  } catch (const nlohmann::json::exception& e) {
    ::anycost::detail::raise<Err>(what, " is not valid JSON: ", e.what());
  }
}

}  // namespace io
ANYCOST_NAMESPACE_END
