// The state of an interactive edit and its undo/redo history (the studio's editor, or any app's).
//
// An EditState is a base latent (W+ [1, n_style, style_dim], from a seed, a projected image or a loaded file)
// plus the strength of each named direction. The history is a list of snapshots with a position: push() drops
// the redo tail, undo()/redo() move the position. Snapshots share their base (shared_ptr), so a history of
// slider moves costs a few doubles per step, not a latent each.
//
// history_to_json/history_from_json: the saved form ("anycost-studio-history", version 1) holds each distinct
// base once ("bases": source, seed, W+ as numbers) and the entries as (base index, edits), so a history loads on
// any machine with the same model. Loading checks everything that comes from the file (format, version, model,
// shapes, finite values, indices, direction names, entry count) and names what is wrong.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "anycost/core/error.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace editing {

// Where a base latent came from; `seed` is set for Source::seed.
enum class Source : std::uint8_t { none, seed, upload };

inline const char* source_name(Source s) {
  switch (s) {
    case Source::seed: return "seed";
    case Source::upload: return "upload";
    default: return "none";
  }
}

struct EditBase {
  Source source = Source::none;
  std::optional<std::uint64_t> seed;
  Tensor wplus;  // [1, n_style, style_dim] float32, never modified once shared
};

struct EditState {
  std::shared_ptr<const EditBase> base;
  std::map<std::string, double> edits;  // direction name -> strength; zeros are not stored

  // Strengths equal to 0 are dropped so that "no edit" has one representation.
  static std::map<std::string, double> normalized(std::map<std::string, double> e) {
    std::erase_if(e, [](const auto& kv) { return kv.second == 0.0; });
    return e;
  }
  bool same_as(const EditState& o) const { return base == o.base && edits == o.edits; }
};

class EditHistory {
 public:
  explicit EditHistory(std::size_t max_entries = 1000) : max_entries_(max_entries) {
    ANYCOST_CHECK(max_entries >= 1, ValueError, "EditHistory: max_entries must be >= 1");
  }

  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  std::size_t position() const { return position_; }  // index of the current entry (0 when empty)
  bool can_undo() const { return position_ > 0; }
  bool can_redo() const { return !entries_.empty() && position_ + 1 < entries_.size(); }
  const std::vector<EditState>& entries() const { return entries_; }

  const EditState& current() const {
    ANYCOST_CHECK(!entries_.empty(), ValueError, "EditHistory: no state yet");
    return entries_[position_];
  }

  // Makes `s` the current state, dropping anything that could be redone; a state equal to the current one adds
  // nothing (returns false). Past max_entries the oldest entry goes.
  bool push(EditState s) {
    s.edits = EditState::normalized(std::move(s.edits));
    ANYCOST_CHECK(s.base && s.base->wplus.defined(), ValueError, "EditHistory: a state needs a base latent");
    if (!entries_.empty() && entries_[position_].same_as(s)) return false;
    if (!entries_.empty()) entries_.resize(position_ + 1);
    entries_.push_back(std::move(s));
    if (entries_.size() > max_entries_) entries_.erase(entries_.begin());
    position_ = entries_.size() - 1;
    return true;
  }

  bool undo() {
    if (!can_undo()) return false;
    --position_;
    return true;
  }
  bool redo() {
    if (!can_redo()) return false;
    ++position_;
    return true;
  }

  // Replaces the whole history (a loaded file); `position` must index `entries`.
  void assign(std::vector<EditState> entries, std::size_t position) {
    ANYCOST_CHECK(!entries.empty() && position < entries.size() && entries.size() <= max_entries_, ValueError,
                  "EditHistory: ", entries.size(), " entries at position ", position, " (at most ", max_entries_, ")");
    entries_ = std::move(entries);
    position_ = position;
  }

  std::size_t max_entries() const { return max_entries_; }

 private:
  std::vector<EditState> entries_;
  std::size_t position_ = 0;
  std::size_t max_entries_;
};

// ---- the saved form ---------------------------------------------------------------------------------------

inline constexpr const char* history_format = "anycost-studio-history";
inline constexpr int history_version = 1;

inline nlohmann::json history_to_json(const EditHistory& h, const std::string& model) {
  nlohmann::json bases = nlohmann::json::array(), entries = nlohmann::json::array();
  std::map<const EditBase*, std::size_t> index;  // each shared base is written once
  for (const EditState& s : h.entries()) {
    const auto [it, added] = index.emplace(s.base.get(), bases.size());
    if (added) {
      const Tensor& w = s.base->wplus;
      const std::vector<float> v = w.to(DType::float32).to_vector<float>();
      const std::int64_t rows = w.size(1), dim = w.size(2);
      nlohmann::json wplus = nlohmann::json::array();
      for (std::int64_t r = 0; r < rows; ++r)
        wplus.push_back(std::vector<float>(v.begin() + r * dim, v.begin() + (r + 1) * dim));
      nlohmann::json b = {{"source", source_name(s.base->source)}, {"wplus", std::move(wplus)}};
      if (s.base->seed) b["seed"] = *s.base->seed;
      bases.push_back(std::move(b));
    }
    entries.push_back({{"base", it->second}, {"edits", s.edits}});
  }
  return {{"format", history_format}, {"version", history_version}, {"model", model},
          {"position", h.position()}, {"bases", std::move(bases)}, {"entries", std::move(entries)}};
}

struct HistoryShape {
  std::string model;                 // must match the file's "model"
  std::int64_t n_style = 0, style_dim = 0;
  std::set<std::string> directions;  // names an edit may use
  double max_strength = 1e3;         // |strength| above this is refused (a slider never goes there)
};

// Reads a saved history; FormatError naming the first problem.
inline EditHistory history_from_json(const nlohmann::json& j, const HistoryShape& shape, std::size_t max_entries = 1000) {
  auto fail = [](const std::string& what) { throw FormatError("edit history: " + what); };
  if (!j.is_object()) fail("not a JSON object");
  auto field = [&](const nlohmann::json& o, const char* key, const std::string& where) -> const nlohmann::json& {
    const auto it = o.find(key);
    if (it == o.end()) fail(where + " has no \"" + key + "\"");
    return *it;
  };
  const nlohmann::json& format = field(j, "format", "the file");
  if (!format.is_string() || format.get<std::string>() != history_format)
    fail(std::string("\"format\" is not \"") + history_format + "\"");
  const nlohmann::json& version = field(j, "version", "the file");
  if (!version.is_number_integer() || version.get<std::int64_t>() != history_version)
    fail("version " + version.dump() + " is not supported (this build reads version " + std::to_string(history_version) + ")");
  const nlohmann::json& model = field(j, "model", "the file");
  if (!model.is_string() || model.get<std::string>() != shape.model)
    fail("it was saved with model " + model.dump() + ", this is \"" + shape.model + "\"");
  const nlohmann::json& bases_json = field(j, "bases", "the file");
  const nlohmann::json& entries = field(j, "entries", "the file");
  if (!entries.is_array() || entries.empty()) fail("\"entries\" is not a non-empty array");
  if (entries.size() > max_entries)
    fail(std::to_string(entries.size()) + " entries, at most " + std::to_string(max_entries));
  if (!bases_json.is_array() || bases_json.empty() || bases_json.size() > entries.size())
    fail("\"bases\" is not an array of 1 to " + std::to_string(entries.size()) + " (one per entry at most) latents");
  const nlohmann::json& pos = field(j, "position", "the file");
  if (!pos.is_number_unsigned() || pos.get<std::uint64_t>() >= entries.size())
    fail("\"position\" " + pos.dump() + " is not an index into the " + std::to_string(entries.size()) + " entries");

  std::vector<std::shared_ptr<const EditBase>> bases;
  for (std::size_t i = 0; i < bases_json.size(); ++i) {
    const std::string where = "base " + std::to_string(i);
    const nlohmann::json& b = bases_json[i];
    if (!b.is_object()) fail(where + " is not an object");
    const nlohmann::json& src = field(b, "source", where);
    EditBase base;
    const std::string s = src.is_string() ? src.get<std::string>() : std::string();
    if (s == "seed") base.source = Source::seed;
    else if (s == "upload") base.source = Source::upload;
    else fail(where + ": \"source\" " + src.dump() + " is not seed or upload");
    if (base.source == Source::seed) {
      const nlohmann::json& seed = field(b, "seed", where);
      if (!seed.is_number_unsigned()) fail(where + ": \"seed\" " + seed.dump() + " is not a non-negative integer");
      base.seed = seed.get<std::uint64_t>();
    }
    const nlohmann::json& w = field(b, "wplus", where);
    const std::string rows_text = std::to_string(shape.n_style) + " rows of " + std::to_string(shape.style_dim) + " numbers";
    if (!w.is_array() || static_cast<std::int64_t>(w.size()) != shape.n_style) fail(where + ": \"wplus\" is not " + rows_text);
    std::vector<float> values;
    values.reserve(static_cast<std::size_t>(shape.n_style * shape.style_dim));
    for (const nlohmann::json& row : w) {
      if (!row.is_array() || static_cast<std::int64_t>(row.size()) != shape.style_dim)
        fail(where + ": \"wplus\" is not " + rows_text);
      for (const nlohmann::json& v : row) {
        if (!v.is_number() || !std::isfinite(v.get<double>()) || std::abs(v.get<double>()) > 1e4)
          fail(where + ": \"wplus\" holds " + v.dump() + ", not a finite number of magnitude <= 1e4");
        values.push_back(v.get<float>());
      }
    }
    base.wplus = Tensor::from_vector(values, {1, shape.n_style, shape.style_dim});
    bases.push_back(std::make_shared<const EditBase>(std::move(base)));
  }

  std::vector<EditState> states;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string where = "entry " + std::to_string(i);
    const nlohmann::json& e = entries[i];
    if (!e.is_object()) fail(where + " is not an object");
    const nlohmann::json& b = field(e, "base", where);
    if (!b.is_number_unsigned() || b.get<std::uint64_t>() >= bases.size())
      fail(where + ": \"base\" " + b.dump() + " is not an index into the " + std::to_string(bases.size()) + " bases");
    std::map<std::string, double> edits;
    if (const auto it = e.find("edits"); it != e.end()) {
      if (!it->is_object()) fail(where + ": \"edits\" is not an object");
      for (const auto& [name, v] : it->items()) {
        if (!shape.directions.count(name)) fail(where + ": no direction named \"" + name + "\"");
        if (!v.is_number() || !std::isfinite(v.get<double>()) || std::abs(v.get<double>()) > shape.max_strength)
          fail(where + ": the strength of \"" + name + "\" is " + v.dump() + ", not a number within +-" +
               std::to_string(shape.max_strength));
        edits[name] = v.get<double>();
      }
    }
    states.push_back({bases[b.get<std::size_t>()], EditState::normalized(std::move(edits))});
  }
  EditHistory h(max_entries);
  h.assign(std::move(states), pos.get<std::size_t>());
  return h;
}

}  // namespace editing
ANYCOST_NAMESPACE_END
