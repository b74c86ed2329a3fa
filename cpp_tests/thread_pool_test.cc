// The pool's hot path is lock-free (spinning workers and caller), so these
// tests stress the hand-offs: every index runs exactly once, from many
// callers at once, across the spin-to-sleep transition, with nesting and
// exceptions. scripts/test_sanitizers.sh also runs them under TSan.
#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace qasr {
namespace {

// Runs one loop of n tasks and checks that each index ran exactly once.
void expect_each_index_once(ThreadPool& pool, int64_t n) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  for (auto& h : hits) h.store(0);
  pool.parallel_for(n, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "index " << i << " of " << n;
}

TEST(ThreadPool, RunsEveryIndexOnceBackToBack) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    for (int rep = 0; rep < 2000; ++rep) expect_each_index_once(pool, 1 + rep % 37);
  }
}

TEST(ThreadPool, WorkersWakeFromSleep) {
  ThreadPool pool(3);
  for (int rep = 0; rep < 20; ++rep) {
    // Longer than the spin budget: the workers go to sleep between loops.
    std::this_thread::sleep_for(std::chrono::milliseconds(rep % 2 ? 5 : 0));
    expect_each_index_once(pool, 64);
  }
}

TEST(ThreadPool, UsesTheWorkers) {
  ThreadPool pool(2);
  std::atomic<int> others{0};
  const std::thread::id caller = std::this_thread::get_id();
  for (int rep = 0; rep < 200 && others.load() == 0; ++rep) {
    pool.parallel_for(8, [&](int64_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      if (std::this_thread::get_id() != caller) others.fetch_add(1);
    });
  }
  EXPECT_GT(others.load(), 0) << "no task ever ran on a worker";
}

TEST(ThreadPool, ManyCallersShareOnePool) {
  ThreadPool pool(3);
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int rep = 0; rep < 1000; ++rep) {
        const int64_t n = 1 + (rep + c) % 29;
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        for (auto& h : hits) h.store(0);
        pool.parallel_for(n, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
        for (auto& h : hits) {
          if (h.load() != 1) failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ThreadPool, NestedLoopsRunInline) {
  ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.parallel_for(6, [&](int64_t) { pool.parallel_for(5, [&](int64_t) { inner.fetch_add(1); }); });
  EXPECT_EQ(inner.load(), 30);
}

TEST(ThreadPool, RethrowsAndStaysUsable) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallel_for(16,
                                 [&](int64_t i) {
                                   ran.fetch_add(1);
                                   if (i == 3) throw std::runtime_error("task 3");
                                 }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 16) << "the other tasks still run";
  expect_each_index_once(pool, 50);
}

}  // namespace
}  // namespace qasr
