#include "cli_common.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <malloc.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstdlib>

#include "claimcheck/core/file_io.h"
#include "claimcheck/core/log.h"
#include "claimcheck/core/credentials.h"
#include "claimcheck/core/units.h"

namespace claimcheck::cli {

std::string env_first(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    const char* v = std::getenv(n);
    if (v != nullptr && *v != '\0') return v;
  }
  return {};
}

void S3Options::add_to(CLI::App& app) {
  config.endpoint = env_first({"S3_ENDPOINT", "MINIO_ENDPOINT"});
  config.region = env_first({"S3_REGION", "MINIO_REGION"});
  if (config.region.empty()) config.region = "us-east-1";
  config.access_key = env_first({"S3_ACCESS_KEY", "MINIO_ACCESS_KEY"});
  config.secret_key = env_first({"S3_SECRET_KEY", "MINIO_SECRET_KEY"});
  bucket = env_first({"S3_BUCKET", "MINIO_BUCKET"});
  if (bucket.empty()) bucket = "1c-exchange";
  config.ca_bundle = env_first({"S3_CA_BUNDLE", "CLAIMCHECK_CA_FILE"});
  auto* g = app.add_option_group("S3", "S3-compatible storage (MinIO, AWS S3, Ceph RGW)");
  g->add_option("--s3-endpoint", config.endpoint, "S3 endpoint URL, e.g. http://127.0.0.1:7480 [env S3_ENDPOINT, MINIO_ENDPOINT]")
      ->capture_default_str();
  g->add_option("--s3-region", config.region, "SigV4 signing region [env S3_REGION, MINIO_REGION]")->capture_default_str();
  g->add_option("--s3-access-key", config.access_key, "access key id [env S3_ACCESS_KEY, MINIO_ACCESS_KEY]");
  // No default shown: the secret never appears in --help.
  secret_key_file = env_first({"S3_SECRET_KEY_FILE"});
  secret_key_flag = g->add_option("--s3-secret-key", config.secret_key,
                                  "secret key. Flags show in /proc/*/cmdline (`ps`): prefer the env var or "
                                  "--s3-secret-key-file [env S3_SECRET_KEY, MINIO_SECRET_KEY]");
  g->add_option("--s3-secret-key-file", secret_key_file,
                "read the secret key from this file (trailing newline dropped); used unless --s3-secret-key is "
                "given [env S3_SECRET_KEY_FILE]");
  g->add_option("--bucket", bucket, "bucket for objects [env S3_BUCKET, MINIO_BUCKET]")->capture_default_str();
  g->add_flag("--s3-virtual-hosted", virtual_hosted, "use virtual-hosted addressing (bucket.host) instead of path-style");
  g->add_option("--s3-ca-bundle", config.ca_bundle,
                "PEM file of the CAs trusted for https endpoints and presigned https urls (default: the system "
                "bundle); the certificate and host name are always verified [env S3_CA_BUNDLE, CLAIMCHECK_CA_FILE]")
      ->check(CLI::ExistingFile);
  g->add_option("--s3-part-size", part_size, "multipart upload part size (objects larger use multipart)")
      ->capture_default_str();
  g->add_option("--s3-timeout", timeout,
                "whole-request limit of small S3 requests (HEAD, DELETE, lists, small PUTs; 0 = none); transfers "
                "have none: they are bounded by --s3-low-speed-*")
      ->capture_default_str();
  g->add_option("--s3-connect-timeout", connect_timeout, "TCP/TLS connect limit per attempt")->capture_default_str();
  g->add_option("--s3-retries", config.retry.max_attempts,
                "attempts in a row without progress per S3 request (an attempt that received bytes resets the "
                "count; a download resumes where it stopped)")
      ->capture_default_str();
  g->add_option("--s3-low-speed-time", low_speed_time,
                "abort an S3 attempt that moves less than --s3-low-speed-limit for this long (whole seconds; "
                "retried, resuming)")
      ->capture_default_str();
  g->add_option("--s3-low-speed-limit", low_speed_limit, "bytes/s below which an attempt counts as stalled")
      ->capture_default_str();
}

Result<void> S3Options::finalize(bool keys_required) {
  if (!secret_key_file.empty() && secret_key_flag->count() == 0) {
    CC_TRY(key, read_secret_file(secret_key_file));
    config.secret_key = std::move(*key);
  }
  CC_TRY(ps, parse_size(part_size));
  config.part_size = *ps;
  auto millis = [](const char* flag, const std::string& v) -> Result<std::chrono::milliseconds> {
    if (v == "0") return std::chrono::milliseconds(0);
    auto d = parse_duration_millis(v);
    if (!d) return fail(ErrorCode::InvalidArgument, Origin::Config, std::string(flag) + ": " + d.error().message);
    return *d;
  };
  CC_TRY(rt, millis("--s3-timeout", timeout));
  config.request_timeout = *rt;
  CC_TRY(ct, millis("--s3-connect-timeout", connect_timeout));
  config.connect_timeout = *ct;
  CC_TRY(lt, millis("--s3-low-speed-time", low_speed_time));
  config.stall_timeout = *lt;
  CC_TRY(ll, parse_size(low_speed_limit));
  if (*ll < 1 || *ll > UINT32_MAX) return fail(ErrorCode::InvalidArgument, Origin::Config, "--s3-low-speed-limit: 1 B/s .. 4 GiB/s");
  config.low_speed_limit = static_cast<std::uint32_t>(*ll);
  config.path_style = !virtual_hosted;
  if (config.endpoint.empty())
    return fail(ErrorCode::InvalidArgument, Origin::Config, "no S3 endpoint: set --s3-endpoint or S3_ENDPOINT (run `make up` for local servers)");
  if (bucket.empty()) return fail(ErrorCode::InvalidArgument, Origin::Config, "no bucket: set --bucket or S3_BUCKET");
  if (keys_required && !config.has_credentials())
    return fail(ErrorCode::InvalidArgument, Origin::Config,
                "no S3 keys: set --s3-access-key and --s3-secret-key[-file] (or S3_ACCESS_KEY, S3_SECRET_KEY)");
  return config.validate();
}

void AmqpOptions::add_to(CLI::App& app, const std::string& connection_name) {
  urls = env_first({"AMQP_URL"});
  if (urls.empty()) urls = "amqp://guest:guest@127.0.0.1:5672/%2F";
  config.connection_name = connection_name;
  auto* g = app.add_option_group("AMQP", "RabbitMQ connection and topology");
  // The URL may hold a password: its default is not displayed.
  password_file = env_first({"AMQP_PASSWORD_FILE"});
  g->add_option("--amqp-url", urls,
                "amqp:// or amqps:// URL; a comma-separated list is tried in failover order. Flags show in "
                "/proc/*/cmdline (`ps`): put the password in the env var or --amqp-password-file [env AMQP_URL]");
  g->add_option("--amqp-password-file", password_file,
                "read the AMQP password from this file; it replaces the password of every URL (the URL keeps "
                "the user name) [env AMQP_PASSWORD_FILE]");
  config.ca_cert = env_first({"AMQP_CA_FILE", "CLAIMCHECK_CA_FILE"});
  g->add_option("--amqp-ca", config.ca_cert,
                "PEM file of the CAs trusted for amqps:// brokers (default: the system bundle " +
                    std::string(amqp::kSystemCaBundle) +
                    "); the certificate and host name are always verified [env AMQP_CA_FILE, CLAIMCHECK_CA_FILE]")
      ->check(CLI::ExistingFile);
  g->add_option("--amqp-connection-name", config.connection_name,
                "connection name the broker shows (management UI, `rabbitmqctl list_connections`)")
      ->capture_default_str();
  g->add_option("--heartbeat", heartbeat_s, "AMQP heartbeat, seconds (0 = off)")->capture_default_str();
  g->add_option("--msg-exchange", names.msg_exchange, "direct exchange for pointers")->capture_default_str();
  g->add_option("--ack-exchange", names.ack_exchange, "direct exchange for acks and store records")->capture_default_str();
  g->add_option("--ack-queue", names.ack_queue, "coordinator's queue")->capture_default_str();
  g->add_option("--dlx", names.dlx, "dead-letter exchange")->capture_default_str();
  g->add_option("--dead-queue", names.dead_queue, "dead-letter queue")->capture_default_str();
  g->add_option("--queue-prefix", names.queue_prefix, "recipient queue = prefix + recipient id")->capture_default_str();
  g->add_option("--delivery-limit", names.delivery_limit, "quorum-queue delivery limit before dead-lettering")
      ->capture_default_str();
}

Result<void> AmqpOptions::finalize() {
  config.urls = split_url_list(urls);
  if (!password_file.empty()) {
    CC_TRY(pw, read_secret_file(password_file));
    for (auto& u : config.urls) {
      auto with = set_url_password(u, *pw);
      if (!with) return fail(ErrorCode::InvalidArgument, Origin::Config, "--amqp-password-file: " + with.error().message);
      u = std::move(*with);
    }
  }
  config.heartbeat = std::chrono::seconds(heartbeat_s);
  return config.validate();
}

void DbOptions::add_to(CLI::App& app) {
  dsn = env_first({"CLAIMCHECK_DB"});
  if (dsn.empty()) dsn = "sqlite:.local/claimcheck.db";
  app.add_option("--db", dsn,
                 "refcount database: sqlite:PATH or postgresql://... Flags show in /proc/*/cmdline (`ps`): keep "
                 "the PostgreSQL password out of it, in libpq's password file (env PGPASSFILE, default "
                 "~/.pgpass) or env PGPASSWORD [env CLAIMCHECK_DB]");
}

void LogOptions::add_to(CLI::App& app) {
  if (auto v = env_first({"CLAIMCHECK_LOG_LEVEL"}); !v.empty()) level = v;
  app.add_option("--log-level", level, "trace|debug|info|warn|error [env CLAIMCHECK_LOG_LEVEL]")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
}

void LogOptions::apply() const {
  auto logger = spdlog::stderr_color_mt("claimcheck");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  claimcheck::set_logger(logger);  // the library's lines go to the same stderr logger as the CLI's
}

int exit_code_for(const Error& e) {
  if (e.origin == Origin::Io && (e.code == ErrorCode::Unavailable || e.code == ErrorCode::PermissionDenied ||
                           e.code == ErrorCode::NotFound))
    return kExitLocal;
  switch (e.code) {
    case ErrorCode::Unavailable:
    case ErrorCode::PermissionDenied: return kExitUnavailable;
    case ErrorCode::InvalidArgument: return kExitUsage;
    default: return kExitFailed;
  }
}

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }
}  // namespace

void bound_heap_retention() noexcept {
  // glibc raises its mmap threshold after the first large free (up to 32 MiB), after which every worker's
  // part and codec buffers come from per-thread arenas that keep freed memory: 125-130 MiB peak RSS for
  // `produce --concurrency 16` of 1 MiB files. A fixed threshold returns them at free (64 MiB with the
  // producer's other changes; bench/producer_concurrency_rss.sh).
  (void)::mallopt(M_MMAP_THRESHOLD, 64 * 1024);
}

void disable_core_dumps() noexcept {
  const struct rlimit none {0, 0};
  (void)::setrlimit(RLIMIT_CORE, &none);
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return g_stop.load(); }

}  // namespace claimcheck::cli
