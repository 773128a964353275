#pragma once
/// The consumer's delivery bookkeeping (issue 10 item 5): which deliveries are in flight, which publishes
/// (acks, dead-letter copies) each one waits for, and when it may be settled — events in, settlements out.
/// Pure: no broker, no clock, no I/O; ConsumeRun (consumer.cpp) feeds it and applies what it returns.
///
/// Usage:
///   DeliveryBook book;
///   const auto t = book.open(std::move(envelope));            // basic.deliver
///   book.await_confirm(t, *client.publish(...));              // an ack / dead-letter copy was published
///   if (auto s = book.on_confirm(publish_id, failed)) apply(*s);  // basic.ack / basic.nack from the broker
///   // apply(s): s.requeue ? client.nack(s.state.env, true) : client.ack(s.state.env); DeliveryBook::tally(s, report)

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "claimcheck/amqp/types.h"
#include "claimcheck/consume/consumer.h"
#include "claimcheck/protocol/messages.h"

namespace claimcheck::detail {

/// What the AMQP thread knows about one delivery while it is in flight.
struct DeliveryState {
  amqp::Envelope env;
  std::optional<Pointer> pointer;  ///< parsed pointer (empty for inline-v1 and for refused messages)
  std::size_t confirms_pending = 0;
  bool publish_failed = false;     ///< a publish for it failed or was nacked, or its work must be retried
  bool rejected_ack = false;       ///< a `rejected` ack was published for it
  bool dead_lettered = false;      ///< a copy went to the DLX
  bool processed = false;          ///< the handler accepted it
  bool inlined = false;            ///< an inline-v1 message
  bool known = false;              ///< found in the journal: processed before, its ack re-sent
  std::uint64_t size_raw = 0;      ///< bytes handed to the handler
  std::uint64_t size_stored = 0;   ///< object bytes downloaded
};

/// How a delivery ends: basic.ack, or basic.nack with requeue (`requeue`) when any of its publishes failed
/// or its work has to be tried again.
struct Settlement {
  std::uint64_t token = 0;
  DeliveryState state;
  bool requeue = false;
};

/// In-flight deliveries keyed by a token (1, 2, 3, … per book), and the publisher-confirm ids each waits for.
/// A delivery is settled exactly once: on its last confirm, at once when it waits for none, or forced by
/// settle_now(); confirms that arrive for a settled (or unknown) delivery are ignored.
/// Not thread-safe: the AMQP thread owns it.
class DeliveryBook {
 public:
  /// Records a new delivery; returns its token (never 0, never reused).
  std::uint64_t open(amqp::Envelope env);
  /// The state of an in-flight delivery, or nullptr when `token` is settled or unknown. Valid until the
  /// delivery is settled.
  DeliveryState* find(std::uint64_t token);
  /// A publish for `token` went out with publisher-confirm id `publish_id`: the delivery waits for it.
  /// No-op for an unknown token.
  void await_confirm(std::uint64_t token, std::uint64_t publish_id);
  /// A publish for `token` could not be sent, or its work has to be retried: it will settle with requeue.
  void mark_failed(std::uint64_t token);
  /// The delivery `publish_id` belongs to, if it is still in flight (for log lines).
  [[nodiscard]] std::optional<std::uint64_t> token_for(std::uint64_t publish_id) const;
  /// The broker confirmed (`failed` = false) or nacked/returned (`failed` = true) `publish_id`. Returns the
  /// settlement when this was the last confirm its delivery waited for; nullopt for an unknown id (settled
  /// already, or never awaited) or while other confirms are pending.
  std::optional<Settlement> on_confirm(std::uint64_t publish_id, bool failed);
  /// Settles `token` if it waits for no confirm; nullopt while some are pending or for an unknown token.
  std::optional<Settlement> settle_if_confirmed(std::uint64_t token);
  /// Settles `token` now, with `requeue` (or'ed with an earlier failure), whatever is pending; nullopt for an
  /// unknown token.
  std::optional<Settlement> settle_now(std::uint64_t token, bool requeue);

  [[nodiscard]] std::size_t in_flight() const noexcept { return inflight_.size(); }
  [[nodiscard]] bool empty() const noexcept { return inflight_.empty(); }
  /// Deliveries settled so far (acked or requeued).
  [[nodiscard]] std::uint64_t settled() const noexcept { return settled_; }

  /// Adds one settlement to the report: requeued, or processed (with inlined and bytes), already_processed,
  /// dead_lettered and rejected as its state says.
  static void tally(const Settlement& s, ConsumeReport& report);

 private:
  std::unordered_map<std::uint64_t, DeliveryState> inflight_;         // token → state
  std::unordered_map<std::uint64_t, std::uint64_t> publish_to_token_;  // publish id → token
  std::uint64_t next_token_ = 1;
  std::uint64_t settled_ = 0;
};

}  // namespace claimcheck::detail
