// Run receipts of the exec handler — see run_receipts.h.
#include "consume/run_receipts.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "claimcheck/core/sha256.h"
#include "detail/posix_error.h"

namespace claimcheck::detail {

namespace {

/// The file-name stem of `id`: the id itself when it is a plain token, else its SHA-256 (inline message
/// ids are free-form).
std::string stem(const std::string& id) {
  const bool plain = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  return plain ? id : sha256_hex(id);
}

/// The wrapper: $1 = receipt stem path; the command is "$@". Descriptor 3 (the run lock) stays with the
/// wrapper only; the command's stderr goes to a file, its exit code to <stem>.exit (atomically).
constexpr const char* kWrapper =
    "r=$1; shift; \"$@\" 3>&- 2>\"$r.stderr\"; c=$?; "
    "printf '%d\\n' \"$c\" >\"$r.tmp\" && mv -f \"$r.tmp\" \"$r.exit\"; exit \"$c\"";

std::string read_small(int dirfd, const std::string& name, std::size_t limit) {
  UniqueFd f(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!f.valid()) return {};
  struct stat st {};
  if (::fstat(f.get(), &st) != 0) return {};
  const off_t from = st.st_size > static_cast<off_t>(limit) ? st.st_size - static_cast<off_t>(limit) : 0;
  std::string s(static_cast<std::size_t>(st.st_size - from), '\0');
  const ssize_t n = ::pread(f.get(), s.data(), s.size(), from);
  s.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return s;
}

}  // namespace

Result<RunReceipts> RunReceipts::open(const std::filesystem::path& dir, std::chrono::seconds retention) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail_errno(ec.value(), "cannot create the exec receipt directory", dir.string());
  ::chmod(dir.c_str(), 0700);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return fail_errno(errno, "cannot open", dir.string());
  RunReceipts r(dir, std::move(fd));
  r.remove_stale(retention);
  return r;
}

void RunReceipts::remove_stale(std::chrono::seconds retention) const {
  DIR* d = ::fdopendir(::dup(fd_.get()));
  if (d == nullptr) return;
  const auto cutoff = ::time(nullptr) - static_cast<time_t>(retention.count());
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 6 || name.compare(name.size() - 5, 5, ".lock") != 0) continue;
    struct stat st {};
    if (::fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime < cutoff)
      stale.push_back(name.substr(0, name.size() - 5));
  }
  ::closedir(d);
  for (const auto& s : stale) {
    UniqueFd l(::openat(fd_.get(), (s + ".lock").c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
    if (!l.valid() || ::flock(l.get(), LOCK_EX | LOCK_NB) != 0) continue;  // a wrapper still runs
    for (const char* ext : {".exit", ".stderr", ".tmp", ".lock"}) ::unlinkat(fd_.get(), (s + ext).c_str(), 0);
  }
}

Result<UniqueFd> RunReceipts::lock(const std::string& id, std::chrono::milliseconds wait) const {
  const std::string name = stem(id) + ".lock";
  UniqueFd f(::openat(fd_.get(), name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!f.valid()) return fail_errno(errno, "cannot open the run lock", (dir_ / name).string());
  UniqueFd high(::fcntl(f.get(), F_DUPFD_CLOEXEC, 10));  // never 3 itself: dup2(3, 3) keeps close-on-exec
  if (!high.valid()) return fail_errno(errno, "cannot duplicate the run lock", (dir_ / name).string());
  ::futimens(high.get(), nullptr);  // touched: not stale while in use
  const auto until = std::chrono::steady_clock::now() + wait;
  while (::flock(high.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return fail_errno(errno, "cannot lock", (dir_ / name).string());
    if (std::chrono::steady_clock::now() >= until)
      return fail(ErrorCode::Unavailable, Origin::Exec, "the command of " + id + " is still running (a previous run)");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return high;
}

std::optional<int> RunReceipts::recorded_exit(const std::string& id) const {
  const std::string s = read_small(fd_.get(), stem(id) + ".exit", 16);
  if (s.empty() || s.back() != '\n') return std::nullopt;
  int code = 0;
  for (char c : s.substr(0, s.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    code = code * 10 + (c - '0');
    if (code > 255) return std::nullopt;
  }
  return code;
}

void RunReceipts::clear(const std::string& id) const {
  for (const char* ext : {".exit", ".stderr", ".tmp"}) ::unlinkat(fd_.get(), (stem(id) + ext).c_str(), 0);
}

std::string RunReceipts::stderr_tail(const std::string& id, std::size_t limit) const {
  std::string s = read_small(fd_.get(), stem(id) + ".stderr", limit);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<std::string> RunReceipts::wrap(const std::string& id, const std::vector<std::string>& argv) const {
  std::vector<std::string> out{"/bin/sh", "-c", kWrapper, "claimcheck-exec", (dir_ / stem(id)).string()};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

}  // namespace claimcheck::detail
