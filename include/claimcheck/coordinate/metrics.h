#pragma once
/// Prometheus metrics of the coordinator (DESIGN.md §4, §5): counters for stores/acks applied, objects
/// completed/deleted/expired, orphans deleted, delete failures, dead-lettered messages, and histograms of
/// batch size and batch latency, and gauges of the status snapshot (objects per state, per-recipient backlog,
/// health). The caller owns the prometheus::Registry they are registered in; serving it at /metrics is the
/// CLI's HTTP server's job (apps/claimcheck/http_server.cpp, DESIGN.md §6: the library opens no port).

#include <cstddef>
#include <memory>
#include <string>

#include "claimcheck/coordinate/status.h"
#include "claimcheck/refstore/ref_store.h"
#include "claimcheck/core/result.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace claimcheck {

/// The coordinator's metrics registry.
///
/// Metric names (all prefixed `claimcheck_coordinator_`): `stores_applied_total{result=new|duplicate}`,
/// `acks_applied_total{result=new|duplicate|foreign}`, `objects_completed_total`, `objects_deleted_total`,
/// `objects_expired_total`, `orphans_deleted_total`, `delete_failures_total`, `dead_lettered_total`,
/// `placeholders_purged_total`, `batch_size` (histogram, commands per batch), `batch_seconds` (histogram,
/// wall time of one apply_batch transaction, seconds). Gauges set by record_status(): `objects{state=...}`,
/// `broker_connected`, `store_reachable` (0/1), `start_time_seconds`, `last_batch_timestamp_seconds` (Unix
/// seconds, 0 = none), and per recipient (prefix `claimcheck_recipient_`, label `recipient`):
/// `pending_objects`, `oldest_pending_seconds` (0 when nothing is pending), `lagging` (0/1). A recipient
/// that left the snapshot loses its series.
/// Thread safety: every record_* method is thread-safe (prometheus-cpp metrics are atomic). Not copyable.
///
/// Example — the CLI owns the registry and serves it; the coordinator records into it:
///
///     auto registry = std::make_shared<prometheus::Registry>();
///     CC_TRY(m, claimcheck::CoordinatorMetrics::create(*registry));
///     std::shared_ptr<claimcheck::CoordinatorMetrics> metrics(std::move(*m));
///     CC_TRY(coord, claimcheck::Coordinator::create(cfg, metrics));
///     // GET /metrics: prometheus::TextSerializer{}.Serialize(out, registry->Collect())
class CoordinatorMetrics {
 public:
  /// Registers every metric in `registry` (counters at 0, no recipient series). `registry` must outlive the
  /// returned object and must not hold these metric names already. Errors: InvalidArgument (Origin::Config)
  /// when a name is taken (prometheus-cpp refuses a family registered twice with other labels or help).
  [[nodiscard]] static Result<std::unique_ptr<CoordinatorMetrics>> create(prometheus::Registry& registry);

  ~CoordinatorMetrics();
  CoordinatorMetrics(const CoordinatorMetrics&) = delete;
  CoordinatorMetrics& operator=(const CoordinatorMetrics&) = delete;

  /// Records one committed batch: its ApplyResult counts, `commands` in it, and the transaction's wall time.
  void record_batch(const refstore::ApplyResult& r, std::size_t commands, double seconds);
  /// Records `n` objects deleted from S3 and marked DELETED (`expired` = how many of them were EXPIRED).
  void record_deleted(std::size_t n, std::size_t expired);
  /// Records `n` orphan objects deleted by the orphan sweep.
  void record_orphans_deleted(std::size_t n);
  /// Records `n` failed S3 deletes (scheduled for retry).
  void record_delete_failures(std::size_t n);
  /// Records `n` deliveries dead-lettered (invalid messages).
  void record_dead_lettered(std::size_t n);
  /// Records `n` placeholder objects purged.
  void record_placeholders_purged(std::size_t n);
  /// Records one message refused by a trust or bound rule (DESIGN.md §9, B1): counter
  /// `claimcheck_coordinator_refused_total{rule="<rule>"}`; rules: ack_user_id, ack_sha256, store_user_id,
  /// placeholder_cap. Also counted for acks dropped at store time for a sha256 mismatch (rule ack_sha256).
  void record_refused(const std::string& rule, std::size_t n = 1);
  /// Records `n` DELETED objects purged after the history retention.
  void record_history_purged(std::size_t n);

  /// Sets the status gauges from `s` (the database part only when s.queried_at is set). Called after each
  /// status refresh; thread-safe (serialized internally).
  void record_status(const StatusSnapshot& s);

 private:
  struct Impl;
  explicit CoordinatorMetrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck
