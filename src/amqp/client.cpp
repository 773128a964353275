#include "claimcheck/amqp/client.h"
#include "claimcheck/core/credentials.h"
#include "claimcheck/core/retry.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "claimcheck/core/log.h"

#include "amqp/confirm_tracker.h"
#include "amqp/properties.h"
#include "amqp/reply.h"
#include "amqp/tls.h"

namespace claimcheck::amqp {

namespace {

using Clock = std::chrono::steady_clock;
using detail::bytes_of;
using detail::str_of;
using detail::utf8_entry;
using std::chrono::milliseconds;

constexpr amqp_channel_t kMainChannel = 1;  // publishes (confirm mode) + consumers
constexpr amqp_channel_t kRpcChannel = 2;   // declarations, passive checks, basic.get
constexpr int kFrameMax = 131072;
constexpr std::size_t kMaxEventsPerPoll = 1024;
constexpr milliseconds kPollSlice{10};

struct ConnDeleter {
  void operator()(amqp_connection_state_t c) const noexcept {
    if (c != nullptr) amqp_destroy_connection(c);
  }
};
using ConnPtr = std::unique_ptr<amqp_connection_state_t_, ConnDeleter>;

timeval to_timeval(milliseconds d) {
  if (d.count() < 0) d = milliseconds{0};
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

amqp_table_entry_t bool_entry(const char* key, bool v) {
  amqp_table_entry_t e;
  e.key = amqp_cstring_bytes(key);
  e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
  e.value.value.boolean = v ? 1 : 0;
  return e;
}

amqp_table_entry_t i64_entry(const char* key, std::int64_t v) {
  amqp_table_entry_t e;
  e.key = amqp_cstring_bytes(key);
  e.value.kind = AMQP_FIELD_KIND_I64;
  e.value.value.i64 = v;
  return e;
}

amqp_table_t table_of(std::vector<amqp_table_entry_t>& entries) {
  amqp_table_t t;
  t.num_entries = static_cast<int>(entries.size());
  t.entries = entries.empty() ? nullptr : entries.data();
  return t;
}

// Copies the properties and body of a rabbitmq-c message into a Message; returns the internal publish id
// header (0 if absent), which is removed from the headers.
std::uint64_t copy_message(const amqp_message_t& m, Message* out, std::int64_t* delivery_count) {
  out->body = str_of(m.body);
  return detail::read_properties(m.properties, out, delivery_count);
}

bool is_fatal(const Error& e) { return classify(e) == FailureAction::Fatal; }

std::string random_suffix() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> dist(0, 0xffffff);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06x", dist(rd));
  return buf;
}

}  // namespace

struct Client::Impl {
  struct ConsumeSpec {
    std::string queue;
    std::uint16_t prefetch = 0;
    std::string tag;  // broker consumer tag of the current generation, empty when not active
  };

  AmqpConfig cfg;
  std::string conn_name;
  std::string user_id;  // broker user the current connection authenticated as (url_user of its URL)
  ConnPtr conn;
  bool connected = false;
  bool ever_connected = false;
  bool closed = false;
  bool rpc_open = false;
  bool blocked = false;
  std::uint64_t epoch = 0;
  // Publishes until settled, delivery tags, returns and the nack drain (a nacked publish is re-sent on a new
  // connection only once every other publish in flight on this one was settled: reconnecting at once would
  // re-send those too, and a recipient whose pointer was about to be confirmed would get it twice, issue 8).
  detail::ConfirmTracker confirms;
  std::set<std::string> known_exchanges;               // checked to exist in this epoch
  // Exchanges, queues and bindings (exchange \x1f queue \x1f key) this user may not declare, or queues that exist
  // with other arguments: verified passively (bindings assumed) on every later declare and reconnect.
  std::set<std::string> passive_only;
  std::vector<Topology> topologies;
  std::vector<ConsumeSpec> consumes;
  std::vector<Event> queued_events;                    // produced outside poll(), returned by the next poll()
  std::string loss_reason;
  int failed_rounds = 0;
  Clock::time_point next_attempt{};
  Clock::time_point connected_at{};
  std::optional<Error> fatal;
  std::function<bool()> interrupt;

  explicit Impl(AmqpConfig c) : cfg(std::move(c)) {
    conn_name = cfg.connection_name.empty() ? "claimcheck-" + random_suffix() : cfg.connection_name;
  }

  // ---- connection management ------------------------------------------------------------------------

  Result<ConnPtr> open_url(const std::string& url) {
    const std::string shown = redact_url(url);
    std::string buf = url;
    amqp_connection_info info{};
    amqp_default_connection_info(&info);
    if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK) {
      return fail(ErrorCode::InvalidArgument, Origin::Config, "cannot parse AMQP URL " + shown);
    }
    ConnPtr c(amqp_new_connection());
    if (!c) return fail(ErrorCode::Internal, Origin::Amqp, "amqp_new_connection failed");
    amqp_socket_t* sock = nullptr;
    if (info.ssl) {
      sock = amqp_ssl_socket_new(c.get());
      if (sock == nullptr) return fail(ErrorCode::Internal, Origin::Amqp, "cannot create TLS socket");
      const std::string ca = cfg.ca_cert.empty() ? std::string(kSystemCaBundle) : cfg.ca_cert;
      CC_TRY_VOID(detail::configure_tls(sock, info.host, ca, cfg.verify_peer));
    } else {
      sock = amqp_tcp_socket_new(c.get());
      if (sock == nullptr) return fail(ErrorCode::Internal, Origin::Amqp, "cannot create TCP socket");
    }
    timeval tv = to_timeval(cfg.connect_timeout);
    int rc = amqp_socket_open_noblock(sock, info.host, info.port, &tv);
    if (rc != AMQP_STATUS_OK) return fail(connect_error(rc, shown));
    amqp_set_handshake_timeout(c.get(), &tv);
    amqp_set_rpc_timeout(c.get(), &tv);

    std::vector<amqp_table_entry_t> caps = {
        bool_entry("publisher_confirms", true),         bool_entry("consumer_cancel_notify", true),
        bool_entry("connection.blocked", true),         bool_entry("basic.nack", true),
        bool_entry("exchange_exchange_bindings", true), bool_entry("authentication_failure_close", true),
    };
    const std::string product = "claimcheck";
    const std::string k_product = "product";
    const std::string k_name = "connection_name";
    std::vector<amqp_table_entry_t> props = {utf8_entry(k_product, product), utf8_entry(k_name, conn_name)};
    amqp_table_entry_t cap_entry;
    cap_entry.key = amqp_cstring_bytes("capabilities");
    cap_entry.value.kind = AMQP_FIELD_KIND_TABLE;
    cap_entry.value.value.table = table_of(caps);
    props.push_back(cap_entry);
    amqp_table_t props_table = table_of(props);

    amqp_rpc_reply_t r = amqp_login_with_properties(
        c.get(), info.vhost, cfg.channel_max, kFrameMax, static_cast<int>(cfg.heartbeat.count()), &props_table,
        AMQP_SASL_METHOD_PLAIN, info.user, info.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) return fail(map_amqp_reply(r, "login to " + shown));
    amqp_channel_open(c.get(), kMainChannel);
    r = amqp_get_rpc_reply(c.get());
    if (r.reply_type != AMQP_RESPONSE_NORMAL) return fail(map_amqp_reply(r, "channel.open on " + shown));
    amqp_confirm_select(c.get(), kMainChannel);
    r = amqp_get_rpc_reply(c.get());
    if (r.reply_type != AMQP_RESPONSE_NORMAL) return fail(map_amqp_reply(r, "confirm.select on " + shown));
    return c;
  }

  // A failed socket open; a failed TLS verification says why and what to check.
  Error connect_error(int rc, const std::string& shown) const {
    Error e = map_amqp_status(rc, "connect to " + shown);
    const std::string why = detail::take_verify_error();
    if (rc == AMQP_STATUS_SSL_PEER_VERIFY_FAILED || rc == AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED) {
      e.message += ": the broker's TLS certificate was not accepted" + (why.empty() ? "" : ": " + why) +
                   " (is it issued for the URL's host by a CA in " +
                   (cfg.ca_cert.empty() ? std::string(kSystemCaBundle) : cfg.ca_cert) + "? see --amqp-ca)";
    }
    return e;
  }

  // One round over every URL. On success the connection is installed (epoch + 1).
  Result<void> connect_round() {
    std::optional<Error> last;
    for (const auto& url : cfg.urls) {
      auto r = open_url(url);
      if (r.has_value()) {
        conn = std::move(*r);
        user_id = url_user(url);
        connected = true;
        rpc_open = false;
        blocked = false;
        confirms.channel_lost();
        known_exchanges.clear();
        ++epoch;
        failed_rounds = 0;
        connected_at = Clock::now();
        logger().info("amqp: connected to {} as '{}' (epoch {})", redact_url(url), conn_name, epoch);
        return ok();
      }
      logger().warn("amqp: connect attempt failed: {}", r.error().to_string());
      if (is_fatal(r.error())) return fail(std::move(r).error());
      last = std::move(r).error();
    }
    if (!last) return fail(ErrorCode::InvalidArgument, Origin::Config, "no AMQP URL configured");
    Error e = *last;
    e.code = ErrorCode::Unavailable;
    e.message = "no AMQP broker reachable: " + e.message;
    return fail(std::move(e));
  }

  // Drops the current connection (optionally with a polite connection.close); everything sent but not
  // confirmed becomes unsent again.
  void lose_connection(const std::string& reason, bool polite) {
    if (!connected && !conn) return;
    logger().warn("amqp: connection lost (epoch {}): {}", epoch, reason);
    if (conn && polite) {
      (void)amqp_connection_close(conn.get(), AMQP_REPLY_SUCCESS);
    }
    conn.reset();
    connected = false;
    rpc_open = false;
    blocked = false;
    confirms.channel_lost();
    known_exchanges.clear();
    for (auto& c : consumes) c.tag.clear();
    loss_reason = reason;
    failed_rounds = 0;
    bool short_lived = Clock::now() - connected_at < std::chrono::seconds(1);
    next_attempt = Clock::now() + (short_lived ? cfg.reconnect.initial : milliseconds{0});
  }

  // After a successful (re)connect: re-declare, re-consume, re-publish.
  Result<void> restore(std::vector<Event>& ev) {
    for (const auto& t : std::vector<Topology>(topologies)) {
      auto r = declare_now(t);
      if (!r) {
        logger().warn("amqp: re-declaring topology failed: {}", r.error().to_string());
        if (!connected) return r;
      }
    }
    for (auto& c : consumes) {
      if (!connected) break;
      auto r = start_consume(c);
      if (!r) {
        logger().warn("amqp: resuming consumer of '{}' failed: {}", c.queue, r.error().to_string());
        if (!connected) return r;
      }
    }
    drop_unconsumable(ev);
    flush_unsent(ev);
    if (!connected) return fail(ErrorCode::Unavailable, Origin::Amqp, "connection lost while restoring: " + loss_reason);
    return ok();
  }

  // Consumers whose queue vanished are forgotten and reported.
  void drop_unconsumable(std::vector<Event>& ev) {
    for (auto it = consumes.begin(); it != consumes.end();) {
      if (connected && it->tag.empty()) {
        Event e;
        e.kind = Event::Kind::Cancelled;
        e.reason = it->queue;
        ev.push_back(std::move(e));
        it = consumes.erase(it);
      } else {
        ++it;
      }
    }
  }

  // ---- RPC helpers ----------------------------------------------------------------------------------

  Result<void> require_connected() {
    if (!connected) {
      return fail(ErrorCode::Unavailable, Origin::Amqp,
                  "not connected" + (loss_reason.empty() ? std::string() : ": " + loss_reason));
    }
    return ok();
  }

  // Checks the last RPC on channel `ch`; on failure handles channel/connection closes.
  Result<void> check_rpc(amqp_channel_t ch, const std::string& what) {
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn.get());
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return ok();
    Error e = map_amqp_reply(r, what);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      amqp_channel_close_ok_t close_ok{};
      int rc = amqp_send_method(conn.get(), ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
      if (ch == kRpcChannel && rc == AMQP_STATUS_OK) {
        rpc_open = false;
      } else {
        lose_connection("channel " + std::to_string(ch) + " closed: " + e.message, rc == AMQP_STATUS_OK);
      }
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
      amqp_connection_close_ok_t close_ok{};
      (void)amqp_send_method(conn.get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
      lose_connection("connection closed by broker: " + e.message, false);
    } else {
      lose_connection(e.message, false);
    }
    return fail(std::move(e));
  }

  Result<void> ensure_rpc_channel() {
    CC_TRY_VOID(require_connected());
    if (rpc_open) return ok();
    amqp_channel_open(conn.get(), kRpcChannel);
    CC_TRY_VOID(check_rpc(kRpcChannel, "channel.open"));
    rpc_open = true;
    return ok();
  }

  // Declares what `t` lists; an object this user may not declare (403) or a queue that exists with other
  // arguments (406) is verified passively and used as it is (declare_exchange, declare_queue, declare_binding).
  Result<void> declare_now(const Topology& t) {
    for (const auto& x : t.exchanges) CC_TRY_VOID(declare_exchange(x));
    for (const auto& q : t.queues) CC_TRY_VOID(declare_queue(q));
    for (const auto& b : t.bindings) CC_TRY_VOID(declare_binding(b));
    return ok();
  }

  // True when `r` failed with the channel-level error `code` and the connection is still up, so the
  // object can be verified passively on a re-opened RPC channel.
  bool channel_refused(const Result<void>& r, ErrorCode code) const {
    return !r && r.error().code == code && connected;
  }

  // Active exchange.declare; when refused (403: the administrator owns it), a passive check instead, also
  // after every reconnect.
  Result<void> declare_exchange(const ExchangeSpec& x) {
    CC_TRY_VOID(ensure_rpc_channel());  // re-opened after a refusal closed it
    if (passive_only.count(x.name) == 0) {
      amqp_exchange_declare(conn.get(), kRpcChannel, bytes_of(x.name), bytes_of(x.type), 0, 1, 0, 0,
                            amqp_empty_table);
      auto r = check_rpc(kRpcChannel, "exchange.declare '" + x.name + "'");
      if (r) {
        known_exchanges.insert(x.name);
        return ok();
      }
      if (!channel_refused(r, ErrorCode::PermissionDenied)) return r;
      logger().debug("amqp: may not declare exchange '{}' ({}): verifying it passively", x.name, r.error().message);
      passive_only.insert(x.name);
    }
    auto v = passive_exchange(x.name);
    if (!v && v.error().code == ErrorCode::NotFound) return not_declared("exchange", x.name, v.error());
    return v;
  }

  Result<void> declare_queue_active(const QueueSpec& q) {
    const std::string quorum = "quorum";
    const std::string k_type = "x-queue-type";
    const std::string k_dlx = "x-dead-letter-exchange";
    std::vector<amqp_table_entry_t> args;
    if (q.quorum) args.push_back(utf8_entry(k_type, quorum));
    if (!q.dead_letter_exchange.empty()) args.push_back(utf8_entry(k_dlx, q.dead_letter_exchange));
    if (q.quorum && q.delivery_limit > 0) args.push_back(i64_entry("x-delivery-limit", q.delivery_limit));
    if (q.single_active_consumer) args.push_back(bool_entry("x-single-active-consumer", true));
    CC_TRY_VOID(ensure_rpc_channel());  // re-opened after a refusal closed it
    amqp_queue_declare(conn.get(), kRpcChannel, bytes_of(q.name), 0, 1, 0, 0, table_of(args));
    return check_rpc(kRpcChannel, "queue.declare '" + q.name + "'");
  }

  // Active queue.declare; refused (403) → passive check; exists with other arguments (406, e.g. a queue of
  // the reference demo without dead-letter arguments) → one warning, passive check, used as it is.
  Result<void> declare_queue(const QueueSpec& q) {
    if (passive_only.count(q.name) == 0) {
      auto r = declare_queue_active(q);
      if (r) return ok();
      if (channel_refused(r, ErrorCode::PermissionDenied)) {
        logger().debug("amqp: may not declare queue '{}' ({}): verifying it passively", q.name, r.error().message);
      } else if (channel_refused(r, ErrorCode::FailedPrecondition)) {
        logger().warn("amqp: queue '{}' exists with arguments that differ from what claimcheck would declare ({}); "
                     "using it as it is: dead-lettering and the delivery limit may not be configured",
                     q.name, r.error().message);
      } else {
        return r;
      }
      passive_only.insert(q.name);
    }
    auto v = passive_queue(q.name);
    if (!v && v.error().code == ErrorCode::NotFound) return not_declared("queue", q.name, v.error());
    if (!v) return fail(std::move(v).error());
    return ok();
  }

  // queue.bind; refused (403) → there is no passive form: assumed to exist (the administrator binds at
  // `make up`), logged at debug once per binding.
  Result<void> declare_binding(const BindingSpec& b) {
    const std::string key = b.exchange + '\x1f' + b.queue + '\x1f' + b.routing_key;
    if (passive_only.count(key) != 0) return ok();
    CC_TRY_VOID(ensure_rpc_channel());  // re-opened after a refusal closed it
    amqp_queue_bind(conn.get(), kRpcChannel, bytes_of(b.queue), bytes_of(b.exchange), bytes_of(b.routing_key),
                    amqp_empty_table);
    const std::string what = "queue.bind '" + b.queue + "' to '" + b.exchange + "' key '" + b.routing_key + "'";
    auto r = check_rpc(kRpcChannel, what);
    if (!channel_refused(r, ErrorCode::PermissionDenied)) return r;
    logger().debug("amqp: may not {} ({}): assumed to exist, declared by the administrator at `make up`", what,
                  r.error().message);
    passive_only.insert(key);
    return ok();
  }

  static Result<void> not_declared(const char* kind, const std::string& name, const Error& e) {
    return fail(ErrorCode::NotFound, Origin::Amqp,
                std::string(kind) + " '" + name + "' does not exist and this user may not declare it: the " +
                    "administrator declares it (`make up`, scripts/infra up): " + e.message);
  }

  Result<std::uint32_t> passive_queue(const std::string& queue) {
    CC_TRY_VOID(ensure_rpc_channel());
    amqp_queue_declare_ok_t* okm =
        amqp_queue_declare(conn.get(), kRpcChannel, bytes_of(queue), 1, 0, 0, 0, amqp_empty_table);
    CC_TRY_VOID(check_rpc(kRpcChannel, "queue '" + queue + "'"));
    return okm != nullptr ? okm->message_count : 0U;
  }

  Result<void> passive_exchange(const std::string& exchange) {
    if (exchange.empty() || known_exchanges.count(exchange) != 0) return ok();
    CC_TRY_VOID(ensure_rpc_channel());
    amqp_exchange_declare(conn.get(), kRpcChannel, bytes_of(exchange), amqp_cstring_bytes("direct"), 1, 0, 0, 0,
                          amqp_empty_table);
    CC_TRY_VOID(check_rpc(kRpcChannel, "exchange '" + exchange + "'"));
    known_exchanges.insert(exchange);
    return ok();
  }

  // basic.qos + basic.consume on the main channel; a missing queue is detected first on the RPC channel
  // so that it does not close the main channel.
  Result<void> start_consume(ConsumeSpec& c) {
    c.tag.clear();
    CC_TRY(count, passive_queue(c.queue));
    (void)count;
    amqp_basic_qos(conn.get(), kMainChannel, 0, c.prefetch, 0);
    CC_TRY_VOID(check_rpc(kMainChannel, "basic.qos"));
    amqp_basic_consume_ok_t* okm = amqp_basic_consume(conn.get(), kMainChannel, bytes_of(c.queue),
                                                      amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    CC_TRY_VOID(check_rpc(kMainChannel, "basic.consume '" + c.queue + "'"));
    c.tag = okm != nullptr ? str_of(okm->consumer_tag) : std::string();
    logger().debug("amqp: consuming '{}' (prefetch {}, tag {})", c.queue, c.prefetch, c.tag);
    return ok();
  }

  // ---- publishing ----------------------------------------------------------------------------------

  bool send(const detail::ConfirmTracker::Publish& p) {
    const Message& m = p.msg;
    detail::PublishProperties props;
    detail::build_properties(m, user_id, p.mandatory ? p.id : 0, &props);
    int rc = amqp_basic_publish(conn.get(), kMainChannel, bytes_of(p.exchange), bytes_of(p.routing_key),
                                p.mandatory ? 1 : 0, 0, &props.props, bytes_of(m.body));
    if (rc != AMQP_STATUS_OK) {
      lose_connection(map_amqp_status(rc, "basic.publish").message, false);
      return false;
    }
    confirms.mark_sent(p.id);
    return true;
  }

  // Sends every queued message, oldest first, while connected, not blocked and not draining.
  void flush_unsent(std::vector<Event>& ev) {
    std::uint64_t after = 0;
    while (connected && !blocked && !confirms.draining()) {
      auto* p = confirms.next_unsent(after);
      if (p == nullptr) return;
      after = p->id;
      if (!p->exchange.empty() && known_exchanges.count(p->exchange) == 0) {
        auto r = passive_exchange(p->exchange);
        if (!r) {
          if (!connected) return;
          if (r.error().code != ErrorCode::NotFound) return;
          ev.push_back(confirms.drop(after, r.error().message));
          continue;
        }
      }
      if (!send(*p)) return;
    }
  }

  void settle(std::uint64_t tag, bool multiple, bool nacked, std::vector<Event>& ev) {
    confirms.settle(tag, multiple, nacked, Clock::now(), cfg.reconnect.initial, ev);
    finish_drain_if_settled();
  }

  // Once every publish in flight on this connection was settled (or the drain timed out), reconnects so
  // the nacked messages are re-sent (ConfirmTracker::drain_due).
  void finish_drain_if_settled() {
    const auto delay = confirms.drain_due(Clock::now());
    if (!delay) return;
    lose_connection("publish nacked by the broker: re-sending on a new connection", true);
    next_attempt = Clock::now() + *delay;
  }

  // ---- frame handling ------------------------------------------------------------------------------

  // Reads the content (header + body frames) following a deliver/return/get-ok method.
  bool read_content(amqp_channel_t ch, Message* m, std::int64_t* delivery_count, std::uint64_t* publish_id) {
    amqp_message_t msg;
    std::memset(&msg, 0, sizeof msg);
    amqp_rpc_reply_t r = amqp_read_message(conn.get(), ch, &msg, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      lose_connection(map_amqp_reply(r, "reading message content").message, false);
      return false;
    }
    std::uint64_t id = copy_message(msg, m, delivery_count);
    if (publish_id != nullptr) *publish_id = id;
    amqp_destroy_message(&msg);
    return true;
  }

  void handle_frame(const amqp_frame_t& f, std::vector<Event>& ev) {
    if (f.frame_type != AMQP_FRAME_METHOD) return;  // stray header/body frames: ignore
    const amqp_method_t& m = f.payload.method;
    switch (m.id) {
      case AMQP_BASIC_DELIVER_METHOD: return on_deliver(f, *static_cast<const amqp_basic_deliver_t*>(m.decoded), ev);
      case AMQP_BASIC_ACK_METHOD: {
        const auto* a = static_cast<const amqp_basic_ack_t*>(m.decoded);
        return settle(a->delivery_tag, a->multiple != 0, false, ev);
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* a = static_cast<const amqp_basic_nack_t*>(m.decoded);
        return settle(a->delivery_tag, a->multiple != 0, true, ev);
      }
      case AMQP_BASIC_RETURN_METHOD: return on_return(f, *static_cast<const amqp_basic_return_t*>(m.decoded));
      case AMQP_BASIC_CANCEL_METHOD: return on_cancel(f, *static_cast<const amqp_basic_cancel_t*>(m.decoded), ev);
      case AMQP_CONNECTION_BLOCKED_METHOD: {
        blocked = true;
        Event e;
        e.kind = Event::Kind::Blocked;
        e.reason = str_of(static_cast<const amqp_connection_blocked_t*>(m.decoded)->reason);
        logger().warn("amqp: connection blocked by broker: {}", e.reason);
        ev.push_back(std::move(e));
        return;
      }
      case AMQP_CONNECTION_UNBLOCKED_METHOD: {
        blocked = false;
        Event e;
        e.kind = Event::Kind::Unblocked;
        logger().info("amqp: connection unblocked");
        ev.push_back(std::move(e));
        return;
      }
      case AMQP_CHANNEL_CLOSE_METHOD: return on_channel_close(f, *static_cast<const amqp_channel_close_t*>(m.decoded));
      case AMQP_CONNECTION_CLOSE_METHOD: {
        const auto* c = static_cast<const amqp_connection_close_t*>(m.decoded);
        std::string text = std::to_string(c->reply_code) + " " + str_of(c->reply_text);
        amqp_connection_close_ok_t close_ok{};
        (void)amqp_send_method(conn.get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
        lose_connection("connection closed by broker: " + text, false);
        return;
      }
      default:
        logger().debug("amqp: ignoring method 0x{:08x} on channel {}", m.id, f.channel);
        return;
    }
  }

  void on_deliver(const amqp_frame_t& f, const amqp_basic_deliver_t& d, std::vector<Event>& ev) {
    Event e;
    e.kind = Event::Kind::Delivery;
    e.delivery.delivery_tag = d.delivery_tag;
    e.delivery.redelivered = d.redelivered != 0;
    e.delivery.exchange = str_of(d.exchange);
    e.delivery.routing_key = str_of(d.routing_key);
    e.delivery.consumer_tag = str_of(d.consumer_tag);
    e.delivery.epoch = epoch;
    if (!read_content(f.channel, &e.delivery.message, &e.delivery.delivery_count, nullptr)) return;
    ev.push_back(std::move(e));
  }

  // basic.return of a mandatory publish: its confirm (which follows) is then reported as Failed.
  void on_return(const amqp_frame_t& f, const amqp_basic_return_t& r) {
    std::string reason = std::to_string(r.reply_code) + " " + str_of(r.reply_text);
    Message msg;
    std::uint64_t id = 0;
    if (!read_content(f.channel, &msg, nullptr, &id)) return;
    if (!confirms.mark_returned(id, reason)) logger().warn("amqp: basic.return ({}) for an unknown publish", reason);
  }

  void on_cancel(const amqp_frame_t& f, const amqp_basic_cancel_t& c, std::vector<Event>& ev) {
    std::string tag = str_of(c.consumer_tag);
    if (!c.nowait) {
      amqp_basic_cancel_ok_t cancel_ok;
      cancel_ok.consumer_tag = c.consumer_tag;
      if (amqp_send_method(conn.get(), f.channel, AMQP_BASIC_CANCEL_OK_METHOD, &cancel_ok) != AMQP_STATUS_OK) {
        lose_connection("cannot send basic.cancel-ok", false);
        return;
      }
    }
    for (auto& spec : consumes) {
      if (spec.tag != tag) continue;
      logger().warn("amqp: broker cancelled consumer of '{}'; re-consuming", spec.queue);
      auto r = start_consume(spec);
      if (!r) logger().warn("amqp: re-consuming '{}' failed: {}", spec.queue, r.error().to_string());
      break;
    }
    drop_unconsumable(ev);
  }

  void on_channel_close(const amqp_frame_t& f, const amqp_channel_close_t& c) {
    std::string text = std::to_string(c.reply_code) + " " + str_of(c.reply_text);
    amqp_channel_close_ok_t close_ok{};
    int rc = amqp_send_method(conn.get(), f.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
    if (f.channel == kRpcChannel && rc == AMQP_STATUS_OK) {
      rpc_open = false;
      return;
    }
    // A publish to a missing exchange closes the main channel with 404: forget that the exchange exists
    // so that the re-send checks it again and reports Failed instead of looping.
    lose_connection("channel " + std::to_string(f.channel) + " closed by broker: " + text, rc == AMQP_STATUS_OK);
  }

  bool interrupted() const { return interrupt && interrupt(); }

  // Waits until `until` (or the deadline), waking early for interrupts.
  void sleep_until(Clock::time_point until) {
    while (Clock::now() < until) {
      if (interrupted()) return;
      auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      std::this_thread::sleep_for(std::min(left + milliseconds{1}, kPollSlice));
    }
  }

  Result<void> try_reconnect(std::vector<Event>& ev) {
    auto r = connect_round();
    if (!r) {
      if (is_fatal(r.error())) {
        fatal = r.error();
        return r;
      }
      ++failed_rounds;
      if (!cfg.reconnect.may_retry(failed_rounds)) {
        Error e = r.error();
        e.message = "giving up after " + std::to_string(failed_rounds) + " reconnect rounds: " + e.message;
        fatal = e;
        return fail(std::move(e));
      }
      next_attempt = Clock::now() + backoff_delay(cfg.reconnect, failed_rounds);
      return ok();
    }
    Event e;
    e.kind = Event::Kind::Reconnected;
    e.reason = loss_reason;
    auto rr = restore(ev);
    if (!rr) logger().warn("amqp: restore after reconnect incomplete: {}", rr.error().to_string());
    ev.insert(ev.begin(), std::move(e));
    return ok();
  }

  Result<std::vector<Event>> poll(milliseconds timeout) {
    if (fatal) return fail(*fatal);
    if (closed || !ever_connected) {
      return fail(ErrorCode::FailedPrecondition, Origin::Amqp, "poll() before connect() or after close()");
    }
    const auto deadline = Clock::now() + timeout;
    std::vector<Event> ev = std::move(queued_events);
    queued_events.clear();
    bool tried_reconnect = false;
    for (;;) {
      if (!connected) {
        if (!tried_reconnect && Clock::now() >= next_attempt) {
          tried_reconnect = true;
          CC_TRY_VOID(try_reconnect(ev));
        }
        if (!connected) {
          if (!ev.empty() || Clock::now() >= deadline || tried_reconnect) return ev;
          sleep_until(std::min(deadline, next_attempt));
          if (Clock::now() >= deadline || interrupted()) return ev;
          continue;
        }
      }
      if (!blocked) flush_unsent(ev);
      if (!connected) continue;

      const bool have = !ev.empty();
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      timeval tv = to_timeval(have ? milliseconds{0} : std::clamp(left, milliseconds{0}, kPollSlice));
      amqp_frame_t frame;
      int rc = amqp_simple_wait_frame_noblock(conn.get(), &frame, &tv);
      if (rc == AMQP_STATUS_TIMEOUT) {
        finish_drain_if_settled();  // the drain timed out with no frame
        if (!connected) continue;
        if (have || Clock::now() >= deadline || interrupted()) {
          if (connected && !amqp_frames_enqueued(conn.get())) amqp_maybe_release_buffers(conn.get());
          return ev;
        }
        continue;
      }
      if (rc != AMQP_STATUS_OK) {
        lose_connection(map_amqp_status(rc, "reading frames").message, false);
        continue;
      }
      handle_frame(frame, ev);
      if (connected && !amqp_frames_enqueued(conn.get())) amqp_maybe_release_buffers(conn.get());
      if (ev.size() >= kMaxEventsPerPoll) return ev;
    }
  }

  std::size_t unconfirmed() const {
    std::size_t n = confirms.pending();
    for (const auto& e : queued_events) {
      if (e.kind == Event::Kind::Confirmed || e.kind == Event::Kind::Failed) ++n;
    }
    return n;
  }

  void close() {
    if (conn) {
      if (connected) (void)amqp_connection_close(conn.get(), AMQP_REPLY_SUCCESS);
      conn.reset();
      logger().info("amqp: connection '{}' closed (epoch {})", conn_name, epoch);
    }
    connected = false;
    rpc_open = false;
    blocked = false;
    closed = true;
    confirms.clear();
    known_exchanges.clear();
    consumes.clear();
    queued_events.clear();
  }
};

// ---- Client -------------------------------------------------------------------------------------------

Client::Client(AmqpConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
Client::~Client() {
  if (impl_) impl_->close();
}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Result<void> Client::connect() {
  Impl& d = *impl_;
  if (d.connected) return ok();
  CC_TRY_VOID(d.cfg.validate());
  d.closed = false;
  d.fatal.reset();
  BackoffPolicy rounds = d.cfg.reconnect;
  rounds.max_attempts = d.cfg.connect_attempts;
  RetryHooks hooks;
  hooks.retryable = [](const Error& e) { return !is_fatal(e); };
  CC_TRY_VOID(retry(rounds, [&](int) { return d.connect_round(); }, hooks));
  d.ever_connected = true;
  std::vector<Event> ev;
  auto r = d.restore(ev);
  d.queued_events.insert(d.queued_events.end(), ev.begin(), ev.end());
  return r;
}

Result<void> Client::declare(const Topology& topology) {
  Impl& d = *impl_;
  CC_TRY_VOID(d.require_connected());
  CC_TRY_VOID(d.declare_now(topology));
  d.topologies.push_back(topology);
  return ok();
}

Result<void> Client::consume(const std::string& queue, std::uint16_t prefetch) {
  Impl& d = *impl_;
  for (const auto& c : d.consumes) {
    if (c.queue == queue) return ok();
  }
  CC_TRY_VOID(d.require_connected());
  Impl::ConsumeSpec spec;
  spec.queue = queue;
  spec.prefetch = prefetch;
  CC_TRY_VOID(d.start_consume(spec));
  d.consumes.push_back(std::move(spec));
  return ok();
}

Result<void> Client::cancel_consume(const std::string& queue) {
  Impl& d = *impl_;
  auto it = std::find_if(d.consumes.begin(), d.consumes.end(), [&](const auto& c) { return c.queue == queue; });
  if (it == d.consumes.end()) return ok();
  std::string tag = it->tag;
  d.consumes.erase(it);
  if (!d.connected || tag.empty()) return ok();
  amqp_basic_cancel(d.conn.get(), kMainChannel, bytes_of(tag));
  return d.check_rpc(kMainChannel, "basic.cancel '" + queue + "'");
}

Result<std::uint64_t> Client::publish(const std::string& exchange, const std::string& routing_key,
                                      const Message& msg, bool mandatory) {
  Impl& d = *impl_;
  if (d.closed || !d.ever_connected) {
    return fail(ErrorCode::FailedPrecondition, Origin::Amqp, "publish() before connect() or after close()");
  }
  if (d.fatal) return fail(*d.fatal);
  const std::uint64_t id = d.confirms.add(exchange, routing_key, msg, mandatory);
  if (d.connected && !d.blocked) d.flush_unsent(d.queued_events);
  return id;
}

Result<void> Client::ack(const Envelope& env, bool multiple) {
  Impl& d = *impl_;
  if (!d.connected || env.epoch != d.epoch) return ok();
  int rc = amqp_basic_ack(d.conn.get(), kMainChannel, env.delivery_tag, multiple ? 1 : 0);
  if (rc != AMQP_STATUS_OK) {
    Error e = map_amqp_status(rc, "basic.ack");
    d.lose_connection(e.message, false);
    return fail(std::move(e));
  }
  return ok();
}

Result<void> Client::nack(const Envelope& env, bool requeue, bool multiple) {
  Impl& d = *impl_;
  if (!d.connected || env.epoch != d.epoch) return ok();
  int rc = amqp_basic_nack(d.conn.get(), kMainChannel, env.delivery_tag, multiple ? 1 : 0, requeue ? 1 : 0);
  if (rc != AMQP_STATUS_OK) {
    Error e = map_amqp_status(rc, "basic.nack");
    d.lose_connection(e.message, false);
    return fail(std::move(e));
  }
  return ok();
}

Result<void> Client::reject(const Envelope& env, bool requeue) {
  Impl& d = *impl_;
  if (!d.connected || env.epoch != d.epoch) return ok();
  int rc = amqp_basic_reject(d.conn.get(), kMainChannel, env.delivery_tag, requeue ? 1 : 0);
  if (rc != AMQP_STATUS_OK) {
    Error e = map_amqp_status(rc, "basic.reject");
    d.lose_connection(e.message, false);
    return fail(std::move(e));
  }
  return ok();
}

Result<std::vector<Event>> Client::poll(std::chrono::milliseconds timeout) { return impl_->poll(timeout); }

void Client::set_interrupt_check(std::function<bool()> check) { impl_->interrupt = std::move(check); }

std::size_t Client::unconfirmed() const { return impl_->unconfirmed(); }

Result<void> Client::wait_confirms(std::chrono::milliseconds timeout, std::vector<Event>* other_events) {
  const auto deadline = Clock::now() + timeout;
  std::optional<std::string> first_failure;
  std::size_t failures = 0;
  for (;;) {
    if (unconfirmed() == 0) break;
    auto now = Clock::now();
    if (now >= deadline) {
      return fail(ErrorCode::Unavailable, Origin::Amqp,
                  "timed out waiting for confirms: " + std::to_string(unconfirmed()) + " unconfirmed");
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
    CC_TRY(events, poll(std::min(left, milliseconds{100})));
    for (auto& e : *events) {
      if (e.kind == Event::Kind::Failed) {
        ++failures;
        if (!first_failure) first_failure = "publish " + std::to_string(e.publish_id) + ": " + e.reason;
      }
      if (other_events != nullptr) other_events->push_back(std::move(e));
    }
  }
  if (first_failure) {
    return fail(ErrorCode::FailedPrecondition, Origin::Amqp,
                std::to_string(failures) + " publish(es) failed; first: " + *first_failure);
  }
  return ok();
}

bool Client::connected() const { return impl_->connected; }
std::uint64_t Client::epoch() const { return impl_->epoch; }
void Client::close() { impl_->close(); }
const std::string& Client::connection_name() const { return impl_->conn_name; }

Result<std::uint32_t> Client::queue_message_count(const std::string& queue) { return impl_->passive_queue(queue); }

Result<std::optional<Envelope>> Client::basic_get(const std::string& queue) {
  Impl& d = *impl_;
  CC_TRY_VOID(d.ensure_rpc_channel());
  amqp_rpc_reply_t r = amqp_basic_get(d.conn.get(), kRpcChannel, bytes_of(queue), 1);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    CC_TRY_VOID(d.check_rpc(kRpcChannel, "basic.get '" + queue + "'"));
  }
  if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) return std::optional<Envelope>{};
  if (r.reply.id != AMQP_BASIC_GET_OK_METHOD) {
    return fail(ErrorCode::Internal, Origin::Amqp, "basic.get: unexpected reply " + std::to_string(r.reply.id));
  }
  const auto* g = static_cast<const amqp_basic_get_ok_t*>(r.reply.decoded);
  Envelope env;
  env.delivery_tag = g->delivery_tag;
  env.redelivered = g->redelivered != 0;
  env.exchange = str_of(g->exchange);
  env.routing_key = str_of(g->routing_key);
  env.epoch = 0;  // auto-acked: never ack it
  if (!d.read_content(kRpcChannel, &env.message, &env.delivery_count, nullptr)) {
    return fail(ErrorCode::Unavailable, Origin::Amqp, "basic.get: connection lost reading content: " + d.loss_reason);
  }
  return std::optional<Envelope>(std::move(env));
}

Result<void> Client::delete_queue(const std::string& queue) {
  Impl& d = *impl_;
  CC_TRY_VOID(d.ensure_rpc_channel());
  amqp_queue_delete(d.conn.get(), kRpcChannel, bytes_of(queue), 0, 0);
  CC_TRY_VOID(d.check_rpc(kRpcChannel, "queue.delete '" + queue + "'"));
  for (auto& t : d.topologies) {
    std::erase_if(t.queues, [&](const QueueSpec& q) { return q.name == queue; });
    std::erase_if(t.bindings, [&](const BindingSpec& b) { return b.queue == queue; });
  }
  return ok();
}

Result<void> Client::delete_exchange(const std::string& exchange) {
  Impl& d = *impl_;
  CC_TRY_VOID(d.ensure_rpc_channel());
  amqp_exchange_delete(d.conn.get(), kRpcChannel, bytes_of(exchange), 0);
  CC_TRY_VOID(d.check_rpc(kRpcChannel, "exchange.delete '" + exchange + "'"));
  d.known_exchanges.erase(exchange);
  for (auto& t : d.topologies) {
    std::erase_if(t.exchanges, [&](const ExchangeSpec& x) { return x.name == exchange; });
    std::erase_if(t.bindings, [&](const BindingSpec& b) { return b.exchange == exchange; });
  }
  return ok();
}

}  // namespace claimcheck::amqp
