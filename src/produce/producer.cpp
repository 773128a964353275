// claimcheck::Producer — see include/claimcheck/produce/producer.h.
#include "claimcheck/produce/producer.h"

#include "claimcheck/protocol/wire.h"

#include "claimcheck/core/log.h"

#include <algorithm>
#include <optional>
#include <atomic>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <variant>

#include "claimcheck/amqp/client.h"
#include "claimcheck/core/base64.h"
#include "claimcheck/core/work_queue.h"
#include "claimcheck/core/file_io.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/s3/presign.h"
#include "claimcheck/core/codec.h"
#include "claimcheck/core/ids.h"
#include "claimcheck/core/io.h"
#include "claimcheck/core/synthetic_payload.h"
#include "claimcheck/core/time.h"
#include "claimcheck/protocol/topology.h"
#include "produce/produce_jobs.h"

namespace claimcheck {

namespace {

constexpr std::uint64_t kMaxInlineThreshold = 16ULL * 1024 * 1024;

/// Yields `prefix` first, then everything `inner` yields. Releases the prefix's memory once consumed.
class PrefixSource : public ByteSource {
 public:
  PrefixSource(std::string prefix, ByteSource& inner) : prefix_(std::move(prefix)), inner_(&inner) {}
  Result<std::size_t> read(std::span<std::byte> buf) override {
    if (pos_ < prefix_.size()) {
      std::size_t n = std::min(buf.size(), prefix_.size() - pos_);
      std::memcpy(buf.data(), prefix_.data() + pos_, n);
      pos_ += n;
      if (pos_ == prefix_.size()) {
        prefix_.clear();
        prefix_.shrink_to_fit();
        pos_ = 0;
        drained_ = true;
      }
      return n;
    }
    if (!drained_ && prefix_.empty()) drained_ = true;
    return inner_->read(buf);
  }

 private:
  std::string prefix_;
  std::size_t pos_ = 0;
  bool drained_ = false;
  ByteSource* inner_;
};

/// Reads from `src` into `out` (cleared first) until `limit` bytes were collected or the stream ended; returns
/// true when it ended. `out` keeps its capacity, so a worker that passes the same string every time reuses
/// one buffer whose pages are already mapped: a fresh one per payload cost a page fault per 4 KiB and an munmap
/// (the CLI's 64 KiB mmap threshold), about a third of the producer's CPU for 1 MiB payloads (issue 11 item 3).
Result<bool> read_prefix(ByteSource& src, std::uint64_t limit, std::string& out) {
  out.clear();
  // Reserved up front (address space only: pages count in RSS once written), so the buffer never doubles
  // and copies itself on the way to `limit` (the part size): that copy was ~1 MiB of peak RSS per worker.
  out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(limit, 64ULL * 1024 * 1024)));
  const std::size_t chunk = 256 * 1024;
  while (out.size() < limit) {
    std::size_t old = out.size();
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, limit - old));
    out.resize(old + want);
    auto r = src.read(std::span<std::byte>(reinterpret_cast<std::byte*>(out.data()) + old, want));
    if (!r) return Unexpected{std::move(r).error()};
    out.resize(old + *r);
    if (*r == 0) return true;
  }
  return false;
}

struct WorkerTask {
  enum class Kind { Produce, Delete } kind = Kind::Produce;
  std::size_t index = 0;
  const PayloadInput* input = nullptr;  // Produce: stays valid until its result was handled
  std::string key;                      // Delete
};

/// What a worker reports back to the AMQP thread.
struct WorkerResult {
  enum class Kind { Offloaded, Inline, Failed, Deleted } kind = Kind::Failed;
  std::size_t index = 0;
  Pointer pointer;            // Offloaded (and Inline: identity fields)
  std::string inline_body;    // Inline: encoded payload
  std::string inline_sha;     // Inline
  std::string version_id;     // Offloaded: the S3 version the PUT created ("" = unversioned bucket)
  std::uint64_t size_raw = 0;
  std::uint64_t size_stored = 0;
  bool verified = false;
  bool object_stored = false;  // Failed after PUT → the AMQP thread must not also delete (worker did)
  bool delete_ok = false;      // Deleted
  bool resumed = false;        // Offloaded from PayloadInput::resume_pointer: only pointers follow
  bool keep_object = false;    // a fixed pointer id: the producer never deletes its object
  bool key_taken = false;      // Failed: the fixed key holds other bytes
  std::string error;
  std::optional<Error> halts;  // Failed with an error every further payload would meet (halts_every_put)
};

/// True for an S3 failure that is not about this payload but about the endpoint or the credentials, so that
/// every further PUT fails alike: the TLS certificate of the endpoint was refused or the CA bundle is unusable,
/// or S3 knows neither the access key nor the signature (a wrong secret). The run stops instead of failing
/// payload after payload; the CLI exits 3 (2 for a CA bundle it cannot read).
bool halts_every_put(const Error& e) {
  static constexpr std::string_view kCodes[] = {"CURLE_PEER_FAILED_VERIFICATION", "CURLE_SSL_CACERT_BADFILE",
                                                 "InvalidAccessKeyId", "SignatureDoesNotMatch"};
  return std::find(std::begin(kCodes), std::end(kCodes), e.detail_code) != std::end(kCodes);
}

std::string hostname_pid_fallback() { return "claimcheck-producer"; }

}  // namespace

Result<void> ProducerConfig::validate() const {
  if (auto r = validate_bucket_name(bucket); !r) return config_error("bucket: " + r.error().message);
  if (!key_prefix.empty()) {
    if (auto r = validate_key(key_prefix + "/x"); !r)
      return config_error("key_prefix: must be [A-Za-z0-9._~/-], no '..', no leading '/'");
  }
  if (recipients.empty()) return config_error("recipients: at least one recipient is required");
  std::set<std::string> seen;
  for (const auto& r : recipients) {
    if (auto v = validate_recipient_id(r); !v) return config_error("recipients: '" + r + "': " + v.error().message);
    if (!seen.insert(r).second) return config_error("recipients: '" + r + "' is listed twice");
  }
  EncodeOptions eo;
  eo.encoding = encoding;
  eo.level = level;
  CC_TRY_VOID(eo.validate());
  if (inline_threshold > kMaxInlineThreshold) return config_error("inline_threshold: at most 16 MiB");
  if (storage_check && inline_threshold > 0)
    return config_error("storage_check (--delete) uploads and deletes objects only: it cannot be combined with "
                        "inline_threshold (--inline-threshold)");
  if (ttl < std::chrono::seconds(1)) return config_error("ttl: must be at least 1 s");
  if (producer_id.size() > 256) return config_error("producer_id: at most 256 bytes");
  if (concurrency < 1 || concurrency > 64) return config_error("concurrency: must be 1..64");
  if (publish_timeout <= std::chrono::milliseconds(0)) return config_error("publish_timeout: must be > 0");
  CC_TRY_VOID(s3.validate());
  if (!s3.has_credentials()) return config_error("s3: the producer needs S3 keys (access key and secret key)");
  CC_TRY_VOID(amqp.validate());
  return ok();
}

Result<Producer> Producer::create(ProducerConfig cfg) {
  if (cfg.producer_id.empty()) cfg.producer_id = hostname_pid_fallback();
  CC_TRY_VOID(cfg.validate());
  if (cfg.presign && cfg.ttl > s3::kMaxPresignExpiry)
    logger().warn("produce: ttl is above 7 days but presigned urls last at most 7 days: recipients without S3 keys "
                 "can download only within 7 days; a TTL above 7 days needs recipients with keys");
  return Producer(std::move(cfg));
}

namespace {

/// One worker: owns an S3Client, takes tasks until the task queue is closed and empty.
class ProduceWorker {
 public:
  ProduceWorker(const ProducerConfig& cfg, s3::S3Client client, WorkQueue<WorkerTask>& tasks,
                WorkQueue<WorkerResult>& results)
      : cfg_(cfg), s3_(std::move(client)), tasks_(tasks), results_(results) {}

  void loop() {
    while (auto t = tasks_.pop()) {
      if (t->kind == WorkerTask::Kind::Delete) {
        WorkerResult res;
        res.kind = WorkerResult::Kind::Deleted;
        res.index = t->index;
        auto d = s3_.delete_object(cfg_.bucket, t->key);
        res.delete_ok = d.has_value();
        if (!d) {
          res.error = d.error().to_string();
          logger().warn("produce: delete of {}/{} failed (orphan left for the sweeper): {}", cfg_.bucket, t->key,
                       res.error);
        }
        results_.push(std::move(res));
        continue;
      }
      results_.push(produce(t->index, *t->input));
    }
  }

 private:
  WorkerResult failed(std::size_t index, const Error& e) {
    WorkerResult r;
    r.kind = WorkerResult::Kind::Failed;
    r.index = index;
    r.error = e.to_string();
    if (halts_every_put(e)) r.halts = e;
    return r;
  }

  /// What one payload is while a worker stores it.
  struct Job {
    std::size_t index;
    const PayloadInput& in;
    std::string pointer_id;
    Timestamp created;
  };

  WorkerResult produce(std::size_t index, const PayloadInput& in) {
    if (!in.resume_pointer.empty()) return resumed(index, in);
    auto opened = in.open ? in.open() : Result<std::unique_ptr<ByteSource>>(
                                            fail(ErrorCode::Internal, Origin::Io, "input has no open function"));
    if (!opened) return failed(index, opened.error());
    std::unique_ptr<ByteSource> raw = std::move(*opened);
    const Job job{index, in, in.pointer_id.empty() ? new_uuid_v4() : in.pointer_id, in.created_at.value_or(utc_now())};
    // Inline decision: read up to threshold+1 raw bytes.
    if (cfg_.inline_threshold == 0) return offload(job, *raw);
    std::string pre;
    auto ended = read_prefix(*raw, cfg_.inline_threshold + 1, pre);
    if (!ended) return failed(index, ended.error());
    if (*ended && pre.size() <= cfg_.inline_threshold) return inline_result(job, pre);
    PrefixSource prefixed(std::move(pre), *raw);
    return offload(job, prefixed);
  }

  // An earlier attempt's store record was confirmed: publish its pointer again, store nothing.
  WorkerResult resumed(std::size_t index, const PayloadInput& in) {
    auto p = parse_pointer(in.resume_pointer, {});
    if (!p) return failed(index, p.error());
    WorkerResult r;
    r.kind = WorkerResult::Kind::Offloaded;
    r.index = index;
    r.resumed = true;
    r.keep_object = true;
    r.size_raw = static_cast<std::uint64_t>(p->size_raw);
    r.size_stored = static_cast<std::uint64_t>(p->size_stored);
    r.pointer = std::move(*p);
    return r;
  }

  // A re-send under a fixed pointer id found its key taken (412): the rest of the payload is encoded
  // (hashing it), then the stored object is read back. Same SHA-256 and size: our earlier attempt stored it.
  Result<void> adopt_existing(const std::string& key, EncodingSource& enc) {
    DiscardSink rest;
    CC_TRY_VOID(copy_stream(enc, rest));
    if (auto same = read_back(key, enc); !same) {
      if (same.error().code != ErrorCode::DataLoss) return same;  // could not compare (retry later)
      return fail(ErrorCode::FailedPrecondition, Origin::Produce,
                  "object " + cfg_.bucket + "/" + key + " already exists with other bytes (" + same.error().message + ")");
    }
    logger().info("produce: {}/{} already stored by an earlier attempt (same bytes): not uploaded again", cfg_.bucket, key);
    return ok();
  }

  WorkerResult inline_result(const Job& job, const std::string& bytes) {
    auto enc = encode_all(cfg_.encoding, bytes, cfg_.level);
    if (!enc) return failed(job.index, enc.error());
    WorkerResult r;
    r.kind = WorkerResult::Kind::Inline;
    r.index = job.index;
    r.pointer.pointer_id = job.pointer_id;
    r.pointer.encoding = cfg_.encoding;
    r.pointer.content_type = job.in.content_type;
    r.pointer.created_at = job.created;
    if (!job.in.name.empty()) r.pointer.name = job.in.name;
    r.size_raw = bytes.size();
    r.size_stored = enc->size();
    r.inline_sha = sha256_hex(*enc);
    r.inline_body = std::move(*enc);
    return r;
  }

  // Encode the first part into memory: if the object fits in one part we know its SHA-256 before the PUT
  // and store it as metadata; otherwise the buffered head is streamed first, then the rest. A failed
  // multipart upload was aborted by the client; a failed single PUT stored nothing.
  // Returns the version id the PUT created ("" on an unversioned bucket).
  Result<std::string> put_encoded(const Job& job, const std::string& key, EncodingSource& enc) {
    s3::PutOptions po;
    po.content_type = job.in.content_type;
    if (cfg_.encoding != Encoding::Identity) po.content_encoding = std::string(to_string(cfg_.encoding));
    po.if_none_match = true;
    po.metadata["pointer-id"] = job.pointer_id;
    CC_TRY(ended, read_prefix(enc, s3_.config().part_size, head_));
    if (*ended) {
      po.metadata["sha256"] = enc.sha256_hex();
      po.metadata["size-raw"] = std::to_string(enc.size_raw());
      po.body_sha256 = enc.sha256_hex();  // the encoder hashed these very bytes: SigV4 needs no second pass
      CC_TRY(put, s3_.put_object(cfg_.bucket, key, std::string_view(head_), po));
      return std::move(put->version_id);
    }
    PrefixSource body(std::move(head_), enc);  // multipart: the buffer goes with the upload
    CC_TRY(put, s3_.put_object(cfg_.bucket, key, body, po));
    return std::move(put->version_id);
  }

  // --verify: reads the object back and compares SHA-256 and size.
  Result<void> read_back(const std::string& key, const EncodingSource& enc) {
    HashingSink hs;
    CC_TRY_VOID(s3_.get_object(cfg_.bucket, key, hs));
    if (hs.sha256_hex() == enc.sha256_hex() && hs.bytes() == enc.size_stored()) return ok();
    return fail(ErrorCode::DataLoss, Origin::Produce,
                "verify of " + key + ": read back " + std::to_string(hs.bytes()) + " bytes sha256 " + hs.sha256_hex() +
                    ", expected " + std::to_string(enc.size_stored()) + " bytes sha256 " + enc.sha256_hex());
  }

  Result<Pointer> pointer_for(const Job& job, const std::string& key, const EncodingSource& enc) {
    Pointer p;
    p.pointer_id = job.pointer_id;
    p.bucket = cfg_.bucket;
    p.key = key;
    p.encoding = cfg_.encoding;
    p.content_type = job.in.content_type;
    p.size_raw = static_cast<std::int64_t>(enc.size_raw());
    p.size_stored = static_cast<std::int64_t>(enc.size_stored());
    p.sha256 = enc.sha256_hex();
    p.recipients = cfg_.recipients;
    p.recipients_total = static_cast<std::int64_t>(cfg_.recipients.size());
    p.created_at = job.created;
    p.expires_at = job.created + cfg_.ttl;
    p.producer_id = cfg_.producer_id;
    if (!job.in.name.empty()) p.name = job.in.name;
    if (cfg_.presign) {  // for recipients without S3 keys; valid until expires_at, at most 7 days
      CC_TRY(url, s3::presign_get(cfg_.s3, cfg_.bucket, key, std::min(cfg_.ttl, s3::kMaxPresignExpiry), job.created));
      p.url = std::move(*url);
    }
    CC_TRY_VOID(validate(p));
    return p;
  }

  WorkerResult offload(const Job& job, ByteSource& raw) {
    EncodeOptions eo;
    eo.encoding = cfg_.encoding;
    eo.level = cfg_.level;
    eo.buffer_bytes = 128 * 1024;  // zstd's own stream size (ZSTD_CStreamInSize): 2 x 128 KiB per worker
    auto enc = EncodingSource::create(raw, eo);
    if (!enc) return failed(job.index, enc.error());
    const std::string key = make_object_key(cfg_.key_prefix, job.created, job.pointer_id, cfg_.encoding, job.in.key_ext);
    const bool fixed = !job.in.pointer_id.empty();
    auto put = put_encoded(job, key, *enc);
    if (!put) {
      const bool taken = put.error().code == ErrorCode::FailedPrecondition;
      if (!fixed || !taken) return failed(job.index, put.error());
      if (auto adopted = adopt_existing(key, *enc); !adopted) {
        WorkerResult f = failed(job.index, adopted.error());
        f.key_taken = adopted.error().code == ErrorCode::FailedPrecondition;
        return f;
      }
    }
    WorkerResult r;
    r.index = job.index;
    r.keep_object = fixed;
    if (put) r.version_id = std::move(*put);  // an adopted object's version is not known: "" (current one)
    r.size_raw = enc->size_raw();
    r.size_stored = enc->size_stored();
    auto cleanup_fail = [&](const Error& e) {  // stored, but no store record yet: nobody knows of it
      WorkerResult f = failed(job.index, e);
      if (fixed) return f;  // an earlier attempt's store record may name it (S3): left to expiry or the sweep
      f.object_stored = true;
      auto d = s3_.delete_object(cfg_.bucket, key);
      if (!d) logger().warn("produce: cleanup delete of {}/{} failed: {}", cfg_.bucket, key, d.error().to_string());
      return f;
    };
    if (!enc->done()) return cleanup_fail(make_error(ErrorCode::Internal, Origin::Produce, "encoder did not reach end of stream"));
    if (cfg_.verify) {
      if (auto v = read_back(key, *enc); !v) return cleanup_fail(v.error());
      r.verified = true;
    }
    auto p = pointer_for(job, key, *enc);
    if (!p) return cleanup_fail(p.error());
    r.pointer = std::move(*p);
    r.kind = WorkerResult::Kind::Offloaded;
    logger().debug("produce: stored {} ({} raw, {} stored) as {}/{}", job.in.label, r.size_raw, r.size_stored,
                  cfg_.bucket, key);
    return r;
  }

  const ProducerConfig& cfg_;
  s3::S3Client s3_;
  WorkQueue<WorkerTask>& tasks_;
  WorkQueue<WorkerResult>& results_;
  // The encoded bytes of an object that fits one PUT, reused from payload to payload (read_prefix): resident
  // up to the largest such object this worker sent (at most the part size), as while sending it.
  std::string head_;
};

}  // namespace

namespace {

/// Where a ProduceRun takes its inputs from and where their outcomes go: a fixed list (Producer::run) or
/// the caller's callbacks (Producer::run_stream). Called on the AMQP thread only.
class InputFeed {
 public:
  virtual ~InputFeed() = default;
  /// Up to `room` inputs to start now. Each stays valid until settled() was called for it.
  virtual std::vector<const PayloadInput*> take(std::size_t room) = 0;
  /// True when no input will ever come again (a list handed out completely).
  [[nodiscard]] virtual bool exhausted() const = 0;
  /// The run stops (interrupt or lost connection): inputs never handed out are settled as failed `why`.
  virtual void drop_rest(const std::string& why) = 0;
  /// The store record of `in` was confirmed; an error fails it before its pointers are published.
  virtual Result<void> stored(const PayloadInput& in, const std::string& pointer_json) = 0;
  /// `in`, handed out as job `job`, is settled.
  virtual void settled(std::size_t job, const PayloadInput& in, ProduceOutcome&& outcome) = 0;
};

/// Producer::run's feed: the inputs in order; job i is inputs[i]; outcomes collected in input order.
class ListFeed final : public InputFeed {
 public:
  explicit ListFeed(const std::vector<PayloadInput>& inputs) : inputs_(inputs), outcomes_(inputs.size()) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      outcomes_[i].label = inputs[i].label;
      outcomes_[i].name = inputs[i].name;
    }
  }
  std::vector<const PayloadInput*> take(std::size_t room) override {
    std::vector<const PayloadInput*> out;
    while (out.size() < room && next_ < inputs_.size()) out.push_back(&inputs_[next_++]);
    return out;
  }
  [[nodiscard]] bool exhausted() const override { return next_ == inputs_.size(); }
  void drop_rest(const std::string& why) override {
    for (; next_ < inputs_.size(); ++next_) {
      outcomes_[next_].error = why;
      logger().error("produce: {} failed: {}", outcomes_[next_].label, why);
    }
  }
  Result<void> stored(const PayloadInput&, const std::string&) override { return ok(); }
  void settled(std::size_t job, const PayloadInput&, ProduceOutcome&& outcome) override {
    outcomes_[job] = std::move(outcome);
  }
  std::vector<ProduceOutcome> take_outcomes() && { return std::move(outcomes_); }

 private:
  const std::vector<PayloadInput>& inputs_;
  std::vector<ProduceOutcome> outcomes_;
  std::size_t next_ = 0;
};

/// Producer::run_stream's feed: inputs from stream.next, kept here until settled, outcomes to stream.finished.
class StreamFeed final : public InputFeed {
 public:
  explicit StreamFeed(const ProduceStream& stream) : stream_(stream) {}
  std::vector<const PayloadInput*> take(std::size_t room) override {
    std::vector<const PayloadInput*> out;
    for (auto& in : stream_.next(room)) {
      auto& slot = held_.emplace_back(std::make_unique<PayloadInput>(std::move(in)));
      out.push_back(slot.get());
    }
    return out;
  }
  [[nodiscard]] bool exhausted() const override { return false; }
  void drop_rest(const std::string&) override {}
  Result<void> stored(const PayloadInput& in, const std::string& pointer_json) override {
    return stream_.stored ? stream_.stored(in, pointer_json) : ok();
  }
  void settled(std::size_t, const PayloadInput& in, ProduceOutcome&& outcome) override {
    stream_.finished(in, outcome);
    std::erase_if(held_, [&in](const auto& p) { return p.get() == &in; });
  }

 private:
  const ProduceStream& stream_;
  std::vector<std::unique_ptr<PayloadInput>> held_;  // inputs handed to workers, until settled
};

/// One run on the calling (AMQP) thread: takes inputs from its feed, hands them to the workers, publishes
/// what they stored, and applies what ProduceJobs decides. run() only polls, dispatches and applies.
class ProduceRun {
 public:
  using Clock = std::chrono::steady_clock;

  ProduceRun(const ProducerConfig& cfg, InputFeed& feed, amqp::Client& client, WorkQueue<WorkerTask>& tasks,
             WorkQueue<WorkerResult>& results)
      : cfg_(cfg), feed_(feed), client_(client), tasks_(tasks), results_(results), jobs_(0, cfg.recipients) {}

  /// Runs until the feed is exhausted or `stop` (checked every round) said so, and every started input is
  /// settled and every delete done. `progress` (may be empty) about every 200 ms.
  void run(const std::function<bool()>& stop, const std::function<void(const ProduceProgress&)>& progress) {
    auto last_progress = Clock::now();
    for (;;) {
      if (!fatal_ && !interrupted_ && stop && stop()) interrupted_ = true;
      feed();
      for (auto& res : results_.drain()) handle_result(std::move(res));
      if ((feed_.exhausted() || stopping()) && live_.empty()) break;
      poll_broker();
      const auto now = Clock::now();
      for (const auto& a : jobs_.expire(now)) apply(a);
      if (progress && now - last_progress > std::chrono::milliseconds(200)) {
        last_progress = now;
        progress(progress_);
      }
    }
  }

  /// The AMQP connection lost for good, else the S3 failure that halted the run (halts_every_put).
  const std::optional<Error>& fatal() const noexcept { return fatal_ ? fatal_ : halt_; }
  bool interrupted() const noexcept { return interrupted_; }

 private:
  /// A started input until it is settled.
  struct Live {
    const PayloadInput* in = nullptr;
    ProduceOutcome out;
    bool in_worker = false;       // a worker has it
    bool delete_pending = false;  // settled, its object's delete is under way
  };

  bool stopping() const noexcept { return interrupted_ || fatal_.has_value() || halt_.has_value(); }

  // Hands inputs to the workers, at most 2 × concurrency at a time; after a stop, drops the rest.
  void feed() {
    if (stopping()) {
      feed_.drop_rest(fatal_ ? fatal_->to_string() : halt_ ? halt_->to_string() : "interrupted");
      return;
    }
    const std::size_t window = static_cast<std::size_t>(cfg_.concurrency) * 2;
    if (in_worker_ >= window || feed_.exhausted()) return;
    for (const PayloadInput* in : feed_.take(window - in_worker_)) {
      const std::size_t i = next_++;
      Live& l = live_[i];
      l.in = in;
      l.out.label = in->label;
      l.out.name = in->name;
      l.in_worker = true;
      jobs_.add(i);
      WorkerTask t;
      t.index = i;
      t.input = in;
      tasks_.push(std::move(t));
      ++in_worker_;
      ++progress_.total;
    }
  }

  void poll_broker() {
    if (fatal_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return;
    }
    auto evs = client_.poll(std::chrono::milliseconds(50));
    if (!evs) {
      fatal_ = evs.error();
      logger().error("produce: AMQP connection lost for good: {}", fatal_->to_string());
      for (const auto& a : jobs_.abandon(fatal_->to_string())) apply(a);
      return;
    }
    for (const auto& ev : *evs) handle_event(ev);
  }

  void handle_event(const amqp::Event& ev) {
    using K = amqp::Event::Kind;
    if (ev.kind == K::Confirmed) {
      if (auto a = jobs_.confirmed(ev.publish_id)) apply(*a);
    } else if (ev.kind == K::Failed) {
      if (auto a = jobs_.refused(ev.publish_id, ev.reason)) apply(*a);
    } else if (ev.kind == K::Reconnected) {
      logger().warn("produce: AMQP reconnected ({}); unconfirmed publishes are re-sent", ev.reason);
    } else if (ev.kind == K::Blocked) {
      logger().warn("produce: broker blocked publishing: {}", ev.reason);
    } else if (ev.kind == K::Unblocked) {
      logger().info("produce: broker unblocked publishing");
    }
  }

  void handle_result(WorkerResult&& res) {
    const std::size_t i = res.index;
    if (res.kind != WorkerResult::Kind::Deleted) --in_worker_;
    Live& l = live_.at(i);
    ProduceOutcome& o = l.out;
    if (res.kind == WorkerResult::Kind::Deleted) {
      --pending_deletes_;
      o.deleted = res.delete_ok;
      settle(i);
      return;
    }
    l.in_worker = false;
    o.size_raw = res.size_raw;
    o.size_stored = res.size_stored;
    o.verified = res.verified;
    if (res.kind == WorkerResult::Kind::Failed) {
      if (res.halts && !halt_) {
        halt_ = res.halts;
        logger().error("produce: stopping: every payload would fail alike: {}", halt_->to_string());
      }
      o.deleted = res.object_stored;  // the worker deleted what it had stored
      o.key_taken = res.key_taken;
      apply(jobs_.failed(i, res.error, false));
      return;
    }
    o.pointer_id = res.pointer.pointer_id;
    if (res.kind == WorkerResult::Kind::Inline) {
      publish_inline(i, res);
      return;
    }
    o.key = res.pointer.key;
    if (cfg_.storage_check) {
      apply(jobs_.finished_unpublished(i));
      return;
    }
    o.pointer_json = to_json(res.pointer);
    if (res.resumed) {  // its store record was confirmed by an earlier run: pointers only
      o.store_confirmed = true;
      jobs_.resumed(i, Clock::now() + cfg_.publish_timeout);
      publish_pointers(i);
      return;
    }
    publish_store(i, res.pointer, res.version_id, !res.keep_object);
  }

  void publish_store(std::size_t i, const Pointer& p, const std::string& version_id, bool deletable) {
    StoreRecord sr = store_record_from(p);
    if (!version_id.empty()) sr.version_id = version_id;  // the coordinator deletes exactly this version
    auto id = client_.publish(cfg_.names.ack_exchange, cfg_.names.store_routing_key, store_message(sr, utc_now()), true);
    if (!id) {
      apply(jobs_.failed(i, "publish store record: " + id.error().to_string(), deletable));
      return;
    }
    jobs_.store_sent(i, *id, Clock::now() + cfg_.publish_timeout, deletable);
  }

  // The store record of job i was confirmed: the feed records it, then the pointers go out.
  void store_confirmed(std::size_t i) {
    Live& l = live_.at(i);
    l.out.store_confirmed = true;
    if (auto r = feed_.stored(*l.in, l.out.pointer_json); !r) {
      apply(jobs_.failed(i, "store record confirmed, but recording it failed: " + r.error().to_string(), false));
      return;
    }
    publish_pointers(i);
  }

  void publish_pointers(std::size_t i) {
    const auto& out = live_.at(i).out;
    publish_to_recipients(i, pointer_message(out.pointer_json, out.pointer_id, utc_now()));
  }

  void publish_inline(std::size_t i, const WorkerResult& res) {
    live_.at(i).out.inlined = true;
    InlinePayload p{res.pointer.pointer_id, res.inline_body, res.pointer.encoding, res.inline_sha, res.size_raw,
                    res.pointer.content_type, res.pointer.name};
    jobs_.inline_started(i, Clock::now() + cfg_.publish_timeout);
    publish_to_recipients(i, inline_message(std::move(p), utc_now()));
  }

  // One message per recipient (mandatory, confirmed); a recipient refused at once is reported for itself.
  void publish_to_recipients(std::size_t i, const amqp::Message& m) {
    for (const auto& r : cfg_.recipients) {
      auto id = client_.publish(cfg_.names.msg_exchange, r, m, true);
      if (id) {
        jobs_.pointer_sent(i, r, *id);
      } else if (auto a = jobs_.pointer_refused(i, r, id.error().to_string())) {
        apply(*a);
      }
    }
  }

  void apply(const ProduceAction& a) {
    if (a.kind == ProduceAction::Kind::PublishPointers) {
      store_confirmed(a.job);
      return;
    }
    Live& l = live_.at(a.job);
    ProduceOutcome& o = l.out;
    o.ok = a.ok;
    if (!a.ok) {
      o.error = a.error;
      logger().error("produce: {} failed: {}", o.label, a.error);
    }
    if (a.delete_object) {
      WorkerTask t;
      t.kind = WorkerTask::Kind::Delete;
      t.index = a.job;
      t.key = o.key;
      l.delete_pending = tasks_.push(std::move(t));
      if (l.delete_pending) ++pending_deletes_;
    }
    if (!l.delete_pending) settle(a.job);
  }

  // Job i is done with: its outcome goes to the feed, its bookkeeping is dropped.
  void settle(std::size_t i) {
    auto node = live_.extract(i);
    Live& l = node.mapped();
    if (l.out.ok) {
      ++progress_.done;
      progress_.bytes_raw += l.out.size_raw;
    } else {
      ++progress_.failed;
    }
    jobs_.forget(i);
    feed_.settled(i, *l.in, std::move(l.out));
  }

  const ProducerConfig& cfg_;
  InputFeed& feed_;
  amqp::Client& client_;
  WorkQueue<WorkerTask>& tasks_;
  WorkQueue<WorkerResult>& results_;
  ProduceJobs jobs_;
  std::map<std::size_t, Live> live_;
  ProduceProgress progress_;
  std::size_t next_ = 0, in_worker_ = 0, pending_deletes_ = 0;
  std::optional<Error> fatal_;
  std::optional<Error> halt_;  // no new input after an S3 failure every payload would meet; in-flight ones finish
  bool interrupted_ = false;
};

void summarize(ProduceReport& report) {
  for (const auto& o : report.outcomes) {
    if (!o.ok) {
      ++report.failed;
      continue;
    }
    ++report.succeeded;
    report.bytes_raw += o.size_raw;
    report.bytes_stored += o.size_stored;
    if (o.inlined) ++report.inlined;
    if (o.verified) ++report.verified;
  }
}

/// How a drive() ended.
struct RunEnd {
  std::optional<Error> fatal;  ///< the connection was lost for good
  bool interrupted = false;
};

/// Connects and declares, starts `cfg.concurrency` workers, runs `feed` to its end, stops the workers.
/// Errors: what kept the run from starting (S3 client creation, AMQP connect/declare).
Result<RunEnd> drive(const ProducerConfig& cfg, InputFeed& feed, const std::function<bool()>& stop,
                     const std::function<void(const ProduceProgress&)>& progress) {
  std::vector<s3::S3Client> clients;  // S3 clients first: config errors surface before connecting
  for (int i = 0; i < cfg.concurrency; ++i) {
    CC_TRY(c, s3::S3Client::create(cfg.s3));
    clients.push_back(std::move(*c));
  }
  amqp::Client client(cfg.amqp);
  CC_TRY_VOID(client.connect());
  if (!cfg.storage_check) {
    CC_TRY_VOID(client.declare(recipient_topology(cfg.names, cfg.recipients)));
    CC_TRY_VOID(client.declare(coordinator_topology(cfg.names)));
  }
  WorkQueue<WorkerTask> tasks;
  WorkQueue<WorkerResult> results;
  client.set_interrupt_check([&] { return !results.empty(); });
  std::vector<std::unique_ptr<ProduceWorker>> workers;
  std::vector<std::thread> threads;
  for (auto& c : clients) workers.push_back(std::make_unique<ProduceWorker>(cfg, std::move(c), tasks, results));
  for (auto& w : workers) threads.emplace_back([p = w.get()] { p->loop(); });

  ProduceRun pr(cfg, feed, client, tasks, results);
  pr.run(stop, progress);
  tasks.close();
  for (auto& t : threads) t.join();
  if (!pr.fatal()) (void)client.wait_confirms(std::chrono::seconds(5));
  client.close();
  return RunEnd{pr.fatal(), pr.interrupted()};
}

}  // namespace

Result<ProduceReport> Producer::run(const std::vector<PayloadInput>& inputs, const std::function<bool()>& should_stop,
                                    const std::function<void(const ProduceProgress&)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  auto timed = [&](ProduceProgress pg) {
    pg.total = inputs.size();
    pg.elapsed = std::chrono::steady_clock::now() - t0;
    progress(pg);
  };
  ListFeed feed(inputs);
  CC_TRY(end, drive(cfg_, feed, should_stop, progress ? std::function<void(const ProduceProgress&)>(timed) : nullptr));
  ProduceReport report;
  report.outcomes = std::move(feed).take_outcomes();
  summarize(report);
  report.elapsed = std::chrono::steady_clock::now() - t0;
  report.interrupted = end->interrupted;
  report.fatal = std::move(end->fatal);
  if (progress) {
    ProduceProgress pg;
    pg.total = inputs.size();
    pg.done = report.succeeded;
    pg.failed = report.failed;
    pg.bytes_raw = report.bytes_raw;
    pg.elapsed = report.elapsed;
    progress(pg);
  }
  return report;
}

Result<void> Producer::run_stream(const ProduceStream& stream) {
  if (!stream.next || !stream.finished)
    return fail(ErrorCode::InvalidArgument, Origin::Config, "run_stream: `next` and `finished` are required");
  StreamFeed feed(stream);
  CC_TRY(end, drive(cfg_, feed, stream.should_stop, nullptr));
  if (end->fatal) return fail(std::move(*end->fatal));
  return ok();
}

std::vector<PayloadInput> synthetic_inputs(std::uint64_t count, std::uint64_t size_bytes, std::uint64_t seed,
                                           const std::string& name_prefix) {
  std::vector<PayloadInput> out;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    PayloadInput in;
    in.label = "synthetic #" + std::to_string(i + 1);
    if (!name_prefix.empty()) in.name = name_prefix + "msg-" + std::to_string(i + 1) + ".json";
    in.content_type = "application/json";
    in.key_ext = ".json";
    in.open = [i, size_bytes, seed]() -> Result<std::unique_ptr<ByteSource>> {
      return std::unique_ptr<ByteSource>(std::make_unique<SyntheticPayloadSource>(i + 1, size_bytes, seed + i));
    };
    out.push_back(std::move(in));
  }
  return out;
}

PayloadInput file_input(const std::string& path, const std::string& name) {
  PayloadInput in;
  in.label = path == "-" ? std::string("stdin") : path;
  in.name = name;
  in.open = [path]() -> Result<std::unique_ptr<ByteSource>> {
    // A path named explicitly is not followed if it is a symlink (checked on the opened descriptor); a FIFO
    // or other stream (`--file <(cmd)`, a named pipe) is read as it comes. `--dir` accepts regular files only.
    const FileOpenOptions opt{.no_follow = path != "-", .regular_only = false};
    CC_TRY(f, FileSource::open(path, opt));
    return std::unique_ptr<ByteSource>(std::make_unique<FileSource>(std::move(*f)));
  };
  return in;
}

PayloadInput directory_entry_input(const std::string& dir, const std::string& rel, const std::string& name) {
  PayloadInput in;
  in.label = (std::filesystem::path(dir) / rel).string();
  in.name = name;
  in.open = [dir, rel]() -> Result<std::unique_ptr<ByteSource>> {
    CC_TRY(f, FileSource::open_beneath(dir, rel));
    return std::unique_ptr<ByteSource>(std::make_unique<FileSource>(std::move(*f)));
  };
  return in;
}

Result<std::vector<PayloadInput>> directory_inputs(const std::string& dir, const std::string& name_prefix) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto st = fs::status(dir, ec);
  if (ec || !fs::exists(st)) return fail(ErrorCode::NotFound, Origin::Io, "directory '" + dir + "' does not exist");
  if (!fs::is_directory(st)) return fail(ErrorCode::InvalidArgument, Origin::Io, "'" + dir + "' is not a directory");
  std::vector<std::pair<std::string, std::string>> files;  // (relative name, full path)
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
  if (ec) return fail(ErrorCode::PermissionDenied, Origin::Io, "cannot read directory '" + dir + "': " + ec.message());
  for (fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return fail(ErrorCode::PermissionDenied, Origin::Io, "cannot read under '" + dir + "': " + ec.message());
    const auto& entry = *it;
    std::error_code e2;
    if (!entry.is_regular_file(e2) || entry.is_symlink(e2)) continue;  // symlinks are not followed
    std::string rel = entry.path().lexically_relative(dir).generic_string();
    files.emplace_back(rel, entry.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<PayloadInput> out;
  out.reserve(files.size());
  for (auto& [rel, full] : files) {
    std::string name = name_prefix + rel;
    if (auto v = validate_relative_name(name); !v)
      return fail(ErrorCode::InvalidArgument, Origin::Io, "file '" + full + "': " + v.error().message);
    out.push_back(directory_entry_input(dir, rel, name));
  }
  return out;
}

}  // namespace claimcheck
