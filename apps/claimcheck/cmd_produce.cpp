// `claimcheck produce`: store payloads in S3 and publish pointers (DESIGN.md §4 "Produce").
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>

#include "claimcheck/produce/outbox.h"
#include "claimcheck/produce/producer.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/credentials.h"
#include "claimcheck/core/text.h"
#include "claimcheck/core/time.h"
#include "claimcheck/core/units.h"
#include "cli_common.h"

namespace claimcheck::cli {

namespace {

/// The example pointer as printed: its presigned url is a bearer token for the object, so only the part
/// before the query (host and key) is shown.
std::string printable_pointer(const std::string& json) {
  auto p = parse_pointer(json, {});
  if (!p || !p->url) return json;
  p->url = p->url->substr(0, p->url->find('?')) + "?<presigned, query not shown>";
  return to_json(*p);
}

struct ProduceCmd {
  S3Options s3;
  AmqpOptions amqp;
  LogOptions log;
  std::string msg_size;
  std::uint64_t count = 0;
  std::vector<std::string> files;
  std::vector<std::string> dirs;
  bool stdin_input = false;
  std::vector<std::string> positional;
  std::string name_prefix;
  std::string recipients;
  std::string codec = "zstd";
  int level = 1;
  std::string inline_threshold = "0";
  std::string ttl = "7d";
  std::string key_prefix = "claimcheck";
  std::string producer_id;
  bool verify = false;
  bool no_presign = false;
  bool del = false;
  int concurrency = 4;
  std::uint64_t seed = 0;
  std::string watch;
  bool once = false;
  std::string quiet_period = "5s";
  std::string rescan_interval = "60s";
  bool remove_sent = false;
  int attempts = 0;

  int run() {
    log.apply();
    install_signal_handlers();
    auto fin = s3.finalize();
    if (!fin) return usage_error(fin.error());
    auto afin = amqp.finalize();
    if (!afin) return usage_error(afin.error());
    auto cfg = make_config();
    if (!cfg) return usage_error(cfg.error());
    if (!watch.empty()) return run_watch(std::move(*cfg));
    if (once || remove_sent) return usage_error(make_error(ErrorCode::InvalidArgument, Origin::Config, "--once and --remove-sent need --watch DIR"));
    auto inputs = make_inputs();
    if (!inputs) return usage_error(inputs.error());
    auto prod = Producer::create(std::move(*cfg));
    if (!prod) return usage_error(prod.error());
    const bool tty = isatty(STDERR_FILENO) == 1;
    auto progress = [&](const ProduceProgress& p) {
      if (!tty) return;
      double secs = std::chrono::duration<double>(p.elapsed).count();
      std::fprintf(stderr, "\rproduce: %zu/%zu done, %zu failed, %s, %.1fs   ", p.done, p.total, p.failed,
                   format_bytes(p.bytes_raw).c_str(), secs);
      std::fflush(stderr);
    };
    spdlog::info("produce: {} payload(s) → recipients {} via {} (codec {}, bucket {})", inputs->size(), recipients,
                 redact_url(amqp.urls), codec, s3.bucket);
    auto rep = prod->run(*inputs, [] { return stop_requested(); }, progress);
    if (tty) std::fprintf(stderr, "\n");
    if (!rep) {
      spdlog::error("produce: {}", rep.error().to_string());
      return exit_code_for(rep.error());
    }
    print_report(*rep);
    if (rep->fatal) return exit_code_for(*rep->fatal);
    if (rep->interrupted) return kExitInterrupted;
    return rep->failed == 0 ? kExitOk : kExitFailed;
  }

  // --watch DIR: the outbox (outbox.h) until SIGINT/SIGTERM (exit 0), or with --once until done.
  int run_watch(ProducerConfig pcfg) {
    auto cfg = make_outbox_config(std::move(pcfg));
    if (!cfg) return usage_error(cfg.error());
    auto ob = Outbox::create(std::move(*cfg));
    if (!ob) return usage_error(ob.error());
    spdlog::info("produce: outbox {} → recipients {} via {} (codec {}, bucket {}, quiet period {}{})", watch,
                 recipients, redact_url(amqp.urls), codec, s3.bucket, quiet_period, once ? ", once" : "");
    auto rep = ob->run([] { return stop_requested(); });
    if (!rep) {
      spdlog::error("produce: outbox: {}", rep.error().to_string());
      return exit_code_for(rep.error());
    }
    std::printf("produce: outbox: %zu sent, %zu failed, %zu pending\n", rep->sent, rep->failed, rep->pending);
    std::fflush(stdout);
    return once && rep->failed > 0 ? kExitFailed : kExitOk;
  }

  Result<OutboxConfig> make_outbox_config(ProducerConfig pcfg) const {
    if (!msg_size.empty() || count > 0 || !files.empty() || !dirs.empty() || stdin_input || !positional.empty())
      return fail(ErrorCode::InvalidArgument, Origin::Config, "--watch takes no other input (--dir, --file, --msg-size, -)");
    OutboxConfig cfg;
    cfg.producer = std::move(pcfg);
    cfg.dir = watch;
    CC_TRY(q, parse_duration_millis(quiet_period));
    cfg.quiet_period = *q;
    CC_TRY(ri, parse_duration_millis(rescan_interval));
    cfg.rescan_interval = *ri;
    cfg.remove_sent = remove_sent;
    cfg.once = once;
    cfg.name_prefix = name_prefix;
    if (attempts < 0) return fail(ErrorCode::InvalidArgument, Origin::Config, "--attempts must be ≥ 0");
    cfg.retry.max_attempts = attempts > 0 ? attempts : (once ? 3 : kUnlimitedAttempts);
    return cfg;
  }

  Result<ProducerConfig> make_config() const {
    ProducerConfig cfg;
    cfg.s3 = s3.config;
    cfg.amqp = amqp.config;
    cfg.names = amqp.names;
    cfg.bucket = s3.bucket;
    cfg.key_prefix = key_prefix;
    cfg.recipients = split_comma_list(recipients);
    CC_TRY(enc, parse_encoding(codec));
    cfg.encoding = *enc;
    cfg.level = level;
    CC_TRY(thr, parse_size(inline_threshold));
    cfg.inline_threshold = *thr;
    CC_TRY(t, parse_duration(ttl));
    cfg.ttl = *t;
    cfg.producer_id = producer_id;
    if (cfg.producer_id.empty()) {
      char host[256] = {};
      if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
      cfg.producer_id = std::string(host[0] ? host : "producer") + "-" + std::to_string(getpid());
    }
    cfg.verify = verify;
    cfg.presign = !no_presign;
    cfg.storage_check = del;
    cfg.concurrency = concurrency;
    return cfg;
  }

  Result<std::vector<PayloadInput>> make_inputs() {
    std::vector<PayloadInput> inputs;
    for (const auto& p : positional) files.push_back(p);
    if (!msg_size.empty() || count > 0) {
      if (msg_size.empty() || count == 0) return fail(ErrorCode::InvalidArgument, Origin::Config, "--msg-size and --count go together");
      // Every synthetic input is listed up front: bound the count (a negative --count wraps around to 2^64-1
      // in the unsigned option and used to abort the program in vector::reserve).
      constexpr std::uint64_t kMaxCount = 10'000'000;
      if (count > kMaxCount)
        return fail(ErrorCode::InvalidArgument, Origin::Config, "--count must be 1.." + std::to_string(kMaxCount));
      CC_TRY(sz, parse_size(msg_size));
      std::uint64_t s = seed ? seed : static_cast<std::uint64_t>(utc_now().time_since_epoch().count());
      for (auto& i : synthetic_inputs(count, *sz, s, name_prefix)) inputs.push_back(std::move(i));
    }
    const std::string stdin_name = name_prefix.empty() ? std::string() : name_prefix + "stdin";
    for (const auto& f : files) {
      if (f == "-") {
        inputs.push_back(file_input("-", stdin_name));
        continue;
      }
      std::string name = name_prefix + std::filesystem::path(f).filename().string();
      if (!validate_relative_name(name)) name.clear();
      inputs.push_back(file_input(f, name));
    }
    if (stdin_input) inputs.push_back(file_input("-", stdin_name));
    for (const auto& d : dirs) {
      CC_TRY(di, directory_inputs(d, name_prefix));
      for (auto& i : *di) inputs.push_back(std::move(i));
    }
    if (inputs.empty())
      return fail(ErrorCode::InvalidArgument, Origin::Config, "nothing to produce: give --msg-size/--count, --file, --dir or -");
    return inputs;
  }

  void print_report(const ProduceReport& rep) const {
    double secs = std::chrono::duration<double>(rep.elapsed).count();
    if (secs <= 0) secs = 1e-9;
    const ProduceOutcome* example = nullptr;
    for (const auto& o : rep.outcomes)
      if (o.ok && !o.pointer_json.empty()) {
        example = &o;
        break;
      }
    std::printf("produce: %zu %s, %zu failed, %zu inline, %zu verified\n", rep.succeeded,
                del ? "stored and deleted (storage check: nothing published)" : "published", rep.failed, rep.inlined,
                rep.verified);
    std::printf("produce: raw %s, stored %s, %.2fs, %.1f msg/s, %.1f MiB/s\n", format_bytes(rep.bytes_raw).c_str(),
                format_bytes(rep.bytes_stored).c_str(), secs, static_cast<double>(rep.succeeded) / secs,
                static_cast<double>(rep.bytes_raw) / (1024.0 * 1024.0) / secs);
    if (example) std::printf("produce: example pointer: %s\n", printable_pointer(example->pointer_json).c_str());
    for (const auto& o : rep.outcomes)
      if (!o.ok) std::fprintf(stderr, "produce: FAILED %s: %s\n", o.label.c_str(), o.error.c_str());
    std::fflush(stdout);
  }

  static int usage_error(const Error& e) {
    spdlog::error("produce: {}", e.to_string());
    return exit_code_for(e);
  }
};

/// The outbox flags of `produce` (--watch DIR and what goes with it; see claimcheck/outbox.h).
void add_watch_options(CLI::App& sub_app, ProduceCmd& cmd_ref) {
  CLI::App* sub = &sub_app;
  ProduceCmd* cmd = &cmd_ref;
  sub->add_option("--watch", cmd->watch,
                  "outbox mode: send every regular file that appears under DIR (recursively, inotify) under its "
                  "relative name, once it was closed after writing or untouched for --quiet-period; after its store "
                  "record and every pointer were confirmed it moves to DIR/.sent/<YYYY-MM-DD>/<name> (UTC date). "
                  "Ignores .sent/, dot-files and dot-dirs, *.tmp, *.part. A journal in DIR/.claimcheck-outbox/ makes "
                  "restarts lose and duplicate nothing. Failures are retried with backoff, one log line per file. "
                  "SIGINT/SIGTERM finishes in-flight files and exits 0")
      ->type_name("DIR");
  sub->add_flag("--once", cmd->once,
                "with --watch: send what is in DIR now (and what the journal says is pending), then exit; exit 1 "
                "if any file failed (cron-style)");
  sub->add_option("--quiet-period", cmd->quiet_period,
                  "with --watch: a file untouched this long counts as ready without a close (writers that never "
                  "close, files moved in), e.g. 5s, 500ms")
      ->capture_default_str();
  sub->add_flag("--remove-sent", cmd->remove_sent, "with --watch: remove sent files instead of moving them to .sent/");
  sub->add_option("--attempts", cmd->attempts,
                  "with --watch: attempts per file before it is given up until it changes (default: 3 with --once, "
                  "unlimited otherwise; backoff up to 5 min)");
  sub->add_option("--rescan-interval", cmd->rescan_interval,
                  "with --watch: full scan of DIR this often, for anything inotify missed")
      ->capture_default_str();
}

}  // namespace

void register_produce(CLI::App& app, RunFn& run) {
  auto cmd = std::make_shared<ProduceCmd>();
  auto* sub = app.add_subcommand("produce", "store payloads in S3 and publish a pointer to every recipient");
  cmd->s3.add_to(*sub);
  cmd->amqp.add_to(*sub, "claimcheck-produce");
  cmd->log.add_to(*sub);
  cmd->recipients = env_first({"RECIPIENTS"});
  if (cmd->recipients.empty()) cmd->recipients = "branch1";
  sub->add_option("--msg-size", cmd->msg_size, "synthetic payload size, e.g. 500KB, 1MB (binary units)");
  sub->add_option("--count", cmd->count, "number of synthetic payloads");
  sub->add_option("--file", cmd->files, "file to send (repeatable; '-' = stdin)");
  sub->add_option("--dir", cmd->dirs, "send every regular file under DIR recursively (symlinks not followed)");
  sub->add_option("inputs", cmd->positional, "'-' reads one payload from stdin; other arguments are files");
  sub->add_option("--name-prefix", cmd->name_prefix, "prepended to every payload name, e.g. input/");
  sub->add_option("--recipients", cmd->recipients, "comma-separated recipient ids [env RECIPIENTS]")
      ->capture_default_str();
  sub->add_option("--codec", cmd->codec, "zstd|gzip|identity")
      ->check(CLI::IsMember({"zstd", "gzip", "identity"}))
      ->capture_default_str();
  sub->add_option("--level", cmd->level, "compression level (zstd 1..19, gzip 0..3)")->capture_default_str();
  sub->add_option("--inline-threshold", cmd->inline_threshold,
                  "payloads of at most this many BYTES travel inline (no S3); 0 = always offload")
      ->capture_default_str();
  sub->add_option("--ttl", cmd->ttl, "object expiry after creation, e.g. 7d, 12h")->capture_default_str();
  sub->add_option("--key-prefix", cmd->key_prefix, "object key prefix (<prefix>/YYYY/MM/DD/<uuid>.<ext>)")
      ->capture_default_str();
  sub->add_option("--producer-id", cmd->producer_id, "producer id in pointers (default hostname-pid)");
  sub->add_flag("--verify", cmd->verify, "read each object back and check SHA-256 before publishing");
  sub->add_flag("--no-presign", cmd->no_presign,
                "publish pointers without a presigned `url` (then every recipient needs S3 keys); by default "
                "each pointer carries one, valid for min(--ttl, 7 days)");
  sub->add_flag("--delete", cmd->del,
                "storage round trip only: upload (and --verify), then delete each object; publishes no store "
                "record and no pointer (only the coordinator deletes objects recipients were told about)");
  sub->add_option("--concurrency", cmd->concurrency, "parallel uploads")->capture_default_str();
  sub->add_option("--seed", cmd->seed, "seed of the synthetic payloads (0 = time based)");
  add_watch_options(*sub, *cmd);
  sub->callback([cmd, &run] { run = [cmd] { return cmd->run(); }; });
}

}  // namespace claimcheck::cli
