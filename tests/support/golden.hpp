// Reference values written by tools/golden/make_foundation_goldens.py (PyTorch, run by hand) into
// tests/data/<folder>/*.json: loading, conversion to tensors and case lookup. A missing or malformed file is
// a test failure that names the file, never a silent skip.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/compare.hpp"

namespace anycost::test {

using Json = nlohmann::json;

inline std::string data_path(const std::string& relative) {
  return (std::filesystem::path(ANYCOST_TEST_DATA_DIR) / relative).string();
}

// Parses tests/data/<relative>; throws std::runtime_error naming the file when it is missing or not JSON.
inline Json load_golden(const std::string& relative) {
  const std::string path = data_path(relative);
  std::ifstream in(path);
  if (!in) throw std::runtime_error("golden file " + path + " not found: run tools/golden/make_foundation_goldens.py");
  try {
    return Json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("golden file " + path + " is not valid JSON: " + e.what());
  }
}

// {"shape": [...], "data": [...]} -> a contiguous CPU tensor of the given dtype. The values are float32: each
// decimal (9 significant digits) names one float32 exactly but is not that float32 as a double, so every value
// is rounded to float first; float64 tensors then hold exactly the inputs PyTorch used.
inline Tensor golden_tensor(const Json& j, DType dtype = DType::float64) {
  if (!j.is_object() || !j.contains("shape") || !j.contains("data"))
    throw std::runtime_error("golden tensor needs 'shape' and 'data': " + j.dump().substr(0, 80));
  Shape shape;
  for (const auto& s : j.at("shape")) shape.push_back(s.get<std::int64_t>());
  auto values = j.at("data").get<std::vector<double>>();
  for (double& v : values) v = static_cast<double>(static_cast<float>(v));
  if (static_cast<std::int64_t>(values.size()) != numel(shape)) {
    std::ostringstream os;
    os << "golden tensor of shape " << shape << " holds " << values.size() << " values";
    throw std::runtime_error(os.str());
  }
  return Tensor::from_vector(values, shape).to(dtype);
}

// The case called `name` in a document's "cases" array.
inline const Json& golden_case(const Json& doc, const std::string& name) {
  for (const auto& c : doc.at("cases"))
    if (c.at("name") == name) return c;
  throw std::runtime_error("golden case '" + name + "' not found in " + doc.value("op", std::string("?")));
}

// The names of every case, so a test can check it covered them all.
inline std::vector<std::string> golden_case_names(const Json& doc) {
  std::vector<std::string> names;
  for (const auto& c : doc.at("cases")) names.push_back(c.at("name").get<std::string>());
  return names;
}

}  // namespace anycost::test
