#pragma once
/// Private: the publisher-confirm bookkeeping of one amqp::Client, as a pure state machine (no I/O, no clock
/// of its own): publishes queued until sent, the delivery tags of the current channel mapped to publish ids,
/// basic.ack / basic.nack (`multiple` honoured), basic.return matched to its publish, and the drain that
/// re-sends nacked publishes on a new connection. Follows RabbitMQ's "Consumer Acknowledgements and Publisher
/// Confirms" (delivery tags count from 1 per channel; a return precedes the ack of the same publish).
///
/// Example (what the Client does around it):
///
///     ConfirmTracker t;
///     auto id = t.add("x", "rk", msg, true);        // publish(): queued, unsent
///     for (auto* p = t.next_unsent(0); p; p = t.next_unsent(p->id)) t.mark_sent(p->id);  // after basic.publish
///     std::vector<Event> ev;
///     t.settle(/*tag*/ 1, false, false, now, 200ms, ev);  // basic.ack → ev = {Confirmed id}
///     if (auto d = t.drain_due(now)) { /* drop the connection, reconnect after *d */ }
///
/// Not thread-safe (one per Client, used on its thread).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "claimcheck/amqp/types.h"

namespace claimcheck::amqp::detail {

/// A basic.nack makes the tracker re-send the message on a new connection this many times before it is
/// reported as Failed (RabbitMQ 3.10 keeps nacking on a channel whose quorum-queue leader crashed).
inline constexpr int kMaxNackResends = 10;
/// The longest wait, after a nack, for the other publishes in flight to be settled before reconnecting.
inline constexpr std::chrono::milliseconds kNackDrainTimeout{2000};

class ConfirmTracker {
 public:
  using Clock = std::chrono::steady_clock;

  /// One publish until it is settled.
  struct Publish {
    std::uint64_t id = 0;          ///< publish id (1, 2, … per Client)
    std::string exchange;
    std::string routing_key;
    Message msg;
    bool mandatory = false;
    bool sent = false;             ///< sent on the current connection, awaiting its confirm
    std::uint64_t tag = 0;         ///< its delivery tag on the current channel (0 = unsent)
    bool returned = false;         ///< a basic.return came for it: its confirm is a failure
    std::string return_reason;
    int nacks = 0;                 ///< basic.nack received for it so far
  };

  /// Queues a message; returns its publish id. Never fails.
  std::uint64_t add(std::string exchange, std::string routing_key, Message msg, bool mandatory);
  /// The oldest unsent publish with an id greater than `after` (0 = from the start), or nullptr. The pointer
  /// is valid until the next call that changes the tracker.
  Publish* next_unsent(std::uint64_t after);
  /// Records that publish `id` was sent on the channel; returns its delivery tag (1, 2, … per channel).
  std::uint64_t mark_sent(std::uint64_t id);
  /// Removes an unsent publish that cannot be sent (its exchange does not exist) and returns its Failed event.
  Event drop(std::uint64_t id, std::string reason);
  /// basic.return for publish `id` (from its header): its confirm will be reported as Failed with `reason`.
  /// False if no such publish is pending.
  bool mark_returned(std::uint64_t id, std::string reason);
  /// basic.ack (`nacked` false) or basic.nack for `tag` (and every earlier tag if `multiple`): appends a
  /// Confirmed or Failed event per settled publish to `ev`. A nacked publish with fewer than
  /// kMaxNackResends nacks stays pending and starts a drain: nothing new is sent until drain_due(); the
  /// reconnect delay grows by `resend_unit` per nack of the most-nacked message. Unknown tags are ignored.
  void settle(std::uint64_t tag, bool multiple, bool nacked, Clock::time_point now, std::chrono::milliseconds resend_unit,
              std::vector<Event>& ev);
  /// During a drain, once every publish in flight is settled or the drain timed out: ends the drain and
  /// returns the delay after which the caller reconnects (the nacked publishes are re-sent there).
  std::optional<std::chrono::milliseconds> drain_due(Clock::time_point now);
  /// True while a drain holds back new sends.
  [[nodiscard]] bool draining() const noexcept { return draining_; }
  /// The channel is gone (connection lost, or a new connection): every publish becomes unsent (returns
  /// forgotten), delivery tags restart at 1, any drain ends.
  void channel_lost();
  /// Forgets everything (close()).
  void clear();
  /// Publishes not yet settled (sent or not).
  [[nodiscard]] std::size_t pending() const noexcept { return pending_.size(); }
  /// Publishes sent on this channel and not yet settled.
  [[nodiscard]] std::size_t in_flight() const noexcept { return tag_to_id_.size(); }

 private:
  std::uint64_t next_publish_id_ = 1;
  std::uint64_t next_tag_ = 1;
  std::map<std::uint64_t, Publish> pending_;           // publish id → publish
  std::map<std::uint64_t, std::uint64_t> tag_to_id_;   // delivery tag (this channel) → publish id
  bool draining_ = false;
  Clock::time_point drain_deadline_{};
  std::chrono::milliseconds resend_delay_{0};
};

}  // namespace claimcheck::amqp::detail
