// `claimcheck consume`: one recipient — download, verify, hand over, ack (DESIGN.md §4 "Consume").
//
// S3 403 policy: a 403 is not a 404. Each 403 is logged as an error and the delivery is requeued after a
// back-off; after --max-403 consecutive 403 answers the consumer exits with code 3 (credentials problem)
// so that a supervisor notices, instead of dead-lettering good messages. Without S3 keys (downloads through
// presigned urls) a 403 for an expired url or an altered signature is dead-lettered instead: that url can
// never work again.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>

extern char** environ;

#include "claimcheck/consume/consumer.h"
#include "claimcheck/consume/exec_handler.h"
#include "claimcheck/consume/out_dir.h"
#include "claimcheck/core/credentials.h"
#include "claimcheck/core/text.h"
#include "claimcheck/core/units.h"
#include "cli_common.h"

namespace claimcheck::cli {

namespace {

/// "0640", "640", "0o640" → 0640. Errors: InvalidArgument naming --file-mode.
Result<unsigned> parse_file_mode(std::string_view text) {
  std::string_view t = text;
  if (t.substr(0, 2) == "0o") t.remove_prefix(2);
  unsigned v = 0;
  bool ok_digits = !t.empty() && t.size() <= 5;
  for (const char c : t) {
    if (c < '0' || c > '7') ok_digits = false;
    else v = v * 8 + static_cast<unsigned>(c - '0');
  }
  if (!ok_digits || v > 07777)
    return fail(ErrorCode::InvalidArgument, Origin::Config, "--file-mode '" + std::string(text) + "': expected octal 0000..7777");
  return v;
}

/// "65,66" → {65, 66}. Errors: InvalidArgument naming --reject-exit-codes.
Result<std::vector<int>> parse_exit_codes(const std::string& text) {
  std::vector<int> out;
  for (const auto& item : split_comma_list(text)) {
    int v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || p != item.data() + item.size() || v < 1 || v > 255)
      return fail(ErrorCode::InvalidArgument, Origin::Config, "--reject-exit-codes '" + item + "': expected 1..255");
    out.push_back(v);
  }
  return out;
}

/// This process's environment for the --exec command, without the secrets the consumer was given.
std::vector<std::string> exec_environment() {
  static constexpr std::string_view kSecret[] = {"S3_SECRET_KEY", "MINIO_SECRET_KEY", "AMQP_URL", "PGPASSWORD",
                                                 "CLAIMCHECK_DB"};
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    if (std::find(std::begin(kSecret), std::end(kSecret), name) == std::end(kSecret)) env.emplace_back(entry);
  }
  return env;
}

struct ConsumeCmd {
  S3Options s3;
  AmqpOptions amqp;
  LogOptions log;
  std::string recipient;
  int prefetch = 8;
  int concurrency = 4;
  std::string out_dir;
  std::string state_dir;
  std::string allowed_producers = "producer";
  bool accept_any_producer = false;
  bool accept_reference_pointers = false;
  std::string ttl = "7d";
  std::string allowed_buckets;
  std::string max_size = "8GiB";
  std::uint64_t max_messages = 0;
  double idle_exit_s = 0;
  int max_403 = 5;
  int max_local_errors = 5;
  std::string file_mode = "0640";
  std::string exec_cmd;
  std::string reject_exit_codes = "65";
  std::string exec_timeout = "10m";
  int exec_attempts = 3;

  /// --exec CMD → an exec handler (stdin mode, or file mode on top of `dir` when --out-dir is given).
  Result<SinkFactory> exec_factory(std::shared_ptr<const OutDir> dir, const std::filesystem::path& state) const {
    ExecHandlerConfig ec;
    ec.argv = {"/bin/sh", "-c", exec_cmd};
    ec.env = exec_environment();
    ec.out_dir = std::move(dir);
    ec.staging_dir = state / ("exec-staging-" + recipient);
    ec.receipt_dir = state / ("exec-" + recipient);  // a SIGKILLed consumer does not run a command twice
    ec.recipient = recipient;
    CC_TRY(codes, parse_exit_codes(reject_exit_codes));
    ec.reject_exit_codes = std::move(*codes);
    CC_TRY(t, parse_duration_millis(exec_timeout));
    ec.timeout = *t;
    ec.retry.max_attempts = exec_attempts;
    return exec_sink_factory(std::move(ec));
  }

  int run() {
    log.apply();
    install_signal_handlers();
    auto fin = s3.finalize(/*keys_required=*/false);  // a recipient without keys uses presigned urls
    if (!fin) return usage_error(fin.error());
    if (!s3.config.has_credentials())
      spdlog::info("consume: no S3 keys: downloading through each pointer's presigned url, only from {}",
                   s3.config.endpoint);
    auto afin = amqp.finalize();
    if (!afin) return usage_error(afin.error());
    if (recipient.empty())
      return usage_error(make_error(ErrorCode::InvalidArgument, Origin::Config, "--recipient (or CONSUMER_ID) is required"));
    ConsumerConfig cfg;
    cfg.s3 = s3.config;
    cfg.amqp = amqp.config;
    cfg.names = amqp.names;
    cfg.recipient = recipient;
    if (prefetch < 1 || prefetch > 65535)
      return usage_error(make_error(ErrorCode::InvalidArgument, Origin::Config, "--prefetch must be 1..65535"));
    cfg.prefetch = static_cast<std::uint16_t>(prefetch);
    cfg.concurrency = concurrency;
    if (allowed_buckets.empty()) cfg.limits.allowed_buckets = {s3.bucket};
    else cfg.limits.allowed_buckets = split_comma_list(allowed_buckets);
    auto ms = parse_size(max_size);
    if (!ms) return usage_error(ms.error());
    cfg.limits.max_size_raw = static_cast<std::int64_t>(*ms);
    cfg.limits.max_size_stored = static_cast<std::int64_t>(*ms) + (static_cast<std::int64_t>(*ms) / 8) + 4096;
    auto out = open_out_dir();
    if (!out) return usage_error(out.error());
    if (*out) cfg.sink_factory = out_dir_sink_factory(*out);
    cfg.state_dir = state_dir.empty() ? default_state_dir(out_dir) : std::filesystem::path(state_dir);
    if (!exec_cmd.empty()) {
      auto f = exec_factory(*out, cfg.state_dir);
      if (!f) return usage_error(f.error());
      cfg.sink_factory = std::move(*f);
    }
    cfg.max_messages = max_messages;
    auto idle = duration_from_seconds(idle_exit_s);
    if (!idle) return usage_error(make_error(ErrorCode::InvalidArgument, Origin::Config, "--idle-exit: " + idle.error().message));
    cfg.idle_exit = *idle;
    cfg.max_permission_denied = max_403;
    cfg.max_local_errors = max_local_errors;
    if (!accept_any_producer) cfg.allowed_producers = split_comma_list(allowed_producers);
    if (accept_any_producer)
      spdlog::warn("consume: --accept-any-producer: any client that can publish to this queue can have files "
                   "written here (compatibility mode)");
    if (accept_reference_pointers) {
      auto t = parse_duration_millis(ttl);
      if (!t) return usage_error(make_error(ErrorCode::InvalidArgument, Origin::Config, "--ttl: " + t.error().message));
      cfg.reference_pointer_ttl = std::chrono::duration_cast<std::chrono::seconds>(*t);
      spdlog::warn("consume: --accept-reference-pointers: pointers without recipients are taken as addressed to {} "
                   "alone, expiring {} after their created_at", recipient, ttl);
    }
    auto cons = Consumer::create(std::move(cfg));
    if (!cons) return usage_error(cons.error());
    spdlog::info("consume: recipient {} via {}{}", recipient, redact_url(amqp.urls),
                 !exec_cmd.empty() ? " → exec" : out_dir.empty() ? std::string(" (verify and discard)") : " → " + out_dir);
    ConsumeReport rep;
    auto r = cons->run([] { return stop_requested(); }, &rep);
    double secs = std::chrono::duration<double>(rep.elapsed).count();
    std::printf(
        "consume: recipient %s: %llu processed (%llu inline), %llu already processed, %llu rejected, "
        "%llu dead-lettered, %llu requeued, raw %s, stored %s, %.2fs, stop: %s\n",
        recipient.c_str(), static_cast<unsigned long long>(rep.processed), static_cast<unsigned long long>(rep.inlined),
        static_cast<unsigned long long>(rep.already_processed),
        static_cast<unsigned long long>(rep.rejected), static_cast<unsigned long long>(rep.dead_lettered),
        static_cast<unsigned long long>(rep.requeued), format_bytes(rep.bytes_raw).c_str(),
        format_bytes(rep.bytes_stored).c_str(), secs, rep.stop_reason.empty() ? "-" : rep.stop_reason.c_str());
    std::fflush(stdout);
    if (!r) {
      spdlog::error("consume: {}", r.error().to_string());
      return exit_code_for(r.error());
    }
    // A consumer runs until stopped: SIGINT/SIGTERM after a clean drain is a normal end (exit 0).
    return kExitOk;
  }

  // --out-dir (null without it). Opening it also cleans its staging dir (debris of a killed consumer).
  Result<std::shared_ptr<const OutDir>> open_out_dir() const {
    if (out_dir.empty()) return std::shared_ptr<const OutDir>{};
    CC_TRY(mode, parse_file_mode(file_mode));
    OutDirOptions oo;
    oo.file_mode = *mode;
    CC_TRY(dir, OutDir::open(out_dir, oo));
    if ((*dir)->stale_removed() > 0)
      spdlog::info("consume: removed {} stale temp file(s) from {}/{}", (*dir)->stale_removed(), out_dir, kStagingDirName);
    return std::shared_ptr<const OutDir>(std::move(*dir));
  }

  // Beside the output tree, never inside it: OUT → OUT/../.OUT.claimcheck; no --out-dir: .local/state.
  static std::filesystem::path default_state_dir(const std::string& out) {
    if (out.empty()) return ".local/state";
    const auto abs = std::filesystem::absolute(out).lexically_normal();
    const auto dir = abs.has_filename() ? abs : abs.parent_path();
    return dir.parent_path() / ("." + dir.filename().string() + ".claimcheck");
  }

  static int usage_error(const Error& e) {
    spdlog::error("consume: {}", e.to_string());
    return exit_code_for(e);
  }
};

}  // namespace

void register_consume(CLI::App& app, RunFn& run) {
  auto cmd = std::make_shared<ConsumeCmd>();
  auto* sub = app.add_subcommand("consume", "consume one recipient's pointers: download, verify, write, ack");
  cmd->s3.add_to(*sub);
  cmd->amqp.add_to(*sub, "claimcheck-consume");
  cmd->log.add_to(*sub);
  cmd->recipient = env_first({"CONSUMER_ID"});
  if (auto p = env_first({"PREFETCH"}); !p.empty()) {
    try { cmd->prefetch = std::stoi(p); } catch (...) { cmd->prefetch = -1; }
  }
  sub->add_option("--recipient", cmd->recipient, "this recipient's id; consumes q.<id> [env CONSUMER_ID]");
  sub->add_option("--prefetch", cmd->prefetch, "deliveries in flight [env PREFETCH]")->capture_default_str();
  sub->add_option("--concurrency", cmd->concurrency, "parallel downloads")->capture_default_str();
  sub->add_option("--out-dir", cmd->out_dir,
                  "write each payload to DIR/<name> (or DIR/<pointer_id>) atomically: staged in DIR/.claimcheck-staging "
                  "(cleaned at start), renamed into place once verified, no symlink below DIR followed; without "
                  "it: verify and discard");
  if (auto a = env_first({"CLAIMCHECK_ALLOWED_PRODUCERS"}); !a.empty()) cmd->allowed_producers = a;
  sub->add_option("--allowed-producers", cmd->allowed_producers,
                  "comma-separated broker users whose pointers are accepted (their AMQP user_id, which RabbitMQ "
                  "verifies); others are dead-lettered [env CLAIMCHECK_ALLOWED_PRODUCERS]")
      ->capture_default_str();
  sub->add_flag("--accept-any-producer", cmd->accept_any_producer,
                "compatibility: accept pointers from any sender, also without user_id (the reference demo's "
                "producer); logs a warning at start");
  sub->add_flag("--accept-reference-pointers", cmd->accept_reference_pointers,
                "migration from the reference demo: its producer's pointers (no recipients, expires_at, producer_id) "
                "are processed as addressed to this recipient alone, expiring --ttl after their created_at; its "
                "producer sets no user_id, so this also needs --accept-any-producer");
  sub->add_option("--ttl", cmd->ttl, "expiry of reference-demo pointers (with --accept-reference-pointers), e.g. 7d")
      ->capture_default_str();
  cmd->state_dir = env_first({"CLAIMCHECK_STATE_DIR"});
  sub->add_option("--state-dir", cmd->state_dir,
                  "directory of this recipient's journal of processed pointers (a redelivered pointer only re-sends "
                  "its ack: no download, no second handler run); default beside the output, OUT/../.OUT.claimcheck, "
                  "or .local/state without --out-dir [env CLAIMCHECK_STATE_DIR]");
  sub->add_option("--allowed-buckets", cmd->allowed_buckets, "comma-separated buckets pointers may use (default: --bucket)");
  sub->add_option("--max-size", cmd->max_size, "largest accepted payload (raw bytes)")->capture_default_str();
  sub->add_option("--max-messages", cmd->max_messages, "exit after this many messages (0 = no limit)");
  sub->add_option("--idle-exit", cmd->idle_exit_s, "exit after this many seconds without messages (0 = never)");
  sub->add_option("--max-403", cmd->max_403, "exit with code 3 after this many consecutive S3 403s (0 = never)")
      ->capture_default_str();
  sub->add_option("--max-local-errors", cmd->max_local_errors,
                  "exit with code 4 after this many consecutive local file-system errors writing the output "
                  "(permission, read-only, disk full; each is requeued) (0 = never)")
      ->capture_default_str();
  sub->add_option("--file-mode", cmd->file_mode,
                  "permission bits (octal) of payload files written to --out-dir; the umask does not apply")
      ->capture_default_str();
  sub->add_option("--exec", cmd->exec_cmd,
                  "run CMD (via /bin/sh -c) once per verified payload: the payload on its stdin (staged in the state "
                  "dir first), or with --out-dir the written file's path in CLAIMCHECK_FILE; env CLAIMCHECK_POINTER_ID, "
                  "_NAME, _SIZE_RAW, _SIZE_STORED, _CONTENT_TYPE, _PRODUCER_ID, _RECIPIENT (S3/AMQP secrets are removed "
                  "from its environment). Exit 0 = processed; a --reject-exit-codes code = rejected (dead-lettered "
                  "with its stderr tail); anything else = retried, then requeued");
  sub->add_option("--reject-exit-codes", cmd->reject_exit_codes,
                  "comma-separated exit codes of --exec that reject the payload")->capture_default_str();
  sub->add_option("--exec-timeout", cmd->exec_timeout,
                  "wall-clock limit of one --exec run (e.g. 30s, 10m); then SIGTERM/SIGKILL to its process group "
                  "and retried")->capture_default_str();
  sub->add_option("--exec-attempts", cmd->exec_attempts,
                  "runs of --exec per delivery before it is requeued (failures and timeouts, with backoff)")
      ->capture_default_str();
  sub->callback([cmd, &run] { run = [cmd] { return cmd->run(); }; });
}

}  // namespace claimcheck::cli
