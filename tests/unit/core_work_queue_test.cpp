// WorkQueue<T> (core/work_queue.h): FIFO order, many producers, close semantics.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "claimcheck/core/work_queue.h"

using namespace claimcheck;
using namespace std::chrono_literals;

TEST(WorkQueue, FifoDrainAndClose) {
  WorkQueue<int> q;
  int notified = 0;
  q.set_notifier([&] { ++notified; });
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(q.push(1));
  EXPECT_TRUE(q.push(2));
  EXPECT_TRUE(q.push(3));
  EXPECT_EQ(notified, 3);
  EXPECT_EQ(q.size(), 3U);
  EXPECT_EQ(q.try_pop(), std::optional<int>(1));
  auto rest = q.drain(1);
  ASSERT_EQ(rest.size(), 1U);
  EXPECT_EQ(rest[0], 2);
  rest = q.drain();
  ASSERT_EQ(rest.size(), 1U);
  EXPECT_EQ(rest[0], 3);
  EXPECT_EQ(q.try_pop(), std::nullopt);
  EXPECT_EQ(q.wait_pop(std::chrono::milliseconds(5)), std::nullopt);
  q.close();
  EXPECT_TRUE(q.closed());
  EXPECT_FALSE(q.push(4));
  EXPECT_TRUE(q.empty());
}

TEST(WorkQueue, ManyProducersOneConsumerLoseNothing) {
  WorkQueue<int> q;
  constexpr int kThreads = 4;
  constexpr int kPer = 5000;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&q, t] {
      for (int i = 0; i < kPer; ++i) q.push(t * kPer + i);
    });
  }
  std::vector<int> seen(kThreads * kPer, 0);
  int got = 0;
  while (got < kThreads * kPer) {
    auto v = q.wait_pop(std::chrono::milliseconds(1000));
    ASSERT_TRUE(v.has_value());
    ++seen[static_cast<std::size_t>(*v)];
    ++got;
  }
  for (auto& t : ts) t.join();
  for (int c : seen) ASSERT_EQ(c, 1);
}

TEST(WorkQueue, CloseWakesWaiter) {
  WorkQueue<int> q;
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    auto v = q.wait_pop(std::chrono::seconds(30));
    EXPECT_FALSE(v.has_value());
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  q.close();
  waiter.join();
  EXPECT_TRUE(returned.load());
}

// A worker's `while (auto v = q.pop())` takes every item queued before close() and then ends.
TEST(WorkQueue, PopTakesEverythingThenEndsAfterClose) {
  WorkQueue<int> q;
  std::vector<int> got;
  std::thread worker([&] {
    while (auto v = q.pop()) got.push_back(*v);
  });
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(q.push(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(q.push(4));
  q.close();
  worker.join();
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_FALSE(q.pop().has_value());  // closed and empty: returns at once
}

// ---- basic properties (DESIGN.md §2: every message carries its publisher's user_id) ------------------------
