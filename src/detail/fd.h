#pragma once
// Private helpers: an RAII file descriptor and symlink-proof directory walks (openat per component with
// O_NOFOLLOW | O_DIRECTORY), shared by FileSource::open_beneath and OutDir (issue 12 item 6).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "claimcheck/core/result.h"

namespace claimcheck::detail {

/// Move-only owner of a file descriptor (closed on destruction). -1 = none. Not thread-safe.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  /// The descriptor (still owned).
  [[nodiscard]] int get() const noexcept { return fd_; }
  /// Gives up ownership.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// The components of a relative name "a/b/c" → {"a","b","c"} (the name was checked with
/// validate_relative_name: no empty, "." or ".." component).
std::vector<std::string> split_components(std::string_view rel);

/// Opens directory `dir` relative to `base_fd` one component at a time, each with
/// openat(O_NOFOLLOW | O_DIRECTORY), so no symbolic link is followed anywhere below `base_fd`.
/// `create`: missing components are created with mkdirat(`mode`); else a missing one is NotFound.
/// `shown` names the path in errors. Errors (Origin::Io): InvalidArgument when a component is a
/// symbolic link or not a directory (ELOOP/ENOTDIR); others as fail_errno (PermissionDenied for
/// EACCES/EPERM/EROFS, Unavailable for ENOSPC/EIO, ...).
[[nodiscard]] Result<UniqueFd> open_dir_beneath(int base_fd, const std::vector<std::string>& dir, bool create,
                                               unsigned mode, const std::string& shown);

}  // namespace claimcheck::detail
