// claimcheck — the one CLI: produce, consume, coordinator, status.
// Each subcommand lives in cmd_<name>.cpp and registers itself through cli_common.h.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli_common.h"

int main(int argc, char** argv) {
  using namespace claimcheck::cli;
  disable_core_dumps();  // before any secret is read: no core file ever holds one
  bound_heap_retention();
  CLI::App app{
      "claimcheck: claim-check messaging for RabbitMQ with reference-counted S3 cleanup.\n"
      "Large payloads go to S3-compatible storage; RabbitMQ carries only pointers; the coordinator deletes\n"
      "each object once every recipient acked it.\n\n"
      "Configuration comes from flags, else environment variables (AMQP_URL, S3_ENDPOINT, S3_REGION,\n"
      "S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET, CLAIMCHECK_DB; MINIO_* are accepted as aliases). `make up`\n"
      "writes the local servers' settings to .local/env.\n\n"
      "Secrets: command-line flags are visible to every local user in /proc/*/cmdline (`ps`); give secrets\n"
      "by env var or by file: S3_SECRET_KEY_FILE / --s3-secret-key-file, AMQP_PASSWORD_FILE /\n"
      "--amqp-password-file, and for PostgreSQL libpq's PGPASSFILE. Core dumps are disabled.\n\n"
      "Exit codes: 0 ok, 1 some messages failed, 2 usage or configuration error, 3 server unavailable or\n"
      "credentials refused, 4 local file-system error (output not writable, read-only, full), 130 interrupted."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "claimcheck " CLAIMCHECK_VERSION);  // the project VERSION (CMake)
  RunFn run;
  register_produce(app, run);
  register_consume(app, run);
  register_coordinator(app, run);
  register_status(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (!run) return kExitUsage;
  return run();
}
