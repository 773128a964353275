#pragma once
/// claimcheck::exec_sink_factory — the `consume --exec CMD` handler: runs a command once per payload
/// (DESIGN.md §10, issue 8 item 3).
///
/// Usage:
///   ExecHandlerConfig ec;
///   ec.argv = {"/bin/sh", "-c", "cat >> /var/log/in.log"};
///   ec.env = {"PATH=/usr/bin:/bin"};
///   ec.staging_dir = state_dir / "exec-staging-a";
///   ec.recipient = "a";
///   auto factory = exec_sink_factory(std::move(ec));   // Result<SinkFactory>
///   consumer_config.sink_factory = *factory;

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "claimcheck/consume/consumer.h"
#include "claimcheck/consume/out_dir.h"
#include "claimcheck/core/result.h"
#include "claimcheck/core/retry.h"

namespace claimcheck {

/// Settings of the exec handler. Plain data; the CLI fills it (the library reads no environment: the
/// child's whole environment is `env`).
///
/// - `argv`: the program (a path containing '/', not looked up in PATH) and its arguments. The CLI runs
///   `--exec CMD` as {"/bin/sh", "-c", CMD}.
/// - `env`: the child's base environment ("NAME=value"); the handler adds CLAIMCHECK_POINTER_ID,
///   CLAIMCHECK_NAME (only for named payloads; its bytes as they arrived), CLAIMCHECK_SIZE_RAW,
///   CLAIMCHECK_SIZE_STORED, CLAIMCHECK_CONTENT_TYPE, CLAIMCHECK_PRODUCER_ID, CLAIMCHECK_RECIPIENT and, in
///   file mode, CLAIMCHECK_FILE (replacing entries of the same names in `env`).
/// - `out_dir`: null = stdin mode: the verified payload is staged in an unlinked temp file in
///   `staging_dir` (O_TMPFILE: a killed consumer leaves nothing) and the command reads it on stdin.
///   Non-null = file mode: the payload is committed to `out_dir` first (OutDir::create), the command gets
///   its final path in CLAIMCHECK_FILE and /dev/null on stdin.
/// - `reject_exit_codes`: exit codes meaning "this payload is refused" (default 65, EX_DATAERR): the
///   pointer is dead-lettered with the command's stderr tail as the reason and acked `rejected`.
/// - any other exit code or a signal: the command is run again after a backoff (`retry`, same staged
///   bytes, no new download) up to retry.max_attempts times, then the delivery is requeued (transient).
/// - `timeout`: wall-clock bound per run (> 0); then SIGTERM to its process group, SIGKILL after
///   `kill_grace`; counted as a failure (retried, then requeued).
/// - `stderr_limit`: bytes of the command's stderr kept for the reason (the last ones; default 2 KiB).
/// - `receipt_dir`: run receipts (the CLI: `<state-dir>/exec-<recipient>`; empty = none). With it, each
///   run goes through a small /bin/sh wrapper that outlives a killed consumer and records the command's
///   exit code; a redelivery after a crash waits for a still-running command of the previous life and
///   takes a recorded exit code as the outcome instead of running the command again, so a consumer
///   SIGKILLed between the command's exit and the journal record does not run it twice. The command's
///   stderr then goes to `<receipt_dir>/<id>.stderr` (read back for the reason). Receipts untouched for
///   `receipt_retention` are removed at start. Not across a power loss (see src/consume/run_receipts.h).
struct ExecHandlerConfig {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::filesystem::path staging_dir;
  std::shared_ptr<const OutDir> out_dir;
  std::string recipient;
  std::vector<int> reject_exit_codes{65};
  std::chrono::milliseconds timeout{10 * 60 * 1000};
  std::chrono::milliseconds kill_grace{5000};
  BackoffPolicy retry{std::chrono::milliseconds(500), std::chrono::milliseconds(10000), 2.0, 3};
  std::size_t stderr_limit = 2048;
  std::filesystem::path receipt_dir;
  std::chrono::seconds receipt_retention{8 * 24 * 3600};

  /// Checks the fields. Errors: InvalidArgument (Origin::Config) naming the field.
  [[nodiscard]] Result<void> validate() const;
};

/// A SinkFactory running `cfg.argv` once per payload, after every check passed: the sink's finish() (called
/// by the consumer only after SHA-256, sizes and decoding verified) runs the command and returns
///
/// - ok: exit 0 — the payload is processed (the consumer journals it and acks `processed`);
/// - InvalidArgument (Origin::Exec, message "command rejected the payload (exit N): <stderr tail>"): an
///   exit code of reject_exit_codes — dead-lettered with that reason (classify_failure: Permanent);
/// - Unavailable (Origin::Exec): every attempt failed, timed out or the command could not be started —
///   requeued with backoff (Transient);
/// - io errors of the staging file or the out dir as they are (Origin::Io: Local).
///
/// Opens (creating, mode 0700) `staging_dir` in stdin mode. Errors: InvalidArgument for a bad config; "io"
/// errors when the staging dir cannot be created. Thread-safe: payloads may be handled concurrently (one
/// child each). Exactly once per pointer comes from the consumer's journal; a crash after the command
/// exited 0 and before the journal record does not run it again when `receipt_dir` is set (else it does).
[[nodiscard]] Result<SinkFactory> exec_sink_factory(ExecHandlerConfig cfg);

}  // namespace claimcheck
