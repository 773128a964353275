// Resumable staged downloads of the consumer — see staged_download.h.
#include "consume/staged_download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "claimcheck/core/log.h"

#include <array>
#include <fstream>
#include <memory>

#include "detail/posix_error.h"

namespace claimcheck::detail {

namespace fs = std::filesystem;

namespace {

/// Appends to the part file; refuses bytes beyond `limit` (size_stored) and stops once `abort` is set.
class AppendSink : public ByteSink {
 public:
  AppendSink(int fd, std::uint64_t have, std::uint64_t limit, const std::atomic<bool>& abort, const std::string& shown)
      : fd_(fd), have_(have), limit_(limit), abort_(&abort), shown_(shown) {}
  Result<void> write(std::span<const std::byte> data) override {
    if (abort_->load()) return fail(ErrorCode::Unavailable, Origin::Consume, "interrupted by shutdown");
    if (have_ + data.size() > limit_)
      return fail(ErrorCode::DataLoss, Origin::Consume, "object is larger than size_stored " + std::to_string(limit_));
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail_errno(errno, "cannot write the staged download", shown_);
      }
      have_ += static_cast<std::uint64_t>(n);
      data = data.subspan(static_cast<std::size_t>(n));
    }
    return ok();
  }
  [[nodiscard]] std::uint64_t have() const noexcept { return have_; }

 private:
  int fd_;
  std::uint64_t have_, limit_;
  const std::atomic<bool>* abort_;
  const std::string& shown_;
};

std::string read_small_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string s;
  std::getline(in, s);
  return s;
}

}  // namespace

Result<StagedDownload> StagedDownload::open(const fs::path& dir, const std::string& pointer_id) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail_errno(ec.value(), "cannot create the download staging directory", dir.string());
  ::chmod(dir.c_str(), 0700);
  const fs::path part = dir / (pointer_id + ".part");
  UniqueFd fd(::open(part.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return fail_errno(errno, "cannot open the staged download", part.string());
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    return fail(ErrorCode::Unavailable, Origin::Consume, "'" + part.string() + "' is being downloaded by another consumer");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "cannot stat", part.string());
  StagedDownload d(part, dir / (pointer_id + ".etag"), std::move(fd));
  d.have_ = static_cast<std::uint64_t>(st.st_size);
  d.etag_ = read_small_file(d.etag_path_);
  return d;
}

Result<void> StagedDownload::restart() {
  if (::ftruncate(fd_.get(), 0) != 0) return fail_errno(errno, "cannot truncate", part_.string());
  std::error_code ec;
  fs::remove(etag_path_, ec);
  etag_.clear();
  have_ = 0;
  return ok();
}

Result<s3::ObjectInfo> get_pointer_object(s3::S3Client& s3, const Pointer& p, ByteSink& out,
                                          const s3::GetOptions& opts) {
  if (s3.config().has_credentials()) return s3.get_object(p.bucket, p.key, out, opts);
  if (!p.url) {
    return fail(ErrorCode::InvalidArgument, Origin::Consume,
                "pointer has no 'url' and this consumer has no S3 keys: give the consumer keys, or let the "
                "producer presign (it does unless --no-presign)");
  }
  return s3.get_presigned(*p.url, p.bucket, p.key, out, opts);
}

Result<void> StagedDownload::fetch(s3::S3Client& s3, const Pointer& p, const std::atomic<bool>& abort) {
  const auto size = static_cast<std::uint64_t>(p.size_stored);
  if (have_ > size || (have_ > 0 && etag_.empty())) CC_TRY_VOID(restart());  // not ours to continue
  resumed_from_ = have_;
  fetched_ = 0;
  if (have_ == size && have_ > 0) return ok();  // complete from an earlier delivery: replay verifies it
  if (have_ > 0) logger().info("consume: resuming {} at byte {} of {}", p.pointer_id, have_, size);
  auto r = fetch_from(s3, p, abort);
  const bool changed = !r && (r.error().code == ErrorCode::FailedPrecondition ||
                              (r.error().code == ErrorCode::InvalidArgument && r.error().http_status == 416));
  if (changed && resumed_from_ > 0) {
    logger().warn("consume: {} changed since its partial download ({}): starting again from byte 0", p.pointer_id,
                 r.error().to_string());
    CC_TRY_VOID(restart());
    resumed_from_ = 0;
    r = fetch_from(s3, p, abort);
  }
  CC_TRY_VOID(r);
  if (have_ != size)
    return fail(ErrorCode::DataLoss, Origin::Consume,
                "object has " + std::to_string(have_) + " bytes, size_stored says " + std::to_string(size));
  return ok();
}

Result<void> StagedDownload::fetch_from(s3::S3Client& s3, const Pointer& p, const std::atomic<bool>& abort) {
  if (::lseek(fd_.get(), static_cast<off_t>(have_), SEEK_SET) < 0) return fail_errno(errno, "cannot seek", part_.string());
  const std::string shown = part_.string();
  AppendSink sink(fd_.get(), have_, static_cast<std::uint64_t>(p.size_stored), abort, shown);
  s3::GetOptions o;
  o.offset = have_;
  if (have_ > 0) o.if_match = etag_;
  o.on_response = [&](const s3::ObjectInfo& info) -> Result<void> {
    if (!etag_.empty() || info.etag.empty()) return ok();
    // Recorded before the first byte is appended, so a partial file always names its version.
    std::ofstream out(etag_path_, std::ios::binary | std::ios::trunc);
    out << info.etag << '\n';
    out.flush();
    if (!out) return fail(ErrorCode::Unavailable, Origin::Io, "cannot write '" + etag_path_.string() + "'");
    etag_ = info.etag;
    return ok();
  };
  const std::uint64_t before = have_;
  auto r = get_pointer_object(s3, p, sink, o);
  have_ = sink.have();
  fetched_ += have_ - before;
  if (!r) return fail(std::move(r).error());
  return ok();
}

Result<void> StagedDownload::replay(ByteSink& out) {
  if (::lseek(fd_.get(), 0, SEEK_SET) < 0) return fail_errno(errno, "cannot seek", part_.string());
  // On the worker's stack, whose pages stay mapped from payload to payload: a heap buffer of 1 MiB was a fresh
  // mmap each time (the CLI's 64 KiB mmap threshold), i.e. 256 page faults and an munmap per payload, ~10 % of
  // the consumer's CPU for 1 MiB payloads (issue 11 item 3). 64 KiB reads cost a few more syscalls, no faults.
  constexpr std::size_t kChunk = 64 * 1024;
  std::array<std::byte, kChunk> buf;
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf.data(), kChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "cannot read the staged download", part_.string());
    }
    if (n == 0) break;
    CC_TRY_VOID(out.write(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n))));
  }
  return out.finish();
}

void StagedDownload::remove() noexcept {
  std::error_code ec;
  fs::remove(part_, ec);
  fs::remove(etag_path_, ec);
}

std::size_t prune_staged_downloads(const fs::path& dir, std::chrono::seconds older_than) {
  std::error_code ec;
  std::size_t removed = 0;
  const auto cutoff = fs::file_time_type::clock::now() - older_than;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    std::error_code e2;
    if (!it->is_regular_file(e2) || fs::last_write_time(p, e2) > cutoff) continue;
    fs::path lockable = p;
    if (p.extension() == ".etag") lockable.replace_extension(".part");  // its .part's writer holds the lock
    UniqueFd f(::open(lockable.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (f.valid() && ::flock(f.get(), LOCK_EX | LOCK_NB) != 0) continue;  // a live download
    if (fs::remove(p, e2)) ++removed;
  }
  if (removed > 0) logger().info("consume: removed {} stale staged download file(s) from {}", removed, dir.string());
  return removed;
}

}  // namespace claimcheck::detail
