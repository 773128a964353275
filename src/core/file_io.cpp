#include "claimcheck/core/file_io.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <system_error>
#include <vector>

#include "detail/fd.h"
#include "detail/posix_error.h"

namespace claimcheck {

using detail::fail_errno;

// ---------------------------------------------------------------- FileSource

FileSource::FileSource(int fd, bool owned, std::filesystem::path path, std::optional<std::uint64_t> size)
    : fd_(fd), owned_(owned), path_(std::move(path)), size_(size) {}

namespace {
Unexpected fail_open(int err, const std::string& shown, bool no_follow) {
  if (err == ELOOP && no_follow)
    return fail(ErrorCode::InvalidArgument, Origin::Io,
                "cannot open '" + shown + "': is a symbolic link (inputs are opened without following symlinks)",
                "errno=" + std::to_string(err));
  return fail_errno(err, "cannot open", shown);
}

int open_retry(int at, const char* path, int flags) {
  int fd = -1;
  do {
    fd = ::openat(at, path, flags);
  } while (fd < 0 && errno == EINTR);
  return fd;
}
}  // namespace

// Takes ownership of `fd` (closed on every error).
Result<FileSource> FileSource::adopt(int fd, const std::filesystem::path& path, const FileOpenOptions& options) {
  detail::UniqueFd owner(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail_errno(errno, "cannot stat", path.string());
  if (S_ISDIR(st.st_mode))
    return fail(ErrorCode::InvalidArgument, Origin::Io, "cannot read '" + path.string() + "': is a directory");
  if (options.regular_only && !S_ISREG(st.st_mode))
    return fail(ErrorCode::InvalidArgument, Origin::Io, "cannot read '" + path.string() + "': not a regular file");
  // O_NONBLOCK only kept open() from blocking on a FIFO; reads are blocking.
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0 && (fl & O_NONBLOCK) != 0) (void)::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  std::optional<std::uint64_t> size;
  if (S_ISREG(st.st_mode)) size = static_cast<std::uint64_t>(st.st_size);
  return FileSource(owner.release(), true, path, size);
}

Result<FileSource> FileSource::open(const std::filesystem::path& path, const FileOpenOptions& options) {
  if (path == "-") {
    struct stat st {};
    std::optional<std::uint64_t> size;
    if (::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) size = static_cast<std::uint64_t>(st.st_size);
    return FileSource(STDIN_FILENO, false, path, size);
  }
  const int flags = O_RDONLY | O_CLOEXEC | (options.no_follow ? O_NOFOLLOW : 0) | (options.regular_only ? O_NONBLOCK : 0);
  const int fd = open_retry(AT_FDCWD, path.c_str(), flags);
  if (fd < 0) return fail_open(errno, path.string(), options.no_follow);
  return adopt(fd, path, options);
}

Result<FileSource> FileSource::open_beneath(const std::filesystem::path& base, std::string_view rel) {
  const std::string shown = (base / std::string(rel)).string();
  auto parts = detail::split_components(rel);
  if (parts.empty()) return fail(ErrorCode::InvalidArgument, Origin::Io, "empty file name under '" + base.string() + "'");
  const std::string leaf = parts.back();
  parts.pop_back();
  const int base_fd = open_retry(AT_FDCWD, base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (base_fd < 0) return fail_errno(errno, "cannot open directory", base.string());
  detail::UniqueFd base_owner(base_fd);
  CC_TRY(dir, detail::open_dir_beneath(base_fd, parts, false, 0, base.string()));
  const int fd = open_retry(dir->get(), leaf.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return fail_open(errno, shown, true);
  return adopt(fd, shown, FileOpenOptions{true, true});
}

FileSource::FileSource(FileSource&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), owned_(std::exchange(o.owned_, false)), path_(std::move(o.path_)),
      size_(o.size_), bytes_read_(o.bytes_read_) {}

FileSource& FileSource::operator=(FileSource&& o) noexcept {
  if (this != &o) {
    close_fd();
    fd_ = std::exchange(o.fd_, -1);
    owned_ = std::exchange(o.owned_, false);
    path_ = std::move(o.path_);
    size_ = o.size_;
    bytes_read_ = o.bytes_read_;
  }
  return *this;
}

FileSource::~FileSource() { close_fd(); }

void FileSource::close_fd() noexcept {
  if (fd_ >= 0 && owned_) ::close(fd_);
  fd_ = -1;
}

Result<std::size_t> FileSource::read(std::span<std::byte> buf) {
  if (fd_ < 0) return fail(ErrorCode::Internal, Origin::Io, "read from a closed FileSource");
  if (buf.empty()) return std::size_t{0};
  for (;;) {
    const ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) {
      bytes_read_ += static_cast<std::uint64_t>(n);
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    return fail_errno(errno, "cannot read", path_.string());
  }
}

// ---------------------------------------------------------------- memory sources

namespace {
std::size_t copy_from(std::string_view data, std::size_t& pos, std::span<std::byte> buf) {
  const std::size_t n = std::min(buf.size(), data.size() - pos);
  if (n > 0) std::memcpy(buf.data(), data.data() + pos, n);
  pos += n;
  return n;
}
}  // namespace

Result<std::size_t> MemorySource::read(std::span<std::byte> buf) { return copy_from(data_, pos_, buf); }
Result<std::size_t> ViewSource::read(std::span<std::byte> buf) { return copy_from(data_, pos_, buf); }

Result<std::size_t> HashingSource::read(std::span<std::byte> buf) {
  CC_TRY(n, inner_->read(buf));
  if (*n == 0) {
    if (hex_.empty() && !buf.empty()) hex_ = sha_.hex_digest();
    return std::size_t{0};
  }
  sha_.update(buf.first(*n));
  bytes_ += *n;
  return *n;
}

// ---------------------------------------------------------------- sinks

Result<void> StringSink::write(std::span<const std::byte> data) {
  if (data.size() > max_ - data_.size()) {
    const std::size_t room = max_ - data_.size();
    data_.append(as_string_view(data.first(room)));
    return fail(ErrorCode::InvalidArgument, Origin::Io,
                "output exceeds the limit of " + std::to_string(max_) + " bytes");
  }
  data_.append(as_string_view(data));
  return ok();
}

Result<void> CountingSink::write(std::span<const std::byte> data) {
  CC_TRY_VOID(inner_->write(data));
  bytes_ += data.size();
  return ok();
}

Result<void> HashingSink::write(std::span<const std::byte> data) {
  sha_.update(data);
  bytes_ += data.size();
  if (inner_ != nullptr) return inner_->write(data);
  return ok();
}

Result<void> HashingSink::finish() {
  hex_ = sha_.hex_digest();
  if (inner_ != nullptr) return inner_->finish();
  return ok();
}

// ---------------------------------------------------------------- AtomicFileSink

namespace {

Result<void> fsync_dir(const std::filesystem::path& dir) {
  const std::string d = dir.empty() ? std::string(".") : dir.string();
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail_errno(errno, "cannot open directory", d);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some filesystems do not support fsync on directories; that is not a data error.
  if (rc != 0 && err != EINVAL && err != EROFS) return fail_errno(err, "cannot fsync directory", d);
  return ok();
}

}  // namespace

Result<AtomicFileSink> AtomicFileSink::open(const std::filesystem::path& target, const AtomicFileOptions& options) {
  if (target.empty() || !target.has_filename()) {
    return fail(ErrorCode::InvalidArgument, Origin::Io, "invalid target path '" + target.string() + "'");
  }
  const std::filesystem::path dir = target.parent_path();
  if (options.create_parents && !dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail_errno(ec.value(), "cannot create directory", dir.string());
  }
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  const int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) return fail_errno(errno, "cannot create temp file in", dir.empty() ? "." : dir.string());
  if (::fchmod(fd, static_cast<mode_t>(options.mode)) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(buf.data());
    return fail_errno(err, "cannot chmod", std::string(buf.data()));
  }
  AtomicFileSink s;
  s.fd_ = fd;
  s.target_ = target;
  s.temp_ = std::filesystem::path(buf.data());
  s.options_ = options;
  return s;
}

AtomicFileSink::AtomicFileSink(AtomicFileSink&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), target_(std::move(o.target_)), temp_(std::move(o.temp_)),
      options_(o.options_), bytes_(o.bytes_), committed_(o.committed_) {
  o.temp_.clear();
}

AtomicFileSink& AtomicFileSink::operator=(AtomicFileSink&& o) noexcept {
  if (this != &o) {
    abort();
    fd_ = std::exchange(o.fd_, -1);
    target_ = std::move(o.target_);
    temp_ = std::move(o.temp_);
    o.temp_.clear();
    options_ = o.options_;
    bytes_ = o.bytes_;
    committed_ = o.committed_;
  }
  return *this;
}

AtomicFileSink::~AtomicFileSink() { abort(); }

void AtomicFileSink::abort() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!committed_ && !temp_.empty()) {
    ::unlink(temp_.c_str());
    temp_.clear();
  }
}

Result<void> AtomicFileSink::write(std::span<const std::byte> data) {
  if (fd_ < 0) return fail(ErrorCode::Internal, Origin::Io, "write to a closed AtomicFileSink");
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "cannot write", temp_.string());
    }
    data = data.subspan(static_cast<std::size_t>(n));
    bytes_ += static_cast<std::uint64_t>(n);
  }
  return ok();
}

Result<void> AtomicFileSink::finish() {
  if (committed_) return ok();
  if (fd_ < 0) return fail(ErrorCode::Internal, Origin::Io, "finish on a closed AtomicFileSink");
  if (options_.fsync && ::fsync(fd_) != 0) return fail_errno(errno, "cannot fsync", temp_.string());
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return fail_errno(errno, "cannot close", temp_.string());
  if (options_.overwrite) {
    if (::rename(temp_.c_str(), target_.c_str()) != 0) return fail_errno(errno, "cannot rename onto", target_.string());
  } else {
    if (::renameat2(AT_FDCWD, temp_.c_str(), AT_FDCWD, target_.c_str(), RENAME_NOREPLACE) != 0) {
      const int err = errno;
      if (err == EEXIST) {
        return fail(ErrorCode::FailedPrecondition, Origin::Io, "target '" + target_.string() + "' already exists");
      }
      if (err != EINVAL && err != ENOSYS) return fail_errno(err, "cannot rename onto", target_.string());
      // Filesystem without RENAME_NOREPLACE: link() fails atomically if the target exists.
      if (::link(temp_.c_str(), target_.c_str()) != 0) {
        if (errno == EEXIST) {
          return fail(ErrorCode::FailedPrecondition, Origin::Io, "target '" + target_.string() + "' already exists");
        }
        return fail_errno(errno, "cannot link onto", target_.string());
      }
      ::unlink(temp_.c_str());
    }
  }
  committed_ = true;
  temp_.clear();
  if (options_.fsync) CC_TRY_VOID(fsync_dir(target_.parent_path()));
  return ok();
}

// ---------------------------------------------------------------- helpers

Result<std::uint64_t> copy_stream(ByteSource& source, ByteSink& sink, std::size_t buffer_bytes) {
  std::vector<std::byte> buf(std::max<std::size_t>(buffer_bytes, 1));
  std::uint64_t total = 0;
  for (;;) {
    CC_TRY(n, source.read(buf));
    if (*n == 0) return total;
    CC_TRY_VOID(sink.write(std::span<const std::byte>(buf.data(), *n)));
    total += *n;
  }
}

Result<std::string> read_all(ByteSource& source, std::size_t max_bytes) {
  StringSink sink(max_bytes);
  CC_TRY(n, copy_stream(source, sink, 64 * 1024));
  (void)n;
  return sink.take();
}

Result<std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes) {
  CC_TRY(src, FileSource::open(path));
  return read_all(*src, max_bytes);
}

Result<std::string> read_secret_file(const std::filesystem::path& path) {
  constexpr std::size_t kMaxSecretBytes = 64 * 1024;
  auto text = read_file(path, kMaxSecretBytes);
  if (!text) {
    Error e = text.error();
    if (e.origin == Origin::Io && e.code == ErrorCode::InvalidArgument && e.message.find("exceeds") != std::string::npos)
      e.message = "secret file '" + path.string() + "' is larger than 64 KiB";
    return fail(std::move(e));
  }
  std::string s = std::move(*text);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  if (s.empty()) return fail(ErrorCode::InvalidArgument, Origin::Io, "secret file '" + path.string() + "' is empty");
  return s;
}

Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view data,
                               const AtomicFileOptions& options) {
  CC_TRY(sink, AtomicFileSink::open(path, options));
  CC_TRY_VOID(sink->write(as_bytes(data)));
  return sink->finish();
}

}  // namespace claimcheck
