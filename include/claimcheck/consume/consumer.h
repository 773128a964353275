#pragma once
/// claimcheck::Consumer — one recipient: pointer → GET → verify → decompress → handler → ack (DESIGN.md §2–§5a).
///
/// Usage (an application embedding one recipient with an in-process handler; link claimcheck::claimcheck,
/// examples/consumer/):
///   claimcheck::ConsumerConfig cfg;                        // plain data: the application fills it
///   cfg.s3.endpoint = "https://s3.example.net";            // no keys: downloads through presigned urls
///   cfg.amqp.urls = claimcheck::split_url_list("amqp://branch1:pw@rabbit:5672/%2F");
///   cfg.recipient = "branch1";                             // consumes q.branch1
///   cfg.limits.allowed_buckets = {"1c-exchange"};
///   cfg.allowed_producers = {"producer"};                  // broker users whose pointers count
///   cfg.state_dir = "/var/lib/myapp/claimcheck";           // journal: each pointer handled once
///   cfg.sink_factory = claimcheck::handler_sink_factory(
///       [](const claimcheck::PayloadInfo& info, std::span<const std::byte> bytes) {
///         return import(info.name.value_or(info.pointer_id), bytes) ? claimcheck::HandlerResult::processed()
///                                                                   : claimcheck::HandlerResult::retry("db down");
///       });
///   auto consumer = claimcheck::Consumer::create(std::move(cfg));   // InvalidArgument on bad config
///   std::atomic<bool> stop{false};                          // set it from a signal handler or another thread
///   auto report = consumer->run([&] { return stop.load(); });      // blocks until stopped
/// Other handlers: out_dir_sink_factory (files, atomically), exec_sink_factory (a command, exec_handler.h),
/// or any SinkFactory of your own (streamed bytes, for payloads too large for memory).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "claimcheck/amqp/types.h"
#include "claimcheck/core/codec.h"
#include "claimcheck/core/io.h"
#include "claimcheck/consume/out_dir.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/result.h"
#include "claimcheck/core/retry.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/protocol/wire.h"
#include "claimcheck/protocol/topology.h"

namespace claimcheck {


/// What the handler is told about a payload before its bytes arrive.
struct PayloadInfo {
  std::string pointer_id;
  std::optional<std::string> name;  ///< already checked with validate_relative_name()
  std::string content_type;
  std::uint64_t size_raw = 0;
  std::uint64_t size_stored = 0;    ///< bytes of the stored (encoded) object or inline body
  std::string producer_id;          ///< the pointer's producer_id ("" for inline-v1)
  Encoding encoding = Encoding::Zstd;
  bool inlined = false;             ///< came as inline-v1
};

/// Opens the sink that receives one payload's raw bytes. The sink's finish() is called only after every
/// check passed (SHA-256, sizes, stream integrity), so it may commit there (AtomicFileSink); on failure the
/// sink is destroyed without finish() and must then leave no trace.
/// Errors it returns: InvalidArgument = handler refusal (the message is dead-lettered, ack `rejected`);
/// Unavailable = try again later (requeue); anything else = dead-letter. Called on worker threads
/// (concurrently): must be thread-safe.
using SinkFactory = std::function<Result<std::unique_ptr<ByteSink>>(const PayloadInfo&)>;

/// A SinkFactory writing each payload to `<dir>/<name>` (or `<dir>/<pointer_id>` when unnamed) through
/// OutDir::create(): a temp file in the staging dir, renamed onto the name only after every check passed,
/// relative to directory descriptors that follow no symlink; redeliveries rewrite the same bytes. Refuses
/// (InvalidArgument) names failing validate_relative_name(), names inside the staging dir and names with a
/// symlink or non-directory component. Thread-safe.
SinkFactory out_dir_sink_factory(std::shared_ptr<const OutDir> dir);

/// As above, opening `out_dir` with OutDir::open(out_dir, options) now (which also cleans its staging
/// dir). If that fails, every payload gets that error (Origin::Io: a local error, requeued).
SinkFactory out_dir_sink_factory(const std::filesystem::path& out_dir, const OutDirOptions& options = {});

/// A SinkFactory that verifies and discards (DiscardSink).
SinkFactory discard_sink_factory();

/// What an in-process handler decided about one payload (PayloadHandler).
enum class HandlerOutcome {
  Processed,  ///< done: the consumer journals the pointer and acks `processed`
  Rejected,   ///< refused for good: dead-lettered with the reason, ack `rejected` (FailureKind::Permanent)
  Retry,      ///< not now: back off and requeue; the payload comes again (FailureKind::Transient)
};

/// A handler's verdict: the outcome and, for Rejected and Retry, why (logged, and for Rejected the
/// dead-letter reason and the `rejected` ack's reason: never put secrets in it).
struct HandlerResult {
  HandlerOutcome outcome = HandlerOutcome::Processed;
  std::string reason;

  /// Processed, no reason.
  [[nodiscard]] static HandlerResult processed() { return {}; }
  /// Rejected for `why`.
  [[nodiscard]] static HandlerResult rejected(std::string why) { return {HandlerOutcome::Rejected, std::move(why)}; }
  /// Retry later because of `why`.
  [[nodiscard]] static HandlerResult retry(std::string why) { return {HandlerOutcome::Retry, std::move(why)}; }
};

/// An in-process handler: gets one payload's info and its complete, verified raw bytes (SHA-256, sizes and
/// decoding checked; `payload` is valid only during the call) and returns its verdict. Called on the
/// consumer's worker threads, concurrently for different payloads (ConsumerConfig::concurrency): it must be
/// thread-safe. A handler that throws counts as HandlerOutcome::Retry with the exception's what().
/// Exactly once per pointer needs ConsumerConfig::state_dir (the journal); a crash after the handler
/// returned Processed and before the journal record runs it again on redelivery.
using PayloadHandler = std::function<HandlerResult(const PayloadInfo& info, std::span<const std::byte> payload)>;

/// Default cap of handler_sink_factory's in-memory payloads: 64 MiB.
inline constexpr std::uint64_t kDefaultHandlerMaxBytes = 64ULL << 20;

/// A SinkFactory that collects each payload in memory and calls `handler` once every check passed (from
/// the sink's finish()). A payload whose raw size is above `max_bytes` is rejected before any byte is
/// downloaded (InvalidArgument, Origin::Handler: dead-lettered); stream large payloads with your own
/// SinkFactory or out_dir_sink_factory instead. The verdict maps onto the consumer's failure handling:
/// Processed → ok; Rejected → InvalidArgument, Retry (or a throw) → Unavailable, both Origin::Handler
/// with message "handler rejected: <reason>" / "handler asked to retry: <reason>" (classify_failure:
/// Permanent / Transient). An empty `handler` rejects every payload. Thread-safe as far as `handler` is.
///
/// Usage:
///   cfg.sink_factory = handler_sink_factory([](const PayloadInfo& info, std::span<const std::byte> bytes) {
///     if (info.content_type != "application/json") return HandlerResult::rejected("not JSON");
///     if (!store(info.name.value_or(info.pointer_id), bytes)) return HandlerResult::retry("store is down");
///     return HandlerResult::processed();
///   });
[[nodiscard]] SinkFactory handler_sink_factory(PayloadHandler handler, std::uint64_t max_bytes = kDefaultHandlerMaxBytes);

/// What the consumer does with a failed delivery (classify_failure()).
enum class FailureKind {
  Permanent,  ///< dead-letter with the reason and publish a `rejected` ack
  Transient,  ///< back off, requeue (S3/AMQP unavailable, object changed mid-download, shutdown)
  Denied,     ///< S3 refused the credentials (403): back off, requeue; counts towards max_permission_denied
  Local,      ///< handler-side file-system error (EACCES, EPERM, EROFS, ENOSPC, EIO, ...; Origin::Io):
              ///< back off, requeue; counts towards max_local_errors, never towards S3 refusals
};

/// The consumer's reading of claimcheck::classify(e) (core/retry.h): DeadLetter → Permanent; Retry /
/// RetryTransaction → Local for Origin::Io (the handler's own files), else Transient; Fatal → Denied for
/// PermissionDenied, except a presigned url S3 refused for good (detail_code s3::kPresignedUrlExpired or
/// s3::kPresignedUrlRejected) → Permanent, and Permanent for any other Fatal (e.g. no S3 credentials for a
/// pointer without a url). So an in-process handler's (Origin::Handler, handler_sink_factory)
/// InvalidArgument is Permanent and its Unavailable Transient; an --exec reject code (Origin::Exec) is
/// Permanent. Thread-safe, never fails.
[[nodiscard]] FailureKind classify_failure(const Error& e) noexcept;

/// Settings of one Consumer. Plain data; only the CLI fills it from flags and env.
///
/// - `s3`: with keys (S3Config::has_credentials) objects are fetched with GetObject and a pointer's `url`
///   is ignored; without keys (a recipient with no S3 rights, DESIGN.md §9) only through the pointer's
///   presigned `url`, and only when it names `s3.endpoint`'s scheme, host and port.
/// - `recipient`: this recipient's id (validate_recipient_id); consumes `names.queue_prefix + recipient`.
/// - `prefetch`: deliveries in flight (1..65535). `concurrency`: worker threads, each with its own S3Client.
/// - `limits`: pointer validation (allowed buckets, size caps); the raw size cap also bounds decompression.
/// - `sink_factory`: the handler; empty = discard_sink_factory().
/// - `max_messages`: stop after this many deliveries were settled (acked after processing or dead-lettering);
///   0 = no limit. `idle_exit`: stop after this long without any delivery and nothing in flight; 0 = never.
/// - `requeue`: the delay before a failed delivery is requeued (transient, denied, local): `initial`, doubling
///   with each failure in a row of the workers up to `max`, equal jitter (down to half); a success resets it,
///   so a broken object store is not hammered and an outage does not use up the queue's delivery limit
///   within a minute. Its `max_attempts` is not used (the queue's delivery limit bounds the retries).
/// - `max_permission_denied`: consecutive S3 403 answers after which run() stops with PermissionDenied
///   (each one is requeued, so nothing is lost); 0 = never stop.
/// - `max_local_errors`: consecutive handler-side file-system errors (FailureKind::Local) after which run()
///   stops with that error (Origin::Io, naming the path; each delivery is requeued); 0 = never stop.
/// - `settle_timeout`: on shutdown, how long to wait for in-flight work and confirms before closing
///   (what is unsettled then is redelivered by the broker).
/// - `allowed_producers`: AMQP users (the `user_id` RabbitMQ verified, DESIGN.md §9) whose pointers and
///   inline messages this recipient accepts; anything else is dead-lettered with the user named and no
///   ack (a forged pointer must neither write a file nor touch the coordinator's count). Empty = any
///   sender (compatibility with producers that set no user_id); the CLI's default is strict (`producer`).
/// - `state_dir`: directory of this recipient's journal (`journal-<recipient>.db`, ConsumeJournal): the
///   idempotent receiver. Empty = no journal (a pointer redelivered after its handler ran — a crash
///   between the ack's confirm and basic.ack — is processed again). `inline_retention`: how long an
///   inline message id is kept in the journal (inline messages carry no expiry).
///   With a state dir, downloads are staged (issue 8 item 5): the stored bytes go to
///   `<state_dir>/downloads-<recipient>/<pointer_id>.part` (+ `.etag`), resumed with Range + If-Match
///   across the S3 client's retries, requeues and restarts, and only the complete file is verified,
///   decoded and handed to the handler; the files are removed once handled or refused. Staged files not
///   touched for `staged_retention` are removed at start. Without a state dir the GET streams straight
///   into the handler (resuming only within one delivery's retries).
/// - `reference_pointer_ttl`: set = `--accept-reference-pointers` (issue 8 item 9): pointers of the
///   reference demo's producer (no `recipients`, `expires_at`, `producer_id`) are read by
///   parse_pointer_or_reference as addressed to this recipient alone, expiring this long after their
///   created_at; unset = such pointers are dead-lettered ("field 'recipients': is required").
struct ConsumerConfig {
  s3::S3Config s3;
  amqp::AmqpConfig amqp;
  TopologyNames names;
  std::string recipient;
  std::uint16_t prefetch = 8;
  int concurrency = 4;
  ValidationLimits limits;
  SinkFactory sink_factory;
  std::uint64_t max_messages = 0;
  std::chrono::milliseconds idle_exit{0};
  BackoffPolicy requeue{std::chrono::milliseconds(1000), std::chrono::milliseconds(30000), 2.0, kUnlimitedAttempts, 0.5};
  int max_permission_denied = 5;
  int max_local_errors = 5;
  std::chrono::milliseconds settle_timeout{30000};
  std::filesystem::path state_dir;
  std::chrono::seconds inline_retention{7 * 24 * 3600};
  std::vector<std::string> allowed_producers;
  std::chrono::seconds staged_retention{7 * 24 * 3600};
  std::optional<std::chrono::seconds> reference_pointer_ttl;

  /// Checks every field (and s3/amqp via their validate()). Errors: InvalidArgument (Origin::Config).
  [[nodiscard]] Result<void> validate() const;
};

/// Counters of a run.
struct ConsumeReport {
  std::uint64_t processed = 0;      ///< handler accepted, `processed` ack confirmed, delivery acked
  std::uint64_t inlined = 0;        ///< of processed: inline-v1 messages (no ack to the coordinator)
  std::uint64_t rejected = 0;       ///< dead-lettered AND a `rejected` ack was published
  std::uint64_t dead_lettered = 0;  ///< every message copied to the DLX with a reason (incl. rejected)
  std::uint64_t requeued = 0;       ///< transient failures nacked with requeue
  std::uint64_t already_processed = 0;  ///< redeliveries found in the journal: ack re-sent, no handler run
  std::uint64_t bytes_raw = 0;      ///< payload bytes handed to the handler (processed ones)
  std::uint64_t bytes_stored = 0;   ///< object bytes downloaded (processed ones)
  std::uint64_t s3_requests = 0;    ///< logical S3 requests made by all workers (S3Stats::requests)
  std::chrono::steady_clock::duration elapsed{};
  std::uint64_t local_errors = 0;   ///< handler-side file-system errors (requeued; FailureKind::Local)
  std::string stop_reason;          ///< "max-messages", "idle", "stopped", "permission-denied",
                                    ///< "local-error", "fatal"
};

/// Consumes one recipient queue (DESIGN.md §4 "Consume"). Declares recipient_topology for `recipient` and
/// the ack exchange (coordinator_topology), then consumes with prefetch. Per delivery:
///
/// - found in the journal (`state_dir`; pointer_id, or message_id of an inline message) → re-publish the
///   recorded ack (confirmed) → basic.ack: no download, no handler run, no dead letter (idempotent
///   receiver, DESIGN.md §10). The journal record is written after the handler committed and before the
///   ack is published.
/// - inline-v1: verify the `x-claimcheck-sha256` of the body, decode, handler; no coordinator ack.
/// - otherwise parse_pointer(limits). Invalid (each field rule, bucket not allowed, size over the caps),
///   or this recipient not in `recipients` → dead-letter WITHOUT any S3 call.
/// - GET streamed into DecodingSink (SHA-256, raw size, decompression) → handler sink; size_stored checked.
///   Without S3 keys the GET is S3Client::get_presigned(pointer.url): no url, a url for another host or
///   object, an expired url (403 after X-Amz-Date + X-Amz-Expires) or one S3 refuses as altered (403
///   SignatureDoesNotMatch) → dead-letter, the first two without any S3 call.
/// - success → publish s3-ack-v1 `processed` to ack_exchange/ack_routing_key (mandatory, confirmed) →
///   basic.ack. The ack's message_id is "pointer_id:recipient".
/// - permanent failure (DataLoss, 404 NotFound, handler refusal, unsafe name) → publish a copy to `dlx`
///   with headers x-claimcheck-error (reason), x-claimcheck-source-queue, x-claimcheck-recipient (confirmed)
///   and, when the pointer's ids are valid, a `rejected` ack with the same reason (confirmed) → basic.ack.
/// - transient failure (Unavailable after the S3 client's own retries, FailedPrecondition when the object
///   changed mid-download, 403) → wait the `requeue` backoff → nack with requeue. Consecutive 403s beyond
///   max_permission_denied stop the run with PermissionDenied.
/// - handler-side file-system error (FailureKind::Local: EACCES, EPERM, EROFS, ENOSPC, ... writing the
///   output; Origin::Io, naming the path) → the same back-off and requeue, never counted as an S3 refusal;
///   max_local_errors in a row stop the run with that "io" error (stop_reason "local-error").
///
/// Thread safety: one run() at a time; run() blocks the calling thread (the AMQP thread).
class Consumer {
 public:
  /// Validates `cfg`. Errors: InvalidArgument.
  [[nodiscard]] static Result<Consumer> create(ConsumerConfig cfg);

  /// Runs until `should_stop` (thread-safe, may be empty) returns true, max_messages, idle_exit, or a fatal
  /// error. On stop: no new work, in-flight deliveries finish (or are requeued), confirms are flushed.
  /// Errors: connect/declare/consume failures (Unavailable, PermissionDenied, FailedPrecondition); AMQP lost
  /// for good (Unavailable); S3 403 beyond the limit (PermissionDenied). `report` (may be null) is filled
  /// in every case.
  [[nodiscard]] Result<ConsumeReport> run(const std::function<bool()>& should_stop = {},
                                          ConsumeReport* report = nullptr);

  /// The configuration in use (holds secrets: do not log it).
  [[nodiscard]] const ConsumerConfig& config() const noexcept { return cfg_; }

 private:
  explicit Consumer(ConsumerConfig cfg) : cfg_(std::move(cfg)) {}
  ConsumerConfig cfg_;
};

}  // namespace claimcheck
