// The edit history of an interactive editor: push/undo/redo, dropped redo tails, no duplicate steps, the
// entry cap, and the saved JSON form (round trip, shared bases, and a named error for every hostile field).
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "anycost/editing/edit_history.hpp"

using namespace anycost;
using editing::EditBase;
using editing::EditHistory;
using editing::EditState;

namespace {

std::shared_ptr<const EditBase> history_base(float value, std::optional<std::uint64_t> seed = {}) {
  auto b = std::make_shared<EditBase>();
  b->source = seed ? editing::Source::seed : editing::Source::upload;
  b->seed = seed;
  b->wplus = Tensor::from_vector(std::vector<float>(6, value), {1, 2, 3});
  return b;
}

editing::HistoryShape history_shape() {
  editing::HistoryShape s;
  s.model = "test-model";
  s.n_style = 2;
  s.style_dim = 3;
  s.directions = {"age", "smile"};
  s.max_strength = 5;
  return s;
}

}  // namespace

TEST_CASE("edit history: push, undo, redo, and a new step drops the redo tail") {
  EditHistory h;
  CHECK(h.empty());
  CHECK_FALSE(h.can_undo());
  CHECK_THROWS_WITH(h.current(), Catch::Contains("no state yet"));
  const auto a = history_base(1, 7);
  CHECK(h.push({a, {}}));
  CHECK(h.push({a, {{"smile", 1.5}}}));
  CHECK(h.push({a, {{"smile", 1.5}, {"age", -2}}}));
  CHECK(h.size() == 3);
  CHECK(h.undo());
  CHECK(h.current().edits == std::map<std::string, double>{{"smile", 1.5}});
  CHECK(h.can_redo());
  CHECK(h.redo());
  CHECK(h.current().edits.size() == 2);
  CHECK_FALSE(h.redo());
  h.undo();
  h.undo();
  CHECK_FALSE(h.undo());
  CHECK(h.current().edits.empty());
  // A new step from the first state: the two later ones cannot be redone any more.
  CHECK(h.push({a, {{"age", 3}}}));
  CHECK(h.size() == 2);
  CHECK_FALSE(h.can_redo());
  CHECK(h.position() == 1);
}

TEST_CASE("edit history: an unchanged state adds no step, zero strengths are no edit, the cap drops the oldest") {
  EditHistory h(3);
  const auto a = history_base(1), b = history_base(1);  // equal numbers, different bases
  CHECK(h.push({a, {{"smile", 0.0}}}));
  CHECK(h.current().edits.empty());
  CHECK_FALSE(h.push({a, {}}));
  CHECK(h.push({b, {}}));
  CHECK(h.push({b, {{"smile", 1}}}));
  CHECK(h.push({b, {{"smile", 2}}}));
  CHECK(h.size() == 3);
  CHECK(h.entries().front().base == b);  // the first entry (base a) was dropped
  CHECK_THROWS_WITH(h.push({nullptr, {}}), Catch::Contains("needs a base latent"));
}

TEST_CASE("edit history: the JSON form round-trips and writes each shared base once") {
  EditHistory h;
  const auto a = history_base(0.5f, 42), b = history_base(-1.25f);
  h.push({a, {}});
  h.push({a, {{"smile", 1.5}}});
  h.push({b, {}});
  h.push({b, {{"age", -2}}});
  h.undo();
  const nlohmann::json j = editing::history_to_json(h, "test-model");
  CHECK(j["bases"].size() == 2);
  CHECK(j["entries"].size() == 4);
  CHECK(j["position"] == 2);
  CHECK(j["bases"][0]["seed"] == 42);
  const EditHistory back = editing::history_from_json(nlohmann::json::parse(j.dump()), history_shape());
  REQUIRE(back.size() == 4);
  CHECK(back.position() == 2);
  CHECK(back.entries()[1].edits == std::map<std::string, double>{{"smile", 1.5}});
  CHECK(back.entries()[0].base == back.entries()[1].base);  // shared again
  CHECK(back.entries()[0].base->seed == std::optional<std::uint64_t>(42));
  CHECK(back.entries()[2].base->source == editing::Source::upload);
  CHECK(back.entries()[3].base->wplus.to_vector<float>() == std::vector<float>(6, -1.25f));
}

TEST_CASE("edit history: a hostile file gets an error naming the problem") {
  EditHistory h;
  h.push({history_base(1, 3), {{"smile", 1}}});
  const nlohmann::json good = editing::history_to_json(h, "test-model");
  const editing::HistoryShape shape = history_shape();
  auto fails = [&](auto edit, const std::string& message) {
    nlohmann::json j = good;
    edit(j);
    CHECK_THROWS_WITH(editing::history_from_json(j, shape), Catch::Contains(message));
  };
  CHECK_THROWS_WITH(editing::history_from_json(nlohmann::json::array(), shape), Catch::Contains("not a JSON object"));
  fails([](auto& j) { j["format"] = "something else"; }, "\"format\" is not");
  fails([](auto& j) { j["version"] = 2; }, "version 2 is not supported");
  fails([](auto& j) { j["model"] = "other"; }, "saved with model \"other\"");
  fails([](auto& j) { j.erase("entries"); }, "has no \"entries\"");
  fails([](auto& j) { j["entries"] = nlohmann::json::array(); }, "not a non-empty array");
  fails([](auto& j) { j["position"] = 1; }, "\"position\" 1 is not an index");
  fails([](auto& j) { j["position"] = -1; }, "\"position\" -1 is not an index");
  fails([](auto& j) { j["entries"][0]["base"] = 5; }, "\"base\" 5 is not an index into the 1 bases");
  fails([](auto& j) { j["bases"][0]["source"] = "camera"; }, "is not seed or upload");
  fails([](auto& j) { j["bases"][0]["seed"] = "x"; }, "\"seed\" \"x\" is not a non-negative integer");
  fails([](auto& j) { j["bases"][0]["wplus"].erase(0); }, "is not 2 rows of 3 numbers");
  fails([](auto& j) { j["bases"][0]["wplus"][1].push_back(1); }, "is not 2 rows of 3 numbers");
  fails([](auto& j) { j["bases"][0]["wplus"][0][0] = "nan"; }, "holds \"nan\", not a finite number");
  fails([](auto& j) { j["bases"][0]["wplus"][0][0] = 1e300; }, "not a finite number of magnitude");
  fails([](auto& j) { j["entries"][0]["edits"] = {{"wink", 1}}; }, "no direction named \"wink\"");
  fails([](auto& j) { j["entries"][0]["edits"] = {{"smile", 1e9}}; }, "the strength of \"smile\"");
  fails([](auto& j) { j["entries"][0]["edits"] = 3; }, "\"edits\" is not an object");
  nlohmann::json many = good;
  for (int i = 0; i < 1000; ++i) many["entries"].push_back(good["entries"][0]);
  CHECK_THROWS_WITH(editing::history_from_json(many, shape), Catch::Contains("1001 entries, at most 1000"));
  CHECK(editing::history_from_json(good, shape).size() == 1);
}
