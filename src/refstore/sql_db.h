#pragma once
/// Private: the thin SQL connection layer the RefStore engine runs on (one implementation per backend).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "claimcheck/refstore/ref_store.h"

namespace claimcheck::refstore::detail {

/// Every statement the engine uses. The SQL text (with $1..$N placeholders) comes from sql_text().
enum class Stmt : int {
  LockObject,         ///< $1 pointer_id → OBJ_COLS (PostgreSQL: FOR UPDATE)
  InsertPlaceholder,  ///< $1 pointer_id, $2 first_seen_at → OBJ_COLS if inserted
  InsertAck,          ///< $1..$7 → affected 0/1
  SetProgress,        ///< $1 pointer_id, $2 processed_count
  SetComplete,        ///< $1 pointer_id, $2 processed_count, $3 completed_at
  FillStore,          ///< $1 pointer_id, $2 state, $3 bucket, ... $13 completed_at (nullable)
  SelectAckSlots,     ///< $1 pointer_id → recipient_id, processed
  SetForeign,         ///< $1 pointer_id, $2 recipient_id, $3 is_foreign
  ExpireDue,          ///< $1 now
  ClaimDue,           ///< $1 now, $2 lease_until, $3 limit → pointer_id, bucket, key, state, attempts
  MarkDeleted,        ///< $1 pointer_id, $2 now
  MarkFailed,         ///< $1 pointer_id, $2 error, $3 next_attempt
  KnownKey,           ///< $1 bucket, $2 key → one row if known
  KeyOwner,           ///< $1 bucket, $2 key, $3 pointer_id → pointer_id of another live object storing that key
  GetObject,          ///< $1 pointer_id → OBJ_COLS
  GetAcks,            ///< $1 pointer_id → recipient_id, processed, reason, processed_at, received_at, is_foreign
  CountStates,        ///< → state, count
  OldestPending,      ///< $1 limit → pointer_id
  PurgePlaceholders,  ///< $1 older_than → pointer_id of removed rows
  DeleteAcks,         ///< $1 pointer_id
  SchemaVersion,      ///< → max(version)
  AckSlot,            ///< $1 pointer_id, $2 recipient_id → processed (one row if the slot is taken)
  UpgradeAck,         ///< $1 pointer_id, $2 recipient_id, $3 processed_at, $4 received_at: rejected → processed
  DeleteAck,          ///< $1 pointer_id, $2 recipient_id
  InsertAckCheck,     ///< $1 pointer_id, $2 recipient_id, $3 sender, $4 sha256 (placeholder acks)
  SelectAckChecks,    ///< $1 pointer_id → recipient_id, sender, sha256
  DeleteAckChecks,    ///< $1 pointer_id
  BumpPlaceholders,   ///< $1 sender, $2 delta (upsert into placeholder_counts)
  SenderPlaceholders, ///< $1 sender → n (no row = 0)
  TotalPlaceholders,  ///< → sum of n
  InsertVersion,      ///< $1 pointer_id, $2 version_id (first one wins)
  PurgeVersions,      ///< removes versions whose object row is gone
  PurgeDeleted,       ///< $1 older_than → pointer_id of removed DELETED rows
  RecordRefusal,      ///< $1 rule, $2 sender, $3 count, $4 at, $5 reason (upsert into refusals)
  ListRefusals,       ///< → rule, sender, count, last_at, last_reason (most refused first)
  RecipientBacklog,   ///< → recipient_id, pending, rejected, oldest pending created_at (NULL if none)
  // Set-based batch statements (PostgreSQL only: arrays as text literals, unnest, ON CONFLICT; see
  // staged_batch.h). Every array parameter is one element per row, all arrays of a statement equally long.
  BatchIndexLookups,  ///< (no parameters) for the rest of the transaction: plan row lookups by key as index scans
  BatchLockObjects,   ///< $1 text[] pointer_ids → OBJ_COLS of the existing ones, locked in pointer_id order
  BatchLoadAcks,      ///< $1 text[] pointer_ids → pointer_id, recipient_id, processed, reason, processed_at, received_at, is_foreign
  BatchLoadChecks,    ///< $1 text[] pointer_ids → pointer_id, recipient_id, sender, sha256
  BatchKeyOwners,     ///< $1 text[] buckets, $2 text[] keys → bucket, object_key, pointer_id of live stored objects
  BatchSenderCounts,  ///< $1 text[] senders → sender, n (placeholder_counts rows that exist)
  BatchInsertObjects, ///< $1..$14 arrays as BatchUpdateObjects, $15 first_seen_at (fails on a row that exists)
  BatchUpdateObjects, ///< $1..$14 arrays: pointer_id, state, has_store, bucket, ... producer_id (every mutable column)
  BatchInsertAcks,    ///< $1..$7 arrays in InsertAck's column order
  BatchUpdateAcks,    ///< $1..$7 arrays in InsertAck's column order (key: pointer_id, recipient_id)
  BatchDeleteAcks,    ///< $1 text[] pointer_ids, $2 text[] recipient_ids
  BatchDeleteChecks,  ///< $1 text[] pointer_ids
  BatchInsertChecks,  ///< $1..$4 arrays: pointer_id, recipient_id, sender, sha256
  BatchInsertVersions,    ///< $1 text[] pointer_ids, $2 text[] version_ids (first one wins, as InsertVersion)
  BatchBumpPlaceholders,  ///< $1 text[] senders (sorted), $2 bigint[] deltas
  BatchMarkDeleted,   ///< $1 text[] pointer_ids, $2 now: MarkDeleted for all of them, rows locked in pointer_id order
  Count_,             ///< number of statements (not a statement)
};

/// True for the set-based Batch* statements. PostgreSQL runs them unprepared, planned with each batch's
/// arrays: a generic plan cached while the tables were small scans them whole once they have grown.
constexpr bool is_batch_stmt(Stmt s) { return s >= Stmt::BatchIndexLookups && s < Stmt::Count_; }

enum class Backend { Sqlite, Postgres };

/// SQL text of a statement for a backend, placeholders written $1..$N.
std::string_view sql_text(Stmt s, Backend b);

/// DDL creating schema version 1 (both backends; portable types only).
std::string_view schema_v1_ddl();

/// Additive DDL run at every open (CREATE ... IF NOT EXISTS): the placeholder-accounting tables
/// ack_checks (sender and sha256 of acks recorded on a PLACEHOLDER) and placeholder_counts (acks per sender).
std::string_view placeholder_ddl();

/// A statement parameter: NULL, integer or text.
using Param = std::variant<std::monostate, std::int64_t, std::string>;

/// Result rows as text (NULL = nullopt) plus the affected-row count of INSERT/UPDATE/DELETE.
struct Rows {
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::int64_t affected = 0;
};

/// One statement with its parameters, for SqlDb::exec_all().
struct Call {
  Stmt stmt;
  std::vector<Param> params;
};

/// Something that runs the engine's statements: a connection (SqlDb) or a batch staged in memory
/// (StagedBatch). Not thread-safe.
class StmtRunner {
 public:
  virtual ~StmtRunner() = default;
  /// Runs one statement; Rows::affected is the number of rows inserted, updated or deleted.
  [[nodiscard]] virtual Result<Rows> exec(Stmt s, const std::vector<Param>& params) = 0;
};

/// One connection. Not thread-safe. Statements are prepared once, lazily, and reused.
class SqlDb : public StmtRunner {
 public:
  [[nodiscard]] virtual Backend backend() const noexcept = 0;
  /// Starts a transaction; `write` = will write (SQLite: BEGIN IMMEDIATE).
  [[nodiscard]] virtual Result<void> begin(bool write) = 0;
  [[nodiscard]] virtual Result<void> commit() = 0;
  /// Rolls back the open transaction, if any; never fails.
  virtual void rollback() noexcept = 0;
  /// Runs `calls` in order inside the open transaction and returns each one's Rows, in one round trip where
  /// the backend can (PostgreSQL: one query string, parameters inlined as quoted literals; SQLite: one by
  /// one, in-process). `then_commit` = also commits the transaction, in the same round trip; afterwards no
  /// transaction is open. Errors: those of exec() and commit(); statements after a failing one do not run,
  /// nothing is committed and the caller rolls back.
  [[nodiscard]] virtual Result<std::vector<Rows>> exec_all(const std::vector<Call>& calls, bool then_commit) = 0;
  /// Runs parameterless SQL (DDL, several statements) inside the open transaction.
  [[nodiscard]] virtual Result<void> exec_script(std::string_view sql) = 0;
  /// Inside the migration transaction, before anything else: serialize concurrent migrators and
  /// create the namespace (PostgreSQL: advisory lock + CREATE SCHEMA). SQLite: nothing.
  [[nodiscard]] virtual Result<void> prepare_migration() = 0;
};

/// Opens a SQLite connection ("sqlite:" prefix already removed; ":memory:" allowed).
Result<std::unique_ptr<SqlDb>> open_sqlite(const std::string& path, std::chrono::milliseconds busy_timeout);
/// Opens a PostgreSQL connection (a libpq URI, may carry schema=NAME).
Result<std::unique_ptr<SqlDb>> open_postgres(const std::string& dsn, std::chrono::milliseconds busy_timeout);

/// Splits `schema=NAME` out of a PostgreSQL URI's query string. Returns the URI without it and the name
/// (empty if absent). Errors: InvalidArgument for a name outside [A-Za-z0-9_]{1,63} or starting with a digit.
Result<std::pair<std::string, std::string>> split_pg_schema(const std::string& dsn);

/// How apply_batch() reaches the database. Staged (default): on PostgreSQL, a StagedBatch loads the batch's
/// rows and writes the net changes set-based (staged_batch.h); SQLite (in-process, no round trips) always
/// runs per statement. PerStatement: every command's statements one by one on both backends (the
/// reference path, for benchmarks and comparison tests). Both give the same results.
enum class BatchMode { Staged, PerStatement };

/// The engine: a RefStore over one SqlDb with cfg's placeholder caps; migrates the schema first.
Result<std::unique_ptr<RefStore>> make_sql_ref_store(std::unique_ptr<SqlDb> db, const RefStoreConfig& cfg,
                                                     BatchMode mode = BatchMode::Staged);

}  // namespace claimcheck::refstore::detail
