// Whether operations record the graph. A thread-local flag (the only thread-local state in anycost besides
// the CUDA handle cache) with RAII guards. The backward pass runs its formulas with the flag set to
// create_graph, which is how higher-order gradients come for free.
#pragma once

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN

class GradMode {
 public:
  static bool is_enabled() { return flag(); }
  static void set_enabled(bool on) { flag() = on; }

 private:
  static bool& flag() {
    thread_local bool enabled = true;
    return enabled;
  }
};

// Sets grad mode for a scope and restores the previous value.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : prev_(GradMode::is_enabled()) { GradMode::set_enabled(enabled); }
  ~GradModeGuard() { GradMode::set_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

// Inference scope: nothing is recorded, no graph memory is held.
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

ANYCOST_NAMESPACE_END
