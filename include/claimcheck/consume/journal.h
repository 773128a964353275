#pragma once
/// The consumer's journal (DESIGN.md §10, EIP "idempotent receiver"): a durable record, per recipient, of
/// the pointers whose payload the handler already accepted and of the ack that was (or is about to be)
/// published for each. A redelivered pointer found here is not downloaded and not handed to the handler
/// again: its recorded ack is re-sent and the delivery acked.
///
/// - Storage: one embedded SQLite database file (WAL, synchronous=NORMAL: a record survives the process
///   being SIGKILLed at any point; a power loss can lose the last records, and their pointers are then
///   processed again — at-least-once, never lost).
/// - Keys: `message id` = pointer_id for pointers, the AMQP message_id for inline messages.
/// - Records are pruned once their `expires_at` passed (a pointer past its expiry is refused anyway).
/// - Thread safety: all methods may be called from any thread (one internal mutex).
///
/// Usage:
///   CC_TRY(j, ConsumeJournal::open(state_dir / "journal.db"));
///   if (auto prev = j->find(pointer_id); prev && *prev) resend(**prev);   // already processed
///   ... handler committed ...
///   CC_TRY_VOID(j->record(pointer_id, to_json(ack), pointer.expires_at));  // then publish the ack

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "claimcheck/core/result.h"
#include "claimcheck/core/time.h"

struct sqlite3_stmt;  // SQLite's prepared statement (sqlite3.h), private to the implementation

namespace claimcheck {

/// Durable set of processed message ids with the ack JSON sent for each (see the file comment).
class ConsumeJournal {
 public:
  /// Opens (creating it and its parent directory, mode 0700, if needed) the journal file at `path`.
  /// Errors: Unavailable / PermissionDenied (Origin::Journal) naming the path when it cannot be opened
  /// or its schema created; InvalidArgument when the file is not a journal.
  [[nodiscard]] static Result<std::unique_ptr<ConsumeJournal>> open(const std::filesystem::path& path);
  ~ConsumeJournal();
  ConsumeJournal(const ConsumeJournal&) = delete;
  ConsumeJournal& operator=(const ConsumeJournal&) = delete;

  /// The ack JSON recorded for `message_id` (empty string for inline messages, which have no ack), or
  /// nullopt when it was never processed. Errors: Unavailable (Origin::Journal) on a database error.
  [[nodiscard]] Result<std::optional<std::string>> find(const std::string& message_id);
  /// Records that `message_id` was processed and that `ack_json` is its ack, kept until `expires_at`.
  /// Idempotent: recording the same id again keeps the first record. Durable when it returns.
  /// Errors: Unavailable (disk full, I/O) / PermissionDenied (Origin::Journal) naming the path.
  [[nodiscard]] Result<void> record(const std::string& message_id, const std::string& ack_json, Timestamp expires_at);
  /// Deletes the records whose expires_at is before `now`; returns how many. Errors as record().
  [[nodiscard]] Result<std::size_t> prune(Timestamp now);
  /// The journal file's path.
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  struct Db;
  ConsumeJournal(std::filesystem::path path, std::unique_ptr<Db> db);
  Result<void> exec_locked(const char* sql);
  Result<void> prepare_locked(::sqlite3_stmt** st, const char* sql);
  std::filesystem::path path_;
  std::unique_ptr<Db> db_;
  std::mutex mu_;
};

}  // namespace claimcheck
