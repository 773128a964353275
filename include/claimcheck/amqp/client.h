#pragma once
/// claimcheck::amqp::Client — one RabbitMQ connection driven by one thread (DESIGN.md §3, §5a), on rabbitmq-c 0.11.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "claimcheck/amqp/types.h"
#include "claimcheck/core/result.h"

namespace claimcheck::amqp {

/// A RabbitMQ connection with publisher confirms, consumers, automatic reconnect and failover.
///
/// Thread safety: NONE. One thread (the program's AMQP thread) owns the Client and calls every method;
/// workers hand work over through a WorkQueue. Move-only; the destructor closes the connection.
///
/// Model: poll-driven. The owner calls poll() in a loop with a short timeout (e.g. 50 ms); poll() reads
/// frames (deliveries, confirms, returns, blocked/unblocked, closes), services heartbeats and, after a
/// connection loss, reconnects (failover over AmqpConfig::urls, exponential backoff with jitter, bounded per
/// call), re-declares every topology given to declare(), resumes every consume(), re-publishes every
/// unconfirmed message and emits a Reconnected event. Downstream must tolerate duplicates.
///
/// Channels: channel 1 carries publishes (confirm mode) and consumers; channel 2 carries declarations and the
/// passive/test helpers, so a failed declaration never disturbs in-flight publishes or deliveries.
///
/// Errors: Unavailable (network, broker down, timeouts — retryable), PermissionDenied (403 ACCESS_REFUSED,
/// bad credentials, vhost refused, TLS verification — never retried), NotFound (404), FailedPrecondition
/// (406, e.g. an exchange redeclared with another type), InvalidArgument (bad config), Internal.
///
/// Example — publish with a confirm, then consume and ack (one thread):
///
///     claimcheck::amqp::AmqpConfig cfg;
///     cfg.urls = claimcheck::split_url_list("amqp://producer:pw@127.0.0.1:5672/%2F");
///     claimcheck::amqp::Client client(cfg);
///     if (auto c = client.connect(); !c) return c;
///     claimcheck::amqp::Message m;
///     m.body = R"({"hello":1})";
///     CC_TRY(id, client.publish("ex.claimcheck.msg", "branch1", m, /*mandatory*/ true));
///     CC_TRY_VOID(client.wait_confirms(std::chrono::seconds(5)));      // Failed events become an error
///     CC_TRY_VOID(client.consume("q.claimcheck.branch1", /*prefetch*/ 16));
///     CC_TRY(events, client.poll(std::chrono::milliseconds(50)));
///     for (const auto& e : *events)
///       if (e.kind == claimcheck::amqp::Event::Kind::Delivery) CC_TRY_VOID(client.ack(e.delivery));
class Client {
 public:
  /// Stores the config; does not connect. Call connect() next (config errors surface there).
  explicit Client(AmqpConfig cfg);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Validates the config and connects: tries every URL in order, up to AmqpConfig::connect_attempts rounds
  /// with backoff between rounds; logs the redacted URL. Opens channel 1 in confirm mode.
  /// Errors: InvalidArgument (config), PermissionDenied (credentials/vhost; stops at once), Unavailable.
  /// Idempotent: a no-op when already connected.
  [[nodiscard]] Result<void> connect();

  /// Declares exchanges (durable), queues (durable; quorum per spec) and bindings, in that order; remembers the
  /// topology and re-declares it after every reconnect. Idempotent (same arguments → no change).
  /// Least privilege (DESIGN.md §9): an exchange or queue this user may not declare (403 ACCESS_REFUSED) is
  /// verified passively instead (passive declare needs no rights) on the re-opened RPC channel; a binding it
  /// may not make is assumed to exist (no passive form; the administrator binds at `make up`), logged at debug.
  /// A queue that exists with other arguments (406, e.g. the reference demo's queues without dead-letter
  /// arguments) is verified passively and used as it is, with one warning naming it and the broker's reason.
  /// Such objects are checked passively only from then on, reconnects included (one warning per Client).
  /// Errors: NotFound (an object it may not declare does not exist), FailedPrecondition (an exchange of
  /// another type: 406), PermissionDenied (connection-level refusal), Unavailable.
  /// Thread safety: the AMQP thread only (see the class).
  [[nodiscard]] Result<void> declare(const Topology& topology);

  /// Starts consuming `queue` with `prefetch` unacknowledged deliveries at most (basic.qos per consumer,
  /// 0 = unlimited); deliveries arrive as Delivery events from poll(). Remembered and resumed after a
  /// reconnect or a server-side cancel. Consuming the same queue twice is a no-op.
  /// Errors: NotFound (queue missing), PermissionDenied, FailedPrecondition (exclusive use), Unavailable.
  [[nodiscard]] Result<void> consume(const std::string& queue, std::uint16_t prefetch);

  /// Stops consuming `queue` (basic.cancel) and forgets it. Deliveries already received can still be acked.
  /// Idempotent: a queue not consumed is a no-op success.
  [[nodiscard]] Result<void> cancel_consume(const std::string& queue);

  /// Publishes `msg` (basic.publish on the confirm channel) and returns a local publish_id (> 0, increasing,
  /// stable across reconnects). The outcome arrives later from poll() as exactly one Confirmed or Failed event
  /// with that id. With `mandatory`, an unroutable message is reported as Failed ("312 NO_ROUTE").
  /// While disconnected or blocked (connection.blocked) the message is queued locally and sent when possible;
  /// unconfirmed messages are re-sent after a reconnect. Mandatory messages carry the internal header
  /// `x-claimcheck-publish-id` (stripped again from deliveries). Every message carries the AMQP `user_id` of
  /// the user this connection authenticated as (url_user() of the URL in use; msg.user_id is ignored), which
  /// RabbitMQ checks, so recipients of it can trust it (DESIGN.md §2, §9).
  /// Errors: FailedPrecondition when connect() never succeeded or close() was called.
  [[nodiscard]] Result<std::uint64_t> publish(const std::string& exchange, const std::string& routing_key,
                                              const Message& msg, bool mandatory);

  /// basic.ack of a delivery (`multiple`: every delivery up to and including this tag). A delivery from an
  /// older connection generation (env.epoch != epoch()) or received while disconnected is a no-op success:
  /// the broker redelivers it. Errors: Unavailable (connection lost now; the delivery will be redelivered).
  [[nodiscard]] Result<void> ack(const Envelope& env, bool multiple = false);

  /// basic.nack; `requeue` = false dead-letters it (if the queue has a DLX) or drops it. Stale epoch → no-op.
  [[nodiscard]] Result<void> nack(const Envelope& env, bool requeue, bool multiple = false);

  /// basic.reject of one delivery; same semantics as nack(env, requeue, false).
  [[nodiscard]] Result<void> reject(const Envelope& env, bool requeue);

  /// Waits up to `timeout` for frames and returns the events seen (possibly none). Returns as soon as at
  /// least one event is ready (after draining what is already buffered), when `timeout` passes, or when the
  /// interrupt check (set_interrupt_check) returns true. While disconnected, makes at most one reconnect
  /// round per call when its backoff time has come.
  /// Errors (the Client is then unusable until connect() is called again): Unavailable after
  /// reconnect.max_attempts rounds failed; PermissionDenied when the broker refuses the credentials or vhost.
  [[nodiscard]] Result<std::vector<Event>> poll(std::chrono::milliseconds timeout);

  /// Sets a predicate that poll() checks about every 10 ms while waiting; when it returns true poll() returns
  /// early (e.g. `[&]{ return !results.empty(); }` to wake the AMQP thread when workers posted work).
  /// Called on the AMQP thread only; the predicate itself must be thread-safe w.r.t. the producers it reads.
  void set_interrupt_check(std::function<bool()> check);

  /// Number of publishes without a Confirmed/Failed event yet (sent or queued).
  [[nodiscard]] std::size_t unconfirmed() const;

  /// Convenience for scripts and tests: polls until unconfirmed() == 0 or `timeout` passes. Every event seen
  /// (Confirmed, Failed, deliveries, …) is appended to `other_events` when given, otherwise dropped (dropped
  /// deliveries stay unacked until the next reconnect: pass `other_events` when consuming).
  /// Errors: Unavailable on timeout (message tells how many are unconfirmed) or from poll();
  /// FailedPrecondition when any publish Failed (message has the first reason).
  [[nodiscard]] Result<void> wait_confirms(std::chrono::milliseconds timeout,
                                           std::vector<Event>* other_events = nullptr);

  /// True while a connection is open (false between a loss and the reconnect).
  [[nodiscard]] bool connected() const;
  /// Connection generation: 0 before the first connect, +1 on every successful (re)connect.
  [[nodiscard]] std::uint64_t epoch() const;
  /// Closes the connection gracefully (connection.close) and forgets consumers; publishes not yet confirmed
  /// are dropped. Idempotent. connect() may be called again.
  void close();

  /// Number of ready messages in `queue` (passive queue.declare on channel 2). Errors: NotFound, Unavailable.
  [[nodiscard]] Result<std::uint32_t> queue_message_count(const std::string& queue);

  /// basic.get with auto-ack (no_ack) on channel 2, for tests and for reading q.dead: the message is removed
  /// from the queue. std::nullopt when the queue is empty. Do not ack the returned Envelope.
  /// Errors: NotFound, Unavailable.
  [[nodiscard]] Result<std::optional<Envelope>> basic_get(const std::string& queue);

  /// queue.delete (unconditional) on channel 2 and forgets it from the remembered topologies.
  /// Idempotent: a missing queue is a success. Errors: PermissionDenied, Unavailable.
  [[nodiscard]] Result<void> delete_queue(const std::string& queue);

  /// exchange.delete (unconditional) on channel 2 and forgets it from the remembered topologies.
  /// Idempotent. Errors: PermissionDenied, Unavailable.
  [[nodiscard]] Result<void> delete_exchange(const std::string& exchange);

  /// Name of the broker connection as shown in the management API (`connection_name` client property).
  [[nodiscard]] const std::string& connection_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck::amqp
