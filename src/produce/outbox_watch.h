#pragma once
/// The outbox's view of its directory (outbox.h): a recursive scan, and inotify (<sys/inotify.h>) on the
/// directory and every subdirectory (not ignored ones: `.sent/`, the journal, dot-dirs), translated into
/// FileEvents for OutboxTracker. Linux only. Not thread-safe: owned by the outbox's loop.

#include <sys/inotify.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "claimcheck/core/result.h"
#include "detail/fd.h"
#include "produce/outbox_tracker.h"

namespace claimcheck {

/// A regular file found by scan_outbox().
struct ScannedFile {
  std::string rel;                  ///< "/"-separated, relative to the outbox
  std::chrono::milliseconds age{};  ///< now - mtime, ≥ 0
};

/// Every regular file under `root/sub` (recursively; symlinks and ignored names skipped, ignored
/// directories not entered), in name order. Unreadable entries are skipped with a warning. Errors: "io"
/// when `root/sub` itself cannot be read.
[[nodiscard]] Result<std::vector<ScannedFile>> scan_outbox(const std::filesystem::path& root,
                                                           const std::string& sub = {});

/// One translated inotify event.
struct WatchEvent {
  enum class Kind {
    File,      ///< `event` happened to the file `rel`
    Dir,       ///< the directory `rel` appeared (created or moved in) and is watched now: scan it
    Overflow,  ///< the kernel queue overflowed (IN_Q_OVERFLOW): events were lost, rescan everything
  };
  Kind kind = Kind::File;
  std::string rel;
  FileEvent event = FileEvent::Modified;
};

/// Recursive inotify watch of an outbox. Move-only RAII owner of the inotify descriptor.
class OutboxWatch {
 public:
  /// inotify_init1 and a watch on `root` and every subdirectory that is not ignored. Errors: "io"
  /// (e.g. Unavailable when the max_user_watches limit is reached, naming the directory).
  [[nodiscard]] static Result<OutboxWatch> open(const std::filesystem::path& root);

  /// Every event queued now; waits at most `timeout` for the first one (0 = do not wait). Errors: "io".
  [[nodiscard]] Result<std::vector<WatchEvent>> poll(std::chrono::milliseconds timeout);

 private:
  explicit OutboxWatch(std::filesystem::path root, detail::UniqueFd fd) : root_(std::move(root)), fd_(std::move(fd)) {}
  Result<void> add_tree(const std::string& rel);
  void translate(const ::inotify_event& ev, std::vector<WatchEvent>& out);

  std::filesystem::path root_;
  detail::UniqueFd fd_;
  std::map<int, std::string> dirs_;  // watch descriptor → directory, relative ("" = the root)
};

}  // namespace claimcheck
