#pragma once
// Private helper: map an errno value to a claimcheck Error (Origin::Io).

#include <cerrno>
#include <cstring>
#include <string>

#include "claimcheck/core/result.h"

namespace claimcheck::detail {

inline ErrorCode errno_code(int err) noexcept {
  switch (err) {
    case ENOENT: case ENOTDIR: return ErrorCode::NotFound;
    case EACCES: case EPERM: case EROFS: return ErrorCode::PermissionDenied;
    case EEXIST: return ErrorCode::FailedPrecondition;
    case EISDIR: case EINVAL: case ENAMETOOLONG: case ELOOP: return ErrorCode::InvalidArgument;
    case EIO: case ENOSPC: case EDQUOT: case EAGAIN: case EINTR: case ENFILE: case EMFILE: case ENOMEM:
      return ErrorCode::Unavailable;
    default: return ErrorCode::Internal;
  }
}

inline std::string errno_text(int err) {
  char buf[256];
  // GNU strerror_r returns a char*.
  const char* s = strerror_r(err, buf, sizeof buf);
  return s;
}

/// fail(...) for a failed syscall: "<what> '<path>': <strerror>" with detail_code = errno number.
inline Unexpected fail_errno(int err, std::string_view what, const std::string& path) {
  std::string msg(what);
  msg += " '";
  msg += path;
  msg += "': ";
  msg += errno_text(err);
  return fail(errno_code(err), Origin::Io, std::move(msg), "errno=" + std::to_string(err));
}

}  // namespace claimcheck::detail
