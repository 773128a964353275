#pragma once
/// The coordinator AMQP thread's bookkeeping (DESIGN.md §5a) as two plain state machines — events in,
/// decisions out, no I/O — unit-tested without a broker (tests/unit/pipeline_coordinator_window_test.cpp).
///
/// - AckWindow: which deliveries of the current connection epoch are settled (committed, or their dead
///   letter confirmed) and up to which delivery tag one `basic.ack multiple=true` may acknowledge them: never
///   past a delivery that is still unsettled, so a crash never acks what was not committed.
/// - CaughtUpWatermark: when every store record published before a time C has been committed — the orphan
///   sweep's safety line (objects older than C − grace without a record are orphans).
///
/// Usage (inside the coordinator loop):
///   AckWindow w(client.epoch());
///   w.received(tag);   ... w.settle(env.epoch, tag);
///   if (auto up_to = w.take_ackable()) client.ack(up_to_tag_envelope, /*multiple=*/true);
///
/// Not thread-safe: owned by the AMQP thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>

namespace claimcheck {

/// Settled/unsettled delivery tags of one connection epoch (see the file comment).
class AckWindow {
 public:
  explicit AckWindow(std::uint64_t epoch) : epoch_(epoch) {}

  /// A delivery with `tag` arrived in the current epoch.
  void received(std::uint64_t tag);
  /// The delivery (`epoch`, `tag`) was committed or dead-lettered. Stale epochs are ignored (the broker
  /// redelivers those). Returns false when ignored or unknown.
  bool settle(std::uint64_t epoch, std::uint64_t tag);
  /// Forget a delivery that was rejected instead of settled (it is no longer ours to ack).
  void forget(std::uint64_t epoch, std::uint64_t tag);
  /// The highest settled tag below every unsettled one, to acknowledge with multiple=true, and forgets
  /// the tags it covers; nullopt when nothing can be acknowledged yet.
  std::optional<std::uint64_t> take_ackable();
  /// A new connection: every tag of the old one is void.
  void reset(std::uint64_t epoch);

  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_; }
  /// Highest tag received in this epoch (0 = none).
  [[nodiscard]] std::uint64_t max_tag() const noexcept { return max_tag_; }
  /// True when no delivery up to and including `tag` is unsettled.
  [[nodiscard]] bool settled_through(std::uint64_t tag) const noexcept {
    return unsettled_.empty() || *unsettled_.begin() > tag;
  }
  [[nodiscard]] bool all_settled() const noexcept { return unsettled_.empty(); }

 private:
  std::uint64_t epoch_;
  std::uint64_t max_tag_ = 0;
  std::set<std::uint64_t> unsettled_;  // received, not yet settled
  std::set<std::uint64_t> settled_;    // settled, not yet acknowledged
};

/// The orphan sweep's caught-up time: Idle → (queue seen empty at time C) → Window (1 s for deliveries
/// still on the wire) → Settling (until every delivery up to the highest tag seen then is settled and no
/// batch is in flight) → publishes C → Idle. Probes at most once per second.
class CaughtUpWatermark {
 public:
  using Steady = std::chrono::steady_clock;
  using System = std::chrono::system_clock;

  /// True when the caller should ask the broker for the queue's ready-message count now.
  [[nodiscard]] bool wants_probe(Steady::time_point now) const noexcept {
    return state_ == State::Idle && now >= next_probe_;
  }
  /// The probe's answer: `queue_empty` measured at `probed_at` (wall clock, taken before asking).
  void probed(Steady::time_point now, bool queue_empty, System::time_point probed_at);
  /// Advances; returns C once everything published before it is committed.
  std::optional<System::time_point> advance(Steady::time_point now, const AckWindow& window, bool pipeline_idle);
  /// A reconnect voids the tags the watermark waits for.
  void reset() noexcept { state_ = State::Idle; }

 private:
  enum class State { Idle, Window, Settling };
  State state_ = State::Idle;
  Steady::time_point next_probe_{}, window_end_{};
  System::time_point time_{};
  std::uint64_t tag_ = 0;
};

}  // namespace claimcheck
