// Graph nodes. A node is the backward function of one recorded operation: it receives the gradient of each
// of its outputs and returns the gradient of each input, computed with Var operations (so that, with
// create_graph, the backward pass is itself recorded). Edges point from a node to the nodes that produced
// its inputs; leaves that require gradients end in an AccumulateGrad node.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "anycost/autograd/grad_mode.hpp"
#include "anycost/autograd/var.hpp"

ANYCOST_NAMESPACE_BEGIN

struct Edge {
  std::shared_ptr<Node> fn;
  std::uint32_t input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

class Node {
 public:
  Node() = default;
  virtual ~Node() {
    for (auto& e : next_edges) detail::release_node(e.fn);
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // grads has one entry per output (all defined: the engine substitutes nothing and skips nodes that got no
  // gradient at all, and multi-output nodes receive undefined entries for outputs without gradient).
  // Returns one gradient per next edge; an undefined Var means "no contribution".
  virtual std::vector<Var> apply(std::vector<Var>& grads) = 0;
  virtual const char* name() const = 0;
  // Drops saved tensors after a backward pass that does not retain the graph. The only write a pass makes
  // to a node (with `released`); a pass keeps everything else in its own graph task (autograd/engine.hpp),
  // so threads may walk one graph at once when they retain it.
  virtual void release_saved() {}

  // Views that select a slice of their one input (narrow) describe it here, so that a first-order pass can
  // carry the slice's gradient on to the input (down to a leaf's grad) without a full-size zero tensor.
  struct Slice {
    Shape input_shape;
    int dim = 0;
    std::int64_t start = 0;
  };
  virtual const Slice* slice_of_input() const { return nullptr; }

  std::vector<Edge> next_edges;
  std::uint32_t num_outputs = 1;
  bool released = false;
};

// Terminal node of a leaf that requires grad; the engine accumulates into leaf->grad. Owned by the leaf
// (created once, never replaced, so threads recording over one parameter share it without a race); a graph
// that outlives its leaf skips the accumulation (nobody can read that grad any more).
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<VarImpl>& v) : leaf(v) {}
  std::vector<Var> apply(std::vector<Var>&) override { return {}; }
  const char* name() const override { return "AccumulateGrad"; }
  std::weak_ptr<VarImpl> leaf;
};

namespace detail {
struct NodeReleaseState {
  std::vector<std::shared_ptr<Node>> pending;
  bool draining = false;
};
inline NodeReleaseState& node_release_state() {
  thread_local NodeReleaseState state;
  return state;
}
inline void release_node(std::shared_ptr<Node>& p) {
  if (!p) return;
  if (p.use_count() > 1) {
    p.reset();
    return;
  }
  auto& st = node_release_state();
  st.pending.push_back(std::move(p));
  if (st.draining) return;
  st.draining = true;
  while (!st.pending.empty()) {
    std::shared_ptr<Node> n = std::move(st.pending.back());
    st.pending.pop_back();
    n.reset();  // its destructor queues its own predecessors
  }
  st.draining = false;
}
}  // namespace detail

// Where the gradient of v goes: the producing node's output slot, the leaf's accumulator, or nowhere.
inline Edge gradient_edge(const Var& v) {
  if (!v.defined()) return {};
  if (v.grad_fn()) return {v.grad_fn(), v.output_nr()};
  if (!v.requires_grad()) return {};
  VarImpl* impl = v.impl();
  std::lock_guard lock(impl->leaf_mutex);
  if (!impl->grad_accumulator) impl->grad_accumulator = std::make_shared<AccumulateGrad>(v.shared_impl());
  return {impl->grad_accumulator, 0};
}

// True when recording is on and some input needs a gradient.
inline bool any_requires_grad(std::initializer_list<const Var*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Var* v : inputs)
    if (v->defined() && v->requires_grad()) return true;
  return false;
}

// Connects node n to its inputs and wraps `out` as its (single) output.
inline Var record(Tensor out, std::shared_ptr<Node> n, std::initializer_list<const Var*> inputs) {
  n->next_edges.reserve(inputs.size());
  for (const Var* v : inputs) n->next_edges.push_back(gradient_edge(*v));
  return Var::from_node(std::move(out), std::move(n), 0);
}

// A Var saved for backward, with the storage version at save time: using it after an in-place change to
// that storage is an error rather than a silently wrong gradient.
class SavedVar {
 public:
  SavedVar() = default;
  explicit SavedVar(const Var& v) : var_(v), version_(v.defined() ? v.data().version() : 0) {}
  const Var& get(const char* op) const {
    ANYCOST_CHECK(var_.defined(), AutogradError, op,
                  ": saved tensors were freed by an earlier backward pass; pass retain_graph=true to backward "
                  "through the graph twice");
    ANYCOST_CHECK(var_.data().version() == version_, AutogradError, op,
                  ": a tensor saved for backward was modified in place (version ", var_.data().version(),
                  ", saved at version ", version_, ")");
    return var_;
  }
  void reset() { var_ = Var(); }

 private:
  Var var_;
  std::uint64_t version_ = 0;
};

ANYCOST_NAMESPACE_END
