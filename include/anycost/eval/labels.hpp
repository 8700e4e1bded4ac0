// Per-image labels for the evaluation classifier (eval/classifier.hpp), read from the labels.json that
// tools/make_emoji_dataset.py writes next to its image folder:
//
//   {"images": [{"file": "images/0000_x.png", "categories": ["face", ...], "skin_tone": 0..5, ...}, ...], ...}
//
// Every image becomes a multi-label binary target: one column per category found in the file (sorted by
// name; an image may have several), then one per skin tone "skin_tone=0" ... "skin_tone=5" (exactly one of
// them is 1). Other fields (glyph, names, kind, ...) are ignored.
//
// Keys: an entry's "file" is a relative path from the folder holding labels.json; find(image) resolves any
// path of that image (absolute or relative to the working directory, symlinks followed) to the same key.
//
// Reading checks everything and names the problem with the file and the entry (FormatError): a file over
// the size bound, invalid JSON, no "images" array, an entry that is not an object, a missing, empty,
// absolute or ".."-escaping "file", a duplicate file, "categories" that is not an array of non-empty strings,
// a "skin_tone" that is not an integer in 0..5, no entries at all, more than max_categories categories.
// A file that cannot be read is an IoError.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace evaluation {

inline constexpr int skin_tones = 6;  // 0 none, 1..5 = U+1F3FB..U+1F3FF

struct LabelLimits {
  std::uint64_t max_bytes = 64ull << 20;
  std::size_t max_categories = 256;
};

class Labels {
 public:
  Labels() = default;
  Labels(std::filesystem::path root, std::vector<std::string> names, std::map<std::string, std::vector<float>> targets)
      : root_(std::move(root)), names_(std::move(names)), targets_(std::move(targets)) {
    std::error_code ec;
    canonical_root_ = std::filesystem::weakly_canonical(root_.empty() ? "." : root_, ec);
    if (ec) canonical_root_ = std::filesystem::absolute(root_.empty() ? "." : root_).lexically_normal();
  }

  // The folder the keys are relative to (that of labels.json).
  const std::filesystem::path& root() const { return root_; }
  // Label columns: the categories, then "skin_tone=0" ... "skin_tone=5".
  const std::vector<std::string>& names() const { return names_; }
  std::size_t n_labels() const { return names_.size(); }
  std::size_t size() const { return targets_.size(); }
  // Targets by key (the "file" of the entry, normalised), each n_labels() values in {0, 1}.
  const std::map<std::string, std::vector<float>>& targets() const { return targets_; }

  // The key of an image path: its path relative to root(), normalised ("" when outside root()).
  std::string key_of(const std::filesystem::path& image) const {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::weakly_canonical(image, ec);
    if (ec) p = std::filesystem::absolute(image).lexically_normal();
    const std::filesystem::path rel = p.lexically_relative(canonical_root_);
    if (rel.empty() || *rel.begin() == "..") return {};
    return rel.generic_string();
  }
  // The targets of an image, or nullptr when labels.json has no entry for it.
  const std::vector<float>* find(const std::filesystem::path& image) const {
    const auto it = targets_.find(key_of(image));
    return it == targets_.end() ? nullptr : &it->second;
  }

 private:
  std::filesystem::path root_, canonical_root_;
  std::vector<std::string> names_;
  std::map<std::string, std::vector<float>> targets_;
};

// Parses the text of a labels.json; `root` is the folder the "file" paths are relative to, `source` names
// the file in messages.
inline Labels parse_labels(const std::string& text, const std::filesystem::path& root, const std::string& source,
                           const LabelLimits& limits = {}) {
  using Json = nlohmann::json;
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::exception& e) {
    ::anycost::detail::raise<FormatError>(source, ": not valid JSON (", e.what(), ")");
  }
  ANYCOST_CHECK(doc.is_object() && doc.contains("images") && doc["images"].is_array(), FormatError, source,
                ": expected an object with an \"images\" array (tools/make_emoji_dataset.py writes one)");
  const Json& images = doc["images"];
  ANYCOST_CHECK(!images.empty(), FormatError, source, ": \"images\" is empty");

  struct Entry {
    std::string key;
    std::vector<std::string> categories;
    int skin_tone = 0;
  };
  std::vector<Entry> entries;
  std::set<std::string> categories, keys;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const Json& e = images[i];
    const std::string where = source + ": images[" + std::to_string(i) + "]";
    ANYCOST_CHECK(e.is_object(), FormatError, where, " is not an object");
    ANYCOST_CHECK(e.contains("file") && e["file"].is_string() && !e["file"].get<std::string>().empty(), FormatError,
                  where, ": \"file\" must be a non-empty string");
    const std::filesystem::path file(e["file"].get<std::string>());
    const std::filesystem::path norm = file.lexically_normal();
    ANYCOST_CHECK(file.is_relative() && !norm.empty() && *norm.begin() != "..", FormatError, where, ": \"file\" '",
                  file.string(), "' must be a path inside the labels folder (relative, no '..')");
    Entry out;
    out.key = norm.generic_string();
    ANYCOST_CHECK(keys.insert(out.key).second, FormatError, where, ": file '", out.key, "' is listed twice");
    ANYCOST_CHECK(e.contains("categories") && e["categories"].is_array(), FormatError, where,
                  ": \"categories\" must be an array of strings");
    for (const Json& c : e["categories"]) {
      ANYCOST_CHECK(c.is_string() && !c.get<std::string>().empty(), FormatError, where,
                    ": \"categories\" must hold non-empty strings, found ", c.dump());
      out.categories.push_back(c.get<std::string>());
      categories.insert(out.categories.back());
    }
    ANYCOST_CHECK(e.contains("skin_tone") && e["skin_tone"].is_number_integer(), FormatError, where,
                  ": \"skin_tone\" must be an integer 0..", skin_tones - 1);
    const auto tone = e["skin_tone"].get<std::int64_t>();
    ANYCOST_CHECK(tone >= 0 && tone < skin_tones, FormatError, where, ": \"skin_tone\" ", tone, " is not in 0..",
                  skin_tones - 1);
    out.skin_tone = static_cast<int>(tone);
    entries.push_back(std::move(out));
  }
  ANYCOST_CHECK(categories.size() <= limits.max_categories, FormatError, source, ": ", categories.size(),
                " categories, at most ", limits.max_categories);

  std::vector<std::string> names(categories.begin(), categories.end());
  const std::size_t n_cat = names.size();
  for (int t = 0; t < skin_tones; ++t) names.push_back("skin_tone=" + std::to_string(t));
  std::map<std::string, std::vector<float>> targets;
  for (const Entry& e : entries) {
    std::vector<float> y(names.size(), 0.0f);
    for (const std::string& c : e.categories)
      y[static_cast<std::size_t>(std::lower_bound(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(n_cat), c) -
                                 names.begin())] = 1.0f;
    y[n_cat + static_cast<std::size_t>(e.skin_tone)] = 1.0f;
    targets.emplace(e.key, std::move(y));
  }
  return Labels(root, std::move(names), std::move(targets));
}

// Reads a labels.json (keys relative to its folder).
inline Labels read_labels(const std::filesystem::path& path, const LabelLimits& limits = {}) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  ANYCOST_CHECK(!ec, IoError, "labels file '", path.string(), "': cannot read (", ec.message(), ")");
  ANYCOST_CHECK(bytes <= limits.max_bytes, FormatError, "labels file '", path.string(), "': ", bytes,
                " bytes, more than the limit of ", limits.max_bytes);
  std::ifstream in(path, std::ios::binary);
  ANYCOST_CHECK(in, IoError, "labels file '", path.string(), "': cannot open");
  std::ostringstream os;
  os << in.rdbuf();
  ANYCOST_CHECK(!in.bad(), IoError, "labels file '", path.string(), "': read error");
  return parse_labels(os.str(), path.parent_path(), "labels file '" + path.string() + "'", limits);
}

}  // namespace evaluation
ANYCOST_NAMESPACE_END
