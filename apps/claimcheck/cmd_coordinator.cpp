// `claimcheck coordinator`: applies store records and acks from q.ack, deletes completed/expired objects.
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "claimcheck/coordinate/coordinator.h"
#include "claimcheck/coordinate/status.h"
#include "claimcheck/coordinate/metrics.h"
#include "claimcheck/core/text.h"
#include "claimcheck/core/units.h"
#include "cli_common.h"
#include "http_server.h"

namespace claimcheck::cli {

namespace {

/// Prefixes an option parse error with the flag's name: "--orphan-grace: invalid duration ...".
Error for_flag(const char* flag, const Error& e) {
  return make_error(ErrorCode::InvalidArgument, Origin::Config, std::string(flag) + ": " + e.message);
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
  std::string http_addr;
  std::string status_interval = "10s";
  std::string lag_warn = "5m";
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
      return fail(ErrorCode::InvalidArgument, Origin::Config,
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
  if (!h) return fail(ErrorCode::InvalidArgument, Origin::Config, "--history-retention: " + h.error().message);
  cfg.history_retention = *h;
  cfg.db.max_placeholder_acks_per_sender = o.max_placeholders_per_sender;
  cfg.db.max_placeholder_acks = o.max_placeholders;
  return ok();
}

// Copies the durations into cfg (each error names its flag).
Result<void> apply_durations(const CoordinatorOptions& o, CoordinatorConfig& cfg) {
  auto millis = [&](const std::string& text, const char* flag, std::chrono::milliseconds& out) -> Result<void> {
    auto v = parse_duration_millis(text);
    if (!v) return Unexpected{for_flag(flag, v.error())};
    out = *v;
    return ok();
  };
  auto secs = [&](const std::string& text, const char* flag, std::chrono::seconds& out) -> Result<void> {
    auto v = parse_duration(text);
    if (!v) return Unexpected{for_flag(flag, v.error())};
    out = *v;
    return ok();
  };
  for (auto r : {millis(o.batch_delay, "--batch-delay", cfg.batch_delay),
                 millis(o.status_interval, "--status-interval", cfg.status_interval),
                 secs(o.sweep_interval, "--sweep-interval", cfg.sweep_interval),
                 secs(o.orphan_grace, "--orphan-grace", cfg.orphan_grace),
                 secs(o.placeholder_retention, "--placeholder-retention", cfg.placeholder_retention),
                 secs(o.delete_lease, "--delete-lease", cfg.delete_lease), secs(o.lag_warn, "--lag-warn", cfg.lag_warn)})
    if (!r) return r;
  auto idle = duration_from_seconds(o.exit_when_idle_s);
  if (!idle) return Unexpected{for_flag("--exit-when-idle", idle.error())};
  cfg.exit_when_idle = *idle;
  if (o.once && cfg.exit_when_idle == std::chrono::milliseconds(0)) cfg.exit_when_idle = std::chrono::milliseconds(2000);
  return ok();
}

// The CoordinatorConfig of the parsed flags. Errors: InvalidArgument naming the flag.
Result<CoordinatorConfig> build_config(CoordinatorOptions& o) {
  CC_TRY_VOID(o.s3.finalize());
  CC_TRY_VOID(o.amqp.finalize());
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
  if (o.debug_crash_after_commit) {
    cfg.after_commit_hook = [](std::size_t completed) {
      spdlog::warn("coordinator: --debug-crash-after-commit: SIGKILL after committing {} completed objects", completed);
      std::raise(SIGKILL);
    };
  }
  CC_TRY_VOID(apply_trust_options(o, cfg));
  if (o.prefetch < 0 || o.prefetch > 65535) return fail(ErrorCode::InvalidArgument, Origin::Config, "--prefetch must be 0..65535");
  cfg.prefetch = static_cast<std::uint16_t>(o.prefetch);
  CC_TRY_VOID(apply_durations(o, cfg));
  return cfg;
}

// --http-addr: /metrics (the registry's text exposition), / (the status page) and /api/status (JSON).
Result<std::unique_ptr<HttpServer>> serve_http(const std::string& addr, const Coordinator& coord,
                                               const std::shared_ptr<prometheus::Registry>& registry,
                                               std::chrono::milliseconds status_interval) {
  const auto refresh = std::max<std::chrono::seconds>(
      std::chrono::seconds(5), std::chrono::duration_cast<std::chrono::seconds>(status_interval));
  std::map<std::string, HttpHandler> routes;
  routes["/metrics"] = [registry] {
    std::ostringstream body;
    prometheus::TextSerializer{}.Serialize(body, registry->Collect());
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", body.str()};
  };
  routes["/"] = [&coord, refresh] {
    return HttpResponse{200, "text/html; charset=utf-8",
                        render_status_html(coord.status(), refstore::Clock::now(), refresh)};
  };
  routes["/api/status"] = [&coord] {
    return HttpResponse{200, "application/json",
                        render_status_json(coord.status(), refstore::Clock::now()).dump(2) + "\n"};
  };
  CC_TRY(server, HttpServer::start(addr, std::move(routes)));
  spdlog::info("coordinator: status page at http://{}/ (JSON /api/status, metrics /metrics)", addr);
  return std::move(*server);
}

// Runs `coord` until it returns or SIGINT/SIGTERM asks it to stop.
Result<void> run_until_signal(Coordinator& coord) {
  install_signal_handlers();
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    while (!finished.load()) {
      if (stop_requested()) {
        coord.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto r = coord.run();
  finished.store(true);
  watcher.join();
  return r;
}

int run_coordinator(CoordinatorOptions& o) {
  o.log.apply();
  auto bad = [](const Error& e) {
    spdlog::error("{}", e.to_string());
    return exit_code_for(e);
  };
  auto cfg = build_config(o);
  if (!cfg) return bad(cfg.error());
  // The registry is the CLI's (it serves it at /metrics); the coordinator records into it.
  auto registry = std::make_shared<prometheus::Registry>();
  auto created = CoordinatorMetrics::create(*registry);
  if (!created) return bad(created.error());
  std::shared_ptr<CoordinatorMetrics> metrics(std::move(*created));
  auto coord = Coordinator::create(*cfg, metrics);
  if (!coord) return bad(coord.error());
  std::unique_ptr<HttpServer> http;  // declared after coord: stopped (handlers done) before coord goes
  if (!o.http_addr.empty()) {
    auto server = serve_http(o.http_addr, **coord, registry, cfg->status_interval);
    if (!server) return bad(server.error());
    http = std::move(*server);
  }
  auto r = run_until_signal(**coord);
  if (!r) return bad(r.error());
  return stop_requested() ? kExitInterrupted : kExitOk;
}

// --http-addr and the status page's options.
void add_http_options(CLI::App& sub, CoordinatorOptions& o) {
  sub.add_option("--http-addr,--metrics-addr", o.http_addr,
                 "serve HTTP on HOST:PORT (e.g. 127.0.0.1:9464): the status page at /, its JSON at /api/status,\n"
                 "Prometheus metrics at /metrics; off when empty (--metrics-addr: the former name)");
  sub.add_option("--lag-warn", o.lag_warn,
                 "a recipient whose oldest pending object is older than this is shown as lagging (e.g. 5m, 1s)")
      ->capture_default_str();
  sub.add_option("--status-interval", o.status_interval,
                 "how often the status page's database numbers and the per-recipient gauges are refreshed")
      ->capture_default_str();
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
  add_http_options(*sub, *opts);
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
