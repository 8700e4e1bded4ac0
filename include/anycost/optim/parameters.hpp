// Named parameters and named tensors: what optimisers and averages take, and what their state is saved as.
//
// A parameter is a leaf Var that requires grad. Optimisers update leaves in place, so a view of a parameter
// (narrow, reshape, a sub-network's prefix slice) or any computed value is rejected with an error naming it:
// pass the full parameter, and the view's gradient reaches it through the graph.
//
// State is a StateDict: an ordered list of (name, tensor) pairs, which checkpoint code can write as
// safetensors. Keys are "<parameter name>.<buffer>" (for example "conv1.weight.exp_avg").
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "anycost/autograd/node.hpp"
#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace optim {

struct NamedParameter {
  std::string name;
  Var var;
};
using NamedParameters = std::vector<NamedParameter>;

// Named tensors in a fixed order (the form checkpoints store).
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// Names parameters by position: "0", "1", ... (the indices PyTorch's optimiser state uses).
inline NamedParameters name_by_position(const std::vector<Var>& params) {
  NamedParameters out;
  out.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) out.push_back({std::to_string(i), params[i]});
  return out;
}

// The parameters of a module, in visiting order, found through the first of these the module has:
//   m.visit_state(fn, prefix)   the nn/ module contract: fn(name, Var&) for parameters, fn(name, Tensor&)
//                               for buffers (buffers are skipped);
//   m.visit_parameters(fn)      a member visitor;
//   visit_parameters(m, fn)     a free visitor found by argument-dependent lookup;
// where fn(name, p) receives a Var, or an object with var() returning one.
template <class Module>
NamedParameters named_parameters(Module& m) {
  NamedParameters out;
  auto collect = [&out](const std::string& name, auto& p) {
    using P = std::remove_cvref_t<decltype(p)>;
    if constexpr (std::is_same_v<P, Var>)
      out.push_back({name, p});
    else
      out.push_back({name, p.var()});
  };
  auto parameters_only = [&collect](const std::string& name, auto& x) {
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>) collect(name, x);
  };
  if constexpr (requires { m.visit_state(parameters_only, std::string{}); })
    m.visit_state(parameters_only, std::string{});
  else if constexpr (requires { m.visit_parameters(collect); })
    m.visit_parameters(collect);
  else
    visit_parameters(m, collect);
  return out;
}

namespace detail {

inline std::string describe(const NamedParameters& ps, std::size_t i) {
  return ::anycost::detail::concat("parameter '", ps[i].name, "' (index ", i, ")");
}

// Checks a parameter list: every entry defined, a leaf, floating, names non-empty and unique, no
// parameter listed twice and no two parameters sharing memory. With `need_grad`, every entry must also
// require grad. `who` names the caller in messages.
inline void check_parameters(const NamedParameters& ps, const char* who, bool need_grad = true) {
  std::unordered_map<std::string, std::size_t> names;
  std::unordered_map<const void*, std::vector<std::size_t>> by_storage;
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const NamedParameter& p = ps[i];
    ANYCOST_CHECK(!p.name.empty(), ValueError, who, ": parameter at index ", i, " has an empty name");
    const auto [it, fresh] = names.emplace(p.name, i);
    ANYCOST_CHECK(fresh, ValueError, who, ": parameter name '", p.name, "' is used at index ", it->second,
                  " and at index ", i);
    ANYCOST_CHECK(p.var.defined() && p.var.data().defined(), ValueError, who, ": ", describe(ps, i),
                  " is undefined");
    ANYCOST_CHECK(p.var.is_leaf(), ValueError, who, ": ", describe(ps, i), " is not a leaf (it is the output of ",
                  p.var.grad_fn()->name(), "); optimisers update leaf parameters in place, so pass the full "
                  "parameter, not a view or a computed value");
    ANYCOST_CHECK(!need_grad || p.var.requires_grad(), ValueError, who, ": ", describe(ps, i),
                  " does not require grad; call set_requires_grad(true) or leave it out");
    const Tensor& t = p.var.data();
    for (std::size_t j : by_storage[t.storage().get()]) {
      ANYCOST_CHECK(!same(ps[j].var, p.var), ValueError, who, ": ", describe(ps, i), " is the same variable as ",
                    describe(ps, j));
      ANYCOST_CHECK(!t.may_overlap(ps[j].var.data()), ValueError, who, ": ", describe(ps, i),
                    " shares memory with ", describe(ps, j), "; each element must belong to one parameter");
    }
    by_storage[t.storage().get()].push_back(i);
  }
}

// Reads a state dict by key: rejects duplicate keys, checks shapes, and reports keys nobody asked for.
class StateReader {
 public:
  StateReader(const StateDict& sd, const char* who) : who_(who) {
    for (const auto& [key, t] : sd) {
      ANYCOST_CHECK(index_.emplace(key, &t).second, ValueError, who_, ": state key '", key, "' appears twice");
      ANYCOST_CHECK(t.defined(), ValueError, who_, ": state tensor '", key, "' is undefined");
    }
  }
  // The tensor stored under `key`, which must have the given shape.
  const Tensor& get(const std::string& key, const Shape& shape) {
    const auto it = index_.find(key);
    ANYCOST_CHECK(it != index_.end(), ValueError, who_, ": state has no entry '", key, "'");
    ANYCOST_CHECK(it->second->shape() == shape, ShapeError, who_, ": state entry '", key, "' has shape ",
                  it->second->shape(), ", expected ", shape);
    used_.emplace(key, true);
    return *it->second;
  }
  // A non-negative integer stored as a scalar (step counts).
  std::int64_t get_count(const std::string& key) {
    const double v = get(key, Shape{}).item();
    ANYCOST_CHECK(v >= 0 && v == static_cast<double>(static_cast<std::int64_t>(v)), ValueError, who_,
                  ": state entry '", key, "' holds ", v, ", expected a non-negative integer");
    return static_cast<std::int64_t>(v);
  }
  // Throws naming the first few keys that were never read.
  void finish() const {
    if (used_.size() == index_.size()) return;
    std::string list;
    std::size_t n = 0;
    for (const auto& kv : index_) {
      if (used_.count(kv.first)) continue;
      if (n < 5) list += (n ? ", '" : "'") + kv.first + "'";
      ++n;
    }
    ::anycost::detail::raise<ValueError>(who_, ": state has ", n, " unexpected entr", n == 1 ? "y" : "ies", ": ",
                                         list, n > 5 ? ", ..." : "");
  }

 private:
  const char* who_;
  std::map<std::string, const Tensor*> index_;
  std::map<std::string, bool> used_;
};

}  // namespace detail
}  // namespace optim
ANYCOST_NAMESPACE_END
