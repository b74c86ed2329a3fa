#include "common/thread_pool.h"

#include <cstdlib>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QASR_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define QASR_PAUSE() __asm__ __volatile__("yield")
#else
#define QASR_PAUSE() ((void)0)
#endif

namespace qasr {

namespace {
// About a millisecond of spinning: longer than the gap between two loops
// of one inference step, short enough not to burn a core between requests.
constexpr int kSpins = 20000;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads < 1) threads = 1;
  workers_.reserve(threads - 1);
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lk(wake_mu_);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks() {
  for (;;) {
    const int64_t i = next_.fetch_add(1);
    if (i >= n_) break;
    try {
      (*fn_)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lk(error_mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpins; ++spin) {
      QASR_PAUSE();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      // Announce the sleep before re-checking: parallel_for bumps the
      // generation and then reads sleepers_, so one side always sees the
      // other (both are sequentially consistent) and no wake-up is lost.
      std::unique_lock<std::mutex> lk(wake_mu_);
      sleepers_.fetch_add(1);
      wake_.wait(lk, [&] { return generation_.load() != seen; });
      sleepers_.fetch_sub(1);
      gen = generation_.load();
    }
    seen = gen;
    if (stop_.load()) return;
    // Join, then validate: a worker that wakes late (descheduled on a busy
    // machine) finds the loop closed, or a newer one, and backs out. The
    // caller closes the loop before it reads joined_, so it either waits for
    // this worker or this worker sees the loop closed.
    joined_.fetch_add(1);
    if (open_.load() && generation_.load() == gen) run_tasks();
    if (joined_.fetch_sub(1) == 1 && caller_sleeps_.load()) {
      std::lock_guard<std::mutex> lk(done_mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
  if (n == 1 || workers_.empty() || !busy.owns_lock()) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  fn_ = &fn;
  n_ = n;
  next_.store(0);
  error_ = nullptr;
  // Open before publishing the generation, so that a worker that sees the
  // new generation never finds the loop still closed and misses it.
  open_.store(true);
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lk(wake_mu_); }
    wake_.notify_all();
  }
  // The caller takes tasks too, so the loop completes even if no worker
  // gets a core; then it closes the loop and waits only for joined workers.
  run_tasks();
  open_.store(false);
  for (int spin = 0; joined_.load() != 0 && spin < kSpins; ++spin) QASR_PAUSE();
  if (joined_.load() != 0) {
    std::unique_lock<std::mutex> lk(done_mu_);
    caller_sleeps_.store(true);
    done_cv_.wait(lk, [&] { return joined_.load() == 0; });
    caller_sleeps_.store(false);
  }
  fn_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

namespace {
int default_threads() {
  if (const char* env = std::getenv("QASR_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}
std::mutex g_pool_mu;
std::unique_ptr<ThreadPool> g_pool;
}  // namespace

ThreadPool& global_pool() {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (!g_pool) g_pool = std::make_unique<ThreadPool>(default_threads());
  return *g_pool;
}

void set_global_threads(int threads) {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (threads < 1) threads = default_threads();
  if (g_pool && g_pool->size() == threads) return;
  g_pool.reset();  // joins the old workers; callers must not be inside a loop
  g_pool = std::make_unique<ThreadPool>(threads);
}

int global_threads() { return global_pool().size(); }

}  // namespace qasr
