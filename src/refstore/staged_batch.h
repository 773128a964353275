#pragma once
/// Private: one apply_batch() transaction staged in memory and written set-based (PostgreSQL).
///
/// The engine runs its per-command statements against a StagedBatch instead of the connection: load()
/// first locks and reads, in a few array statements, every row the batch can touch; exec() then answers
/// and records the engine's statements from that copy; flush() writes the net changes with one array
/// statement per table and kind (UPDATE ... FROM unnest, INSERT ... SELECT unnest, DELETE ... USING
/// unnest). The engine's logic is unchanged, so both backends keep one semantics (S1, S2, B1).
///
/// Round trips per batch: 2–5 reads (lock, objects, acks; ack checks when a placeholder is involved; key
/// owners when the batch has store records) and 1 write per changed table, instead of ~3 per command.
/// Concurrency: load() locks the batch's object rows in pointer_id byte order in one statement (missing
/// ones are inserted as PLACEHOLDER rows, deleted again by flush() if the batch did not need them), so
/// concurrent batches never deadlock; every later write touches only rows under those locks, except
/// placeholder_counts, written last in sender order. Needs PostgreSQL 9.5+ (ON CONFLICT, multi-array
/// unnest). Not thread-safe; lives inside one open transaction of its SqlDb.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "refstore/sql_db.h"

namespace claimcheck::refstore::detail {

/// A PostgreSQL array literal ("{\"a\",NULL}", every element double-quoted, `\` and `"` escaped) for a
/// `$n::type[]` parameter. Never fails.
std::string pg_array_literal(const std::vector<std::optional<std::string>>& elements);

class StagedBatch final : public StmtRunner {
 public:
  explicit StagedBatch(SqlDb& db) : db_(db) {}

  /// Locks (inserting missing ones as PLACEHOLDER, first_seen_at = now_us) and loads the objects
  /// `pointer_ids` (sorted, unique), their acks and, when needed, their ack checks, plus the live owners of
  /// `locations` (bucket, key of the batch's store records). Errors: those of SqlDb::exec (Aborted on lock
  /// timeout or deadlock).
  [[nodiscard]] Result<void> load(const std::vector<std::string>& pointer_ids,
                                  const std::vector<std::pair<std::string, std::string>>& locations,
                                  std::int64_t now_us);

  /// Answers one of the engine's apply_batch statements from the staged rows and records its change.
  /// SenderPlaceholders / TotalPlaceholders are read once per batch from the database. Errors: Internal
  /// for a statement apply_batch does not use or a row load() did not lock.
  [[nodiscard]] Result<Rows> exec(Stmt s, const std::vector<Param>& params) override;

  /// Writes the net changes (objects, acks, ack checks, placeholder counts), one statement per table and
  /// kind that changed. Errors: those of SqlDb::exec.
  [[nodiscard]] Result<void> flush();

 private:
  using Row = std::vector<std::optional<std::string>>;
  using AckKey = std::pair<std::string, std::string>;  // pointer_id, recipient_id
  struct Obj {
    Row row;                   // OBJ_COLS
    bool present = true;       // false: inserted by load() only, the engine has not created it (yet)
    bool inserted = false;     // inserted by load()
    bool dirty = false;        // a column changed
  };
  struct Check {
    std::string sender, sha256;
  };

  Result<Rows> exec_object(Stmt s, const std::vector<Param>& p);
  Result<Rows> exec_ack(Stmt s, const std::vector<Param>& p);
  Result<Rows> exec_check(Stmt s, const std::vector<Param>& p);
  Result<Rows> exec_count(Stmt s, const std::vector<Param>& p);
  Result<Obj*> locked(const std::string& pid);
  Result<Rows> key_owner(const std::string& bucket, const std::string& key, const std::string& pid);
  Result<void> load_rows(const std::vector<std::string>& pointer_ids, const std::set<std::string>& inserted);
  Result<void> write(Stmt s, const std::vector<Param>& params);  // a statement run for its effect only
  Result<void> flush_objects();
  Result<void> flush_acks();
  Result<void> flush_checks();
  Result<void> flush_counts();

  SqlDb& db_;
  std::map<std::string, Obj> objects_;
  std::map<AckKey, Row> acks_, loaded_acks_;  // rows: InsertAck's 7 columns
  std::map<AckKey, Check> checks_;
  std::set<std::string> checks_dirty_;        // pointer_ids whose ack checks are rewritten
  std::multimap<std::pair<std::string, std::string>, std::string> owners_;  // (bucket, key) → pointer_id
  std::map<std::string, std::int64_t> sender_counts_, bumps_;
  std::optional<std::int64_t> total_count_;
};

}  // namespace claimcheck::refstore::detail
