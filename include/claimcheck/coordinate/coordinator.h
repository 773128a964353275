#pragma once
/// claimcheck::Coordinator — consumes store records and acks from q.ack, keeps the refcount in a RefStore
/// and deletes each object from S3 exactly when every expected recipient acked it or its expiry passed
/// (DESIGN.md §4, §5, §5a; invariants S1/S2 live in the RefStore, L1/L2 are driven from here).
///
/// Threads (DESIGN §5a): the caller of run() is the AMQP thread (owns amqp::Client, polls ~50 ms); a store
/// thread applies batches in ONE RefStore::apply_batch transaction each; a delete worker (own S3Client, own
/// RefStore) removes COMPLETE/EXPIRED objects with DeleteObjects; a sweeper (own S3Client, own RefStore)
/// runs the orphan sweep, purges old placeholders and ensures the bucket lifecycle safety rule; a status
/// refresher (own RefStore) queries the status snapshot every status_interval (status(), metrics gauges).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "claimcheck/amqp/types.h"
#include "claimcheck/coordinate/status.h"
#include "claimcheck/coordinate/metrics.h"
#include "claimcheck/refstore/ref_store.h"
#include "claimcheck/core/result.h"
#include "claimcheck/core/retry.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/protocol/topology.h"

namespace claimcheck {

/// Settings of one coordinator. Plain data filled by the CLI (or tests); the library never reads env/files.
struct CoordinatorConfig {
  amqp::AmqpConfig amqp;          ///< broker connection
  TopologyNames names;      ///< exchanges/queues; coordinator_topology(names) is declared at start
  s3::S3Config s3;                ///< S3 settings; each S3-using thread creates its own S3Client from it
  std::string bucket;             ///< bucket of the orphan sweep and lifecycle rule ("" = skip both)
  refstore::RefStoreConfig db;    ///< refcount database; each thread opens its own connection

  std::size_t batch_size = 500;                 ///< max commands per transaction (1..100000)
  std::chrono::milliseconds batch_delay{50};    ///< max time a delivery waits before its batch is flushed
  std::uint16_t prefetch = 0;                   ///< q.ack prefetch; 0 = min(65535, 4 × batch_size)
  std::chrono::seconds sweep_interval{30};      ///< period of expiry / orphan / placeholder sweeps (>= 1 s)
  std::string key_prefix = "claimcheck";        ///< producer key prefix; sweeps and lifecycle use "<prefix>/"
  /// Buckets a store record may name; empty = just `bucket` (and any bucket when `bucket` is empty too).
  /// A store record outside these buckets, or whose key is not under "<key_prefix>/", is dead-lettered and
  /// never recorded: the coordinator deletes only what its own producers could have stored (S1).
  std::vector<std::string> allowed_buckets;
  std::chrono::seconds orphan_grace{std::chrono::hours(24)};  ///< objects younger than this are never orphans
  bool orphan_sweep = true;                     ///< run the orphan sweep (needs `bucket`)
  int lifecycle_days = 30;                      ///< expiration days of rule `claimcheck-safety-net` (which also aborts
                                                ///< incomplete multipart uploads after 1 day); 0 = skip the rule
  std::chrono::seconds placeholder_retention{std::chrono::hours(24 * 7)};  ///< purge placeholders older
  /// B1: DELETED objects and their acks are purged this long after deleted_at (>= 1 s; default 7 days).
  std::chrono::seconds history_retention{std::chrono::hours(24 * 7)};
  /// DESIGN.md §9: recipient id → the broker user (AMQP user_id) whose acks count for it. A recipient not
  /// listed must be the broker user of the same name, unless key "*" names the user of every recipient not
  /// listed. Values must be non-empty.
  std::map<std::string, std::string> recipient_users;
  /// DESIGN.md §9: broker users whose store records are believed (non-empty list). Default "producer": the
  /// producer's own user of the least-privilege setup (issue 9 item 1, `.local/env.producer`); a setup that
  /// runs the producer as another user (today's single-administrator `make up`) must list that user.
  std::vector<std::string> producer_users{"producer"};
  /// Compatibility with the reference demo's consumers, which send neither user_id nor sha256: accept acks
  /// that lack them (those that carry them are still checked). Off = strict (default): such acks are
  /// dead-lettered. run() logs a warning when on.
  bool accept_unauthenticated_acks = false;
  std::chrono::seconds delete_lease{60};        ///< lease of a claimed deletion (crash → re-claimed after it)
  /// Backoff of a failed S3 delete, per object (no jitter: initial × 2^(failures−1), capped; initial ≥ 1 ms).
  /// max_attempts is not used: a delete is retried until it succeeds (the object stays marked).
  BackoffPolicy delete_retry{std::chrono::milliseconds(1000), std::chrono::milliseconds(300000), 2.0,
                             kUnlimitedAttempts, 0.0};
  /// Retries of one batch transaction (apply_batch) in the store thread: anything but InvalidArgument is
  /// retried, Unavailable after reopening the database, until it commits (or 3 attempts once stopping).
  BackoffPolicy store_retry{std::chrono::milliseconds(5), std::chrono::milliseconds(2000), 2.0,
                            kUnlimitedAttempts, 0.0};
  /// Retries of the delete worker's and sweeper's queries (claim, mark, sweep): Unavailable and Aborted.
  BackoffPolicy db_retry{std::chrono::milliseconds(10), std::chrono::milliseconds(2000), 2.0, 8, 0.0};
  /// Period of the status query (status(), the per-recipient and per-state gauges); >= 100 ms. It scans the
  /// PENDING objects, so keep it at seconds, not milliseconds, on a large database.
  std::chrono::milliseconds status_interval{10000};
  /// A recipient whose oldest pending object is older than this is lagging (status page, gauge); >= 0.
  std::chrono::seconds lag_warn{300};
  /// > 0: run() returns once no delivery arrived for this long, nothing is in flight and no COMPLETE/EXPIRED
  /// object is left to delete (scripted runs, `--exit-when-idle`, `--once`). 0 = run until stop().
  std::chrono::milliseconds exit_when_idle{0};
  /// Fault-injection hook for crash tests (the CLI's hidden `--debug-crash-after-commit` sets one that
  /// SIGKILLs the process): called on the store thread with the number of objects a committed batch
  /// completed, right after the commit — before its deliveries are acked and before any S3 delete. Empty
  /// (the default) = none. Must be thread-safe with respect to the caller's own state.
  std::function<void(std::size_t completed)> after_commit_hook;

  /// Checks ranges and nested configs (amqp, s3, db). Errors: InvalidArgument (Origin::Config) naming the field.
  [[nodiscard]] Result<void> validate() const;
};

/// Counters since construction (snapshot), for tests, logs and `--once` summaries.
struct CoordinatorStats {
  std::uint64_t deliveries = 0;        ///< q.ack deliveries received
  std::uint64_t batches = 0;           ///< committed apply_batch transactions
  std::uint64_t stores_new = 0, stores_duplicate = 0;
  std::uint64_t acks_new = 0, acks_duplicate = 0, acks_foreign = 0;
  std::uint64_t completed = 0;         ///< objects that became COMPLETE in this process's batches
  std::uint64_t deleted = 0;           ///< objects this process deleted from S3 and marked DELETED
  std::uint64_t expired_deleted = 0;   ///< of `deleted`, how many were EXPIRED
  std::uint64_t delete_failures = 0;   ///< failed S3 deletes scheduled for retry
  std::uint64_t orphans_deleted = 0;   ///< orphan objects removed
  std::uint64_t dead_lettered = 0;     ///< invalid deliveries dead-lettered with a reason
  std::uint64_t placeholders_purged = 0;
  std::uint64_t refused = 0;           ///< of dead_lettered, refused by a trust or bound rule (+ late sha256 drops)
  std::uint64_t history_purged = 0;    ///< DELETED objects purged after history_retention
};

/// The coordinator process core. Create, then call run() on the thread that should own the AMQP connection.
/// Thread safety: stop() and stats() may be called from any thread; run() once.
///
/// Example (what `claimcheck coordinator` does, minus flags and signals):
///
///     claimcheck::CoordinatorConfig cfg;
///     cfg.amqp.urls = claimcheck::split_url_list("amqp://coordinator:pw@127.0.0.1:5672/%2F");
///     cfg.s3.endpoint = "http://127.0.0.1:7480";  cfg.s3.access_key = key_id;  cfg.s3.secret_key = secret;
///     cfg.bucket = "1c-exchange";
///     cfg.db.dsn = "sqlite:/var/lib/claimcheck/coordinator.db";
///     CC_TRY(coord, claimcheck::Coordinator::create(cfg));
///     std::thread stopper([&] { wait_for_sigterm(); (*coord)->stop(); });
///     auto r = (*coord)->run();                        // returns after stop(): batches applied and acked
class Coordinator {
 public:
  /// Validates `cfg` and opens nothing yet. `metrics` may be null (they are then recorded in a private
  /// registry nobody reads).
  /// Errors: InvalidArgument (config).
  [[nodiscard]] static Result<std::unique_ptr<Coordinator>> create(CoordinatorConfig cfg,
                                                                    std::shared_ptr<CoordinatorMetrics> metrics = {});
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  /// Opens the RefStore (and migrates it), connects to RabbitMQ, declares coordinator_topology, ensures the
  /// lifecycle rule, starts the store thread, delete worker and sweeper, consumes q.ack and loops until
  /// stop() (or the exit_when_idle condition). On stop: cancels the consumer, applies and acks the batches
  /// already received, waits (≤ 5 s) for dead-letter confirms, stops the workers, closes the connection.
  /// Errors: Unavailable (broker/db unreachable at start, or lost for good), PermissionDenied,
  /// FailedPrecondition (topology mismatch, newer db schema), Internal.
  [[nodiscard]] Result<void> run();

  /// Requests a clean shutdown; returns at once. Thread-safe, idempotent (not async-signal-safe: from a
  /// signal handler set a flag and call stop() from a normal thread).
  void stop() noexcept;

  /// Counters so far (thread-safe snapshot).
  [[nodiscard]] CoordinatorStats stats() const;

  /// The latest status snapshot: the database part as of the last refresh (every status_interval while
  /// run() runs; queried_at unset before the first one), the health (uptime, last batch, broker connected,
  /// counters) as of now. Thread-safe (a copy under a mutex); cheap enough to call per HTTP request.
  [[nodiscard]] StatusSnapshot status() const;

  struct Impl;  ///< opaque; public only so that src/coordinate/ helpers can name it

 private:
  explicit Coordinator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The trust rules of DESIGN.md §9 for one parsed q.ack delivery `cmd` of message `msg` (its AMQP user_id,
/// which RabbitMQ guarantees is the publisher's authenticated user):
/// - store record: msg.user_id must be one of cfg.producer_users (rule "store_user_id");
/// - ack: msg.user_id must be the user mapped to its recipient_id (cfg.recipient_users; rule "ack_user_id"),
///   and the ack must carry a sha256 (rule "ack_sha256") — missing ones are accepted only with
///   cfg.accept_unauthenticated_acks. (Equality with the store record's sha256 is the RefStore's rule.)
/// Returns the refusal (Refusal::index unused, 0) whose reason names the rule's subject and the user, e.g.
/// "ack for recipient 'branch2' published by user 'branch1' (expected 'branch2')", or nullopt when believed.
/// Pure, thread-safe.
[[nodiscard]] std::optional<refstore::Refusal> check_sender(const CoordinatorConfig& cfg, const amqp::Message& msg,
                                                            const refstore::Command& cmd);

/// The broker user whose acks count for `recipient_id` under `recipient_users` (see
/// CoordinatorConfig::recipient_users). Pure, thread-safe.
[[nodiscard]] std::string recipient_user(const std::map<std::string, std::string>& recipient_users,
                                         const std::string& recipient_id);

/// Parses one q.ack delivery into a RefStore command, dispatching on the JSON `schema` field
/// (s3-store-v1 → StoreInput, s3-ack-v1 → AckInput; strict validation per protocol.h). The AMQP `type`, when
/// set, must equal the schema. An ack's AckInput::sender is msg.user_id and AckInput::sha256 its `sha256` ("" when
/// absent); the trust rules are check_sender()'s. Errors: InvalidArgument (Origin::Protocol) whose message is the reason to put
/// in the `x-claimcheck-error` dead-letter header. Pure, thread-safe.
[[nodiscard]] Result<refstore::Command> parse_coordinator_message(const amqp::Message& msg);

}  // namespace claimcheck
