// The backward pass: backward() accumulates into leaves' grad(); grad() returns gradients of chosen inputs
// without touching any grad(). Nodes run once each, in dependency order (a node runs when every consumer
// that can reach it has delivered its gradient), so shared sub-graphs are never visited twice.
//
// Threads: every pass keeps its bookkeeping (dependency counts, gradient buffers) in its own graph task, never
// in the nodes, and adds into a leaf's grad under that leaf's lock (VarImpl::leaf_mutex). So threads that
// record their own graphs over shared parameters may run grad() (fully in parallel) and backward() (the
// additions into each grad serialised, in no fixed order) at the same time. A pass writes to the nodes it
// runs only to free their saved tensors: two passes over one graph at once need retain_graph.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include "anycost/autograd/fused_node.hpp"
#include "anycost/autograd/node.hpp"

ANYCOST_NAMESPACE_BEGIN

// Watches a backward() pass leaf by leaf: expect() is called once for every leaf the pass will add a
// gradient into, before any gradient is computed; done() once for each of them, as soon as the pass has
// finished adding into that leaf's grad() (the rest of the pass never touches it again). Data-parallel
// training starts averaging a bucket of gradients over the ranks while the pass goes on
// (train/gradient_averager.hpp). The order of done() calls is fixed by the graph, so processes that run the
// same graph see the same order.
class LeafObserver {
 public:
  virtual ~LeafObserver() = default;
  virtual void expect(const VarImpl& leaf) = 0;
  virtual void done(const VarImpl& leaf) = 0;
};

struct GradOptions {
  bool create_graph = false;  // record the backward pass so that its result can be differentiated again
  bool retain_graph = false;  // keep saved tensors for another pass (implied by create_graph)
  bool allow_unused = false;  // an input that the outputs do not depend on gets an undefined gradient
  LeafObserver* observer = nullptr;  // backward() only: told when each leaf's gradient is complete
};

namespace detail {

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

// Where a slice's gradient sits in the full gradient, which is zero elsewhere: first-order passes carry the
// gradient of a prefix slice (Node::slice_of_input) in this form, so that it is added into the matching
// part of a leaf's grad, and a full-size tensor is made only where one is needed.
struct Region {
  Shape full;
  Dims offsets;
  // The part of t (of shape `full`) that a gradient of shape `sizes` covers.
  Tensor of(const Tensor& t, const Shape& sizes) const {
    Tensor v = t;
    for (int d = 0; d < full.size(); ++d)
      if (sizes[d] != full[d]) v = v.narrow(d, offsets[d], sizes[d]);
    return v;
  }
  // The gradient of the slice's input: this region moved by the slice's start.
  static Region through(const std::optional<Region>& inner, const Node::Slice& s) {
    Region r{s.input_shape, inner ? inner->offsets : Dims::filled(s.input_shape.size(), 0)};
    r.offsets[s.dim] += s.start;
    return r;
  }
};

inline Var materialize_region(const Var& g, const Region& r) {
  Tensor out = Tensor::zeros(r.full, g.dtype(), g.device());
  r.of(out, g.shape()).copy_(g.data());
  return Var(out);
}

inline void accumulate_leaf(VarImpl* leaf, Var&& g, bool create_graph, const std::optional<Region>& region = {}) {
  if (!g.defined()) return;
  std::lock_guard lock(leaf->leaf_mutex);  // threads share parameters (see the top of this file)
  Var& acc = leaf->grad;
  const bool partial = region && !create_graph && !(acc.defined() && acc.requires_grad());
  if (region && !partial) g = materialize_region(g, *region);
  const Shape& shape = partial ? region->full : g.shape();
  ANYCOST_CHECK(shape == leaf->data.shape(), AutogradError, "backward: gradient of shape ", shape,
                " for a leaf of shape ", leaf->data.shape());
  if (create_graph) {
    acc = add_grads(acc, g);
  } else if (!acc.defined()) {
    acc = partial ? materialize_region(g, *region) : Var(own_gradient(std::move(g)));
  } else if (acc.requires_grad()) {
    acc = Var(add_tensors(acc.data(), g.data()));
  } else {
    const Tensor dst = partial ? region->of(acc.data(), g.shape()) : acc.data();
    expr::evaluate_into(dst, expr::Binary<expr::Add, expr::Arg<0>, expr::Arg<1>>{}, dst,
                        g.data().expand(dst.shape()));
    dst.bump_version();
  }
}

struct Capture {
  Node* node;
  std::uint32_t slot;
  std::size_t index;
};

// The state of one pass over the nodes it reaches, indexed in discovery order.
struct NodeTask {
  Node* node = nullptr;
  std::size_t first_child = 0;  // next_edges[j] leads to task children[first_child + j] (-1: nowhere)
  int dependencies = 0;
  bool needed = false;  // some successor is needed or a target
  bool target = false;  // gradients leave the graph here: a leaf accumulator, or a captured edge
  bool queued = false;
  std::vector<Var> buffer;       // one gradient per output, sized when the first one arrives
  std::optional<Region> region;  // buffer[0] covers only this region of the node's output gradient
};

// Runs the pass from root edges. With captures, gradients are collected at those edges and leaves are not
// accumulated; without, every reachable AccumulateGrad receives its gradient.
inline void run_backward(const std::vector<Edge>& roots, std::vector<Var> root_grads, bool create_graph,
                         bool retain_graph, const std::vector<Capture>& captures, std::vector<Var>* captured,
                         LeafObserver* observer = nullptr) {
  const bool accumulate = captures.empty();
  std::vector<NodeTask> tasks;
  std::vector<std::ptrdiff_t> children;
  std::unordered_map<const Node*, std::ptrdiff_t> index;

  // Discovery with an explicit post-order walk: successors come before their consumers in `post`.
  std::vector<std::ptrdiff_t> post;
  {
    std::vector<std::pair<std::ptrdiff_t, std::size_t>> stack;
    auto visit = [&](Node* n) {
      auto [it, fresh] = index.try_emplace(n, static_cast<std::ptrdiff_t>(tasks.size()));
      if (fresh) {
        tasks.emplace_back();
        tasks.back().node = n;
        tasks.back().first_child = children.size();
        children.resize(children.size() + n->next_edges.size(), -1);
        stack.emplace_back(it->second, 0);
      }
      return it->second;
    };
    for (const Edge& e : roots) visit(e.fn.get());
    while (!stack.empty()) {
      const auto [t, i] = stack.back();
      const Node* n = tasks[static_cast<std::size_t>(t)].node;
      if (i < n->next_edges.size()) {
        ++stack.back().second;
        const std::size_t at = tasks[static_cast<std::size_t>(t)].first_child + i;
        if (Node* c = n->next_edges[i].fn.get()) children[at] = visit(c);
        continue;
      }
      post.push_back(t);
      stack.pop_back();
    }
  }
  auto task = [&](std::ptrdiff_t t) -> NodeTask& { return tasks[static_cast<std::size_t>(t)]; };
  auto child = [&](const NodeTask& t, std::size_t j) { return children[t.first_child + j]; };
  auto receives = [&](std::ptrdiff_t c) { return c >= 0 && (task(c).needed || task(c).target); };

  if (accumulate)  // AccumulateGrad is final: a type-id compare does what a dynamic_cast would, cheaper
    for (NodeTask& t : tasks) t.target = typeid(*t.node) == typeid(AccumulateGrad);
  std::vector<std::ptrdiff_t> capture_task;  // per capture; -1 when the outputs do not reach it
  for (const Capture& c : captures) {
    auto it = index.find(c.node);
    capture_task.push_back(it == index.end() ? -1 : it->second);
    if (it != index.end()) task(it->second).target = true;
  }
  for (std::ptrdiff_t t : post)
    for (std::size_t j = 0; j < task(t).node->next_edges.size(); ++j)
      if (receives(child(task(t), j))) task(t).needed = true;
  for (std::ptrdiff_t t : post) {
    if (!task(t).needed) continue;
    for (std::size_t j = 0; j < task(t).node->next_edges.size(); ++j)
      if (receives(child(task(t), j))) ++task(child(task(t), j)).dependencies;
  }
  // Every reachable accumulator runs: a target is fed by needed nodes only, or is a root.
  if (observer && accumulate)
    for (std::ptrdiff_t t : post)
      if (task(t).target)
        if (auto leaf = static_cast<AccumulateGrad*>(task(t).node)->leaf.lock()) observer->expect(*leaf);

  // Gradient buffers are recycled through `spare` as nodes finish, so a long chain allocates a handful of
  // vectors per pass instead of two per node.
  std::vector<std::vector<Var>> spare;
  auto recycle = [&](std::vector<Var>&& v) {
    v.clear();
    if (v.capacity() > 0) spare.push_back(std::move(v));
  };
  auto slot = [&](NodeTask& t, std::uint32_t i) -> Var& {
    if (t.buffer.empty()) {
      if (!spare.empty()) {
        t.buffer = std::move(spare.back());
        spare.pop_back();
      }
      t.buffer.resize(t.node->num_outputs);
    }
    return t.buffer[i];
  };
  auto take = [](NodeTask& t, std::uint32_t i) { return i < t.buffer.size() ? std::move(t.buffer[i]) : Var(); };
  // The full gradient of a buffer that holds a region.
  auto materialize = [](NodeTask& t) {
    if (t.region) t.buffer[0] = materialize_region(t.buffer[0], *t.region);
    t.region.reset();
  };
  // Adds g (covering `region` of the slot's gradient, or all of it) into output slot i of task t.
  auto deliver = [&](NodeTask& t, std::uint32_t i, Var g, std::optional<Region> region) {
    if (region && (i != 0 || t.node->num_outputs != 1)) {  // regions are tracked for single-output nodes
      g = materialize_region(g, *region);
      region.reset();
    }
    Var& s = slot(t, i);
    if (!s.defined()) {
      s = std::move(g);
      if (i == 0) t.region = std::move(region);
    } else if (!region && !t.region) {
      s = add_grads(s, g);
    } else if (region && t.region && region->offsets == t.region->offsets && g.shape() == s.shape()) {
      s = add_grads(s, g);  // the same slice twice: still a slice
    } else {
      // Two different regions, or a region and a full gradient: the region is added into the full one.
      Var full, part;
      std::optional<Region> where;
      if (!t.region) {
        full = Var(own_gradient(std::move(s))), part = std::move(g), where = std::move(region);
      } else if (!region) {
        full = Var(own_gradient(std::move(g))), part = std::move(s), where = std::move(t.region);
      } else {
        full = materialize_region(s, *t.region), part = std::move(g), where = std::move(region);
      }
      const Tensor dst = where->of(full.data(), part.shape());
      dst.copy_(add_tensors(dst, part.data()));
      s = std::move(full);
      t.region.reset();
    }
  };

  GradModeGuard mode(create_graph);
  for (std::size_t i = 0; i < roots.size(); ++i) deliver(task(index.at(roots[i].fn.get())), roots[i].input_nr,
                                                         root_grads[i], std::nullopt);
  std::vector<std::ptrdiff_t> ready;
  for (const Edge& e : roots) {
    NodeTask& t = task(index.at(e.fn.get()));
    if (t.dependencies == 0 && !t.queued) {  // a node listed twice among the roots runs once
      t.queued = true;
      ready.push_back(index.at(e.fn.get()));
    }
  }

  while (!ready.empty()) {
    NodeTask& t = task(ready.back());
    ready.pop_back();
    Node* n = t.node;
    if (t.target && accumulate) {
      if (auto leaf = static_cast<AccumulateGrad*>(n)->leaf.lock()) {
        accumulate_leaf(leaf.get(), take(t, 0), create_graph, t.region);
        if (observer) observer->done(*leaf);
      }
      recycle(std::move(t.buffer));
      continue;
    }
    if (t.target) {
      if (!t.buffer.empty()) materialize(t);  // a captured gradient is full-size
      for (std::size_t k = 0; k < captures.size(); ++k)
        if (capture_task[k] >= 0 && &task(capture_task[k]) == &t && captures[k].slot < t.buffer.size())
          (*captured)[captures[k].index] = t.buffer[captures[k].slot];
    }
    if (!t.needed) {
      recycle(std::move(t.buffer));
      continue;
    }
    std::vector<Var> grads = std::move(t.buffer);
    t.buffer.clear();
    bool any = false;  // (an empty buffer: no gradient reached this node)
    for (const Var& g : grads) any = any || g.defined();
    std::vector<Var> outs;
    std::optional<Region> out_region;  // outs[0] covers only this region of the input's gradient
    const Node::Slice* slice = create_graph ? nullptr : n->slice_of_input();
    if (any && slice) {
      out_region = Region::through(t.region, *slice);
      outs.push_back(std::move(grads[0]));
    } else if (any) {
      if (t.region) grads[0] = materialize_region(grads[0], *t.region);
      // A node whose saved tensors were freed by an earlier pass throws from apply(), naming itself (SavedVar,
      // FusedNode); nodes that save nothing (views, sums, upfirdn2d) may run again, as in PyTorch.
      outs = n->apply(grads);
      if (!retain_graph) {
        n->release_saved();
        n->released = true;
      }
    }
    for (std::size_t j = 0; j < n->next_edges.size(); ++j) {
      const std::ptrdiff_t c = child(t, j);
      if (!receives(c)) continue;
      if (j < outs.size() && outs[j].defined())
        deliver(task(c), n->next_edges[j].input_nr, std::move(outs[j]), j == 0 ? out_region : std::nullopt);
      if (--task(c).dependencies == 0) ready.push_back(c);
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
                       nullptr, opts.observer);
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
