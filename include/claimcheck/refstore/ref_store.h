#pragma once
/// RefStore: the coordinator's refcount database (DESIGN.md §4–§5), SQLite (embedded default, WAL) or
/// PostgreSQL (several coordinators sharing one DSN). Same interface and semantics on both backends.
///
/// State machine per object (keyed by pointer_id):
///   PLACEHOLDER (acks seen, no store yet) → PENDING (store seen) → COMPLETE → DELETED
///                                                   └────────────→ EXPIRED  → DELETED
/// Invariants implemented here:
/// - S1: claim_deletions() only ever returns COMPLETE rows or rows with a store record whose expires_at has
///   passed. An ack from a recipient outside the store's list is recorded as foreign and never counted.
///   DELETED is terminal: late stores/acks for a DELETED object change nothing.
/// - S2: duplicate and out-of-order stores/acks converge to one state.
///   * Duplicate store (same pointer_id): the first one wins; a conflicting second one (different bucket,
///     key, recipients, size or sha256) is ignored and logged as a warning; counted in stores_duplicate.
///   * Acks are keyed by (pointer_id, recipient_id): ONE slot per recipient, first wins. A `rejected` ack
///     after a `processed` one changes nothing. A `processed` ack after a `rejected` one completes the slot
///     only when it is authenticated (AckInput::sender non-empty: the coordinator verified that this broker
///     user is the recipient's, DESIGN.md §4 "re-publishing a fixed dead letter finishes the job");
///     an unauthenticated one is a duplicate, so a rejected object stays until expiry.
/// - sha256 (S1): an ack whose sha256 is set and differs from the store record's is refused (never recorded,
///   ApplyResult::refused). An ack recorded on a PLACEHOLDER is checked when the store record arrives: a
///   mismatching one is then dropped (its slot freed, ApplyResult::acks_sha256_discarded), never counted.
/// - B1 (bounded): acks for unknown pointers (PLACEHOLDER) are capped per sender and in total
///   (RefStoreConfig); beyond the cap they are refused. purge_placeholders() and purge_history() remove
///   old placeholders and old DELETED objects with their acks.
/// - L1: every transition is transactional; a deletion claimed but never marked DELETED (process killed)
///   is returned again by claim_deletions() once its lease expired (S3 delete is idempotent).
///
/// Durability: SQLite runs in WAL mode with synchronous=NORMAL: a committed batch survives a process crash
/// (SIGKILL); an OS crash / power loss may lose the last committed transactions (the broker then redelivers
/// the un-acked deliveries only if they were not yet basic.ack'ed — the coordinator acks after commit, so a
/// power loss can lose acks that were applied; objects then expire instead of completing — safe, not early).
/// PostgreSQL uses the server's settings (synchronous_commit default on).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "claimcheck/core/result.h"

namespace claimcheck::refstore {

/// Lifecycle state of one object (see the file comment for the transitions).
enum class ObjectState { Placeholder, Pending, Complete, Expired, Deleted };

/// Upper-case name as stored in the database: "PLACEHOLDER", "PENDING", "COMPLETE", "EXPIRED", "DELETED".
/// Thread-safe, never fails.
std::string_view to_string(ObjectState s) noexcept;

/// Inverse of to_string(ObjectState); case-sensitive. Errors: InvalidArgument for any other text.
[[nodiscard]] Result<ObjectState> parse_object_state(std::string_view text);

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

/// A store record (s3-store-v1) as the RefStore needs it. Times are stored with microsecond precision.
struct StoreInput {
  std::string pointer_id;               ///< the refcount key (UUID text, opaque here)
  std::string bucket, key;              ///< object location
  std::vector<std::string> recipients;  ///< expected recipients, unique, non-empty
  std::int64_t size_stored = 0;         ///< object size in bytes
  std::string sha256;                   ///< 64 lowercase hex of the stored bytes
  TimePoint created_at{}, expires_at{}; ///< expiry = created_at + TTL
  std::string producer_id;
  std::string version_id;               ///< S3 version the producer's PUT created ("" = unversioned bucket)
};

/// An ack (s3-ack-v1) as the RefStore needs it.
struct AckInput {
  std::string pointer_id, recipient_id;
  bool processed = true;  ///< true = `processed`, false = `rejected`
  std::string reason;     ///< why it was rejected (empty when processed)
  TimePoint processed_at{};
  std::string sha256;     ///< sha256 the recipient verified (64 lowercase hex); "" = not sent (not checked)
  std::string sender;     ///< AMQP user_id that published it, already verified by the caller; "" = none
};

/// A command apply_batch() refused without recording it (the caller dead-letters its message).
struct Refusal {
  std::size_t index = 0;  ///< position of the command in the batch
  std::string rule;       ///< stable rule name, a metric label: "ack_sha256" | "placeholder_cap"
  std::string reason;     ///< human-readable reason for the `x-claimcheck-error` header (names the sender)
};

/// One command of a batch: a store record or an ack.
using Command = std::variant<StoreInput, AckInput>;

/// What one apply_batch() did.
struct ApplyResult {
  std::size_t stores_new = 0;        ///< store records that created or filled an object row
  std::size_t stores_duplicate = 0;  ///< store records for an object that already had one (or was DELETED)
  std::size_t acks_new = 0;          ///< acks that took a free (pointer_id, recipient_id) slot
  std::size_t acks_duplicate = 0;    ///< acks whose slot was already taken (first wins), or object DELETED
  std::size_t acks_foreign = 0;      ///< new acks from recipients outside the store's list (recorded, never counted)
  std::vector<std::string> completed;  ///< pointer_ids that became COMPLETE in this batch (each exactly once ever)
  std::size_t acks_upgraded = 0;     ///< authenticated `processed` acks that replaced the recipient's `rejected`
  std::size_t acks_sha256_discarded = 0;  ///< placeholder acks dropped when their store record's sha256 differed
  std::vector<Refusal> refused;      ///< commands not applied (everything else of the batch was)
};

/// One object to delete from S3, leased to the caller by claim_deletions().
struct DeleteTask {
  std::string pointer_id, bucket, key;
  ObjectState state = ObjectState::Complete;  ///< Complete or Expired
  int attempts = 0;                           ///< failed delete attempts so far (mark_delete_failed calls)
  std::string version_id;                     ///< the store record's S3 version ("" = delete the current one)
};

/// One recorded ack of an object.
struct AckView {
  std::string recipient_id;
  bool processed = true;  ///< false = rejected
  std::string reason;
  TimePoint processed_at{}, received_at{};  ///< received_at = the `now` of the apply_batch that recorded it
  bool foreign = false;   ///< recipient not in the store's list (unknown while PLACEHOLDER: false)
};

/// Everything known about one object (for `claimcheck status POINTER_ID`).
struct ObjectStatus {
  std::string pointer_id, bucket, key;  ///< bucket/key empty while PLACEHOLDER
  ObjectState state = ObjectState::Placeholder;
  std::vector<std::string> recipients;  ///< expected recipients (sorted), empty while PLACEHOLDER
  std::vector<AckView> acks;            ///< sorted by recipient_id
  std::vector<std::string> missing;     ///< expected recipients without a processed ack (sorted)
  TimePoint created_at{}, expires_at{};
  std::optional<TimePoint> completed_at, deleted_at;
  int delete_attempts = 0;
  std::string last_error;  ///< last mark_delete_failed() error text, empty if none
};

/// Counts per state plus the oldest PENDING objects (for `claimcheck status`).
struct Summary {
  std::map<ObjectState, std::int64_t> counts;  ///< every state present as a key (0 when none)
  std::vector<ObjectStatus> oldest_pending;    ///< up to N PENDING objects, oldest created_at first
};

/// How far behind one recipient is (for the coordinator's status page and per-recipient gauges): over the
/// PENDING objects whose store record expects `recipient_id`. A recipient every PENDING object has heard from
/// is listed with pending 0; one no PENDING object expects is not listed.
struct RecipientBacklog {
  std::string recipient_id;
  std::int64_t pending = 0;   ///< PENDING objects expecting it that have no ack from it yet (neither status)
  std::int64_t rejected = 0;  ///< PENDING objects it acked `rejected` (kept until expiry or a later `processed`)
  /// created_at (the producer's clock) of the oldest of the `pending` objects; nullopt when pending is 0.
  std::optional<TimePoint> oldest_pending_created_at;
};

/// One line of the audit of refused messages (DESIGN.md §9): how often `sender` (the AMQP user_id, "" when
/// absent) was refused under `rule` (ack_user_id, ack_sha256, store_user_id, placeholder_cap, invalid), when
/// last and why. Bounded by rules × broker users, so forged traffic cannot grow it without limit (B1).
struct RefusalAudit {
  std::string rule;
  std::string sender;
  std::int64_t count = 0;    ///< record_refusals(): how many to add; refusals(): the total
  TimePoint last_at{};
  std::string last_reason;  ///< the x-claimcheck-error text of the latest one (clipped to 512 bytes)
};

/// Connection settings. The library never reads env/files: the CLI fills this in.
struct RefStoreConfig {
  /// "sqlite:PATH" (file, created if missing), "sqlite::memory:" (private in-memory db, tests),
  /// or a libpq URI "postgresql://user@host:port/db[?...]". PostgreSQL URIs may carry `schema=NAME`
  /// (removed before connecting; tables then live in that schema, created if missing, via search_path).
  std::string dsn = "sqlite:.local/claimcheck.db";
  /// How long a SQLite writer waits for a lock before apply_batch returns Aborted; also the
  /// PostgreSQL lock_timeout. Must be >= 0.
  std::chrono::milliseconds busy_timeout{5000};
  /// B1: most acks (rows) recorded for unknown pointers (PLACEHOLDER) per sender (AckInput::sender; ""
  /// counts as one sender) and in total; an ack beyond either is refused (rule "placeholder_cap"). >= 0.
  std::int64_t max_placeholder_acks_per_sender = 10000;
  std::int64_t max_placeholder_acks = 100000;
  /// Errors: InvalidArgument when dsn has an unknown scheme, an empty path, busy_timeout < 0 or a
  /// negative placeholder cap.
  [[nodiscard]] Result<void> validate() const;
};

/// The refcount database. One instance per thread: each holds its own connection; instances are not
/// thread-safe, but any number of instances (threads, processes, coordinators on PostgreSQL) may share
/// one database. Every method is one transaction: all or nothing.
/// Errors of every method: Aborted (serialization failure, deadlock, SQLITE_BUSY — retry the call),
/// Unavailable (connection lost / cannot open — retry later, possibly after reopening), Internal.
///
/// Example — one store record and the ack that completes it, in one transaction:
///
///     claimcheck::refstore::RefStoreConfig cfg;
///     cfg.dsn = "sqlite::memory:";                      // or "postgresql://coordinator@db:5432/claimcheck"
///     CC_TRY(store, claimcheck::refstore::open_ref_store(cfg));
///     claimcheck::refstore::StoreInput s;
///     s.pointer_id = id;  s.bucket = "1c-exchange";  s.key = key;  s.recipients = {"branch1"};
///     s.sha256 = sha;  s.created_at = now;  s.expires_at = now + std::chrono::hours(72);
///     claimcheck::refstore::AckInput a;
///     a.pointer_id = id;  a.recipient_id = "branch1";  a.sha256 = sha;  a.sender = "branch1";
///     CC_TRY(r, (*store)->apply_batch({s, a}, now));   // r->completed == {id}: ready to delete
class RefStore {
 public:
  virtual ~RefStore() = default;

  /// Applies stores and acks in ONE transaction, in order. `now` becomes received_at of new acks.
  /// Idempotent per command (see S2 in the file comment). Commands for DELETED objects are counted as
  /// duplicates and change nothing. Acks breaking the sha256 or placeholder-cap rules are listed in
  /// ApplyResult::refused and not applied; the rest of the batch is. Errors: InvalidArgument (store with
  /// empty pointer_id/bucket/key or no recipients, ack with empty ids, a store naming another live
  /// object's location) — nothing of the batch is applied.
  [[nodiscard]] virtual Result<ApplyResult> apply_batch(const std::vector<Command>& commands, TimePoint now) = 0;

  /// First moves PENDING objects whose expires_at <= now to EXPIRED; then returns up to `limit` COMPLETE
  /// or EXPIRED objects (never PLACEHOLDER, never DELETED) whose next attempt time <= now and whose lease is
  /// free (lease_until <= now), and leases them until now + lease so no other caller gets them meanwhile
  /// (PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED). Oldest first. A lease that expires without
  /// mark_deleted/mark_delete_failed makes the row claimable again (crash safety).
  [[nodiscard]] virtual Result<std::vector<DeleteTask>> claim_deletions(TimePoint now, std::size_t limit,
                                                                        std::chrono::seconds lease) = 0;

  /// Marks objects DELETED (deleted_at = now) and releases their leases. Only COMPLETE/EXPIRED rows change;
  /// unknown or already DELETED ids are ignored (idempotent). The number changed is logged at debug level.
  [[nodiscard]] virtual Result<void> mark_deleted(const std::vector<std::string>& pointer_ids, TimePoint now) = 0;

  /// Records a failed S3 delete: attempts+1, last_error = error, next attempt at `next_attempt`, lease
  /// released. Ignored for unknown or DELETED ids. `error` must not contain secrets.
  [[nodiscard]] virtual Result<void> mark_delete_failed(const std::string& pointer_id, const std::string& error,
                                                        TimePoint next_attempt) = 0;

  /// The subset of `keys` in `bucket` that have a store record (any state, DELETED included), in the
  /// order given. For the orphan sweep: keys NOT returned have no store record.
  [[nodiscard]] virtual Result<std::vector<std::string>> known_keys(const std::string& bucket,
                                                                    const std::vector<std::string>& keys) = 0;

  /// One object's state, acks and missing recipients; std::nullopt when the pointer_id is unknown.
  [[nodiscard]] virtual Result<std::optional<ObjectStatus>> get(const std::string& pointer_id) = 0;

  /// Counts per state and the `oldest_n` oldest PENDING objects. `now` is reserved for age reporting.
  [[nodiscard]] virtual Result<Summary> summary(std::size_t oldest_n, TimePoint now) = 0;

  /// Per-recipient backlog over every PENDING object (see RecipientBacklog), sorted by recipient_id (bytes).
  /// One read-only query that scans the PENDING objects and looks up their acks by primary key: run it
  /// periodically, not per request. Errors: Unavailable, Internal.
  [[nodiscard]] virtual Result<std::vector<RecipientBacklog>> recipient_backlog() = 0;

  /// Removes PLACEHOLDER objects (acks whose store never arrived) first seen before `older_than`, with
  /// their acks (and frees their share of the placeholder caps). Returns how many objects were removed.
  [[nodiscard]] virtual Result<std::size_t> purge_placeholders(TimePoint older_than) = 0;

  /// B1: removes DELETED objects whose deleted_at is before `older_than`, with their acks (the history
  /// retention). Late stores/acks for a purged pointer then start a new PLACEHOLDER (capped, purged in
  /// turn). Returns how many objects were removed. Idempotent.
  [[nodiscard]] virtual Result<std::size_t> purge_history(TimePoint older_than) = 0;

  /// The schema version recorded in the schema_version table (currently 1).
  [[nodiscard]] virtual Result<int> schema_version() = 0;
  /// Adds `lines` (count = how many of each) to the audit of refused messages, in one transaction.
  /// Errors: Unavailable / Aborted (retryable).
  [[nodiscard]] virtual Result<void> record_refusals(const std::vector<RefusalAudit>& lines) = 0;
  /// The audit of refused messages, most refused first. Errors: Unavailable.
  [[nodiscard]] virtual Result<std::vector<RefusalAudit>> refusals() = 0;
};

/// The schema version this build creates and migrates to.
inline constexpr int kSchemaVersion = 1;

/// Opens (creating the file/schema as needed) and migrates the database named by cfg.dsn.
/// SQLite: WAL mode, synchronous=NORMAL, foreign keys on, busy_timeout = cfg.busy_timeout.
/// Migration is idempotent and safe against concurrent openers; the placeholder-accounting tables
/// (ack_checks, placeholder_counts) are additive and created when missing, so they need no version bump. Errors: InvalidArgument (bad config),
/// Unavailable (cannot open/connect), PermissionDenied (authentication), FailedPrecondition (the database
/// has a newer schema version than this build knows), Internal.
[[nodiscard]] Result<std::unique_ptr<RefStore>> open_ref_store(const RefStoreConfig& cfg);

}  // namespace claimcheck::refstore
