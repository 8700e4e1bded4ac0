// The worker threads behind parallel_for (core/parallel.hpp). The calling thread takes part in every job, and
// chunks are claimed one at a time from a shared counter, so the caller starts at once and never waits for a
// worker that has not woken up yet: it takes that worker's chunks itself. (With a static split, as an OpenMP
// `parallel for` does, each region waits for every worker to wake; idle workers sleep, so on a small VM that
// cost 60 µs per region, 100+ regions per generated image.) Idle workers block on a condition variable:
// nothing spins between jobs.
//
// One job at a time: a thread that finds the pool busy (another thread's job) runs its loop serially.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include <pthread.h>

#include "anycost/config.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace detail {

// True on a thread while it runs a chunk of a job: nested parallel loops run serially.
inline thread_local bool in_pool_job = false;

class ThreadPool {
 public:
  static ThreadPool& instance() {
    static ThreadPool pool;
    return pool;
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() { resize(0); }

  // Runs body(c) for every c in [0, chunks) on the caller and up to `workers` pool threads; returns when all
  // have run (rethrowing the first exception). False, having run nothing, when another thread's job holds the
  // pool.
  template <class F>
  bool run(std::int64_t chunks, int workers, F& body) {
    if (busy_.exchange(true, std::memory_order_acquire)) return false;
    struct Release {
      std::atomic<bool>& flag;
      ~Release() { flag.store(false, std::memory_order_release); }
    } release{busy_};
    resize(workers);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = {&body, [](void* b, std::int64_t c) { (*static_cast<F*>(b))(c); }, chunks};
      next_.store(0, std::memory_order_relaxed);
      error_ = nullptr;
      open_ = true;
      ++generation_;
    }
    wake_.notify_all();
    work(job_);
    // Every chunk is claimed; wait for the workers still running one. A chunk is short: yield for up to
    // 100 µs before sleeping (a sleeping caller would pay a wake-up on every job).
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = false;
    }
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
    while (active_.load(std::memory_order_acquire) > 0 && std::chrono::steady_clock::now() < give_up)
      std::this_thread::yield();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return active_.load(std::memory_order_relaxed) == 0; });
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  struct Job {
    void* body = nullptr;
    void (*call)(void*, std::int64_t) = nullptr;
    std::int64_t chunks = 0;
  };

  ThreadPool() {
    pthread_atfork(nullptr, nullptr, [] { instance().forget_after_fork(); });
  }

  // In a forked child none of the workers exist, and a lock may have been copied held: start afresh. The
  // old handles are dropped unjoined (joining a thread of the parent would wait forever).
  void forget_after_fork() {
    new (&threads_) std::vector<std::thread>();
    new (&mutex_) std::mutex();
    new (&wake_) std::condition_variable();
    new (&done_) std::condition_variable();
    busy_.store(false);
    active_.store(0);
    open_ = false;
    stop_index_ = std::numeric_limits<int>::max();
  }

  // Claims and runs chunks until none is left.
  void work(const Job& job) {
    in_pool_job = true;
    for (std::int64_t c; (c = next_.fetch_add(1, std::memory_order_relaxed)) < job.chunks;) {
      try {
        job.call(job.body, c);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
    in_pool_job = false;
  }

  void worker_loop(int index) {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_index_ <= index || (generation_ != seen && open_); });
      if (stop_index_ <= index) return;
      seen = generation_;
      const Job job = job_;
      active_.fetch_add(1, std::memory_order_relaxed);
      lock.unlock();
      work(job);
      lock.lock();
      if (active_.fetch_sub(1, std::memory_order_release) == 1) done_.notify_one();
    }
  }

  // Keeps exactly n workers (called with the pool held, or from the destructor).
  void resize(int n) {
    if (static_cast<int>(threads_.size()) == n) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_index_ = n;
    }
    wake_.notify_all();
    while (static_cast<int>(threads_.size()) > n) {
      threads_.back().join();
      threads_.pop_back();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_index_ = std::numeric_limits<int>::max();
    }
    while (static_cast<int>(threads_.size()) < n) {
      const int index = static_cast<int>(threads_.size());
      threads_.emplace_back([this, index] { worker_loop(index); });
    }
  }

  std::atomic<bool> busy_{false};
  std::atomic<std::int64_t> next_{0};
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  Job job_;
  std::uint64_t generation_ = 0;
  bool open_ = false;
  std::atomic<int> active_{0};  // workers inside the current job (changed under mutex_)
  int stop_index_ = std::numeric_limits<int>::max();
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

}  // namespace detail
ANYCOST_NAMESPACE_END
