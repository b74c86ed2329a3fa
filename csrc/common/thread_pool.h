// A persistent pool of worker threads for data-parallel loops.
//
// One pool is shared by every model and stream in a process. A loop started
// while the pool is busy with another loop (another stream on another
// thread, or a nested loop) runs on the calling thread instead of waiting,
// so many concurrent streams never oversubscribe the cores or deadlock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qasr {

class ThreadPool {
 public:
  // `threads` counts the calling thread: ThreadPool(1) starts no workers.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(i) for every i in [0, n), spread over the pool. Returns when
  // all calls are done. Exceptions thrown by fn are rethrown here (the first
  // one wins; the remaining tasks still run).
  void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

 private:
  void worker_loop();
  void run_tasks();

  // Loops run back to back during inference (hundreds per audio chunk), so
  // the hot path is lock-free: workers and the caller spin briefly on
  // atomics, and the mutexes and condition variables below are touched only
  // by a thread that has run out of spinning and really sleeps.
  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the thread that owns the current loop
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> open_{false};  // workers may still join the current loop
  std::atomic<int> joined_{0};     // workers inside (or validating a join to) a loop
  std::atomic<bool> stop_{false};
  // Sleeping workers wait on wake_ for a new generation.
  std::mutex wake_mu_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  // A caller that gave up spinning waits on done_cv_ for joined_ == 0.
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::atomic<bool> caller_sleeps_{false};
  std::exception_ptr error_;
  std::mutex error_mu_;
};

// The process-wide pool used by the runtime. Its size defaults to the
// number of hardware threads, or QASR_NUM_THREADS when set.
ThreadPool& global_pool();
void set_global_threads(int threads);
int global_threads();

}  // namespace qasr
