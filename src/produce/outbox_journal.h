#pragma once
/// The outbox's journal (outbox.h): one small record per file being sent, in `<outbox>/.claimcheck-outbox/`,
/// so that a restart neither loses nor re-sends a file (the crash-point analysis is in docs/operations.md,
/// "Outbox mode"). Each record is its own file `<first 32 hex of SHA-256(name)>.json`, replaced atomically
/// (temp file, fsync, rename, fsync of the directory), so a crash leaves the old or the new record, never a
/// torn one.
///
/// A record walks Sending → Stored → Done, then is cleared:
/// - Sending: written before the upload: the pointer id and created_at the file is sent under;
/// - Stored: written once the store record was confirmed, before any pointer is published: the pointer;
/// - Done: written once every pointer was confirmed, before the file is moved to `.sent/` (or removed).
///
/// recovery_for() says what a restart does with each record; it is pure and unit-tested.
/// Not thread-safe: owned by the outbox's loop.

#include <filesystem>
#include <string>
#include <vector>

#include "claimcheck/core/result.h"
#include "claimcheck/core/time.h"

namespace claimcheck {

/// One file's journal record.
struct OutboxRecord {
  enum class Phase { Sending, Stored, Done };
  Phase phase = Phase::Sending;
  std::string name;          ///< relative name in the outbox (raw bytes)
  std::string pointer_id;    ///< canonical UUID the file is sent under
  Timestamp created_at{};    ///< with pointer_id: fixes the object key, created_at and expires_at
  std::string pointer_json;  ///< Stored, Done: the s3-pointer-v1 published to every recipient (empty inline)
};

/// What a (re)start does with a record it finds.
enum class Recovery {
  Resend,  ///< send the file again under the same pointer id and created_at (nothing was published yet)
  Resume,  ///< publish the recorded pointers again (store record confirmed; recipients deduplicate)
  Renew,   ///< the pointer would expire too soon: send the file afresh under a new pointer id
  Finish,  ///< every pointer was confirmed: move the file to .sent/ (or remove it), clear the record
  Clear,   ///< nothing left to do: clear the record
};

/// The recovery of `r` given whether its file is still in the outbox and whether its pointer's expiry is
/// too close (`expiring`: created_at + ttl is within the safety margin of now). Pure, thread-safe.
[[nodiscard]] Recovery recovery_for(const OutboxRecord& r, bool file_present, bool expiring) noexcept;

/// fsync of directory `dir`, so a rename or unlink in it survives a power loss. Errors: "io".
[[nodiscard]] Result<void> sync_directory(const std::filesystem::path& dir);

/// The journal directory of one outbox.
class OutboxJournal {
 public:
  /// Creates `<outbox>/.claimcheck-outbox/` if missing and removes stale temp files in it. Errors: "io".
  [[nodiscard]] static Result<OutboxJournal> open(const std::filesystem::path& outbox);

  /// Every record, in name order. A record that cannot be parsed is logged (error) and skipped, left in
  /// place for an operator. Errors: "io" (the directory cannot be read).
  [[nodiscard]] Result<std::vector<OutboxRecord>> load() const;
  /// Writes (replaces) the record of `r.name` durably. Errors: "io" (Unavailable for ENOSPC/EIO).
  [[nodiscard]] Result<void> put(const OutboxRecord& r) const;
  /// Removes the record of `name` (durably; a missing record is success). Errors: "io".
  [[nodiscard]] Result<void> clear(const std::string& name) const;

  /// The journal directory.
  [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  explicit OutboxJournal(std::filesystem::path dir) : dir_(std::move(dir)) {}
  [[nodiscard]] std::filesystem::path path_of(const std::string& name) const;
  std::filesystem::path dir_;
};

}  // namespace claimcheck
