#pragma once
/// When a file of a watched outbox is ready to send, and when a failed one is tried again (outbox.h). A
/// plain state machine — file events and scan results in, ready names out, no I/O and no inotify — so its
/// rules are unit-tested with canned events (tests/unit/pipeline_outbox_test.cpp).
///
/// Rules:
/// - a file is ready once it was closed after writing (Closed = IN_CLOSE_WRITE), or once nothing happened
///   to it for the quiet period (Created / Modified / MovedIn restart the quiet period: writers that never
///   close, files moved in);
/// - a file found by a scan is ready when its mtime is at least the quiet period old, else it settles;
/// - ignored names (outbox_ignored) are never tracked;
/// - a failed attempt is retried after a backoff (BackoffPolicy, full jitter); after `retry.max_attempts`
///   attempts the file is given up until it changes again; a failing file never holds back the others.
///
/// Usage:
///   OutboxTracker t(5s, policy);
///   t.observe("a.csv", FileEvent::Closed, now);
///   for (auto& rel : t.take_ready(now, 8)) send(rel);   // then t.done(rel) or t.failed(rel, now)
///
/// Not thread-safe: owned by the outbox's loop.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "claimcheck/core/retry.h"

namespace claimcheck {

/// What happened to a file (from inotify, or canned in tests).
enum class FileEvent {
  Created,   ///< IN_CREATE: a writer just created it
  Modified,  ///< IN_MODIFY / IN_ATTRIB: bytes or metadata changed
  Closed,    ///< IN_CLOSE_WRITE: a writer closed it: ready
  MovedIn,   ///< IN_MOVED_TO: renamed into the outbox: ready after the quiet period
  Removed,   ///< IN_DELETE / IN_MOVED_FROM: gone
};

/// True for names the outbox never sends: any path component that starts with "." (dot-files, `.sent/`,
/// the journal `.claimcheck-outbox/`), and file names ending in ".tmp" or ".part" (writers' temporaries).
/// `rel` is "/"-separated, relative to the outbox. Pure, thread-safe.
[[nodiscard]] bool outbox_ignored(std::string_view rel) noexcept;

/// Readiness and retry bookkeeping of the files of one outbox (see the file comment).
class OutboxTracker {
 public:
  using Clock = std::chrono::steady_clock;

  /// `quiet`: the quiet period (≥ 0). `retry`: backoff between attempts and how many attempts a file gets
  /// before it is given up. `seed`: of the backoff jitter.
  OutboxTracker(std::chrono::milliseconds quiet, BackoffPolicy retry, std::uint64_t seed = 1);

  /// `ev` happened to `rel` at `now`. Events for a file being sent are ignored.
  void observe(const std::string& rel, FileEvent ev, Clock::time_point now);
  /// A scan found `rel`, last modified `age` ago. Unknown files are tracked only when `add_new`; a settling
  /// file's quiet period is counted from the later of its last event and its mtime.
  void scanned(const std::string& rel, std::chrono::milliseconds age, Clock::time_point now, bool add_new = true);
  /// `rel` must be sent at once (the journal says an attempt was under way before a restart).
  void pending(const std::string& rel);

  /// The files ready at `now` (quiet period over, or retry due), in name order, at most `max`; they are
  /// then in flight until done() or failed().
  [[nodiscard]] std::vector<std::string> take_ready(Clock::time_point now, std::size_t max);
  /// `rel` was sent (or vanished): forgotten.
  void done(const std::string& rel);
  /// An attempt at `rel` failed at `now`. Returns the delay until the next attempt, or nullopt when the
  /// file is given up (attempts used up, or `permanent`) until it changes again.
  std::optional<std::chrono::milliseconds> failed(const std::string& rel, Clock::time_point now,
                                                  bool permanent = false);

  /// True when no file is settling, ready, in flight or waiting for a retry (given-up files don't count).
  [[nodiscard]] bool idle() const noexcept;
  /// Files currently in flight.
  [[nodiscard]] std::size_t in_flight() const noexcept;
  /// True when `rel` is tracked (in any state).
  [[nodiscard]] bool tracked(const std::string& rel) const { return files_.count(rel) != 0; }

 private:
  enum class State { Settling, Ready, InFlight, Waiting, GivenUp };
  struct File {
    State state = State::Settling;
    Clock::time_point since{};  // Settling: last activity; Waiting: when the retry is due
    int attempts = 0;           // failed attempts so far
  };

  void activity(const std::string& rel, Clock::time_point now);

  std::chrono::milliseconds quiet_;
  BackoffPolicy retry_;
  std::mt19937_64 rng_;
  std::map<std::string, File> files_;
};

}  // namespace claimcheck
