// Scanning and watching an outbox — see outbox_watch.h.
#include "produce/outbox_watch.h"

#include <poll.h>
#include "claimcheck/core/log.h"
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "detail/posix_error.h"

namespace claimcheck {

namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kMask = IN_CREATE | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                IN_DELETE | IN_ONLYDIR | IN_EXCL_UNLINK;

std::string join_rel(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

std::chrono::milliseconds age_of(fs::file_time_type mtime) {
  const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(fs::file_time_type::clock::now() - mtime);
  return std::max(age, std::chrono::milliseconds(0));
}

}  // namespace

Result<std::vector<ScannedFile>> scan_outbox(const fs::path& root, const std::string& sub) {
  std::vector<ScannedFile> out;
  std::error_code ec;
  const fs::path start = sub.empty() ? root : root / sub;
  fs::recursive_directory_iterator it(start, fs::directory_options::skip_permission_denied, ec);
  if (ec) return fail(ErrorCode::NotFound, Origin::Io, "cannot read '" + start.string() + "': " + ec.message());
  for (fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) {
      logger().warn("outbox: scan of {}: {}", start.string(), ec.message());
      break;
    }
    const std::string rel = it->path().lexically_relative(root).generic_string();
    std::error_code e2;
    const auto st = it->symlink_status(e2);
    if (e2 || outbox_ignored(rel)) {
      if (fs::is_directory(st)) it.disable_recursion_pending();
      continue;
    }
    if (!fs::is_regular_file(st)) continue;  // directories are walked, symlinks and specials never sent
    const auto mtime = it->last_write_time(e2);
    if (!e2) out.push_back(ScannedFile{rel, age_of(mtime)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.rel < b.rel; });
  return out;
}

Result<OutboxWatch> OutboxWatch::open(const fs::path& root) {
  detail::UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd.valid()) return detail::fail_errno(errno, "inotify_init1 for", root.string());
  OutboxWatch w(root, std::move(fd));
  CC_TRY_VOID(w.add_tree(""));
  return w;
}

Result<void> OutboxWatch::add_tree(const std::string& rel) {
  const fs::path dir = rel.empty() ? root_ : root_ / rel;
  const int wd = ::inotify_add_watch(fd_.get(), dir.c_str(), kMask);
  if (wd < 0) {
    if (errno == ENOSPC) return fail(ErrorCode::Unavailable, Origin::Io, "inotify watch limit reached at '" + dir.string() +
                                                                     "' (raise fs.inotify.max_user_watches)");
    return detail::fail_errno(errno, "inotify_add_watch", dir.string());
  }
  dirs_[wd] = rel;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::error_code e2;
    const std::string sub = join_rel(rel, e.path().filename().string());
    if (e.is_directory(e2) && !e.is_symlink(e2) && !outbox_ignored(sub)) CC_TRY_VOID(add_tree(sub));
  }
  return ok();
}

void OutboxWatch::translate(const ::inotify_event& ev, std::vector<WatchEvent>& out) {
  if (ev.mask & IN_Q_OVERFLOW) {
    out.push_back(WatchEvent{WatchEvent::Kind::Overflow, {}, FileEvent::Modified});
    return;
  }
  auto it = dirs_.find(ev.wd);
  if (it == dirs_.end()) return;
  if (ev.mask & IN_IGNORED) {  // the directory is gone
    dirs_.erase(it);
    return;
  }
  if (ev.len == 0) return;  // an event on the watched directory itself
  const std::string rel = join_rel(it->second, ev.name);
  if (outbox_ignored(rel)) return;
  if (ev.mask & IN_ISDIR) {
    if (ev.mask & (IN_CREATE | IN_MOVED_TO)) {
      if (auto r = add_tree(rel); !r) logger().warn("outbox: cannot watch {}: {}", rel, r.error().to_string());
      out.push_back(WatchEvent{WatchEvent::Kind::Dir, rel, FileEvent::Created});
    }
    return;
  }
  FileEvent fe = FileEvent::Modified;
  if (ev.mask & IN_CLOSE_WRITE) fe = FileEvent::Closed;
  else if (ev.mask & IN_CREATE) fe = FileEvent::Created;
  else if (ev.mask & IN_MOVED_TO) fe = FileEvent::MovedIn;
  else if (ev.mask & (IN_DELETE | IN_MOVED_FROM)) fe = FileEvent::Removed;
  out.push_back(WatchEvent{WatchEvent::Kind::File, rel, fe});
}

Result<std::vector<WatchEvent>> OutboxWatch::poll(std::chrono::milliseconds timeout) {
  std::vector<WatchEvent> out;
  pollfd p{fd_.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) < 0 && errno != EINTR)
    return detail::fail_errno(errno, "poll inotify of", root_.string());
  alignas(struct inotify_event) char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    if (n < 0) return detail::fail_errno(errno, "read inotify of", root_.string());
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
      translate(*ev, out);
      off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
    }
  }
  return out;
}

}  // namespace claimcheck
