// One browser tab's state in `anycost studio` (its edit history, the newest preview it asked for, its
// projection), the store of sessions behind unguessable ids, and the projection jobs that turn an upload into
// a base latent on their own threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "studio.hpp"

namespace anycost_studio {

// A projection of one uploaded image; written by its thread, read by the handlers (under `mutex`).
struct ProjectionJob {
  enum class Status : std::uint8_t { running, done, failed, cancelled };
  static const char* name(Status s) {
    constexpr const char* names[] = {"running", "done", "failed", "cancelled"};
    return names[static_cast<int>(s)];
  }

  std::uint64_t id = 0;
  int steps = 0;
  Tensor target;                 // [3, R, R] in [-1, 1], the upload as fitted
  std::atomic<bool> cancel{false};

  std::mutex mutex;
  Status status = Status::running;
  int step = -1;                 // -1: not started; 0: the starting guess
  double mse = 0;
  Tensor current;                // W+ [1, n, d] of the latest step
  std::string error;
  int rendered_step = -2;        // the step `rendered_png` shows
  std::string rendered_png;
};

struct Session {
  std::mutex mutex;  // guards history, projection, last_used
  editing::EditHistory history;
  std::shared_ptr<ProjectionJob> projection;
  std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> newest_preview{0};  // the highest preview seq received: older ones are superseded
};

// Sessions by id. Ids are 128 random bits from the OS (std::random_device reads getrandom), so one tab cannot
// reach another's state by guessing. Past max_sessions the least recently used session is dropped.
class SessionStore {
 public:
  explicit SessionStore(std::size_t max_sessions) : max_(max_sessions) {}

  std::pair<std::string, std::shared_ptr<Session>> create() {
    std::random_device rd;
    std::string id;
    for (int i = 0; i < 4; ++i) {
      char hex[9];
      std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(rd()));
      id += hex;
    }
    auto s = std::make_shared<Session>();
    std::lock_guard lock(mutex_);
    while (sessions_.size() >= max_) evict_oldest();
    sessions_[id] = s;
    return {id, s};
  }

  std::shared_ptr<Session> find(const std::string& id) {
    std::lock_guard lock(mutex_);
    const auto it = sessions_.find(id);
    if (it == sessions_.end()) return nullptr;
    std::lock_guard session_lock(it->second->mutex);
    it->second->last_used = std::chrono::steady_clock::now();
    return it->second;
  }

  std::size_t size() {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }

 private:
  void evict_oldest() {
    auto used = [](const std::shared_ptr<Session>& s) {
      std::lock_guard l(s->mutex);
      return s->last_used;
    };
    auto oldest = sessions_.begin();
    for (auto it = std::next(sessions_.begin()); it != sessions_.end(); ++it)
      if (used(it->second) < used(oldest->second)) oldest = it;
    {
      std::lock_guard lock(oldest->second->mutex);
      if (oldest->second->projection) oldest->second->projection->cancel = true;
    }
    sessions_.erase(oldest);
  }

  std::size_t max_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
};

struct Cancelled {};

// Runs projections on their own threads, at most max_running at once (Busy beyond), each with `threads` CPU
// threads. A finished job pushes its latent into its session's history, unless it was cancelled or replaced.
class Projector {
 public:
  Projector(const Studio& studio, int max_running, int threads)
      : studio_(studio), max_running_(max_running), threads_(threads) {}
  Projector(const Projector&) = delete;
  Projector& operator=(const Projector&) = delete;
  ~Projector() {
    std::lock_guard lock(mutex_);
    for (auto& [job, thread] : running_) job->cancel = true;
    for (auto& [job, thread] : running_) thread.join();
  }

  // Starts projecting `target` ([3, R, R]) for `session`, cancelling the session's previous projection.
  std::shared_ptr<ProjectionJob> start(const std::shared_ptr<Session>& session, Tensor target) {
    std::lock_guard lock(mutex_);
    reap();
    {
      std::lock_guard s(session->mutex);
      if (session->projection) session->projection->cancel = true;
    }
    int busy = 0;
    for (auto& [job, thread] : running_) busy += !job->cancel;
    if (busy >= max_running_)
      throw Busy("the server is busy projecting " + std::to_string(busy) + " image(s); try again in a moment");
    auto job = std::make_shared<ProjectionJob>();
    job->id = ++next_id_;
    job->steps = studio_.options().projection_steps;
    job->target = std::move(target);
    {
      std::lock_guard s(session->mutex);
      session->projection = job;
    }
    std::weak_ptr<Session> weak = session;
    running_.emplace_back(job, std::thread([this, job, weak] { run(*job, weak); }));
    return job;
  }

 private:
  // Joins the threads whose jobs have ended.
  void reap() {
    for (auto it = running_.begin(); it != running_.end();) {
      bool ended;
      {
        std::lock_guard l(it->first->mutex);
        ended = it->first->status != ProjectionJob::Status::running;
      }
      if (ended) {
        it->second.join();
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void run(ProjectionJob& job, const std::weak_ptr<Session>& weak) {
    set_num_threads(threads_);
    auto report = [&job](int step, double mse, const Tensor& w) {
      if (job.cancel) throw Cancelled{};
      std::lock_guard l(job.mutex);
      job.step = step;
      job.mse = mse;
      job.current = w.clone();
    };
    try {
      const models::Generator& g = studio_.generator();
      const Tensor x = job.target.unsqueeze(0);
      projection::ProjectOptions o;
      o.steps = job.steps;
      o.sub_weight = studio_.options().projection_sub_weight;
      if (o.sub_weight > 0) o.sub_configs = {g.channel_table().uniform(0.25)};
      {
        NoGradGuard no_grad;
        if (const auto& e = studio_.encoder())  // the encoder's guess, at once
          o.init = e->forward(models::encoder_input(Var(x), e->resolution()));
        else
          o.init = Var(studio_.mean_w().reshape({1, 1, g.style_dim()}).expand({1, g.n_style(), g.style_dim()}).contiguous());
        const Tensor guess = studio_.render(o.init.data(), studio_.full()).image;
        report(0, mean(square(Var(guess) - Var(job.target))).data().item(), o.init.data());
      }
      o.on_step = [&](const projection::ProjectStep& s) { report(s.step, s.mse, s.wplus); };
      const projection::ProjectResult r = projection::project(g, x, o);
      if (job.cancel) throw Cancelled{};
      if (const std::shared_ptr<Session> session = weak.lock()) {
        std::lock_guard s(session->mutex);
        if (session->projection.get() == &job) {
          auto base = std::make_shared<editing::EditBase>();
          base->source = editing::Source::upload;
          base->wplus = r.wplus.to(DType::float32).contiguous();
          session->history.push({std::move(base), {}});
        }
      }
      std::lock_guard l(job.mutex);
      job.current = r.wplus;
      job.mse = r.mse;
      job.step = job.steps;
      job.status = ProjectionJob::Status::done;
    } catch (const Cancelled&) {
      std::lock_guard l(job.mutex);
      job.status = ProjectionJob::Status::cancelled;
    } catch (const std::exception& e) {
      std::lock_guard l(job.mutex);
      job.status = ProjectionJob::Status::failed;
      job.error = e.what();
    }
  }

  const Studio& studio_;
  int max_running_, threads_;
  std::mutex mutex_;
  std::uint64_t next_id_ = 0;
  std::vector<std::pair<std::shared_ptr<ProjectionJob>, std::thread>> running_;
};

}  // namespace anycost_studio
