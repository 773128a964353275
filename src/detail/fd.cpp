#include "detail/fd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "detail/posix_error.h"

namespace claimcheck::detail {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<std::string> split_components(std::string_view rel) {
  std::vector<std::string> out;
  while (!rel.empty()) {
    const auto slash = rel.find('/');
    if (slash != 0) out.emplace_back(rel.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rel.remove_prefix(slash + 1);
  }
  return out;
}

namespace {
int open_nofollow_dir(int at, const std::string& name) {
  int fd = -1;
  do {
    fd = ::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd;
}
}  // namespace

Result<UniqueFd> open_dir_beneath(int base_fd, const std::vector<std::string>& dir, bool create, unsigned mode,
                                  const std::string& shown) {
  UniqueFd cur(::fcntl(base_fd, F_DUPFD_CLOEXEC, 0));
  if (!cur.valid()) return fail_errno(errno, "cannot duplicate the directory descriptor of", shown);
  std::string walked;
  for (const auto& c : dir) {
    walked += walked.empty() ? c : "/" + c;
    int fd = open_nofollow_dir(cur.get(), c);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur.get(), c.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST)
        return fail_errno(errno, "cannot create directory", shown + "/" + walked);
      fd = open_nofollow_dir(cur.get(), c);
    }
    if (fd < 0) {
      const int err = errno;
      if (err == ELOOP || err == ENOTDIR)
        return fail(ErrorCode::InvalidArgument, Origin::Io,
                    "'" + shown + "/" + walked + "' is a symbolic link or not a directory (not followed)",
                    "errno=" + std::to_string(err));
      return fail_errno(err, "cannot open directory", shown + "/" + walked);
    }
    cur = UniqueFd(fd);
  }
  return cur;
}

}  // namespace claimcheck::detail
