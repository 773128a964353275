#pragma once
/// Test helper for e2e tests that drive the claimcheck CLI as subprocesses: spawn with stdout/stderr to
/// files, wait with a deadline, SIGKILL and reap; the repo root; files a consumer has committed.
/// Header-only, POSIX (posix_spawn, waitpid). Not thread-safe: one test thread owns its Procs.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_data.h"
#include "test_env.h"

extern char** environ;

namespace claimcheck::test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// A child process with stdout and stderr redirected to files.
struct Proc {
  pid_t pid = -1;
  fs::path out, err;
  int status = -1;  // exit code (128 + signal) once reaped

  bool running() {
    if (pid <= 0) return false;
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == 0) return true;
    status = (r == pid) ? (WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)) : -1;
    pid = -1;
    return false;
  }
  /// Waits until the process exits or `deadline` passes; returns its exit code, or -2 on timeout.
  int wait_until(Clock::time_point deadline) {
    while (running()) {
      if (Clock::now() >= deadline) return -2;
      std::this_thread::sleep_for(20ms);
    }
    return status;
  }
  /// Waits however long it takes; returns its exit code (128 + signal when killed).
  int wait_exit() { return wait_until(Clock::time_point::max()); }
  /// SIGKILL (also works on a stopped process) and reap.
  void kill_now() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    pid = -1;
  }
  std::string logs() const { return "--- stdout:\n" + slurp(out) + "--- stderr:\n" + slurp(err); }
};

inline Proc spawn(const std::vector<std::string>& args, const fs::path& log_base, const std::string& cwd = {}) {
  Proc p;
  p.out = log_base.string() + ".out";
  p.err = log_base.string() + ".err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, p.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, p.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int rc = posix_spawnp(&p.pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) p.pid = -1;
  return p;
}

/// Regular, non-hidden files directly in `dir` (hidden ones are the consumer's temp files).
inline std::set<std::string> visible_files(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (!n.empty() && n[0] != '.' && e.is_regular_file(ec)) out.insert(n);
  }
  return out;
}

/// The repo root (scripts/infra): $CLAIMCHECK_SOURCE_DIR, else the first parent of this binary holding it.
inline std::string source_dir() {
  if (auto v = env_value("CLAIMCHECK_SOURCE_DIR")) return *v;
  std::error_code ec;
  for (fs::path p = fs::read_symlink("/proc/self/exe", ec).parent_path(); !p.empty() && p != p.root_path();
       p = p.parent_path()) {
    if (fs::exists(p / "scripts/infra")) return p.string();
  }
  return {};
}


/// Writes `data` into the named pipe `fifo` for a producer reading it (`produce --file <fifo>`): waits until
/// `deadline` for a reader to open the pipe, failing early when `producer` exited. The pipe lets a test
/// decide when each payload exists (kill a process between two of them).
inline ::testing::AssertionResult feed_fifo(const fs::path& fifo, const std::string& data, Proc& producer,
                                            Clock::time_point deadline) {
  int fd = -1;
  while ((fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
    if (errno != ENXIO) return ::testing::AssertionFailure() << "open " << fifo << ": " << std::strerror(errno);
    if (!producer.running())
      return ::testing::AssertionFailure() << "producer exited before reading " << fifo << "\n" << producer.logs();
    if (Clock::now() >= deadline) return ::testing::AssertionFailure() << "no reader opened " << fifo;
    std::this_thread::sleep_for(2ms);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return ::testing::AssertionFailure() << "write " << fifo << ": " << std::strerror(errno);
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return ::testing::AssertionSuccess();
}

}  // namespace claimcheck::test
