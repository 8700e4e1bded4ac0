// evaluation::Labels: labels.json (tools/make_emoji_dataset.py's format) into multi-label targets keyed by file,
// and every malformed input named.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <anycost/anycost.hpp>

using namespace anycost;
using namespace anycost::evaluation;

namespace {

const char* const good = R"({"source": "x", "images": [
  {"file": "images/0000_a.png", "glyph": "a", "skin_tone": 0, "kind": "single", "categories": ["symbol"]},
  {"file": "images/0001_b.png", "skin_tone": 3, "categories": ["person", "hand"]},
  {"file": "./images/0002_c.png", "skin_tone": 5, "categories": []}
]})";

std::string one(const std::string& entry) { return R"({"images": [)" + entry + "]}"; }

std::string error_of(const std::string& text) {
  try {
    (void)parse_labels(text, "/data", "labels.json");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "(no FormatError)";
}

}  // namespace

TEST_CASE("labels: categories then skin tones, keyed by file", "[eval][labels]") {
  const Labels l = parse_labels(good, "/data/set", "labels.json");
  REQUIRE(l.names() == std::vector<std::string>{"hand", "person", "symbol", "skin_tone=0", "skin_tone=1",
                                                "skin_tone=2", "skin_tone=3", "skin_tone=4", "skin_tone=5"});
  REQUIRE(l.size() == 3);
  CHECK(l.targets().at("images/0000_a.png") == std::vector<float>{0, 0, 1, 1, 0, 0, 0, 0, 0});
  CHECK(l.targets().at("images/0001_b.png") == std::vector<float>{1, 1, 0, 0, 0, 0, 1, 0, 0});
  CHECK(l.targets().at("images/0002_c.png") == std::vector<float>{0, 0, 0, 0, 0, 0, 0, 0, 1});  // "./" normalised
  // Any spelling of an image's path finds it; paths outside the folder do not.
  REQUIRE(l.find("/data/set/images/0001_b.png"));
  CHECK(*l.find("/data/set/images/../images/0001_b.png") == l.targets().at("images/0001_b.png"));
  CHECK(l.find("/data/set/images/9999.png") == nullptr);
  CHECK(l.find("/data/other/images/0001_b.png") == nullptr);
  CHECK(l.key_of("/elsewhere/images/0001_b.png").empty());
}

TEST_CASE("labels: read_labels resolves files relative to its folder, through symlinks", "[eval][labels]") {
  std::string tmpl = (std::filesystem::temp_directory_path() / "anycost_eval_labels.XXXXXX").string();
  REQUIRE(::mkdtemp(tmpl.data()));
  const std::filesystem::path dir = tmpl;
  std::filesystem::create_directories(dir / "set" / "images");
  { std::ofstream(dir / "set" / "labels.json") << good; }
  { std::ofstream(dir / "set" / "images" / "0000_a.png") << "x"; }
  std::filesystem::create_directory_symlink(dir / "set", dir / "link");
  const Labels l = read_labels(dir / "link" / "labels.json");
  CHECK(l.find(dir / "set" / "images" / "0000_a.png") != nullptr);
  CHECK(l.find(dir / "link" / "images" / "0000_a.png") != nullptr);
  // Size bound, missing file.
  CHECK_THROWS_WITH(read_labels(dir / "set" / "labels.json", {.max_bytes = 10}),
                    Catch::Contains("more than the limit of 10"));
  CHECK_THROWS_AS(read_labels(dir / "missing.json"), IoError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("labels: the tiny CLI data set", "[eval][labels]") {
  const Labels l = read_labels(std::filesystem::path(ANYCOST_TEST_DATA_DIR) / ".." / "eval" / "data" / "labels.json");
  CHECK(l.size() == 16);
  CHECK(l.names().size() == 4 + skin_tones);
  CHECK(l.names().front() == "blue");
}

TEST_CASE("labels: malformed input is named", "[eval][labels]") {
  CHECK_THAT(error_of("{"), Catch::Contains("labels.json: not valid JSON"));
  CHECK_THAT(error_of("[]"), Catch::Contains("expected an object with an \"images\" array"));
  CHECK_THAT(error_of(R"({"images": {}})"), Catch::Contains("expected an object with an \"images\" array"));
  CHECK_THAT(error_of(R"({"images": []})"), Catch::Contains("\"images\" is empty"));
  CHECK_THAT(error_of(one("3")), Catch::Contains("images[0] is not an object"));
  CHECK_THAT(error_of(one(R"({"skin_tone": 0, "categories": []})")),
             Catch::Contains("images[0]: \"file\" must be a non-empty string"));
  CHECK_THAT(error_of(one(R"({"file": "", "skin_tone": 0, "categories": []})")),
             Catch::Contains("\"file\" must be a non-empty string"));
  CHECK_THAT(error_of(one(R"({"file": "/abs.png", "skin_tone": 0, "categories": []})")),
             Catch::Contains("must be a path inside the labels folder"));
  CHECK_THAT(error_of(one(R"({"file": "a/../../b.png", "skin_tone": 0, "categories": []})")),
             Catch::Contains("must be a path inside the labels folder"));
  CHECK_THAT(error_of(one(R"({"file": "a.png", "skin_tone": 0, "categories": []},
                              {"file": "./a.png", "skin_tone": 0, "categories": []})")),
             Catch::Contains("images[1]: file 'a.png' is listed twice"));
  CHECK_THAT(error_of(one(R"({"file": "a.png", "skin_tone": 0})")),
             Catch::Contains("\"categories\" must be an array of strings"));
  CHECK_THAT(error_of(one(R"({"file": "a.png", "skin_tone": 0, "categories": "face"})")),
             Catch::Contains("\"categories\" must be an array of strings"));
  CHECK_THAT(error_of(one(R"({"file": "a.png", "skin_tone": 0, "categories": ["face", 2]})")),
             Catch::Contains("must hold non-empty strings, found 2"));
  CHECK_THAT(error_of(one(R"({"file": "a.png", "categories": []})")),
             Catch::Contains("\"skin_tone\" must be an integer 0..5"));
  CHECK_THAT(error_of(one(R"({"file": "a.png", "skin_tone": 1.5, "categories": []})")),
             Catch::Contains("\"skin_tone\" must be an integer 0..5"));
  CHECK_THAT(error_of(one(R"({"file": "a.png", "skin_tone": 6, "categories": []})")),
             Catch::Contains("images[0]: \"skin_tone\" 6 is not in 0..5"));
  CHECK_THAT(error_of(one(R"({"file": "a.png", "skin_tone": -1, "categories": []})")),
             Catch::Contains("\"skin_tone\" -1 is not in 0..5"));
  CHECK_THROWS_WITH(parse_labels(one(R"({"file": "a.png", "skin_tone": 0, "categories": ["a", "b", "c"]})"), "/d",
                                 "x.json", {.max_categories = 2}),
                    Catch::Contains("x.json: 3 categories, at most 2"));
}
