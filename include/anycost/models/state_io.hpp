// A module's state (its visit_state names, nn/module.hpp) to and from a map of named tensors: what the
// generator and discriminator checkpoints (models/checkpoint.hpp, models/discriminator_checkpoint.hpp) share.
//
//   module_state(m)                              m's tensors in visit order (parameters as their data; live
//                                                tensors, nothing copied)
//   load_module_state(m, st, source, what, regenerated)
//                                                every parameter and buffer of m aliases the tensor of its name
//                                                in st (parameters as leaves that require grad)
//
// Loading checks everything and names the problem: a tensor whose shape is not the module's ("the <what> it
// describes needs ..."), a dtype other than float32, a NaN or infinite value (FormatError: such a file is
// corrupt or comes from a diverged run, and would only render black images), tensors on different devices, missing keys (except those
// for which regenerated(name) holds: constants the module computes itself), unexpected keys. `source` opens
// every message (a file name, "state dict"); `what` names the model ("256x256 generator").
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "anycost/autograd/var.hpp"
#include "anycost/core/error.hpp"
#include "anycost/core/finite.hpp"
#include "anycost/core/tensor.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace models {

using StateTensors = std::map<std::string, Tensor>;

namespace detail {
// st[key]; FormatError "<source>: not an anycost <kind> checkpoint: no tensor '<key>'" when absent.
inline const Tensor& state_at(const StateTensors& st, const std::string& key, const std::string& source,
                              const char* kind) {
  const auto it = st.find(key);
  ANYCOST_CHECK(it != st.end(), FormatError, source, ": not an anycost ", kind, " checkpoint: no tensor '", key, "'");
  return it->second;
}
inline bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
// 'a', 'b', ... (the first six, then the count).
inline std::string key_list(const std::vector<std::string>& keys) {
  std::ostringstream os;
  for (std::size_t i = 0; i < keys.size() && i < 6; ++i) os << (i ? ", " : "") << "'" << keys[i] << "'";
  if (keys.size() > 6) os << ", ... (" << keys.size() << " in all)";
  return os.str();
}
}  // namespace detail

// The module's tensors in visit_state order (the reference state_dict order), parameters and buffers.
template <class Module>
std::vector<std::pair<std::string, Tensor>> module_state(const Module& m) {
  std::vector<std::pair<std::string, Tensor>> out;
  m.visit_state([&](const std::string& name, const auto& x) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>)
      out.emplace_back(name, x.data());
    else
      out.emplace_back(name, x);
  });
  return out;
}

// Makes m hold exactly the tensors of st (aliased, not copied); see the top of this file.
template <class Module, class Regenerated>
void load_module_state(Module& m, const StateTensors& st, const std::string& source, const std::string& what,
                       Regenerated&& regenerated) {
  std::set<std::string> used;
  std::vector<std::string> missing;
  m.visit_state([&](const std::string& name, auto& x) {
    const auto it = st.find(name);
    if (it == st.end()) {
      if (!regenerated(name)) missing.push_back(name);
      return;
    }
    used.insert(name);
    const Tensor& t = it->second;
    ANYCOST_CHECK(t.shape() == x.shape(), ShapeError, source, ": tensor '", name, "' has shape ", t.shape(), ", the ",
                  what, " it describes needs ", x.shape());
    ANYCOST_CHECK(t.dtype() == DType::float32, FormatError, source, ": tensor '", name, "' is ", t.dtype(),
                  ", expected float32 (convert the checkpoint to float32)");
    ANYCOST_CHECK(t.device() == st.begin()->second.device(), DeviceError, source, ": tensor '", name, "' is on ",
                  t.device(), ", tensor '", st.begin()->first, "' on ", st.begin()->second.device());
    if (const auto bad = non_finite_value(t))
      ::anycost::detail::raise<FormatError>(source, ": tensor '", name, "' holds ", *bad,
                                            " (a corrupt file or a diverged run: non-finite weights are not loaded)");
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>)
      x = Var(t, true);
    else
      x = t;
  });
  ANYCOST_CHECK(missing.empty(), FormatError, source, ": missing ", missing.size(), " tensor",
                missing.size() == 1 ? "" : "s", " of the ", what, ": ", detail::key_list(missing));
  std::vector<std::string> unexpected;
  for (const auto& kv : st)
    if (!used.count(kv.first)) unexpected.push_back(kv.first);
  ANYCOST_CHECK(unexpected.empty(), FormatError, source, ": ", unexpected.size(), " unexpected tensor",
                unexpected.size() == 1 ? "" : "s", " for a ", what, ": ", detail::key_list(unexpected));
}

}  // namespace models
ANYCOST_NAMESPACE_END
