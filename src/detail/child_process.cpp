// Child processes for the exec handler — see child_process.h.
#include "detail/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "detail/fd.h"
#include "detail/posix_error.h"

namespace claimcheck::detail {

namespace {

using Clock = std::chrono::steady_clock;

Unexpected spawn_error(int err, const std::string& what) {
  return fail(ErrorCode::Unavailable, Origin::Exec, what + ": " + errno_text(err), "errno=" + std::to_string(err));
}

/// posix_spawn_file_actions_t owner.
struct FileActions {
  posix_spawn_file_actions_t fa{};
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
};

/// posix_spawnattr_t owner: new process group, default dispositions for every signal, empty mask.
struct SpawnAttr {
  posix_spawnattr_t attr{};
  SpawnAttr() {
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
};

/// Owner of a running child (leader of its own process group). The destructor kills the group and reaps.
class Child {
 public:
  explicit Child(pid_t pid) noexcept : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (reaped_) return;
    ::kill(-pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }

  /// True once the child has exited (not reaped yet: its pid, and so its group id, stays reserved).
  bool exited() const noexcept {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_;
  }

  /// Sends `sig` to the whole group (members that outlived the leader included).
  void signal_group(int sig) const noexcept { ::kill(-pid_, sig); }

  /// Reaps the (exited) child; returns its wait status.
  int reap() noexcept {
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return st;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

/// Keeps the last `limit` bytes written into it.
class Tail {
 public:
  explicit Tail(std::size_t limit) : limit_(limit) {}
  void append(const char* p, std::size_t n) {
    buf_.append(p, n);
    if (buf_.size() > 2 * limit_ + 4096) {
      buf_.erase(0, buf_.size() - limit_);
      cut_ = true;
    }
  }
  /// The tail, starting at a line boundary when bytes were dropped, without trailing newlines.
  std::string text() const {
    std::string s = buf_.size() > limit_ ? buf_.substr(buf_.size() - limit_) : buf_;
    if ((cut_ || buf_.size() > limit_) && s.find('\n') != std::string::npos && s.find('\n') + 1 < s.size())
      s.erase(0, s.find('\n') + 1);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }

 private:
  std::string buf_;
  std::size_t limit_;
  bool cut_ = false;
};

/// Reads what is available on `fd` within `wait`. Returns false at EOF (or a read error).
bool drain(int fd, Tail& tail, std::chrono::milliseconds wait) {
  pollfd pfd{fd, POLLIN, 0};
  const int r = ::poll(&pfd, 1, static_cast<int>(wait.count()));
  if (r <= 0) return true;  // timeout (or EINTR): still open
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      tail.append(buf, static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < sizeof buf) return true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    return false;
  }
}

/// SIGTERM to the group, SIGKILL once `grace` passed (or at once when the leader already exited).
void terminate(const Child& child, std::chrono::milliseconds grace) {
  child.signal_group(SIGTERM);
  const auto until = Clock::now() + grace;
  while (!child.exited() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  child.signal_group(SIGKILL);
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

Result<pid_t> spawn(const ChildSpec& spec, int stderr_fd) {
  FileActions fa;
  if (spec.stdin_fd >= 0) posix_spawn_file_actions_adddup2(&fa.fa, spec.stdin_fd, 0);
  else posix_spawn_file_actions_addopen(&fa.fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa.fa, 2, 1);  // stdout → our stderr (the log), never our stdout report
  posix_spawn_file_actions_adddup2(&fa.fa, stderr_fd, 2);
  if (spec.fd3 >= 0) posix_spawn_file_actions_adddup2(&fa.fa, spec.fd3, 3);
  SpawnAttr attr;
  auto argv = c_strings(spec.argv);
  auto envp = c_strings(spec.env);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &fa.fa, &attr.attr, argv.data(), envp.data());
  if (rc != 0) return spawn_error(rc, "cannot start '" + spec.argv[0] + "'");
  return pid;
}

}  // namespace

Result<ChildOutcome> run_child(const ChildSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].find('/') == std::string::npos)
    return fail(ErrorCode::InvalidArgument, Origin::Exec, "argv[0] must be a path to the program");
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return spawn_error(errno, "cannot create a pipe");
  UniqueFd rd(p[0]);
  UniqueFd wr(p[1]);
  CC_TRY(pid, spawn(spec, wr.get()));
  Child child(*pid);
  wr = UniqueFd();  // the child holds the only write end now: EOF once it (and its children) closed it
  Tail tail(spec.stderr_limit);
  ChildOutcome out;
  const auto deadline = Clock::now() + spec.timeout;
  bool open = true;
  while (!child.exited()) {
    if (Clock::now() >= deadline) {
      out.timed_out = true;
      terminate(child, spec.kill_grace);
      break;
    }
    if (open) open = drain(rd.get(), tail, std::chrono::milliseconds(50));
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // What it wrote last (a background process still holding the pipe does not keep us waiting).
  if (open) (void)drain(rd.get(), tail, std::chrono::milliseconds(0));
  const int st = child.reap();
  out.stderr_tail = tail.text();
  if (WIFEXITED(st)) {
    out.exited = true;
    out.exit_code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    out.signal = WTERMSIG(st);
  }
  return out;
}

std::string describe(const ChildOutcome& o) {
  std::string s;
  if (o.timed_out) s = "timed out (process group killed), ";
  if (o.exited) return s + "exit " + std::to_string(o.exit_code);
  if (o.signal != 0) return s + "signal " + std::to_string(o.signal) + " (" + ::strsignal(o.signal) + ")";
  return s + "ended";
}

}  // namespace claimcheck::detail
