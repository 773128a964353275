#pragma once
/// Private: one apply_batch() transaction staged in memory and written set-based (PostgreSQL).
///
/// The engine runs its per-command statements against a StagedBatch instead of the connection: load()
/// first locks and reads every row the batch can touch; exec() then answers and records the engine's
/// statements from that copy; flush_and_commit() writes the net changes with one array statement per table
/// and kind (INSERT ... SELECT unnest, UPDATE ... FROM unnest, DELETE ... USING unnest) and commits. The
/// engine's logic is unchanged, so both backends keep one semantics (S1, S2, B1).
///
/// Round trips per batch: 2 (SqlDb::exec_all): BEGIN + lock + reads (objects FOR UPDATE, acks, ack checks,
/// key owners when the batch has store records, placeholder counts when it has acks), then the writes +
/// COMMIT; instead of ~3 per command. Each statement gets its own snapshot (READ COMMITTED), so the reads
/// after the lock see what the previous lock holders committed.
/// Concurrency: load() locks the batch's existing object rows in pointer_id byte order in one statement, so
/// concurrent batches never deadlock; every later write touches only rows under those locks or rows it
/// inserts, except placeholder_counts, written last in sender order. Rows the batch creates are not locked
/// beforehand: if another transaction created one of them meanwhile, the insert fails (unique violation),
/// nothing is committed and flush_and_commit() returns false — the caller rolls back and runs the batch
/// again, which then finds and locks the row. Needs PostgreSQL 9.5+ (ON CONFLICT, multi-array unnest).
/// Not thread-safe; lives inside one open transaction of its SqlDb.

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

  /// Begins the transaction's reads in one round trip: locks the existing objects among `pointer_ids`
  /// (sorted, unique) and loads them, their acks and ack checks, the live owners of `locations` (bucket, key
  /// of the batch's store records) and the placeholder counts of `senders` (of the batch's acks) and in total.
  /// Objects that do not exist are staged as not present; the engine may create them (first_seen_at =
  /// now_us). Errors: those of SqlDb::exec_all (Aborted on lock timeout or deadlock).
  [[nodiscard]] Result<void> load(const std::vector<std::string>& pointer_ids,
                                  const std::vector<std::pair<std::string, std::string>>& locations,
                                  const std::vector<std::string>& senders, std::int64_t now_us);

  /// Answers one of the engine's apply_batch statements from the staged rows and records its change.
  /// Errors: Internal for a statement apply_batch does not use or a row load() did not lock.
  [[nodiscard]] Result<Rows> exec(Stmt s, const std::vector<Param>& params) override;

  /// Writes the net changes (objects, acks, ack checks, versions, placeholder counts), one statement per table
  /// and kind that changed, and commits, in one round trip. Returns false, with nothing committed, when a row
  /// the batch creates was created by another transaction meanwhile (the caller rolls back and retries the
  /// batch). Errors: those of SqlDb::exec_all.
  [[nodiscard]] Result<bool> flush_and_commit();

 private:
  using Row = std::vector<std::optional<std::string>>;
  using AckKey = std::pair<std::string, std::string>;  // pointer_id, recipient_id
  struct Obj {
    Row row;                   // OBJ_COLS
    bool present = true;       // false: not in the database and not created by the engine (yet)
    bool inserted = false;     // not in the database when loaded: flush inserts it once present
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
  Result<void> take_objects(Rows& rows, const std::vector<std::string>& pointer_ids);
  Result<void> take_acks(Rows& rows);
  void take_checks(const Rows& rows);
  void take_owners(const Rows& rows);
  void take_counts(const std::vector<std::string>& senders, const Rows& found, const Rows& total);
  void flush_objects(std::vector<Call>& out) const;
  void flush_acks(std::vector<Call>& out) const;
  void flush_checks(std::vector<Call>& out) const;
  void flush_versions(std::vector<Call>& out) const;
  void flush_counts(std::vector<Call>& out) const;

  SqlDb& db_;
  std::int64_t now_us_ = 0;                   // first_seen_at of the objects the batch creates
  std::map<std::string, Obj> objects_;
  std::map<AckKey, Row> acks_, loaded_acks_;  // rows: InsertAck's 7 columns
  std::map<AckKey, Check> checks_;
  std::set<std::string> checks_loaded_;       // pointer_ids that had ack checks in the database
  std::set<std::string> checks_dirty_;        // pointer_ids whose ack checks are rewritten
  std::multimap<std::pair<std::string, std::string>, std::string> owners_;  // (bucket, key) → pointer_id
  std::map<std::string, std::string> versions_;  // pointer_id → version_id recorded by this batch
  std::map<std::string, std::int64_t> sender_counts_, bumps_;
  std::optional<std::int64_t> total_count_;
};

}  // namespace claimcheck::refstore::detail
