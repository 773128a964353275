#pragma once
// Private helper: run one command as a child process in its own process group, stdin from a given
// descriptor, stderr captured (its last bytes kept), with a timeout that kills the whole group
// (SIGTERM, then SIGKILL after a grace period). Used by the consumer's exec handler (issue 8 item 3).

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "claimcheck/core/result.h"

namespace claimcheck::detail {

/// How one run of a child ended.
struct ChildOutcome {
  bool exited = false;      ///< exited normally: `exit_code` is valid
  int exit_code = -1;       ///< 0..255 when `exited`
  int signal = 0;           ///< the terminating signal when it did not exit normally (0 = none)
  bool timed_out = false;   ///< killed by us after the timeout
  std::string stderr_tail;  ///< the last `stderr_limit` bytes the child wrote to stderr
};

/// What to run and how.
///
/// - `argv`: program (looked up in PATH of `env` when it has no '/') and arguments; non-empty.
/// - `env`: the complete environment, "NAME=value" entries (nothing is inherited implicitly).
/// - `stdin_fd`: descriptor duplicated onto the child's stdin (-1 = /dev/null). Its offset is shared.
/// - `fd3`: descriptor duplicated onto the child's descriptor 3 (-1 = none), e.g. a held flock that must
///   outlive this process while the child runs (the exec handler's run lock).
/// - stdout goes to this process's stderr (the log stream), never into our stdout report.
/// - `timeout`: wall-clock bound of the run (> 0); then SIGTERM to the group, SIGKILL after `kill_grace`.
/// - `stderr_limit`: bytes of stderr kept (the tail).
struct ChildSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  int stdin_fd = -1;
  int fd3 = -1;
  std::chrono::milliseconds timeout{600000};
  std::chrono::milliseconds kill_grace{5000};
  std::size_t stderr_limit = 2048;
};

/// Spawns `spec` with posix_spawnp (new process group, default signal dispositions and an empty signal
/// mask, so an ignored SIGPIPE is not inherited) and waits for it. Returns how it ended; a nonzero exit or
/// a signal is an outcome, not an error. Errors (Origin::Exec): Unavailable when the child cannot be
/// started (pipe, spawn: the program is missing or not executable, too many processes). No process of the
/// group survives a timeout; on return the child is always reaped (RAII). Thread-safe (no shared state).
[[nodiscard]] Result<ChildOutcome> run_child(const ChildSpec& spec);

/// "exit 65", "signal 9 (Killed)", "timed out after 10s (killed)" — for logs and reasons.
std::string describe(const ChildOutcome& o);

}  // namespace claimcheck::detail
