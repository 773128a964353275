#pragma once
/// WorkQueue<T>: a small thread-safe multi-producer queue for handing results from workers to the AMQP thread.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace claimcheck {

/// Unbounded FIFO, many producers, any number of consumers.
///
/// Thread safety: every method is thread-safe. After close(), push() refuses new items and waiting pops return
/// what is left, then nothing. An optional notifier is called (outside the lock) after each successful push —
/// e.g. to wake an event loop. Typical AMQP-thread loop: `client.poll(50ms)`, then `queue.drain()`, and
/// `client.set_interrupt_check([&]{ return !queue.empty(); })` to make poll() return early.
///
/// Example — workers hand results to the AMQP thread:
///
///     claimcheck::WorkQueue<Result> results;
///     std::thread worker([&] { results.push(work()); });
///     client.set_interrupt_check([&] { return !results.empty(); });   // poll() returns early
///     for (;;) {
///       CC_TRY(events, client.poll(std::chrono::milliseconds(50)));
///       for (auto& r : results.drain()) publish(r);
///     }
template <typename T>
class WorkQueue {
 public:
  WorkQueue() = default;
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  /// Appends an item; false (item dropped) when the queue is closed.
  bool push(T item) {
    std::function<void()> notify;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      items_.push_back(std::move(item));
      notify = notifier_;
    }
    cv_.notify_one();
    if (notify) notify();
    return true;
  }

  /// Removes and returns the oldest item, or std::nullopt when empty. Never blocks.
  std::optional<T> try_pop() {
    std::lock_guard<std::mutex> lock(mu_);
    if (items_.empty()) return std::nullopt;
    T v = std::move(items_.front());
    items_.pop_front();
    return v;
  }

  /// Waits up to `timeout` for an item; std::nullopt on timeout or when closed and empty.
  template <typename Rep, typename Period>
  std::optional<T> wait_pop(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    T v = std::move(items_.front());
    items_.pop_front();
    return v;
  }

  /// Waits for an item, however long it takes; std::nullopt once the queue is closed and empty: a worker's
  /// `while (auto job = queue.pop()) handle(*job);` ends when the producer side closed and everything queued
  /// before was taken.
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    T v = std::move(items_.front());
    items_.pop_front();
    return v;
  }

  /// Removes and returns every item currently queued (oldest first), up to `max` items (0 = all).
  std::vector<T> drain(std::size_t max = 0) {
    std::vector<T> out;
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t n = (max == 0 || max > items_.size()) ? items_.size() : max;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(std::move(items_.front()));
      items_.pop_front();
    }
    return out;
  }

  /// Refuses further pushes and wakes every waiter. Idempotent.
  void close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  /// Sets the function called after each push (thread-safe; may be empty).
  void set_notifier(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    notifier_ = std::move(fn);
  }

  /// Items currently queued (a snapshot).
  [[nodiscard]] std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return items_.size();
  }
  /// True when no item is queued (a snapshot).
  [[nodiscard]] bool empty() const { return size() == 0; }
  /// True after close().
  [[nodiscard]] bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  std::function<void()> notifier_;
  bool closed_ = false;
};

}  // namespace claimcheck
