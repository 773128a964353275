#pragma once
// Shared CLI plumbing for the claimcheck subcommands: option groups that map flags and environment
// variables onto the library's *Config structs, logging set-up, and exit codes.
//
// Only the CLI reads the environment (DESIGN.md §6). Flags override env. Secrets are never given a
// displayed default and never logged.

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "claimcheck/amqp/client.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/protocol/topology.h"

namespace claimcheck::cli {

/// Process exit codes, documented in `claimcheck --help` and the README.
enum ExitCode : int {
  kExitOk = 0,            ///< everything succeeded
  kExitFailed = 1,        ///< the run finished but some messages failed (each one is named on stderr)
  kExitUsage = 2,         ///< bad flags, bad configuration, bad input path
  kExitUnavailable = 3,   ///< a server (RabbitMQ, S3, database) could not be reached or refused credentials
  kExitLocal = 4,         ///< a local file-system error (output dir not writable: permission, read-only,
                          ///< disk full; unreadable input dir); the messages stay queued
  kExitInterrupted = 130, ///< stopped by SIGINT/SIGTERM before finishing
};

/// Returns the value of the first set, non-empty environment variable among `names`, or "".
std::string env_first(std::initializer_list<const char*> names);

/// Process hardening done first in main(): no core dumps (setrlimit RLIMIT_CORE 0 and
/// prctl PR_SET_DUMPABLE 0), so secrets in memory never reach a core file. Never fails (best effort).
void disable_core_dumps() noexcept;

/// Fixes glibc's mmap threshold at 64 KiB (mallopt M_MMAP_THRESHOLD), so buffers of that size and more
/// go back to the kernel when freed instead of staying in per-thread arenas: bounds peak RSS of the
/// multi-threaded commands (issue 10 acceptance: producer at --concurrency 16 ≤ 64 MiB). Call first in main.
void bound_heap_retention() noexcept;

/// S3 connection flags (--s3-endpoint, --s3-region, --s3-access-key, --s3-secret-key,
/// --s3-secret-key-file, --bucket, --s3-virtual-hosted, --s3-ca-bundle, --s3-part-size, --s3-timeout,
/// --s3-connect-timeout, --s3-retries, --s3-low-speed-time, --s3-low-speed-limit).
/// Env: S3_* with MINIO_* aliases, S3_SECRET_KEY_FILE, S3_CA_BUNDLE (then CLAIMCHECK_CA_FILE) for --s3-ca-bundle.
struct S3Options {
  s3::S3Config config;
  std::string bucket;
  std::string secret_key_file;
  CLI::Option* secret_key_flag = nullptr;
  std::string part_size = "8MiB";
  std::string timeout = "60s";          ///< --s3-timeout: whole-request bound of small requests
  std::string connect_timeout = "5s";   ///< --s3-connect-timeout
  std::string low_speed_time = "30s";   ///< --s3-low-speed-time: abort an attempt slower than the limit this long
  std::string low_speed_limit = "1";    ///< --s3-low-speed-limit: bytes/s (size syntax)
  bool virtual_hosted = false;
  /// Registers the flags on `app`, pre-filled from the environment.
  void add_to(CLI::App& app);
  /// Fills config from the parsed flags. Errors: InvalidArgument (bad size, missing endpoint or bucket;
  /// no access/secret key when `keys_required` — only a consumer may run without, on presigned urls).
  Result<void> finalize(bool keys_required = true);
};

/// AMQP flags (--amqp-url, comma-separated failover list; --amqp-password-file; --amqp-ca;
/// --amqp-connection-name; --heartbeat).
/// Env: AMQP_URL, AMQP_PASSWORD_FILE (its content replaces the password of every URL), AMQP_CA_FILE (then
/// CLAIMCHECK_CA_FILE) for --amqp-ca. amqps:// always verifies the broker's certificate and host name.
struct AmqpOptions {
  amqp::AmqpConfig config;
  std::string urls;
  std::string password_file;
  int heartbeat_s = 30;
  TopologyNames names;
  void add_to(CLI::App& app, const std::string& connection_name);
  Result<void> finalize();
};

/// Refcount database flag (--db). Env: CLAIMCHECK_DB. Default sqlite:.local/claimcheck.db. A PostgreSQL
/// password belongs in libpq's own PGPASSFILE (or PGPASSWORD), not in the DSN.
struct DbOptions {
  std::string dsn;
  void add_to(CLI::App& app);
};

/// Logging flags (--log-level trace|debug|info|warn|error, -v/-q). Logs go to stderr via spdlog.
struct LogOptions {
  std::string level = "info";
  void add_to(CLI::App& app);
  /// Applies the level to spdlog's default logger (stderr, with timestamps).
  void apply() const;
};

/// Maps an error to a process exit code: Origin::Io with Unavailable/PermissionDenied/NotFound →
/// kExitLocal; Unavailable/PermissionDenied → kExitUnavailable; InvalidArgument → kExitUsage; others →
/// kExitFailed.
int exit_code_for(const Error& e);

/// Installs SIGINT/SIGTERM handlers that set a flag read by stop_requested(). Idempotent.
void install_signal_handlers();
/// True once SIGINT or SIGTERM was received. Async-signal-safe flag; thread-safe to read.
bool stop_requested();

/// Each subcommand registers itself here; see cmd_*.cpp. `run` is set to the function main() calls after parsing.
using RunFn = std::function<int()>;
void register_produce(CLI::App& app, RunFn& run);
void register_consume(CLI::App& app, RunFn& run);
void register_coordinator(CLI::App& app, RunFn& run);
void register_status(CLI::App& app, RunFn& run);

}  // namespace claimcheck::cli
