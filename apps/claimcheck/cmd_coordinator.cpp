// `claimcheck coordinator`: applies store records and acks from q.ack, deletes completed/expired objects.
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "claimcheck/coordinator.h"
#include "claimcheck/metrics.h"
#include "claimcheck/util.h"
#include "cli_common.h"

namespace claimcheck::cli {

namespace {

/// Prefixes an option parse error with the flag's name: "--orphan-grace: invalid duration ...".
Error for_flag(const char* flag, const Error& e) {
  return make_error(ErrorCode::InvalidArgument, "config", std::string(flag) + ": " + e.message);
}

struct CoordinatorOptions {
  S3Options s3;
  AmqpOptions amqp;
  DbOptions db;
  LogOptions log;
  std::size_t batch_size = 500;
  std::string batch_delay = "50ms";
  std::string sweep_interval = "30s";
  std::string key_prefix = "claimcheck";
  std::string allowed_buckets;
  std::string orphan_grace = "24h";
  int lifecycle_days = 30;
  std::string placeholder_retention = "7d";
  std::string delete_lease = "60s";
  std::string metrics_addr;
  bool once = false;
  double exit_when_idle_s = 0;
  int prefetch = 0;
  bool no_orphan_sweep = false;
  bool debug_crash_after_commit = false;
  // Trust model (DESIGN.md §9) and bounds (B1).
  std::string recipient_users;
  std::string producer_users = "producer";
  bool accept_unauthenticated_acks = false;
  std::string history_retention = "7d";
  std::int64_t max_placeholders_per_sender = 10000;
  std::int64_t max_placeholders = 100000;
};

// "r1=user1,r2=user2,*=user" → map. Errors: InvalidArgument naming the bad entry.
Result<std::map<std::string, std::string>> parse_recipient_users(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& entry : split_comma_list(text)) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size())
      return fail(ErrorCode::InvalidArgument, "config",
                  "--recipient-users: '" + entry + "' must be RECIPIENT=USER (RECIPIENT '*' = every other one)");
    out[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return out;
}

// Copies the trust and bound options into cfg (warning about the compatibility mode is run()'s).
Result<void> apply_trust_options(const CoordinatorOptions& o, CoordinatorConfig& cfg) {
  CC_TRY(users, parse_recipient_users(o.recipient_users));
  cfg.recipient_users = std::move(*users);
  cfg.producer_users = split_comma_list(o.producer_users);
  cfg.accept_unauthenticated_acks = o.accept_unauthenticated_acks;
  auto h = parse_duration(o.history_retention);
  if (!h) return fail(ErrorCode::InvalidArgument, "config", "--history-retention: " + h.error().message);
  cfg.history_retention = *h;
  cfg.db.max_placeholder_acks_per_sender = o.max_placeholders_per_sender;
  cfg.db.max_placeholder_acks = o.max_placeholders;
  return ok();
}

int run_coordinator(CoordinatorOptions& o) {
  o.log.apply();
  auto bad = [](const Error& e) {
    spdlog::error("{}", e.to_string());
    return exit_code_for(e);
  };
  if (auto r = o.s3.finalize(); !r) return bad(r.error());
  if (auto r = o.amqp.finalize(); !r) return bad(r.error());

  CoordinatorConfig cfg;
  cfg.amqp = o.amqp.config;
  if (cfg.amqp.connection_name.empty()) cfg.amqp.connection_name = "claimcheck-coordinator";
  cfg.names = o.amqp.names;
  cfg.s3 = o.s3.config;
  cfg.bucket = o.s3.bucket;
  cfg.db.dsn = o.db.dsn;
  cfg.batch_size = o.batch_size;
  cfg.key_prefix = o.key_prefix;
  cfg.allowed_buckets = split_comma_list(o.allowed_buckets);
  cfg.lifecycle_days = o.lifecycle_days;
  cfg.orphan_sweep = !o.no_orphan_sweep;
  cfg.debug_crash_after_commit = o.debug_crash_after_commit;
  if (auto r = apply_trust_options(o, cfg); !r) return bad(r.error());
  if (o.prefetch < 0 || o.prefetch > 65535) return bad(make_error(ErrorCode::InvalidArgument, "config", "--prefetch must be 0..65535"));
  cfg.prefetch = static_cast<std::uint16_t>(o.prefetch);
  {
    auto v = parse_duration_millis(o.batch_delay);
    if (!v) return bad(for_flag("--batch-delay", v.error()));
    cfg.batch_delay = *v;
  }
  auto secs = [&](const std::string& text, const char* flag, std::chrono::seconds& out) -> Result<void> {
    auto v = parse_duration(text);
    if (!v) return Unexpected{for_flag(flag, v.error())};
    out = *v;
    return ok();
  };
  for (auto r : {secs(o.sweep_interval, "--sweep-interval", cfg.sweep_interval),
                 secs(o.orphan_grace, "--orphan-grace", cfg.orphan_grace),
                 secs(o.placeholder_retention, "--placeholder-retention", cfg.placeholder_retention),
                 secs(o.delete_lease, "--delete-lease", cfg.delete_lease)})
    if (!r) return bad(r.error());
  {
    auto v = duration_from_seconds(o.exit_when_idle_s);
    if (!v) return bad(for_flag("--exit-when-idle", v.error()));
    cfg.exit_when_idle = *v;
  }
  if (o.once && cfg.exit_when_idle == std::chrono::milliseconds(0)) cfg.exit_when_idle = std::chrono::milliseconds(2000);

  auto metrics = CoordinatorMetrics::create(o.metrics_addr);
  if (!metrics) return bad(metrics.error());
  if (!o.metrics_addr.empty()) spdlog::info("coordinator: metrics at http://{}/metrics", o.metrics_addr);

  auto coord = Coordinator::create(cfg, std::shared_ptr<CoordinatorMetrics>(std::move(*metrics)));
  if (!coord) return bad(coord.error());

  install_signal_handlers();
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    while (!finished.load()) {
      if (stop_requested()) {
        (*coord)->stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto r = (*coord)->run();
  finished.store(true);
  watcher.join();
  if (!r) return bad(r.error());
  return stop_requested() ? kExitInterrupted : kExitOk;
}

}  // namespace

void register_coordinator(CLI::App& app, RunFn& run) {
  auto opts = std::make_shared<CoordinatorOptions>();
  auto* sub = app.add_subcommand(
      "coordinator",
      "Consume store records and acks from the ack queue (single active consumer: a 2nd instance is a hot standby),\n"
      "keep the refcount database and delete each object once every recipient acked it or it expired.");
  opts->s3.add_to(*sub);
  opts->amqp.add_to(*sub, "claimcheck-coordinator");
  opts->db.add_to(*sub);
  opts->log.add_to(*sub);
  sub->add_option("--batch-size", opts->batch_size, "max stores/acks per database transaction")->capture_default_str();
  sub->add_option("--batch-delay", opts->batch_delay, "max wait before a partial batch is applied (e.g. 50ms, 1s)")
      ->capture_default_str();
  sub->add_option("--prefetch", opts->prefetch, "q.ack prefetch (0 = 4 x batch size, max 65535)")->capture_default_str();
  sub->add_option("--sweep-interval", opts->sweep_interval, "expiry / orphan / placeholder sweep period (e.g. 30s)")
      ->capture_default_str();
  sub->add_option("--allowed-buckets", opts->allowed_buckets,
                  "comma-separated buckets store records may name (default: --bucket); others are dead-lettered");
  sub->add_option("--key-prefix", opts->key_prefix, "producer key prefix; orphan sweep and lifecycle rule use PREFIX/")
      ->capture_default_str();
  sub->add_option("--orphan-grace", opts->orphan_grace,
                  "objects under the prefix without a store record are deleted once older than this (e.g. 24h, 30s)")
      ->capture_default_str();
  sub->add_flag("--no-orphan-sweep", opts->no_orphan_sweep, "disable the orphan sweep");
  sub->add_option("--lifecycle-days", opts->lifecycle_days,
                  "expiration days of the bucket lifecycle rule 'claimcheck-safety-net' (0 = leave the bucket alone)")
      ->capture_default_str();
  sub->add_option("--placeholder-retention", opts->placeholder_retention,
                  "purge acks whose store record never arrived after this long")
      ->capture_default_str();
  sub->add_option("--delete-lease", opts->delete_lease, "lease of a claimed deletion (re-claimed after a crash)")
      ->capture_default_str();
  sub->add_option("--metrics-addr", opts->metrics_addr, "serve Prometheus metrics on HOST:PORT (e.g. 127.0.0.1:9464); off when empty");
  sub->add_flag("--once", opts->once, "process what is queued and due, then exit (= --exit-when-idle 2)");
  sub->add_option("--exit-when-idle", opts->exit_when_idle_s,
                  "exit after SECONDS without deliveries once nothing is left to delete (0 = run until SIGTERM)")
      ->capture_default_str();
  sub->add_option("--recipient-users", opts->recipient_users,
                  "RECIPIENT=USER,...: the broker user whose acks count for each recipient (default: the user of\n"
                  "the same name; RECIPIENT '*' = every recipient not listed); other acks are dead-lettered");
  sub->add_option("--producer-users", opts->producer_users,
                  "comma-separated broker users whose store records are believed; others are dead-lettered")
      ->capture_default_str();
  sub->add_flag("--accept-unauthenticated-acks", opts->accept_unauthenticated_acks,
                "compatibility with the reference demo's consumers: accept acks without AMQP user_id or sha256\n"
                "(unsafe: any client that can publish to the ack exchange can complete objects)");
  sub->add_option("--history-retention", opts->history_retention,
                  "purge DELETED objects and their acks after this long (e.g. 7d, 12h)")
      ->capture_default_str();
  sub->add_option("--max-placeholders-per-sender", opts->max_placeholders_per_sender,
                  "most acks for unknown pointers kept per broker user; more are dead-lettered")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--max-placeholders", opts->max_placeholders,
                  "most acks for unknown pointers kept in total; more are dead-lettered")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  // Test hook (hidden from --help): SIGKILL itself right after committing a batch that completed objects.
  sub->add_flag("--debug-crash-after-commit", opts->debug_crash_after_commit, "")->group("");
  sub->callback([opts, &run] { run = [opts] { return run_coordinator(*opts); }; });
}

}  // namespace claimcheck::cli
