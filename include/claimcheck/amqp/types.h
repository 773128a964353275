#pragma once
/// Value types of the AMQP layer: configuration, messages, deliveries, topology and events (DESIGN.md §3, §5a).

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "claimcheck/core/result.h"
#include "claimcheck/core/retry.h"

namespace claimcheck::amqp {

/// Connection settings of one Client. Plain data; the library never reads env or files to fill it.
///
/// - `urls`: `amqp://user:pass@host:port/vhost` or `amqps://…` (vhost `/` is `%2F`; no path = `/`), tried in
///   this order on every (re)connect: the first one that accepts wins (failover order). Use claimcheck::split_url_list()
///   for a comma-separated list. Passwords are never logged: logs show redact_url().
/// - `heartbeat`: AMQP heartbeat negotiated with the broker, seconds (0 disables; max 65535). Heartbeats are
///   serviced only while Client::poll()/publish() run: poll at least every heartbeat/2.
/// - `connect_timeout`: TCP + TLS connect and AMQP handshake timeout per URL attempt; also the timeout of
///   every synchronous RPC (declare, consume, qos, …).
/// - `reconnect`: backoff between rounds of attempts (each round tries every URL once; equal jitter), for the
///   initial connect() and after a connection loss; its `max_attempts` is the rounds after a loss before
///   poll() gives up with Unavailable (kUnlimitedAttempts = forever).
/// - `connect_attempts`: rounds that the initial connect() makes before it fails with Unavailable (>= 1).
/// - `connection_name`: shown in the management UI (client property `connection_name`).
/// - `ca_cert`: PEM CA bundle for amqps://; empty = the Debian system bundle kSystemCaBundle.
/// - `verify_peer`: verify the broker certificate and host name (amqps:// only).
/// - `channel_max`: 0 = accept the broker's limit.
struct AmqpConfig {
  std::vector<std::string> urls;
  std::chrono::seconds heartbeat{30};
  std::chrono::milliseconds connect_timeout{5000};
  BackoffPolicy reconnect{std::chrono::milliseconds(200), std::chrono::milliseconds(10000), 2.0, kUnlimitedAttempts, 0.5};
  int connect_attempts = 3;
  std::string connection_name;
  std::string ca_cert;
  bool verify_peer = true;
  std::uint16_t channel_max = 0;

  /// Checks the fields: at least one URL, each parses as amqp:// or amqps://, timeouts > 0,
  /// reconnect valid (BackoffPolicy::validate) with initial > 0, heartbeat <= 65535 s, connect_attempts >= 1.
  /// Errors: InvalidArgument (Origin::Config); the message names the field and shows the URL redacted.
  [[nodiscard]] Result<void> validate() const;
};

/// Debian's system CA bundle, used for amqps:// when AmqpConfig::ca_cert is empty.
inline constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

/// URL lists and their redaction are claimcheck::split_url_list() and claimcheck::redact_url()
/// (core/credentials.h): one rule for every layer.

/// The broker user an AMQP URL authenticates as: its percent-decoded user part ("guest", rabbitmq-c's
/// default, when the URL has none; "" when it cannot be parsed). The Client publishes with this user_id.
/// Thread-safe.
std::string url_user(std::string_view url);

/// One AMQP message (properties + body) to publish or as delivered.
///
/// - `body`: raw bytes.
/// - `headers`: string-valued on publish; on delivery integer/boolean/float header values are rendered as
///   decimal text ("3", "true"), arrays and nested tables (e.g. x-death) are skipped.
/// - `persistent`: delivery_mode 2 (DESIGN §2: every claimcheck message is persistent).
/// - `timestamp`: AMQP timestamp property, seconds since the Unix epoch; 0 = not set.
/// - `user_id`: AMQP user-id property, the broker user that published it (DESIGN.md §2). On delivery: as
///   received ("" = none; RabbitMQ guarantees a non-empty one equals the publisher's authenticated user).
///   On publish: ignored — the Client always sends the user it authenticated as (url_user of the URL in use),
///   so a delivered Message can be re-published (dead-lettered) as is.
struct Message {
  std::string body;
  std::string content_type = "application/json";
  std::string type;
  std::string message_id;
  std::map<std::string, std::string> headers;
  bool persistent = true;
  std::int64_t timestamp = 0;
  std::string user_id;
};

/// A delivery received by a consumer (basic.deliver) or by Client::basic_get().
///
/// - `delivery_tag`: the channel's tag, valid only for connection generation `epoch`.
/// - `epoch`: Client::epoch() when it was received; after a reconnect the broker redelivers it and acking the
///   stale envelope is a no-op.
/// - `delivery_count`: the quorum queue's `x-delivery-count` header (0 when absent: first delivery).
struct Envelope {
  std::uint64_t delivery_tag = 0;
  std::uint64_t epoch = 0;
  bool redelivered = false;
  std::string exchange;
  std::string routing_key;
  std::string consumer_tag;
  Message message;
  std::int64_t delivery_count = 0;
};

/// A queue to declare. `quorum` adds `x-queue-type: quorum` (durable, replicated); otherwise a classic
/// durable queue. `dead_letter_exchange` (empty = none) → `x-dead-letter-exchange`; `delivery_limit` (0 = none)
/// → `x-delivery-limit` (quorum only); `single_active_consumer` → `x-single-active-consumer`.
struct QueueSpec {
  std::string name;
  bool quorum = true;
  std::string dead_letter_exchange;
  std::int64_t delivery_limit = 0;
  bool single_active_consumer = false;
};

/// A durable exchange to declare; `type` is "direct", "fanout", "topic" or "headers".
struct ExchangeSpec {
  std::string name;
  std::string type = "direct";
};

/// queue.bind of `queue` to `exchange` with `routing_key`.
struct BindingSpec {
  std::string queue;
  std::string exchange;
  std::string routing_key;
};

/// A set of exchanges, queues and bindings; declared in that order by Client::declare().
struct Topology {
  std::vector<ExchangeSpec> exchanges;
  std::vector<QueueSpec> queues;
  std::vector<BindingSpec> bindings;
};

/// Something that happened on the connection, returned by Client::poll().
///
/// - Delivery: `delivery` holds the message (ack/nack/reject it through the Client).
/// - Confirmed: the broker confirmed publish `publish_id` (basic.ack) and did not return it.
/// - Failed: publish `publish_id` was nacked (`reason` "nack"), returned as unroutable (`reason` e.g.
///   "312 NO_ROUTE"), or its exchange does not exist (`reason` = the broker's 404 text).
/// - Reconnected: a new connection generation started (see Client::epoch()); `reason` says why the old one
///   ended. Deliveries of the old generation will be redelivered; unconfirmed publishes were re-sent.
/// - Blocked / Unblocked: connection.blocked (resource alarm, `reason` = broker text) / connection.unblocked.
///   While blocked, publish() queues messages locally and sends them after Unblocked.
/// - Cancelled: the broker cancelled the consumer of queue `reason` and re-consuming failed (e.g. the queue
///   was deleted); the queue is no longer consumed.
struct Event {
  enum class Kind { Delivery, Confirmed, Failed, Reconnected, Blocked, Unblocked, Cancelled };
  Kind kind = Kind::Delivery;
  Envelope delivery;
  std::uint64_t publish_id = 0;
  std::string reason;
};

/// Stable name of an event kind ("Delivery", "Confirmed", …). Thread-safe.
std::string_view to_string(Event::Kind kind) noexcept;

}  // namespace claimcheck::amqp
