#pragma once
/// claimcheck::OutDir — the consumer's output directory: payload files written through a staging area and
/// committed by rename, relative to directory descriptors that follow no symbolic link (issue 12 item 6,
/// issue 8 item 4, DESIGN.md §10).
///
/// Usage:
///   auto dir = OutDir::open("/data/in", {});          // creates it and .claimcheck-staging, cleans stale temps
///   auto sink = (*dir)->create("reports/2024/a.csv");   // temp file in the staging dir
///   (*sink)->write(bytes); (*sink)->finish();           // fsync, renameat into reports/2024/a.csv

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "claimcheck/core/io.h"
#include "claimcheck/core/result.h"

namespace claimcheck {

/// Name of the staging directory inside the output directory. Payload names may not start with it.
inline constexpr std::string_view kStagingDirName = ".claimcheck-staging";

/// Options of an OutDir.
struct OutDirOptions {
  /// Permission bits of payload files, set with fchmod (the umask does not apply). Default 0640.
  unsigned file_mode = 0640;
  /// Permission bits of directories created for names (mkdirat; the umask applies). Default 0750.
  unsigned dir_mode = 0750;
  /// fsync each file before its rename and its directory after it (durability across power loss).
  bool fsync = true;

  /// Checks the fields: modes within 07777. Errors: InvalidArgument (Origin::Config).
  [[nodiscard]] Result<void> validate() const;
};

/// An output directory. Every payload is first written to a temp file in `<root>/.claimcheck-staging/`
/// (same file system, so the rename is atomic) and appears under its final name only when finish()
/// commits it — after every check passed. The final-name tree never holds a temp file.
///
/// - Names are walked below the root with openat(O_NOFOLLOW | O_DIRECTORY) per component and committed
///   with renameat() relative to that descriptor: a symbolic link planted as any intermediate directory
///   (even after a check) is refused (InvalidArgument), never followed, so nothing is written outside.
/// - Each temp file is flock()ed by its writer while open. open() removes every temp file in the staging
///   dir that no live writer holds (debris of a killed consumer); consumers may share one output dir.
/// - The destructor removes the staging dir when it is empty.
/// - Errors are Origin::Io, naming the path: PermissionDenied (EACCES, EPERM, EROFS), Unavailable
///   (ENOSPC, EDQUOT, EIO, ...), InvalidArgument (symlink, not a directory, name in the staging dir).
/// - Thread-safe: create() may be called from several threads; each sink is used by one thread.
class OutDir {
 public:
  /// Opens (creating it and its parents if missing) the output directory `root` (the root itself may be
  /// reached through symlinks: it is the operator's choice), creates the staging dir and removes stale
  /// temp files. Errors: see the class comment; InvalidArgument for bad options.
  [[nodiscard]] static Result<std::shared_ptr<OutDir>> open(const std::filesystem::path& root,
                                                            const OutDirOptions& options = {});

  OutDir(const OutDir&) = delete;
  OutDir& operator=(const OutDir&) = delete;
  /// Removes the staging dir if it is empty (another consumer's temp files keep it).
  ~OutDir();

  /// A sink writing `name` (validate_relative_name() rules, "/"-separated, not inside the staging dir):
  /// bytes go to a new locked temp file in the staging dir; finish() fsyncs it, opens (creating) the name's
  /// parent directories beneath the root without following symlinks, renames the temp file onto the name
  /// (replacing an existing file) and fsyncs that directory. Destroyed without finish(): the temp file is
  /// removed. Errors: InvalidArgument for a bad name or a symlinked/non-directory component (also checked
  /// here, before any byte is written, for the components that exist); others as in the class comment.
  [[nodiscard]] Result<std::unique_ptr<ByteSink>> create(std::string_view name) const;

  /// The root as given to open().
  [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }
  /// Stale temp files open() removed from the staging dir.
  [[nodiscard]] std::size_t stale_removed() const noexcept { return stale_removed_; }

 private:
  OutDir(int root_fd, std::filesystem::path root, OutDirOptions options)
      : root_fd_(root_fd), root_(std::move(root)), options_(options) {}
  int root_fd_ = -1;
  std::filesystem::path root_;
  OutDirOptions options_;
  std::size_t stale_removed_ = 0;
};

}  // namespace claimcheck
