// Shared helpers of the loss tests: fixture files under tests/data/lpips and the seeded LPIPS with the lpips
// package's shipped heads (tools/golden/make_lpips_goldens.py).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <anycost/anycost.hpp>

#include "support/golden.hpp"

namespace anycost::test {

inline std::map<std::string, Tensor> lpips_fixture(const std::string& file) {
  return io::load_safetensors(data_path("lpips/" + file)).tensors;
}

inline const Tensor& fixture_at(const std::map<std::string, Tensor>& f, const std::string& key) {
  const auto it = f.find(key);
  if (it == f.end()) throw std::runtime_error("fixture tensor '" + key + "' missing: run the golden scripts");
  return it->second;
}

// losses::Lpips(net, 7) with the package's v0.1 heads: the network the goldens were computed with.
inline losses::Lpips golden_lpips(losses::LpipsNet net, DType dtype) {
  losses::Lpips lp(net, 7);
  const auto heads = lpips_fixture("heads.safetensors");
  lp.visit_state([&](const std::string& name, auto& x) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>)
      if (name.rfind("lin", 0) == 0) x = Var(fixture_at(heads, std::string(losses::lpips_net_name(net)) + "." + name));
  });
  nn::to_dtype(lp, dtype);
  return lp;
}

inline std::filesystem::path losses_temp_file(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "anycost_losses_test";
  std::filesystem::create_directories(dir);
  return dir / name;
}

}  // namespace anycost::test
