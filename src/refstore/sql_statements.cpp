// SQL text of every RefStore statement, shared by SQLite and PostgreSQL where the dialects agree.
#include "refstore/sql_db.h"

namespace claimcheck::refstore::detail {

#define CC_OBJ_COLS                                                                                   \
  "pointer_id, state, has_store, bucket, object_key, recipients, recipients_total, processed_count, " \
  "size_stored, sha256, created_at, expires_at, completed_at, deleted_at, delete_attempts, last_error, producer_id"

// The S3 version a claimed object's store record named ('' = none), for ClaimDue's RETURNING.
#define CC_VERSION_OF \
  "COALESCE((SELECT v.version_id FROM object_versions v WHERE v.pointer_id = objects.pointer_id), '')"

namespace {

// The mutable object columns as unnest arrays (BatchInsertObjects, BatchUpdateObjects: $1..$14).
#define CC_OBJ_ARRAYS                                                                                          \
  "unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::integer[], "          \
  "$8::integer[], $9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[]) "        \
  "AS v(pointer_id, state, has_store, bucket, object_key, recipients, total, processed, size, sha, created, " \
  "expires, completed, producer)"
// The ack columns as unnest arrays (BatchInsertAcks, BatchUpdateAcks: $1..$7, InsertAck's order).
#define CC_ACK_ARRAYS                                                                                      \
  "unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::bigint[], $6::bigint[], $7::integer[]) " \
  "AS v(pointer_id, recipient_id, processed, reason, processed_at, received_at, is_foreign)"

/// PostgreSQL text of the set-based batch statements (arrays passed as text literals, expanded by unnest;
/// PostgreSQL 9.4+ multi-argument unnest). They replace the per-command statements of the same tables in a
/// staged batch (staged_batch.h): the reads run in one round trip, the writes and COMMIT in another. Lock
/// order: pointer_id in byte order (COLLATE "C"), the order every other transaction uses, so two coordinators
/// never wait on each other in a cycle.
std::string_view batch_sql_text(Stmt s) {
  switch (s) {
    case Stmt::BatchIndexLookups:
      // A batch touches a few hundred rows by key, but the planner's cost model (random reads from disk)
      // prefers scanning tables of up to ~100 rows per key whole and hashing them: 2-5 ms per statement on a
      // table of 10,000 objects, against < 1 ms for the index lookups of a nested loop. Transaction-local
      // (is_local = true); the batch statements name their keys as joins to unnest arrays for that reason
      // (`IN (SELECT unnest(...))`, not `= ANY(...)`, which is no join).
      return "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)";
    case Stmt::BatchLockObjects:
      // LockRows sits above the sort: rows are locked in pointer_id order, and a row a concurrent transaction
      // changed is returned in its committed version (READ COMMITTED re-check). Missing rows are not locked:
      // BatchInsertObjects fails if one appeared meanwhile, and the batch is retried.
      return "SELECT " CC_OBJ_COLS " FROM objects WHERE pointer_id IN (SELECT unnest($1::text[])) "
             "ORDER BY pointer_id COLLATE \"C\" FOR UPDATE";
    case Stmt::BatchLoadAcks:
      return "SELECT pointer_id, recipient_id, processed, reason, processed_at, received_at, is_foreign FROM acks "
             "WHERE pointer_id IN (SELECT unnest($1::text[]))";
    case Stmt::BatchLoadChecks:
      return "SELECT pointer_id, recipient_id, sender, sha256 FROM ack_checks "
             "WHERE pointer_id IN (SELECT unnest($1::text[]))";
    case Stmt::BatchKeyOwners:
      // A LATERAL subquery (OFFSET 0: never flattened into a join) looks each location up in
      // objects_location_idx; as a join, the guessed selectivity of the filter on a table without statistics
      // yet made it a nested loop over a seq scan (0.2 s per batch on 10,000 objects).
      return "SELECT o.bucket, o.object_key, o.pointer_id FROM unnest($1::text[], $2::text[]) AS v(bucket, object_key), "
             "LATERAL (SELECT bucket, object_key, pointer_id FROM objects WHERE bucket = v.bucket AND "
             "object_key = v.object_key AND has_store = 1 AND state <> 'DELETED' OFFSET 0) AS o";
    case Stmt::BatchSenderCounts:
      return "SELECT sender, n FROM placeholder_counts WHERE sender IN (SELECT unnest($1::text[]))";
    case Stmt::BatchInsertObjects:
      // No ON CONFLICT: a row another transaction inserted since BatchLockObjects is a unique violation (23505).
      return "INSERT INTO objects (pointer_id, state, has_store, bucket, object_key, recipients, recipients_total, "
             "processed_count, size_stored, sha256, created_at, expires_at, completed_at, producer_id, first_seen_at) "
             "SELECT v.*, $15 FROM " CC_OBJ_ARRAYS;
    case Stmt::BatchUpdateObjects:
      return "UPDATE objects AS o SET state = v.state, has_store = v.has_store, bucket = v.bucket, "
             "object_key = v.object_key, recipients = v.recipients, recipients_total = v.total, "
             "processed_count = v.processed, size_stored = v.size, sha256 = v.sha, created_at = v.created, "
             "expires_at = v.expires, completed_at = v.completed, producer_id = v.producer "
             "FROM " CC_OBJ_ARRAYS " WHERE o.pointer_id = v.pointer_id";
    case Stmt::BatchInsertAcks:
      return "INSERT INTO acks (pointer_id, recipient_id, processed, reason, processed_at, received_at, is_foreign) "
             "SELECT * FROM " CC_ACK_ARRAYS;
    case Stmt::BatchUpdateAcks:
      return "UPDATE acks AS a SET processed = v.processed, reason = v.reason, processed_at = v.processed_at, "
             "received_at = v.received_at, is_foreign = v.is_foreign FROM " CC_ACK_ARRAYS
             " WHERE a.pointer_id = v.pointer_id AND a.recipient_id = v.recipient_id";
    case Stmt::BatchDeleteAcks:
      return "DELETE FROM acks AS a USING unnest($1::text[], $2::text[]) AS v(pointer_id, recipient_id) "
             "WHERE a.pointer_id = v.pointer_id AND a.recipient_id = v.recipient_id";
    case Stmt::BatchDeleteChecks:
      return "DELETE FROM ack_checks WHERE pointer_id IN (SELECT unnest($1::text[]))";
    case Stmt::BatchInsertChecks:
      return "INSERT INTO ack_checks (pointer_id, recipient_id, sender, sha256) "
             "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])";
    case Stmt::BatchInsertVersions:
      return "INSERT INTO object_versions (pointer_id, version_id) SELECT * FROM unnest($1::text[], $2::text[]) "
             "ON CONFLICT (pointer_id) DO NOTHING";
    case Stmt::BatchBumpPlaceholders:
      return "INSERT INTO placeholder_counts (sender, n) SELECT * FROM unnest($1::text[], $2::bigint[]) "
             "ON CONFLICT (sender) DO UPDATE SET n = placeholder_counts.n + excluded.n";
    case Stmt::BatchMarkDeleted:
      return "UPDATE objects AS o SET state = 'DELETED', deleted_at = $2, lease_until = 0 FROM (SELECT pointer_id "
             "FROM objects WHERE pointer_id IN (SELECT unnest($1::text[])) ORDER BY pointer_id COLLATE \"C\" FOR UPDATE) "
             "AS l WHERE o.pointer_id = l.pointer_id AND o.state IN ('COMPLETE', 'EXPIRED')";
    default:
      return {};
  }
}
#undef CC_OBJ_ARRAYS
#undef CC_ACK_ARRAYS

/// Per-recipient backlog over PENDING objects: the newline-joined `recipients` column split into one row per
/// expected recipient (SQLite: a recursive CTE; PostgreSQL: string_to_array + unnest), left-joined to that
/// recipient's ack by primary key.
std::string_view recipient_backlog_sql(bool pg) {
  if (pg)
    return "SELECT e.recipient_id, SUM(CASE WHEN a.pointer_id IS NULL THEN 1 ELSE 0 END), "
           "SUM(CASE WHEN a.processed = 0 THEN 1 ELSE 0 END), MIN(CASE WHEN a.pointer_id IS NULL THEN e.created_at END) "
           "FROM (SELECT o.pointer_id, o.created_at, r.recipient_id FROM objects o "
           "CROSS JOIN LATERAL unnest(string_to_array(o.recipients, chr(10))) AS r(recipient_id) "
           "WHERE o.state = 'PENDING') e "
           "LEFT JOIN acks a ON a.pointer_id = e.pointer_id AND a.recipient_id = e.recipient_id "
           "WHERE e.recipient_id <> '' GROUP BY e.recipient_id";
  return "WITH RECURSIVE e(pointer_id, created_at, recipient_id, rest) AS ("
         "SELECT pointer_id, created_at, '', recipients || char(10) FROM objects WHERE state = 'PENDING' "
         "UNION ALL SELECT pointer_id, created_at, substr(rest, 1, instr(rest, char(10)) - 1), "
         "substr(rest, instr(rest, char(10)) + 1) FROM e WHERE rest <> '') "
         "SELECT e.recipient_id, SUM(CASE WHEN a.pointer_id IS NULL THEN 1 ELSE 0 END), "
         "SUM(CASE WHEN a.processed = 0 THEN 1 ELSE 0 END), MIN(CASE WHEN a.pointer_id IS NULL THEN e.created_at END) "
         "FROM e LEFT JOIN acks a ON a.pointer_id = e.pointer_id AND a.recipient_id = e.recipient_id "
         "WHERE e.recipient_id <> '' GROUP BY e.recipient_id";
}

}  // namespace

// Long by nature: one case per statement, the SQL text of each next to its name (a table, not logic).
std::string_view sql_text(Stmt s, Backend b) {
  const bool pg = b == Backend::Postgres;
  switch (s) {
    case Stmt::LockObject:
      return pg ? "SELECT " CC_OBJ_COLS " FROM objects WHERE pointer_id = $1 FOR UPDATE"
                : "SELECT " CC_OBJ_COLS " FROM objects WHERE pointer_id = $1";
    case Stmt::InsertPlaceholder:
      return "INSERT INTO objects (pointer_id, state, first_seen_at) VALUES ($1, 'PLACEHOLDER', $2) "
             "ON CONFLICT (pointer_id) DO NOTHING RETURNING " CC_OBJ_COLS;
    case Stmt::InsertAck:
      return "INSERT INTO acks (pointer_id, recipient_id, processed, reason, processed_at, received_at, is_foreign) "
             "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (pointer_id, recipient_id) DO NOTHING";
    case Stmt::SetProgress:
      return "UPDATE objects SET processed_count = $2 WHERE pointer_id = $1";
    case Stmt::SetComplete:
      return "UPDATE objects SET processed_count = $2, state = 'COMPLETE', completed_at = $3 WHERE pointer_id = $1";
    case Stmt::FillStore:
      return "UPDATE objects SET has_store = 1, state = $2, bucket = $3, object_key = $4, recipients = $5, "
             "recipients_total = $6, processed_count = $7, size_stored = $8, sha256 = $9, created_at = $10, "
             "expires_at = $11, producer_id = $12, completed_at = $13 WHERE pointer_id = $1";
    case Stmt::SelectAckSlots:
      return "SELECT recipient_id, processed FROM acks WHERE pointer_id = $1";
    case Stmt::SetForeign:
      return "UPDATE acks SET is_foreign = $3 WHERE pointer_id = $1 AND recipient_id = $2";
    case Stmt::ExpireDue:
      return pg ? "UPDATE objects SET state = 'EXPIRED' WHERE pointer_id IN (SELECT pointer_id FROM objects "
                  "WHERE state = 'PENDING' AND expires_at <= $1 FOR UPDATE SKIP LOCKED)"
                : "UPDATE objects SET state = 'EXPIRED' WHERE state = 'PENDING' AND expires_at <= $1";
    case Stmt::ClaimDue:
      return pg ? "UPDATE objects SET lease_until = $2 WHERE pointer_id IN (SELECT pointer_id FROM objects "
                  "WHERE state IN ('COMPLETE', 'EXPIRED') AND next_attempt_at <= $1 AND lease_until <= $1 "
                  "ORDER BY created_at, pointer_id LIMIT $3 FOR UPDATE SKIP LOCKED) "
                  "RETURNING pointer_id, bucket, object_key, state, delete_attempts, created_at, " CC_VERSION_OF
                : "UPDATE objects SET lease_until = $2 WHERE pointer_id IN (SELECT pointer_id FROM objects "
                  "WHERE state IN ('COMPLETE', 'EXPIRED') AND next_attempt_at <= $1 AND lease_until <= $1 "
                  "ORDER BY created_at, pointer_id LIMIT $3) "
                  "RETURNING pointer_id, bucket, object_key, state, delete_attempts, created_at, " CC_VERSION_OF;
    case Stmt::MarkDeleted:
      return "UPDATE objects SET state = 'DELETED', deleted_at = $2, lease_until = 0 "
             "WHERE pointer_id = $1 AND state IN ('COMPLETE', 'EXPIRED')";
    case Stmt::MarkFailed:
      return "UPDATE objects SET delete_attempts = delete_attempts + 1, last_error = $2, next_attempt_at = $3, "
             "lease_until = 0 WHERE pointer_id = $1 AND state IN ('COMPLETE', 'EXPIRED')";
    case Stmt::KnownKey:
      return "SELECT 1 FROM objects WHERE bucket = $1 AND object_key = $2 AND has_store = 1 LIMIT 1";
    case Stmt::KeyOwner:
      return "SELECT pointer_id FROM objects WHERE bucket = $1 AND object_key = $2 AND has_store = 1 "
             "AND state <> 'DELETED' AND pointer_id <> $3 LIMIT 1";
    case Stmt::GetObject:
      return "SELECT " CC_OBJ_COLS " FROM objects WHERE pointer_id = $1";
    case Stmt::GetAcks:
      return "SELECT recipient_id, processed, reason, processed_at, received_at, is_foreign FROM acks "
             "WHERE pointer_id = $1 ORDER BY recipient_id";
    case Stmt::CountStates:
      return "SELECT state, COUNT(*) FROM objects GROUP BY state";
    case Stmt::OldestPending:
      return "SELECT pointer_id FROM objects WHERE state = 'PENDING' ORDER BY created_at, pointer_id LIMIT $1";
    case Stmt::PurgePlaceholders:
      return "DELETE FROM objects WHERE state = 'PLACEHOLDER' AND first_seen_at < $1 RETURNING pointer_id";
    case Stmt::DeleteAcks:
      return "DELETE FROM acks WHERE pointer_id = $1";
    case Stmt::SchemaVersion:
      return "SELECT MAX(version) FROM schema_version";
    case Stmt::AckSlot:
      return "SELECT processed FROM acks WHERE pointer_id = $1 AND recipient_id = $2";
    case Stmt::UpgradeAck:
      return "UPDATE acks SET processed = 1, reason = '', processed_at = $3, received_at = $4 "
             "WHERE pointer_id = $1 AND recipient_id = $2 AND processed = 0";
    case Stmt::DeleteAck:
      return "DELETE FROM acks WHERE pointer_id = $1 AND recipient_id = $2";
    case Stmt::InsertAckCheck:
      return "INSERT INTO ack_checks (pointer_id, recipient_id, sender, sha256) VALUES ($1, $2, $3, $4) "
             "ON CONFLICT (pointer_id, recipient_id) DO UPDATE SET sha256 = excluded.sha256";
    case Stmt::SelectAckChecks:
      return "SELECT recipient_id, sender, sha256 FROM ack_checks WHERE pointer_id = $1";
    case Stmt::DeleteAckChecks:
      return "DELETE FROM ack_checks WHERE pointer_id = $1";
    case Stmt::BumpPlaceholders:
      return "INSERT INTO placeholder_counts (sender, n) VALUES ($1, $2) "
             "ON CONFLICT (sender) DO UPDATE SET n = placeholder_counts.n + excluded.n";
    case Stmt::SenderPlaceholders:
      return "SELECT n FROM placeholder_counts WHERE sender = $1";
    case Stmt::TotalPlaceholders:
      return "SELECT COALESCE(SUM(n), 0) FROM placeholder_counts";
    case Stmt::InsertVersion:
      return "INSERT INTO object_versions (pointer_id, version_id) VALUES ($1, $2) ON CONFLICT (pointer_id) DO NOTHING";
    case Stmt::PurgeVersions:
      return "DELETE FROM object_versions WHERE pointer_id NOT IN (SELECT pointer_id FROM objects)";
    case Stmt::PurgeDeleted:
      return "DELETE FROM objects WHERE state = 'DELETED' AND deleted_at < $1 RETURNING pointer_id";
    case Stmt::RecordRefusal:
      return "INSERT INTO refusals (rule, sender, count, last_at, last_reason) VALUES ($1, $2, $3, $4, $5) "
             "ON CONFLICT (rule, sender) DO UPDATE SET count = refusals.count + excluded.count, "
             "last_at = excluded.last_at, last_reason = excluded.last_reason";
    case Stmt::ListRefusals:
      return "SELECT rule, sender, count, last_at, last_reason FROM refusals ORDER BY count DESC, rule, sender";
    case Stmt::RecipientBacklog:
      return recipient_backlog_sql(pg);
    case Stmt::Count_:
      break;
    default:
      return pg ? batch_sql_text(s) : std::string_view{};
  }
  return {};
}
#undef CC_OBJ_COLS
#undef CC_VERSION_OF

std::string_view schema_v1_ddl() {
  // Times are BIGINT microseconds since the Unix epoch (UTC); booleans are INTEGER 0/1 (portable).
  return R"SQL(
CREATE TABLE objects (
  pointer_id       TEXT PRIMARY KEY,
  state            TEXT NOT NULL,
  has_store        INTEGER NOT NULL DEFAULT 0,
  bucket           TEXT NOT NULL DEFAULT '',
  object_key       TEXT NOT NULL DEFAULT '',
  recipients       TEXT NOT NULL DEFAULT '',
  recipients_total INTEGER NOT NULL DEFAULT 0,
  processed_count  INTEGER NOT NULL DEFAULT 0,
  size_stored      BIGINT NOT NULL DEFAULT 0,
  sha256           TEXT NOT NULL DEFAULT '',
  producer_id      TEXT NOT NULL DEFAULT '',
  created_at       BIGINT NOT NULL DEFAULT 0,
  expires_at       BIGINT NOT NULL DEFAULT 0,
  first_seen_at    BIGINT NOT NULL,
  completed_at     BIGINT,
  deleted_at       BIGINT,
  delete_attempts  INTEGER NOT NULL DEFAULT 0,
  last_error       TEXT NOT NULL DEFAULT '',
  next_attempt_at  BIGINT NOT NULL DEFAULT 0,
  lease_until      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX objects_state_idx ON objects (state, expires_at);
CREATE INDEX objects_location_idx ON objects (bucket, object_key);
CREATE TABLE acks (
  pointer_id   TEXT NOT NULL,
  recipient_id TEXT NOT NULL,
  processed    INTEGER NOT NULL,
  reason       TEXT NOT NULL DEFAULT '',
  processed_at BIGINT NOT NULL,
  received_at  BIGINT NOT NULL,
  is_foreign   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (pointer_id, recipient_id)
);
INSERT INTO schema_version (version) VALUES (1);
)SQL";
}

std::string_view placeholder_ddl() {
  return R"SQL(
CREATE TABLE IF NOT EXISTS ack_checks (
  pointer_id   TEXT NOT NULL,
  recipient_id TEXT NOT NULL,
  sender       TEXT NOT NULL DEFAULT '',
  sha256       TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (pointer_id, recipient_id)
);
CREATE TABLE IF NOT EXISTS placeholder_counts (
  sender TEXT PRIMARY KEY,
  n      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS objects_deleted_idx ON objects (state, deleted_at);
CREATE TABLE IF NOT EXISTS object_versions (
  pointer_id TEXT PRIMARY KEY,
  version_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refusals (
  rule        TEXT NOT NULL,
  sender      TEXT NOT NULL,
  count       BIGINT NOT NULL DEFAULT 0,
  last_at     BIGINT NOT NULL,
  last_reason TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (rule, sender)
);
)SQL";
}

}  // namespace claimcheck::refstore::detail
