// The studio's render workers: a fixed number of threads, each running the library with its own CPU thread
// count (OpenMP keeps that setting per thread), and a bounded queue so that a burst of requests is refused
// (Busy) instead of piling up renders without end.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <anycost/anycost.hpp>

namespace anycost_studio {

struct Busy : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class RenderPool {
 public:
  RenderPool(int workers, int threads_per_worker, std::size_t max_queue) : max_queue_(max_queue) {
    if (workers < 1 || threads_per_worker < 1 || max_queue < 1)
      throw anycost::ValueError("RenderPool: workers, threads and queue length must be >= 1");
    for (int i = 0; i < workers; ++i)
      threads_.emplace_back([this, threads_per_worker] {
        anycost::set_num_threads(threads_per_worker);
        anycost::NoGradGuard no_grad;  // renders never build a graph
        run();
      });
  }
  RenderPool(const RenderPool&) = delete;
  RenderPool& operator=(const RenderPool&) = delete;
  ~RenderPool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  int workers() const { return static_cast<int>(threads_.size()); }

  // Queues f and returns its future; throws Busy when max_queue jobs are already waiting.
  template <class F>
  auto submit(F f) -> std::future<decltype(f())> {
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto future = task->get_future();
    {
      std::lock_guard lock(mutex_);
      if (queue_.size() >= max_queue_)
        throw Busy("the server is busy (" + std::to_string(queue_.size()) + " renders waiting); try again");
      queue_.emplace_back([task] { (*task)(); });
    }
    wake_.notify_one();
    return future;
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();  // a packaged_task: exceptions go to its future
    }
  }

  std::size_t max_queue_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace anycost_studio
