// The backward pass: backward() accumulates into leaves' grad(); grad() returns gradients of chosen inputs
// without touching any grad(). Nodes run once each, in dependency order (a node runs when every consumer
// that can reach it has delivered its gradient), so shared sub-graphs are never visited twice.
#pragma once

#include <atomic>
#include <typeinfo>
#include <utility>
#include <vector>

#include "anycost/autograd/fused_node.hpp"
#include "anycost/autograd/node.hpp"

ANYCOST_NAMESPACE_BEGIN

struct GradOptions {
  bool create_graph = false;  // record the backward pass so that its result can be differentiated again
  bool retain_graph = false;  // keep saved tensors for another pass (implied by create_graph)
  bool allow_unused = false;  // an input that the outputs do not depend on gets an undefined gradient
};

namespace detail {

inline std::uint64_t next_pass_id() {
  static std::atomic<std::uint64_t> id{0};
  return ++id;
}

inline Tensor add_tensors(const Tensor& a, const Tensor& b) {
  return evaluate_tensor(expr::Binary<expr::Add, expr::Leaf<Var>, expr::Leaf<Var>>{{}, {Var(a)}, {Var(b)}});
}

// Sum of two gradients: recorded when grad mode is on (create_graph), plain otherwise.
inline Var add_grads(const Var& a, const Var& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  if (GradMode::is_enabled()) return materialize<0>(expr::Binary<expr::Add, expr::Leaf<Var>, expr::Leaf<Var>>{{}, {a}, {b}});
  return Var(add_tensors(a.data(), b.data()));
}

// A tensor the leaf may own: g's own buffer when nobody else can see it, else a copy.
inline Tensor own_gradient(Var&& g) {
  const Tensor& t = g.data();
  const bool exclusive = g.shared_impl().use_count() == 1 && t.storage().use_count() == 1 && t.offset() == 0 &&
                         t.is_contiguous() &&
                         t.storage()->bytes() == static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype());
  return exclusive ? t : t.clone();
}

inline void accumulate_leaf(VarImpl* leaf, Var&& g, bool create_graph) {
  if (!g.defined()) return;
  ANYCOST_CHECK(g.shape() == leaf->data.shape(), AutogradError, "backward: gradient of shape ", g.shape(),
                " for a leaf of shape ", leaf->data.shape());
  Var& acc = leaf->grad;
  if (create_graph) {
    acc = add_grads(acc, g);
  } else if (!acc.defined()) {
    acc = Var(own_gradient(std::move(g)));
  } else if (acc.requires_grad()) {
    acc = Var(add_tensors(acc.data(), g.data()));
  } else {
    const Tensor& dst = acc.data();
    expr::evaluate_into(dst, expr::Binary<expr::Add, expr::Arg<0>, expr::Arg<1>>{}, dst, g.data().expand(dst.shape()));
    dst.bump_version();
  }
}

struct Capture {
  Node* node;
  std::uint32_t slot;
  std::size_t index;
};

// Runs the pass from root edges. With captures, gradients are collected at those edges and leaves are not
// accumulated; without, every reachable AccumulateGrad receives its gradient.
inline void run_backward(const std::vector<Edge>& roots, std::vector<Var> root_grads, bool create_graph,
                         bool retain_graph, const std::vector<Capture>& captures, std::vector<Var>* captured) {
  const std::uint64_t pass = next_pass_id();
  const bool accumulate = captures.empty();
  // Targets: where gradients leave the graph (leaf accumulators, or the captured input edges).
  auto is_target = [](const Node* n) { return n->capture; };

  // Discovery with an explicit post-order walk: `needed` = some successor is a target or needed.
  std::vector<Node*> post;
  {
    std::vector<std::pair<Node*, std::size_t>> stack;
    auto visit = [&](Node* n) {
      if (n->pass == pass) return;
      n->pass = pass;
      n->dependencies = 0;
      n->needed = false;
      n->capture = false;
      n->buffer.clear();  // sized when its first gradient arrives (slot() below)
      stack.emplace_back(n, 0);
    };
    for (const Edge& e : roots) visit(e.fn.get());
    while (!stack.empty()) {
      auto& [n, i] = stack.back();
      if (i < n->next_edges.size()) {
        Node* c = n->next_edges[i++].fn.get();
        if (c) visit(c);
        continue;
      }
      post.push_back(n);
      stack.pop_back();
    }
  }
  if (accumulate)  // AccumulateGrad is final: a type-id compare does what a dynamic_cast would, cheaper
    for (Node* n : post) n->capture = typeid(*n) == typeid(AccumulateGrad);
  for (const Capture& c : captures) c.node->capture = true;
  for (Node* n : post) {  // successors come before their consumers in post-order
    for (const Edge& e : n->next_edges)
      if (e.fn && (e.fn->needed || is_target(e.fn.get()))) n->needed = true;
  }
  for (Node* n : post) {
    if (!n->needed) continue;
    for (const Edge& e : n->next_edges)
      if (e.fn && (e.fn->needed || is_target(e.fn.get()))) ++e.fn->dependencies;
  }

  // Gradient buffers are recycled through `spare` as nodes finish, so a long chain allocates a handful of
  // vectors per pass instead of two per node.
  std::vector<std::vector<Var>> spare;
  auto recycle = [&](std::vector<Var>&& v) {
    v.clear();
    if (v.capacity() > 0) spare.push_back(std::move(v));
  };
  auto slot = [&](Node* n, std::uint32_t i) -> Var& {
    if (n->buffer.empty()) {
      if (!spare.empty()) {
        n->buffer = std::move(spare.back());
        spare.pop_back();
      }
      n->buffer.resize(n->num_outputs);
    }
    return n->buffer[i];
  };
  auto take = [](Node* n, std::uint32_t i) { return i < n->buffer.size() ? std::move(n->buffer[i]) : Var(); };

  GradModeGuard mode(create_graph);
  for (std::size_t i = 0; i < roots.size(); ++i) {
    Var& s = slot(roots[i].fn.get(), roots[i].input_nr);
    s = add_grads(s, root_grads[i]);
  }
  std::vector<Node*> ready;
  for (const Edge& e : roots)
    if (e.fn->dependencies == 0 && e.fn->pass == pass) {
      ready.push_back(e.fn.get());
      e.fn->pass = 0;  // marks "queued" so that a node listed twice among the roots runs once
    }

  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    if (n->capture && accumulate) {
      accumulate_leaf(static_cast<AccumulateGrad*>(n)->leaf.get(), take(n, 0), create_graph);
      recycle(std::move(n->buffer));
      continue;
    }
    if (n->capture)
      for (const Capture& c : captures)
        if (c.node == n && c.slot < n->buffer.size()) (*captured)[c.index] = n->buffer[c.slot];
    if (!n->needed) {
      recycle(std::move(n->buffer));
      continue;
    }
    std::vector<Var> grads = std::move(n->buffer);
    n->buffer.clear();
    bool any = false;  // (an empty buffer: no gradient reached this node)
    for (const Var& g : grads) any = any || g.defined();
    std::vector<Var> outs;
    if (any) {
      // A node whose saved tensors were freed by an earlier pass throws from apply(), naming itself (SavedVar,
      // FusedNode); nodes that save nothing (views, sums, upfirdn2d) may run again, as in PyTorch.
      outs = n->apply(grads);
      if (!retain_graph) {
        n->release_saved();
        n->released = true;
      }
    }
    for (std::size_t j = 0; j < n->next_edges.size(); ++j) {
      const Edge& e = n->next_edges[j];
      Node* c = e.fn.get();
      if (!c || !(c->needed || is_target(c))) continue;
      if (j < outs.size() && outs[j].defined()) {
        Var& s = slot(c, e.input_nr);
        s = add_grads(s, outs[j]);
      }
      if (--c->dependencies == 0) ready.push_back(c);
    }
    recycle(std::move(grads));
    recycle(std::move(outs));
  }
}

inline std::vector<Var> root_gradients(const std::vector<Var>& outputs, const std::vector<Var>& grads,
                                       const char* op) {
  ANYCOST_CHECK(grads.empty() || grads.size() == outputs.size(), ValueError, op, ": ", grads.size(),
                " gradients given for ", outputs.size(), " outputs");
  std::vector<Var> out(outputs.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const Var& y = outputs[i];
    ANYCOST_CHECK(y.defined(), ValueError, op, ": output ", i, " is undefined");
    if (!grads.empty() && grads[i].defined()) {
      ANYCOST_CHECK(grads[i].shape() == y.shape(), ShapeError, op, ": gradient ", i, " has shape ", grads[i].shape(),
                    " but the output has shape ", y.shape());
      out[i] = grads[i];
    } else {
      ANYCOST_CHECK(y.numel() == 1, ShapeError, op, ": output ", i, " of shape ", y.shape(),
                    " is not a scalar; pass its gradient explicitly");
      out[i] = Var(Tensor::ones(y.shape(), y.dtype(), y.device()));
    }
  }
  return out;
}

}  // namespace detail

// Accumulates d(sum_i <outputs_i, grads_i>)/d(leaf) into leaf.grad() for every leaf that requires grad.
inline void backward(const std::vector<Var>& outputs, const std::vector<Var>& grads = {}, GradOptions opts = {}) {
  std::vector<Var> gs = detail::root_gradients(outputs, grads, "backward");
  std::vector<Edge> roots;
  std::vector<Var> root_grads;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    Edge e = gradient_edge(outputs[i]);
    ANYCOST_CHECK(e.valid(), AutogradError, "backward: output ", i, " does not require grad (no graph to walk)");
    roots.push_back(std::move(e));
    root_grads.push_back(gs[i]);
  }
  detail::run_backward(roots, std::move(root_grads), opts.create_graph, opts.retain_graph || opts.create_graph, {},
                       nullptr);
}
inline void backward(const Var& output, const Var& grad = {}, GradOptions opts = {}) {
  backward(std::vector<Var>{output}, grad.defined() ? std::vector<Var>{grad} : std::vector<Var>{}, opts);
}

// Gradients of sum_i <outputs_i, grad_outputs_i> with respect to each input (leaves or intermediate values),
// leaving every grad() untouched. With create_graph the results are differentiable.
inline std::vector<Var> grad(const std::vector<Var>& outputs, const std::vector<Var>& inputs,
                             const std::vector<Var>& grad_outputs = {}, GradOptions opts = {}) {
  std::vector<Var> gs = detail::root_gradients(outputs, grad_outputs, "grad");
  std::vector<Edge> roots;
  std::vector<Var> root_grads;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    Edge e = gradient_edge(outputs[i]);
    if (!e.valid()) continue;  // a constant output contributes nothing
    roots.push_back(std::move(e));
    root_grads.push_back(gs[i]);
  }
  std::vector<Edge> input_edges;
  std::vector<detail::Capture> captures;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    ANYCOST_CHECK(inputs[i].defined() && inputs[i].requires_grad(), AutogradError, "grad: input ", i,
                  " does not require grad");
    input_edges.push_back(gradient_edge(inputs[i]));
    captures.push_back({input_edges.back().fn.get(), input_edges.back().input_nr, i});
  }
  std::vector<Var> result(inputs.size());
  if (!roots.empty())
    detail::run_backward(roots, std::move(root_grads), opts.create_graph, opts.retain_graph || opts.create_graph,
                         captures, &result);
  for (std::size_t i = 0; i < inputs.size(); ++i)
    ANYCOST_CHECK(result[i].defined() || opts.allow_unused, AutogradError, "grad: input ", i,
                  " was not used to compute the outputs (pass allow_unused to get an undefined gradient)");
  return result;
}

ANYCOST_NAMESPACE_END
