// claimcheck::OutDir — see include/claimcheck/consume/out_dir.h.
#include "claimcheck/consume/out_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "claimcheck/core/log.h"

#include <system_error>

#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/ids.h"
#include "claimcheck/core/io.h"
#include "detail/fd.h"
#include "detail/posix_error.h"

namespace claimcheck {

using detail::fail_errno;
using detail::UniqueFd;

namespace {

const std::string kStaging(kStagingDirName);

/// Opens (creating, mode 0700) the staging dir below `root_fd`, not following a symlink.
Result<UniqueFd> open_staging(int root_fd, const std::string& shown_root) {
  return detail::open_dir_beneath(root_fd, {kStaging}, true, 0700, shown_root);
}

/// Removes every entry of the staging dir that no live writer holds locked. Returns how many.
std::size_t clean_staging(int staging_fd, const std::string& shown) {
  const int dup_fd = ::fcntl(staging_fd, F_DUPFD_CLOEXEC, 0);
  DIR* d = dup_fd < 0 ? nullptr : ::fdopendir(dup_fd);
  if (d == nullptr) {
    if (dup_fd >= 0) ::close(dup_fd);
    logger().warn("out-dir: cannot list staging dir '{}': {}", shown, detail::errno_text(errno));
    return 0;
  }
  std::size_t removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    UniqueFd f(::openat(staging_fd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    // A live writer holds its temp file locked; a symlink or other debris cannot be opened this way.
    if (f.valid() && ::flock(f.get(), LOCK_EX | LOCK_NB) != 0) continue;
    if (::unlinkat(staging_fd, n.c_str(), 0) == 0) {
      ++removed;
      logger().info("out-dir: removed stale temp file '{}/{}'", shown, n);
    }
  }
  ::closedir(d);
  return removed;
}

/// A payload being written: a locked temp file in the staging dir, renamed onto its name by finish().
class StagedFileSink : public ByteSink {
 public:
  StagedFileSink(UniqueFd root, UniqueFd staging, std::pair<UniqueFd, std::string> temp, std::string name,
                 std::string root_shown, const OutDirOptions& opt)
      : root_(std::move(root)), staging_(std::move(staging)), file_(std::move(temp.first)), temp_(std::move(temp.second)),
        name_(std::move(name)), root_shown_(std::move(root_shown)), shown_(root_shown_ + "/" + name_), opt_(opt) {}
  StagedFileSink(const StagedFileSink&) = delete;
  StagedFileSink& operator=(const StagedFileSink&) = delete;
  ~StagedFileSink() override {
    if (!committed_) ::unlinkat(staging_.get(), temp_.c_str(), 0);
  }

  Result<void> write(std::span<const std::byte> data) override {
    if (committed_) return fail(ErrorCode::Internal, Origin::Io, "write after finish of '" + shown_ + "'");
    while (!data.empty()) {
      const ssize_t n = ::write(file_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail_errno(errno, "cannot write (staging for)", shown_);
      }
      data = data.subspan(static_cast<std::size_t>(n));
    }
    return ok();
  }

  Result<void> finish() override {
    if (committed_) return ok();
    if (opt_.fsync && ::fsync(file_.get()) != 0) return fail_errno(errno, "cannot fsync (staging for)", shown_);
    auto parts = detail::split_components(name_);
    const std::string leaf = parts.back();
    parts.pop_back();
    CC_TRY(dir, detail::open_dir_beneath(root_.get(), parts, true, opt_.dir_mode, root_shown_));
    if (::renameat(staging_.get(), temp_.c_str(), dir->get(), leaf.c_str()) != 0)
      return fail_errno(errno, "cannot rename into place", shown_);
    committed_ = true;
    file_ = UniqueFd();  // releases the lock
    if (opt_.fsync && ::fsync(dir->get()) != 0 && errno != EINVAL && errno != EROFS)
      return fail_errno(errno, "cannot fsync the directory of", shown_);
    return ok();
  }

 private:
  UniqueFd root_, staging_, file_;
  std::string temp_, name_, root_shown_, shown_;
  OutDirOptions opt_;
  bool committed_ = false;
};

/// Creates a new temp file for `leaf` in the staging dir, locked (flock) against clean_staging().
Result<std::pair<UniqueFd, std::string>> create_temp(int staging_fd, const std::string& leaf, unsigned mode,
                                                     const std::string& shown) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    const std::string temp = "." + leaf.substr(0, 200) + ".tmp." + new_uuid_v4().substr(0, 13);
    UniqueFd f(::openat(staging_fd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!f.valid()) {
      if (errno == EEXIST) continue;
      return fail_errno(errno, "cannot create a staging file for", shown);
    }
    struct stat st {};
    if (::flock(f.get(), LOCK_EX) != 0 || ::fstat(f.get(), &st) != 0) return fail_errno(errno, "cannot lock", shown);
    if (st.st_nlink == 0) continue;  // a starting consumer cleaned it before we locked it
    if (::fchmod(f.get(), static_cast<mode_t>(mode)) != 0) {
      const int err = errno;
      ::unlinkat(staging_fd, temp.c_str(), 0);
      return fail_errno(err, "cannot chmod the staging file for", shown);
    }
    return std::pair<UniqueFd, std::string>{std::move(f), temp};
  }
  return fail(ErrorCode::Unavailable, Origin::Io, "cannot create a staging file for '" + shown + "'");
}

}  // namespace

Result<void> OutDirOptions::validate() const {
  if (file_mode > 07777 || dir_mode > 07777)
    return fail(ErrorCode::InvalidArgument, Origin::Config, "out-dir modes must be octal 0..07777");
  return ok();
}

Result<std::shared_ptr<OutDir>> OutDir::open(const std::filesystem::path& root, const OutDirOptions& options) {
  CC_TRY_VOID(options.validate());
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return fail_errno(ec.value(), "cannot create output directory", root.string());
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail_errno(errno, "cannot open output directory", root.string());
  std::shared_ptr<OutDir> dir(new OutDir(fd, root, options));
  CC_TRY(staging, open_staging(fd, root.string()));
  dir->stale_removed_ = clean_staging(staging->get(), (root / kStaging).string());
  return dir;
}

OutDir::~OutDir() {
  if (root_fd_ < 0) return;
  ::unlinkat(root_fd_, kStaging.c_str(), AT_REMOVEDIR);  // fails (ENOTEMPTY) while anyone still stages
  ::close(root_fd_);
}

Result<std::unique_ptr<ByteSink>> OutDir::create(std::string_view name) const {
  CC_TRY_VOID(validate_relative_name(name));
  const std::string shown = (root_ / std::string(name)).string();
  auto parts = detail::split_components(name);
  if (parts.front() == kStaging)
    return fail(ErrorCode::InvalidArgument, Origin::Protocol, "field 'name': '" + kStaging + "' is the staging directory");
  const std::string leaf = parts.back();
  parts.pop_back();
  // Refuse a symlinked component before any byte is downloaded; finish() checks again while committing.
  if (auto pre = detail::open_dir_beneath(root_fd_, parts, false, 0, root_.string());
      !pre && pre.error().code != ErrorCode::NotFound)
    return fail(pre.error());
  UniqueFd root(::fcntl(root_fd_, F_DUPFD_CLOEXEC, 0));
  if (!root.valid()) return fail_errno(errno, "cannot duplicate the descriptor of", root_.string());
  CC_TRY(staging, open_staging(root_fd_, root_.string()));
  CC_TRY(temp, create_temp(staging->get(), leaf, options_.file_mode, shown));
  return std::unique_ptr<ByteSink>(std::make_unique<StagedFileSink>(
      std::move(root), std::move(*staging), std::move(*temp), std::string(name), root_.string(), options_));
}

}  // namespace claimcheck
