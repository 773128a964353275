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

/// PostgreSQL text of the set-based batch statements (arrays passed as text literals, expanded by unnest;
/// PostgreSQL 9.4+ multi-argument unnest). Lock order: pointer_id in byte order (COLLATE "C"), the order
/// every other transaction uses, so two coordinators never wait on each other in a cycle.
std::string_view batch_sql_text(Stmt s) {
  switch (s) {
    case Stmt::BatchLockObjects:
      // Inserts the missing rows as PLACEHOLDER and locks the existing ones in one pass, in pointer_id order:
      // ON CONFLICT DO UPDATE locks every conflicting row even when its WHERE is false (nothing is updated).
      return "INSERT INTO objects (pointer_id, state, first_seen_at) SELECT p, 'PLACEHOLDER', $2 "
             "FROM unnest($1::text[]) AS t(p) ORDER BY p COLLATE \"C\" "
             "ON CONFLICT (pointer_id) DO UPDATE SET first_seen_at = objects.first_seen_at WHERE false "
             "RETURNING pointer_id";
    case Stmt::BatchLoadObjects:
      return "SELECT " CC_OBJ_COLS " FROM objects WHERE pointer_id = ANY($1::text[])";
    case Stmt::BatchLoadAcks:
      return "SELECT pointer_id, recipient_id, processed, reason, processed_at, received_at, is_foreign FROM acks "
             "WHERE pointer_id = ANY($1::text[])";
    case Stmt::BatchLoadChecks:
      return "SELECT pointer_id, recipient_id, sender, sha256 FROM ack_checks WHERE pointer_id = ANY($1::text[])";
    case Stmt::BatchKeyOwners:
      return "SELECT o.bucket, o.object_key, o.pointer_id FROM objects o "
             "JOIN unnest($1::text[], $2::text[]) AS v(bucket, object_key) "
             "ON o.bucket = v.bucket AND o.object_key = v.object_key WHERE o.has_store = 1 AND o.state <> 'DELETED'";
    case Stmt::BatchUpdateObjects:
      return "UPDATE objects AS o SET state = v.state, has_store = v.has_store, bucket = v.bucket, "
             "object_key = v.object_key, recipients = v.recipients, recipients_total = v.total, "
             "processed_count = v.processed, size_stored = v.size, sha256 = v.sha, created_at = v.created, "
             "expires_at = v.expires, completed_at = v.completed, producer_id = v.producer "
             "FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::integer[], "
             "$8::integer[], $9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[]) "
             "AS v(pointer_id, state, has_store, bucket, object_key, recipients, total, processed, size, sha, "
             "created, expires, completed, producer) WHERE o.pointer_id = v.pointer_id";
    case Stmt::BatchDeleteObjects:
      return "DELETE FROM objects WHERE pointer_id = ANY($1::text[])";
    case Stmt::BatchInsertAcks:
      return "INSERT INTO acks (pointer_id, recipient_id, processed, reason, processed_at, received_at, is_foreign) "
             "SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::bigint[], $6::bigint[], "
             "$7::integer[])";
    case Stmt::BatchUpdateAcks:
      return "UPDATE acks AS a SET processed = v.processed, reason = v.reason, processed_at = v.processed_at, "
             "received_at = v.received_at, is_foreign = v.is_foreign "
             "FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::bigint[], $6::bigint[], "
             "$7::integer[]) AS v(pointer_id, recipient_id, processed, reason, processed_at, received_at, is_foreign) "
             "WHERE a.pointer_id = v.pointer_id AND a.recipient_id = v.recipient_id";
    case Stmt::BatchDeleteAcks:
      return "DELETE FROM acks AS a USING unnest($1::text[], $2::text[]) AS v(pointer_id, recipient_id) "
             "WHERE a.pointer_id = v.pointer_id AND a.recipient_id = v.recipient_id";
    case Stmt::BatchDeleteChecks:
      return "DELETE FROM ack_checks WHERE pointer_id = ANY($1::text[])";
    case Stmt::BatchInsertChecks:
      return "INSERT INTO ack_checks (pointer_id, recipient_id, sender, sha256) "
             "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])";
    case Stmt::BatchBumpPlaceholders:
      return "INSERT INTO placeholder_counts (sender, n) SELECT * FROM unnest($1::text[], $2::bigint[]) "
             "ON CONFLICT (sender) DO UPDATE SET n = placeholder_counts.n + excluded.n";
    default:
      return {};
  }
}

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
