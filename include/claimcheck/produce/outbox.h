#pragma once
/// claimcheck::Outbox — `claimcheck produce --watch DIR`: sends every regular file that appears in a
/// directory (recursively) to the recipients, under its relative name, and moves it to
/// `DIR/.sent/<YYYY-MM-DD>/<name>` once its store record and every pointer were confirmed (docs/operations.md,
/// "Outbox mode", holds the crash-point analysis).
///
/// - Ready: closed after writing (inotify IN_CLOSE_WRITE), or untouched for `quiet_period` (writers that
///   never close, files moved in); files present at start are ready when their mtime is that old.
/// - Ignored: `.sent/`, the journal `.claimcheck-outbox/`, any dot-file or dot-directory, `*.tmp`, `*.part`.
/// - Exactly once across restarts: a journal in `DIR/.claimcheck-outbox/` records each file's pointer id
///   before the upload, its pointer once the store record was confirmed, and "done" before the move. A
///   restart re-sends a recorded file under the same pointer id and object key (an existing object with the
///   same bytes is reused), or re-publishes its recorded pointers; recipients' journals and the coordinator
///   deduplicate by pointer id. A file leaves DIR only after every pointer was confirmed.
/// - Failures: retried with backoff (`retry`); one log line per file (sent / failed with the reason); a file
///   that keeps failing does not hold back the others.
///
/// Usage:
///   OutboxConfig cfg{.producer = pcfg, .dir = "/srv/outbox"};
///   auto ob = Outbox::create(std::move(cfg));
///   auto rep = ob->run([] { return stop_flag.load(); });   // returns once stopped (or, with once, done)
///
/// Thread safety: one run() at a time; it blocks the calling thread. The library reads no env or argv and
/// handles no signals: the caller's `should_stop` ends the run.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>

#include "claimcheck/produce/producer.h"
#include "claimcheck/core/result.h"
#include "claimcheck/core/retry.h"

namespace claimcheck {

/// Settings of an outbox. Plain data; only the CLI fills it.
///
/// - `producer`: how files are sent (recipients, codec, bucket, ttl, …; `storage_check` must be false).
/// - `dir`: the outbox directory (must exist); `.sent/` and `.claimcheck-outbox/` are created in it.
/// - `quiet_period`: ≥ 0; a file untouched this long counts as ready without a close.
/// - `remove_sent`: remove sent files instead of moving them to `.sent/<date>/`.
/// - `once`: send what is there now (and what the journal says is pending), then return; no inotify.
/// - `retry`: backoff between attempts of one file; `max_attempts` attempts before it is given up (with
///   `once`: reported failed; watching: given up until the file changes).
/// - `rescan_interval`: while watching, a full scan this often catches what inotify could not report.
/// - `name_prefix`: prepended to each relative name in the pointer (as `produce --name-prefix`).
struct OutboxConfig {
  ProducerConfig producer;
  std::filesystem::path dir;
  std::chrono::milliseconds quiet_period{5000};
  bool remove_sent = false;
  bool once = false;
  BackoffPolicy retry{std::chrono::milliseconds(1000), std::chrono::milliseconds(300000), 2.0, 1000000};
  std::chrono::milliseconds rescan_interval{60000};
  std::string name_prefix;

  /// Checks the fields (and `producer`). Errors: InvalidArgument (Origin::Config) naming the field;
  /// NotFound / InvalidArgument (Origin::Io) when `dir` is missing or not a directory.
  [[nodiscard]] Result<void> validate() const;
};

/// What one run did.
struct OutboxReport {
  std::size_t sent = 0;     ///< files whose store record and pointers were all confirmed
  std::size_t failed = 0;   ///< files given up (attempts used up, or an invalid name)
  std::size_t pending = 0;  ///< files still waiting when the run stopped (they stay in DIR and the journal)
};

/// The outbox of one directory (see the file comment).
class Outbox {
 public:
  /// Validates `cfg`. Errors: as OutboxConfig::validate().
  [[nodiscard]] static Result<Outbox> create(OutboxConfig cfg);

  /// Opens the journal and recovers what it records, then sends files until `should_stop` (thread-safe,
  /// checked about every 50 ms) returns true — in-flight files are finished first — or, with `once`, until
  /// every file present at start settled. A lost broker connection is retried with backoff. Errors: the
  /// journal or DIR cannot be used (Origin::Io); inotify cannot be set up; with `once`, the broker or S3
  /// stayed unreachable for `retry.max_attempts` tries.
  [[nodiscard]] Result<OutboxReport> run(const std::function<bool()>& should_stop);

  /// The configuration in use (holds secrets: do not log it).
  [[nodiscard]] const OutboxConfig& config() const noexcept { return cfg_; }

 private:
  explicit Outbox(OutboxConfig cfg) : cfg_(std::move(cfg)) {}
  OutboxConfig cfg_;
};

}  // namespace claimcheck
