// claimcheck::Consumer — see include/claimcheck/consume/consumer.h.
#include "claimcheck/consume/consumer.h"

#include <nlohmann/json.hpp>
#include "claimcheck/core/log.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "claimcheck/amqp/client.h"
#include "claimcheck/core/retry.h"
#include "claimcheck/core/work_queue.h"
#include "claimcheck/consume/journal.h"
#include "claimcheck/core/file_io.h"
#include "claimcheck/core/io.h"
#include "claimcheck/core/time.h"
#include "claimcheck/protocol/topology.h"
#include "protocol/inline_headers.h"
#include "consume/delivery_book.h"
#include "consume/staged_download.h"

namespace claimcheck {

namespace fs = std::filesystem;
using detail::DeliveryState;
using detail::DeliveryBook;
using detail::Settlement;

namespace {

/// Forwards to the handler's sink and remembers whether the handler itself failed (for the reason's context).
class HandlerSink : public ByteSink {
 public:
  explicit HandlerSink(ByteSink& inner) : inner_(&inner) {}
  Result<void> write(std::span<const std::byte> data) override { return note(inner_->write(data)); }
  Result<void> finish() override { return note(inner_->finish()); }
  [[nodiscard]] bool failed() const noexcept { return failed_; }

 private:
  Result<void> note(Result<void> r) {
    if (!r) failed_ = true;
    return r;
  }
  ByteSink* inner_;
  bool failed_ = false;
};

/// Forwards to an inner sink, failing with Unavailable ("interrupted") once `abort` is set.
class AbortableSink : public ByteSink {
 public:
  AbortableSink(ByteSink& inner, const std::atomic<bool>& abort) : inner_(&inner), abort_(&abort) {}
  Result<void> write(std::span<const std::byte> data) override {
    if (abort_->load()) return fail(ErrorCode::Unavailable, Origin::Consume, "interrupted by shutdown");
    return inner_->write(data);
  }
  Result<void> finish() override { return inner_->finish(); }

 private:
  ByteSink* inner_;
  const std::atomic<bool>* abort_;
};

/// Checks size_stored before the decoder finishes (so the handler never commits on a mismatch).
class SizeCheckSink : public ByteSink {
 public:
  SizeCheckSink(ByteSink& inner, std::uint64_t expected) : inner_(&inner), expected_(expected) {}
  Result<void> write(std::span<const std::byte> d) override {
    seen_ += d.size();
    if (seen_ > expected_)
      return fail(ErrorCode::DataLoss, Origin::Consume, "object is larger than size_stored " + std::to_string(expected_));
    return inner_->write(d);
  }
  Result<void> finish() override {
    if (seen_ != expected_)
      return fail(ErrorCode::DataLoss, Origin::Consume,
                  "object has " + std::to_string(seen_) + " bytes, size_stored says " + std::to_string(expected_));
    return inner_->finish();
  }
  [[nodiscard]] std::uint64_t seen() const noexcept { return seen_; }

 private:
  ByteSink* inner_;
  std::uint64_t expected_;
  std::uint64_t seen_ = 0;
};

struct Job {
  std::uint64_t token = 0;
  amqp::Envelope env;
  std::optional<Pointer> pointer;  // empty for inline-v1
};

struct JobResult {
  enum class Kind { Processed, Permanent, Transient, Denied, Local } kind = Kind::Transient;
  std::uint64_t token = 0;
  std::string reason;
  std::uint64_t size_raw = 0;
  std::uint64_t size_stored = 0;
  std::string ack_json;  // Processed pointer: the `processed` ack, already recorded in the journal
};

class ConsumeWorker {
 public:
  ConsumeWorker(const ConsumerConfig& cfg, s3::S3Client client, WorkQueue<Job>& jobs,
                WorkQueue<JobResult>& results, const std::atomic<bool>& abort, std::atomic<int>& failure_streak,
                ConsumeJournal* journal)
      : cfg_(cfg), s3_(std::move(client)), jobs_(jobs), results_(results), abort_(abort),
        failure_streak_(failure_streak), journal_(journal) {}

  void loop() {
    while (auto j = jobs_.pop()) {
      JobResult r = j->pointer ? handle_pointer(*j) : handle_inline(*j);
      r.token = j->token;
      if (r.kind == JobResult::Kind::Processed) journal_processed(*j, r);
      if (r.kind == JobResult::Kind::Transient || r.kind == JobResult::Kind::Denied ||
          r.kind == JobResult::Kind::Local) {
        backoff(failure_streak_.fetch_add(1) + 1);
      } else {
        failure_streak_.store(0);
      }
      results_.push(std::move(r));
    }
  }

  [[nodiscard]] s3::S3Stats stats() const { return s3_.stats(); }

 private:
  // The handler committed: build the `processed` ack and record both in the journal before the AMQP
  // thread publishes the ack, so a redelivery from here on only re-sends it (idempotent receiver). A
  // journal that cannot be written makes the result transient: the delivery is requeued.
  void journal_processed(const Job& j, JobResult& r) {
    Timestamp expires = utc_now() + cfg_.inline_retention;
    std::string id = j.env.message.message_id;
    if (j.pointer) {
      r.ack_json = to_json(ack_for(*j.pointer, cfg_.recipient, AckStatus::Processed, std::nullopt));
      expires = j.pointer->expires_at;
      id = j.pointer->pointer_id;
    }
    if (journal_ == nullptr) return;
    if (auto w = journal_->record(id, r.ack_json, expires); !w) {
      r.kind = JobResult::Kind::Transient;
      r.reason = w.error().to_string();
    }
  }

  // Every requeue counts towards the quorum queue's delivery limit: a fixed delay let an S3 outage of about
  // a minute dead-letter every pointer in the queue. The delay grows with each failure in a row (`streak`,
  // shared by the workers; cfg_.requeue), so the limit is reached only after many minutes of failures; one
  // success resets it.
  void backoff(int streak) {
    if (abort_.load() || cfg_.requeue.initial.count() <= 0) return;
    auto until = std::chrono::steady_clock::now() + backoff_delay(cfg_.requeue, streak);
    while (std::chrono::steady_clock::now() < until && !abort_.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  static JobResult classify(const Error& e, const std::string& context) {
    JobResult r;
    r.reason = context + ": " + e.to_string();
    switch (classify_failure(e)) {
      case FailureKind::Permanent: r.kind = JobResult::Kind::Permanent; break;
      case FailureKind::Denied: r.kind = JobResult::Kind::Denied; break;
      case FailureKind::Local: r.kind = JobResult::Kind::Local; break;
      case FailureKind::Transient: r.kind = JobResult::Kind::Transient; break;
    }
    return r;
  }

  std::uint64_t max_raw() const { return static_cast<std::uint64_t>(std::max<std::int64_t>(cfg_.limits.max_size_raw, 0)); }

  static PayloadInfo payload_info(const Pointer& p) {
    PayloadInfo info;
    info.pointer_id = p.pointer_id;
    info.name = p.name;
    info.content_type = p.content_type;
    info.size_raw = static_cast<std::uint64_t>(p.size_raw);
    info.size_stored = static_cast<std::uint64_t>(p.size_stored);
    info.producer_id = p.producer_id;
    info.encoding = p.encoding;
    return info;
  }

  DecodeOptions decode_options(const Pointer& p) const {
    DecodeOptions dopt;
    dopt.encoding = p.encoding;
    dopt.expected_sha256 = p.sha256;
    dopt.expected_size_raw = static_cast<std::uint64_t>(p.size_raw);
    dopt.max_raw_bytes = max_raw();
    return dopt;
  }

  static JobResult get_failure(const Error& e, const Pointer& p) {
    if (e.code == ErrorCode::NotFound && e.origin != Origin::Io) {
      JobResult r;
      r.kind = JobResult::Kind::Permanent;
      r.reason = "object not found: " + e.to_string();
      return r;
    }
    return classify(e, "get " + p.bucket + "/" + p.key);
  }

  JobResult handle_pointer(const Job& j) {
    return cfg_.state_dir.empty() ? stream_pointer(*j.pointer) : staged_pointer(*j.pointer);
  }

  // No state dir: GET streamed straight through verification and decoding into the handler (resumes only
  // within the S3 client's own retries).
  JobResult stream_pointer(const Pointer& p) {
    auto sink = cfg_.sink_factory(payload_info(p));
    if (!sink) return classify(sink.error(), "handler");
    HandlerSink hs(**sink);
    auto dec = DecodingSink::create(hs, decode_options(p));
    if (!dec) return classify(dec.error(), "decoder");
    // Check size_stored before the decoder finishes (so the handler never commits on a mismatch).
    SizeCheckSink sc(*dec, static_cast<std::uint64_t>(p.size_stored));
    AbortableSink as(sc, abort_);
    auto g = detail::get_pointer_object(s3_, p, as);
    if (!g && hs.failed()) return classify(g.error(), "handler");
    if (!g) return get_failure(g.error(), p);
    JobResult r;
    r.kind = JobResult::Kind::Processed;
    r.size_raw = dec->size_raw();
    r.size_stored = sc.seen();
    return r;
  }

  // With a state dir (issue 8 item 5): the stored bytes go to <state>/downloads-<recipient>/<id>.part,
  // resumed across retries, requeues and restarts; only the complete file is verified, decoded and handed
  // to the handler. Kept after transient failures (the redelivery continues), removed otherwise.
  JobResult staged_pointer(const Pointer& p) {
    auto d = detail::StagedDownload::open(cfg_.state_dir / ("downloads-" + cfg_.recipient), p.pointer_id);
    if (!d) return classify(d.error(), "staging");
    if (auto f = d->fetch(s3_, p, abort_); !f) {
      JobResult r = get_failure(f.error(), p);
      if (r.kind == JobResult::Kind::Permanent) return drop_staged(*d, std::move(r), f.error());
      return r;
    }
    auto sink = cfg_.sink_factory(payload_info(p));
    if (!sink) return classify(sink.error(), "handler");
    HandlerSink hs(**sink);
    auto dec = DecodingSink::create(hs, decode_options(p));
    if (!dec) return classify(dec.error(), "decoder");
    if (auto rp = d->replay(*dec); !rp) {
      JobResult r = classify(rp.error(), hs.failed() ? "handler" : "verify " + p.bucket + "/" + p.key);
      if (r.kind == JobResult::Kind::Permanent) return drop_staged(*d, std::move(r), rp.error());
      return r;
    }
    d->remove();
    JobResult r;
    r.kind = JobResult::Kind::Processed;
    r.size_raw = dec->size_raw();
    r.size_stored = static_cast<std::uint64_t>(p.size_stored);
    return r;
  }

  // A permanent failure removes the staged bytes. An integrity failure of bytes partly staged by an earlier
  // delivery may be the partial file's fault: that one is retried once from byte 0, not dead-lettered.
  static JobResult drop_staged(detail::StagedDownload& d, JobResult r, const Error& e) {
    d.remove();
    if (e.code == ErrorCode::DataLoss && d.resumed_from() > 0) {
      r.kind = JobResult::Kind::Transient;
      r.reason += " (the download had resumed at byte " + std::to_string(d.resumed_from()) +
                  ": downloading again from byte 0)";
    }
    return r;
  }

  JobResult handle_inline(const Job& j) {
    auto hdr = detail::parse_inline_headers(j.env.message.headers, j.env.message.message_id, max_raw());
    if (!hdr) {
      JobResult r;
      r.kind = JobResult::Kind::Permanent;
      r.reason = "inline message: " + hdr.error().message;
      return r;
    }
    PayloadInfo info;
    info.pointer_id = j.env.message.message_id;
    info.name = hdr->name;
    info.content_type = j.env.message.content_type;
    info.size_raw = hdr->size_raw;
    info.size_stored = j.env.message.body.size();
    info.encoding = hdr->encoding;
    info.inlined = true;
    auto sink = cfg_.sink_factory(info);
    if (!sink) return classify(sink.error(), "handler");
    DecodeOptions dopt;
    dopt.encoding = hdr->encoding;
    dopt.expected_sha256 = hdr->sha256;
    dopt.expected_size_raw = hdr->size_raw;
    dopt.max_raw_bytes = max_raw();
    auto dec = DecodingSink::create(**sink, dopt);
    if (!dec) return classify(dec.error(), "decoder");
    if (auto w = dec->write(as_bytes(j.env.message.body)); !w) return classify(w.error(), "inline");
    if (auto f = dec->finish(); !f) return classify(f.error(), "inline");
    JobResult r;
    r.kind = JobResult::Kind::Processed;
    r.size_raw = dec->size_raw();
    r.size_stored = j.env.message.body.size();
    return r;
  }

  const ConsumerConfig& cfg_;
  s3::S3Client s3_;
  WorkQueue<Job>& jobs_;
  WorkQueue<JobResult>& results_;
  const std::atomic<bool>& abort_;
  std::atomic<int>& failure_streak_;  // transient/denied results in a row, all workers (backoff())
  ConsumeJournal* journal_;           // may be null (no state_dir)
};

/// Best-effort extraction of the ids of an invalid pointer, for a `rejected` ack. nullopt when the
/// resulting ack would not itself be valid, this recipient is not listed, or the body is larger than
/// kMaxMessageBytes (never parsed: the size cap comes before any allocation, as in parse_pointer).
std::optional<Ack> loose_rejected_ack(const std::string& body, const std::string& recipient, const std::string& reason) {
  if (body.size() > kMaxMessageBytes) return std::nullopt;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto str = [&](const char* k) -> std::string {
    auto it = j.find(k);
    return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
  };
  Ack a;
  a.pointer_id = str("pointer_id");
  a.bucket = str("bucket");
  a.key = str("key");
  auto rit = j.find("recipients");
  if (rit == j.end() || !rit->is_array()) return std::nullopt;
  bool listed = false;
  for (const auto& r : *rit)
    if (r.is_string() && r.get<std::string>() == recipient) listed = true;
  if (!listed) return std::nullopt;
  a.recipients_total = static_cast<std::int64_t>(rit->size());
  a.recipient_id = recipient;
  a.status = AckStatus::Rejected;
  a.reason = reason;
  a.processed_at = utc_now();
  if (auto sha = str("sha256"); !sha.empty()) a.sha256 = std::move(sha);
  if (!validate(a)) a.sha256.reset();  // a malformed sha256 is not one we were asked to verify
  if (!validate(a)) return std::nullopt;
  return a;
}

}  // namespace

FailureKind classify_failure(const Error& e) noexcept {
  switch (claimcheck::classify(e)) {
    case FailureAction::DeadLetter: return FailureKind::Permanent;
    case FailureAction::Retry:
    case FailureAction::RetryTransaction: return e.origin == Origin::Io ? FailureKind::Local : FailureKind::Transient;
    case FailureAction::Fatal:
      if (e.code != ErrorCode::PermissionDenied) return FailureKind::Permanent;  // e.g. no S3 credentials
      // A presigned url that expired or whose signature S3 refuses never works again: dead-letter it.
      if (e.detail_code == s3::kPresignedUrlExpired || e.detail_code == s3::kPresignedUrlRejected)
        return FailureKind::Permanent;
      return FailureKind::Denied;
  }
  return FailureKind::Transient;
}

SinkFactory out_dir_sink_factory(std::shared_ptr<const OutDir> dir) {
  return [dir = std::move(dir)](const PayloadInfo& info) -> Result<std::unique_ptr<ByteSink>> {
    return dir->create(info.name.value_or(info.pointer_id));
  };
}

SinkFactory out_dir_sink_factory(const fs::path& out_dir, const OutDirOptions& options) {
  auto dir = OutDir::open(out_dir, options);
  if (!dir) {
    // Reported on every payload (a local error: requeued with backoff, see classify()).
    return [err = dir.error()](const PayloadInfo&) -> Result<std::unique_ptr<ByteSink>> { return fail(err); };
  }
  return out_dir_sink_factory(std::shared_ptr<const OutDir>(std::move(*dir)));
}

SinkFactory discard_sink_factory() {
  return [](const PayloadInfo&) -> Result<std::unique_ptr<ByteSink>> {
    return std::unique_ptr<ByteSink>(std::make_unique<DiscardSink>());
  };
}

Result<void> ConsumerConfig::validate() const {
  if (auto r = validate_recipient_id(recipient); !r) return config_error("recipient: " + r.error().message);
  if (prefetch < 1) return config_error("prefetch: must be 1..65535");
  if (concurrency < 1 || concurrency > 64) return config_error("concurrency: must be 1..64");
  if (limits.max_size_raw <= 0 || limits.max_size_stored <= 0) return config_error("limits: sizes must be > 0");
  for (const auto& b : limits.allowed_buckets)
    if (auto r = validate_bucket_name(b); !r) return config_error("allowed_buckets: " + r.error().message);
  if (idle_exit.count() < 0) return config_error("idle_exit: must be >= 0");
  if (auto v = requeue.validate(); !v) return config_error("requeue: " + v.error().message);
  if (max_permission_denied < 0) return config_error("max_permission_denied: must be >= 0");
  if (max_local_errors < 0) return config_error("max_local_errors: must be >= 0");
  if (reference_pointer_ttl && (reference_pointer_ttl->count() < 1 || reference_pointer_ttl->count() > 3650LL * 86400))
    return config_error("reference_pointer_ttl: must be 1 s .. 3650 days");
  CC_TRY_VOID(s3.validate());
  CC_TRY_VOID(amqp.validate());
  return ok();
}

Result<Consumer> Consumer::create(ConsumerConfig cfg) {
  if (!cfg.sink_factory) cfg.sink_factory = discard_sink_factory();
  CC_TRY_VOID(cfg.validate());
  return Consumer(std::move(cfg));
}

namespace {

/// One Consumer::run on the calling (AMQP) thread: takes deliveries, hands them to the workers, publishes
/// acks and dead letters, and settles each delivery once its publishes are confirmed.
class ConsumeRun {
 public:
  using Clock = std::chrono::steady_clock;

  ConsumeRun(const ConsumerConfig& cfg, amqp::Client& client, WorkQueue<Job>& jobs,
             WorkQueue<JobResult>& results, std::atomic<bool>& abort, ConsumeJournal* journal)
      : cfg_(cfg), client_(client), jobs_(jobs), results_(results), abort_(abort), journal_(journal),
        queue_(cfg.names.queue_prefix + cfg.recipient) {}

  /// Polls until a stop condition; `should_stop` may be empty.
  void run(const std::function<bool()>& should_stop) {
    last_activity_ = Clock::now();
    for (;;) {
      if (!stopping_) check_stop(should_stop);
      if (stopping_ && (book_.empty() || Clock::now() > stop_deadline_)) return;
      for (auto& r : results_.drain()) on_result(std::move(r));
      auto evs = client_.poll(std::chrono::milliseconds(50));
      if (!evs) {
        logger().error("consume: AMQP connection lost for good: {}", evs.error().to_string());
        fatal_ = evs.error();
        rep_.stop_reason = "fatal";
        return;
      }
      for (auto& ev : *evs) on_event(std::move(ev));
      maybe_prune();
    }
  }

  /// After the workers stopped: settles what they finished meanwhile (at most 5 s).
  void flush() {
    const auto until = Clock::now() + std::chrono::seconds(5);
    for (auto& r : results_.drain()) on_result(std::move(r));
    while (!book_.empty() && Clock::now() < until) {
      auto evs = client_.poll(std::chrono::milliseconds(50));
      if (!evs) break;
      for (auto& ev : *evs) on_event(std::move(ev));
    }
  }

  ConsumeReport& report() noexcept { return rep_; }
  const std::optional<Error>& fatal() const noexcept { return fatal_; }

 private:
  void check_stop(const std::function<bool()>& should_stop) {
    std::string why;
    if (fatal_) why = fatal_->origin == Origin::Io ? "local-error" : fatal_->code == ErrorCode::PermissionDenied ? "permission-denied" : "fatal";
    else if (should_stop && should_stop()) why = "stopped";
    else if (cfg_.max_messages > 0 && book_.settled() >= cfg_.max_messages) why = "max-messages";
    // Idle means "connected and the queue had nothing for us": a broker outage is not idleness, so the
    // timer only runs while connected (and restarts at every reconnect, see on_event).
    else if (cfg_.idle_exit.count() > 0 && book_.empty() && client_.connected() &&
             Clock::now() - last_activity_ > cfg_.idle_exit)
      why = "idle";
    if (why.empty()) return;
    stopping_ = true;
    rep_.stop_reason = why;
    stop_deadline_ = Clock::now() + cfg_.settle_timeout;
    if (why == "stopped" || why == "fatal" || why == "permission-denied" || why == "local-error") abort_ = true;
    if (client_.connected()) (void)client_.cancel_consume(queue_);
    logger().info("consume: stopping ({}), {} in flight", why, book_.in_flight());
  }

  void maybe_prune() {
    if (journal_ == nullptr || Clock::now() < next_prune_) return;
    next_prune_ = Clock::now() + std::chrono::minutes(10);
    auto n = journal_->prune(utc_now());
    if (!n) logger().warn("consume: {}", n.error().to_string());
    else if (*n > 0) logger().info("consume: journal: pruned {} expired records", *n);
  }

  /// Ends a delivery as the book decided: basic.ack, or basic.nack with requeue; counts it in the report.
  void apply(const Settlement& s) {
    if (s.requeue) {
      (void)client_.nack(s.state.env, true);
    } else if (auto a = client_.ack(s.state.env); !a) {
      logger().warn("consume: basic.ack failed (will be redelivered): {}", a.error().to_string());
    }
    DeliveryBook::tally(s, rep_);
  }

  void settle_if_confirmed(std::uint64_t token) {
    if (auto s = book_.settle_if_confirmed(token)) apply(*s);
  }

  void settle_now(std::uint64_t token, bool requeue) {
    if (auto s = book_.settle_now(token, requeue)) apply(*s);
  }

  void publish_for(std::uint64_t token, const std::string& exchange, const std::string& rk, const amqp::Message& m) {
    auto id = client_.publish(exchange, rk, m, true);
    if (!id) {
      logger().error("consume: publish to {} failed: {}", exchange, id.error().to_string());
      book_.mark_failed(token);
      return;
    }
    book_.await_confirm(token, *id);
  }

  void publish_ack_json(std::uint64_t token, const std::string& pointer_id, std::string json) {
    publish_for(token, cfg_.names.ack_exchange, cfg_.names.ack_routing_key,
                ack_message(std::move(json), pointer_id, cfg_.recipient, utc_now()));
  }

  void dead_letter(std::uint64_t token, const std::string& reason, bool allow_ack = true) {
    DeliveryState& d = *book_.find(token);
    logger().warn("consume: dead-lettering message {} from {}: {}", d.env.message.message_id, queue_, reason);
    const amqp::Message m = dead_letter_copy(d.env.message, reason, {queue_, cfg_.recipient, ""});
    d.dead_lettered = true;
    publish_for(token, cfg_.names.dlx, d.env.routing_key, m);
    std::optional<Ack> a;
    if (d.inlined || !allow_ack) {
      // inline payloads have no coordinator record; foreign pointers are not ours to ack
    } else if (d.pointer) {
      Ack ack = ack_for(*d.pointer, cfg_.recipient, AckStatus::Rejected, reason);
      if (validate(ack)) a = std::move(ack);
    } else {
      a = loose_rejected_ack(d.env.message.body, cfg_.recipient, reason);
    }
    if (a) {
      d.rejected_ack = true;
      publish_ack_json(token, a->pointer_id, to_json(*a));
    }
    settle_if_confirmed(token);
  }

  // A redelivery the journal knows: re-send its recorded ack (none for inline messages), then ack it.
  bool settle_if_known(std::uint64_t token, const std::string& message_id) {
    if (journal_ == nullptr) return false;
    auto found = journal_->find(message_id);
    if (!found) {
      logger().warn("consume: {}; processing {} as new", found.error().to_string(), message_id);
      return false;
    }
    if (!*found) return false;
    DeliveryState& d = *book_.find(token);
    d.known = true;
    logger().info("consume: {} was already processed (journal): re-sending its ack, no download", message_id);
    if (!(*found)->empty()) publish_ack_json(token, message_id, std::move(**found));
    settle_if_confirmed(token);
    return true;
  }

  // "" when the publisher of `m` may send to this recipient, else why not (DESIGN.md §9).
  std::string sender_refused(const amqp::Message& m) const {
    const auto& allowed = cfg_.allowed_producers;
    if (allowed.empty() || std::find(allowed.begin(), allowed.end(), m.user_id) != allowed.end()) return {};
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ",") + a;
    return "published by user '" + (m.user_id.empty() ? std::string("(none)") : m.user_id) +
           "', not an allowed producer (allowed: " + list + ")";
  }

  void dispatch(std::uint64_t token, std::optional<Pointer> p) {
    Job j;
    j.token = token;
    j.env = book_.find(token)->env;
    j.pointer = std::move(p);
    jobs_.push(std::move(j));
  }

  Result<Pointer> parse_delivered_pointer(const std::string& body) const {
    if (!cfg_.reference_pointer_ttl) return parse_pointer(body, cfg_.limits);
    return parse_pointer_or_reference(body, cfg_.limits, {cfg_.recipient, *cfg_.reference_pointer_ttl, utc_now()});
  }

  void on_delivery(amqp::Envelope&& env) {
    last_activity_ = Clock::now();
    const bool limit_reached = cfg_.max_messages > 0 && dispatched_ >= cfg_.max_messages;
    if (stopping_ || limit_reached) {
      (void)client_.nack(env, true);  // not ours to take any more: back to the queue
      return;
    }
    ++dispatched_;
    const std::uint64_t token = book_.open(std::move(env));
    DeliveryState& d = *book_.find(token);
    if (auto why = sender_refused(d.env.message); !why.empty()) return dead_letter(token, why, false);
    if (d.env.message.type == kTypeInline) {
      d.inlined = true;
      if (!settle_if_known(token, d.env.message.message_id)) dispatch(token, std::nullopt);
      return;
    }
    auto p = parse_delivered_pointer(d.env.message.body);
    if (!p) return dead_letter(token, p.error().message);
    if (std::find(p->recipients.begin(), p->recipients.end(), cfg_.recipient) == p->recipients.end()) {
      // Not addressed to us: dead-letter, but no ack (we are not an expected recipient).
      return dead_letter(token, "field 'recipients': does not include recipient '" + cfg_.recipient + "'", false);
    }
    if (settle_if_known(token, p->pointer_id)) return;
    d.pointer = *p;
    dispatch(token, std::move(*p));
  }

  void on_processed(std::uint64_t token, JobResult& r) {
    consecutive_denied_ = 0;
    consecutive_local_ = 0;
    DeliveryState& d = *book_.find(token);
    d.processed = true;
    d.size_raw = r.size_raw;
    d.size_stored = r.size_stored;
    if (d.inlined) return settle_now(token, false);
    publish_ack_json(token, d.pointer->pointer_id, std::move(r.ack_json));
    settle_if_confirmed(token);
    // One line per payload, as the reference demo's consumer prints: what arrived and that it verified.
    logger().info("consume: verified {} {} ({} bytes, sha256 ok)", d.pointer->pointer_id,
                 d.pointer->name.value_or(d.pointer->key), r.size_raw);
  }

  void on_result(JobResult&& r) {
    last_activity_ = Clock::now();
    if (book_.find(r.token) == nullptr) return;
    switch (r.kind) {
      case JobResult::Kind::Processed: return on_processed(r.token, r);
      case JobResult::Kind::Permanent:
        consecutive_denied_ = 0;
        return dead_letter(r.token, r.reason);
      case JobResult::Kind::Denied:
        ++consecutive_denied_;
        logger().error("consume: S3 refused access ({} in a row), requeued: {}", consecutive_denied_, r.reason);
        if (cfg_.max_permission_denied > 0 && consecutive_denied_ >= cfg_.max_permission_denied && !fatal_)
          fatal_ = make_error(ErrorCode::PermissionDenied, Origin::S3,
                              "S3 refused access " + std::to_string(consecutive_denied_) + " times in a row: " + r.reason);
        break;
      case JobResult::Kind::Local:
        ++consecutive_local_;
        ++rep_.local_errors;
        logger().error("consume: local file-system error ({} in a row; not an S3 error), requeued: {}",
                      consecutive_local_, r.reason);
        if (cfg_.max_local_errors > 0 && consecutive_local_ >= cfg_.max_local_errors && !fatal_)
          fatal_ = make_error(ErrorCode::Unavailable, Origin::Io,
                              std::to_string(consecutive_local_) + " local file-system errors in a row: " + r.reason);
        break;
      case JobResult::Kind::Transient:
        logger().warn("consume: transient failure, requeued: {}", r.reason);
        break;
    }
    settle_now(r.token, true);  // nack with requeue
  }

  void on_confirm(const amqp::Event& ev) {
    const bool failed = ev.kind == amqp::Event::Kind::Failed;
    if (auto token = book_.token_for(ev.publish_id); token && failed) {
      logger().error("consume: publish for message {} failed ({}); it will be requeued",
                    book_.find(*token)->env.message.message_id, ev.reason);
    }
    if (auto s = book_.on_confirm(ev.publish_id, failed)) apply(*s);
  }

  void on_event(amqp::Event&& ev) {
    using K = amqp::Event::Kind;
    switch (ev.kind) {
      case K::Delivery: on_delivery(std::move(ev.delivery)); break;
      case K::Confirmed:
      case K::Failed: on_confirm(ev); break;
      case K::Reconnected:
        last_activity_ = Clock::now();  // the idle timer restarts once the broker is back
        logger().warn("consume: AMQP reconnected ({}); in-flight deliveries will be redelivered", ev.reason);
        break;
      case K::Cancelled:
        logger().error("consume: the broker cancelled consuming {}", ev.reason);
        if (!fatal_) fatal_ = make_error(ErrorCode::Unavailable, Origin::Amqp, "consumer of " + ev.reason + " cancelled");
        break;
      default: break;
    }
  }

  const ConsumerConfig& cfg_;
  amqp::Client& client_;
  WorkQueue<Job>& jobs_;
  WorkQueue<JobResult>& results_;
  std::atomic<bool>& abort_;
  ConsumeJournal* journal_;
  const std::string queue_;
  ConsumeReport rep_;
  DeliveryBook book_;  // in-flight deliveries and the confirms each waits for
  std::uint64_t dispatched_ = 0;
  int consecutive_denied_ = 0, consecutive_local_ = 0;
  bool stopping_ = false;
  std::optional<Error> fatal_;
  Clock::time_point last_activity_{}, stop_deadline_{}, next_prune_{};
};

}  // namespace

Result<ConsumeReport> Consumer::run(const std::function<bool()>& should_stop, ConsumeReport* report_out) {
  const auto t0 = std::chrono::steady_clock::now();
  auto failed_start = [&](Error e) -> Result<ConsumeReport> {
    if (report_out) *report_out = ConsumeReport{};
    return Unexpected{std::move(e)};
  };
  std::unique_ptr<ConsumeJournal> journal;
  if (!cfg_.state_dir.empty()) {
    auto j = ConsumeJournal::open(cfg_.state_dir / ("journal-" + cfg_.recipient + ".db"));
    if (!j) return failed_start(j.error());
    journal = std::move(*j);
    (void)detail::prune_staged_downloads(cfg_.state_dir / ("downloads-" + cfg_.recipient), cfg_.staged_retention);
  }
  std::vector<s3::S3Client> clients;
  for (int i = 0; i < cfg_.concurrency; ++i) {
    auto c = s3::S3Client::create(cfg_.s3);
    if (!c) return failed_start(c.error());
    clients.push_back(std::move(*c));
  }
  const std::string queue = cfg_.names.queue_prefix + cfg_.recipient;
  amqp::Client client(cfg_.amqp);
  auto setup = [&]() -> Result<void> {
    CC_TRY_VOID(client.connect());
    CC_TRY_VOID(client.declare(recipient_topology(cfg_.names, {cfg_.recipient})));
    CC_TRY_VOID(client.declare(coordinator_topology(cfg_.names)));
    CC_TRY_VOID(client.consume(queue, cfg_.prefetch));
    return ok();
  };
  if (auto s = setup(); !s) return failed_start(s.error());
  logger().info("consume: recipient '{}' consuming {} (prefetch {}, {} workers{})", cfg_.recipient, queue, cfg_.prefetch,
               cfg_.concurrency, journal ? ", journal " + journal->path().string() : std::string(", no journal"));

  WorkQueue<Job> jobs;
  WorkQueue<JobResult> results;
  std::atomic<bool> abort{false};
  std::atomic<int> failure_streak{0};
  client.set_interrupt_check([&] { return !results.empty(); });
  std::vector<std::unique_ptr<ConsumeWorker>> workers;
  std::vector<std::thread> threads;
  for (auto& c : clients)
    workers.push_back(std::make_unique<ConsumeWorker>(cfg_, std::move(c), jobs, results, abort, failure_streak, journal.get()));
  for (auto& w : workers) threads.emplace_back([p = w.get()] { p->loop(); });

  ConsumeRun cr(cfg_, client, jobs, results, abort, journal.get());
  cr.run(should_stop);
  abort = true;
  jobs.close();
  for (auto& t : threads) t.join();
  // Settle what the workers finished meanwhile; unsettled deliveries are redelivered after close.
  if (!cr.fatal() || cr.fatal()->code == ErrorCode::PermissionDenied || cr.fatal()->origin == Origin::Io) cr.flush();
  client.close();
  ConsumeReport& rep = cr.report();
  for (const auto& w : workers) rep.s3_requests += w->stats().requests;
  rep.elapsed = std::chrono::steady_clock::now() - t0;
  if (report_out) *report_out = rep;
  if (cr.fatal()) return Unexpected{*cr.fatal()};
  return rep;
}

}  // namespace claimcheck
