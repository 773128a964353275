#pragma once
/// The coordinator's status (issue 13 item 4): objects per state, per-recipient lag, the recent refused
/// (dead-lettered) messages with their reasons and the coordinator's own health, as one plain struct; the
/// query that fills it from a RefStore; and pure renderers to HTML (the status page) and JSON (/api/status).
/// Serving them over HTTP is the CLI's job (apps/claimcheck/http_server.cpp); the library opens no port.
///
/// Usage:
///   auto snap = query_status(*store, Clock::now(), std::chrono::minutes(5));   // periodically
///   std::string page = render_status_html(*snap, Clock::now(), std::chrono::seconds(10));
///   std::string json = render_status_json(*snap, Clock::now()).dump();
///
/// Trust: recipient ids, senders and reasons come from messages (attacker-controlled). The HTML renderer
/// escapes every such value with html_escape(); JSON escaping is nlohmann-json's.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "claimcheck/refstore/ref_store.h"
#include "claimcheck/core/result.h"

namespace claimcheck {

/// How far behind one recipient is (from refstore::RecipientBacklog at the snapshot's time).
struct RecipientLag {
  std::string recipient_id;   ///< from store records: attacker-controlled text, escape before display
  std::int64_t pending = 0;   ///< PENDING objects expecting it with no ack from it
  std::int64_t rejected = 0;  ///< PENDING objects it acked `rejected`
  /// Age of the oldest pending object (snapshot time - its created_at, whole seconds, >= 0); nullopt when
  /// pending is 0.
  std::optional<std::chrono::seconds> oldest_pending_age;
  bool lagging = false;  ///< pending > 0 and oldest_pending_age > the lag threshold
};

/// The coordinator's own health. Times are system_clock.
struct CoordinatorHealth {
  std::optional<refstore::TimePoint> started_at;     ///< when run() started; nullopt = not running (yet)
  std::optional<refstore::TimePoint> last_batch_at;  ///< last committed apply_batch; nullopt = none yet
  bool broker_connected = false;                     ///< the AMQP connection is open now
  bool store_reachable = false;                      ///< the last status query of the database succeeded
  std::string store_error;                           ///< why not (no secrets); "" when reachable
  std::uint64_t deliveries = 0, batches = 0, dead_lettered = 0, refused = 0;  ///< since start (CoordinatorStats)
};

/// One snapshot of the coordinator's status. The database part (counts, recipients, refused) is valid when
/// `queried_at` is set; it is refreshed periodically and may be stale when the store became unreachable.
struct StatusSnapshot {
  std::optional<refstore::TimePoint> queried_at;      ///< when the database part was read; nullopt = never
  std::chrono::seconds lag_warn{300};                 ///< threshold of RecipientLag::lagging
  std::map<refstore::ObjectState, std::int64_t> counts;  ///< every state as a key once queried
  std::vector<RecipientLag> recipients;               ///< lagging first, then by recipient id
  std::vector<refstore::RefusalAudit> refused;        ///< most recent first (last_at), at most max_refused
  CoordinatorHealth health;
};

/// Lag of each recipient at `now`: ages are now - oldest_pending_created_at (clamped at 0, whole seconds);
/// lagging = pending > 0 and age > lag_warn. Sorted lagging first, then by recipient id. Pure, thread-safe.
[[nodiscard]] std::vector<RecipientLag> recipient_lag(const std::vector<refstore::RecipientBacklog>& backlog,
                                                      refstore::TimePoint now, std::chrono::seconds lag_warn);

/// The database part of a snapshot: counts per state (RefStore::summary), recipient_lag() of
/// RefStore::recipient_backlog() and the `max_refused` most recent lines of RefStore::refusals(), with
/// queried_at = now. Health is left default (the caller fills it). Read-only; three transactions.
/// Errors: those of the RefStore (Unavailable, Aborted, Internal). Thread safety: that of `store` (one thread).
[[nodiscard]] Result<StatusSnapshot> query_status(refstore::RefStore& store, refstore::TimePoint now,
                                                  std::chrono::seconds lag_warn, std::size_t max_refused = 20);

/// `text` with & < > " ' replaced by HTML entities: safe in element content and quoted attribute values.
/// Pure, thread-safe.
[[nodiscard]] std::string html_escape(std::string_view text);

/// "1d 2h", "3h 4m", "5m 6s", "7s": a duration for people (two units at most). Negative counts as 0. Pure.
[[nodiscard]] std::string human_duration(std::chrono::seconds d);

/// The status page: a self-contained HTML5 document (inline CSS, no JavaScript) that reloads itself every
/// `refresh` (meta http-equiv refresh, >= 1 s). `now` dates the page and the uptime. Every value taken
/// from messages is html_escape()d. Numbers a test can read: each recipient row is
/// `<tr class="recipient[ lagging]" data-recipient="ID" data-pending="N" data-age-seconds="S">`
/// (data-age-seconds only when pending > 0). Pure, thread-safe.
[[nodiscard]] std::string render_status_html(const StatusSnapshot& s, refstore::TimePoint now,
                                             std::chrono::seconds refresh);

/// The same numbers as JSON (GET /api/status): {generated_at, queried_at, lag_warn_seconds, counts{STATE: n},
/// not_deleted, recipients[{recipient_id, pending, rejected, oldest_pending_age_seconds|null, lagging}],
/// lagging[ids], refused[{rule, sender, count, last_at, last_reason}], health{started_at, uptime_seconds,
/// last_batch_at, broker_connected, store_reachable, store_error, deliveries, batches, dead_lettered,
/// refused}}. Times RFC 3339 UTC, null when unknown. Pure, thread-safe.
[[nodiscard]] nlohmann::json render_status_json(const StatusSnapshot& s, refstore::TimePoint now);

}  // namespace claimcheck
