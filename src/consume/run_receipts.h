#pragma once
// Private helper of the exec handler: run receipts, which make `consume --exec` run its command once per
// pointer even when the consumer is SIGKILLed between the command's exit and the journal record
// (issue 8 item 3, acceptance "exec log has exactly one line per pointer per recipient").
//
// How: the command runs under a tiny /bin/sh wrapper that outlives a killed consumer (the child is in its
// own process group and is not killed with its parent). The wrapper holds the pointer's run lock
// (`<dir>/<id>.lock`, an flock inherited as descriptor 3), sends the command's stderr to `<id>.stderr`
// (a file, so a dead consumer cannot SIGPIPE it) and, once the command exited, writes its exit code to
// `<id>.exit` (write to `.tmp`, then rename). A redelivery after a crash first takes the run lock — so it
// waits while the previous life's command is still running — and then reads the receipt: a recorded exit
// code is the outcome, without running the command again.
//
// Limits: a receipt survives a process crash, not a power loss (no fsync); the wrapper itself killed
// between the command's exit and the rename (kill of the whole process group, a reboot) runs the command
// again — handlers that must be exactly-once across reboots should use CLAIMCHECK_POINTER_ID as their own
// idempotency key.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "claimcheck/core/result.h"
#include "detail/fd.h"

namespace claimcheck::detail {

/// The receipt directory of one recipient. Thread-safe after open() (each call uses its own descriptors).
class RunReceipts {
 public:
  /// Creates (mode 0700) and opens `dir`; removes receipts whose lock is free and that were last touched
  /// more than `retention` ago. Errors: "io" errors of mkdir/open.
  static Result<RunReceipts> open(const std::filesystem::path& dir, std::chrono::seconds retention);

  /// Takes the run lock of `id` (a pointer or inline message id), waiting up to `wait` while another
  /// process (the wrapper of a previous consumer life) holds it. The descriptor is ≥ 10 and close-on-exec;
  /// pass it as ChildSpec::fd3. Errors: Unavailable (Origin::Exec) when still held after `wait`; "io"
  /// errors of open/flock.
  [[nodiscard]] Result<UniqueFd> lock(const std::string& id, std::chrono::milliseconds wait) const;

  /// The exit code a finished run of `id` recorded, if any.
  [[nodiscard]] std::optional<int> recorded_exit(const std::string& id) const;

  /// Removes the receipt and stderr file of `id` (before a new run).
  void clear(const std::string& id) const;

  /// The last `limit` bytes the command of `id` wrote to stderr (trailing newlines dropped).
  [[nodiscard]] std::string stderr_tail(const std::string& id, std::size_t limit) const;

  /// `argv` wrapped so that it runs under the receipt-writing /bin/sh wrapper for `id`.
  [[nodiscard]] std::vector<std::string> wrap(const std::string& id, const std::vector<std::string>& argv) const;

 private:
  RunReceipts(std::filesystem::path dir, UniqueFd fd) : dir_(std::move(dir)), fd_(std::move(fd)) {}
  void remove_stale(std::chrono::seconds retention) const;

  std::filesystem::path dir_;
  UniqueFd fd_;
};

}  // namespace claimcheck::detail
