#pragma once
/// claimcheck::Producer — stores payloads in S3 and publishes store records and pointers (DESIGN.md §2–§5a).
///
/// Usage (an application embedding the producer; link claimcheck::claimcheck, examples/producer/):
///   claimcheck::ProducerConfig cfg;                        // plain data: the application fills it
///   cfg.s3.endpoint = "https://s3.example.net";
///   cfg.s3.access_key = key_id;  cfg.s3.secret_key = secret;
///   cfg.amqp.urls = claimcheck::split_url_list("amqp://producer:pw@rabbit:5672/%2F");
///   cfg.bucket = "1c-exchange";
///   cfg.recipients = {"branch1", "branch2"};
///   auto producer = claimcheck::Producer::create(cfg);     // Result<Producer>: InvalidArgument on bad config
///   if (!producer) return fail(producer.error());
///   claimcheck::PayloadInput in;
///   in.name = "reports/day.csv";
///   in.open = [] { return claimcheck::Result<std::unique_ptr<claimcheck::ByteSource>>(
///                    std::make_unique<claimcheck::MemorySource>(std::string("a,b\n1,2\n"))); };
///   auto report = producer->run({in});                     // blocks; per-input outcome in report->outcomes
///   if (report && report->outcomes[0].ok) use(report->outcomes[0].pointer_id);
/// Files: file_input(path, name), directory_inputs(dir). The coordinator deletes each object once every
/// recipient acked it (`claimcheck coordinator`); the producer never deletes what it announced.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "claimcheck/amqp/types.h"
#include "claimcheck/core/codec.h"
#include "claimcheck/core/io.h"
#include "claimcheck/core/result.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/core/time.h"
#include "claimcheck/protocol/topology.h"

namespace claimcheck {

/// One payload to produce. `open` is called once, on a worker thread, to get a fresh raw byte stream.
///
/// - `label`: how the payload is named in logs and failure lists (a path, "stdin", "synthetic #3").
/// - `name`: the relative name that travels as the pointer's `name` (empty = none); must pass
///   validate_relative_name() when set.
/// - `content_type`: of the raw payload.
/// - `key_ext`: base extension of the object key before the codec's (".json" → "<uuid>.json.zst"); must
///   match `[A-Za-z0-9._-]*`.
/// - `open`: must be thread-safe to call from any one worker; the returned source is used by that worker only.
/// - `pointer_id`: a fixed pointer id (canonical UUID) instead of a new one, e.g. to re-send a payload after a
///   crash under the id a journal recorded (the outbox, outbox.h). With `created_at` it fixes the object key,
///   created_at and expires_at, so a re-send addresses the same object: when the key already holds an object
///   (PUT If-None-Match: * → 412) the producer reads it back, and the same SHA-256 and size count as "already
///   stored, same bytes"; other bytes fail the payload with ProduceOutcome::key_taken (nothing is published).
///   The producer never deletes the object of such a payload (an earlier run's store record may name it,
///   invariant S3): an object a failed attempt leaves is reused by the next attempt, or expires / is swept.
/// - `created_at`: creation time to go with `pointer_id`; nullopt = now.
/// - `resume_pointer`: the s3-pointer-v1 JSON of an earlier attempt whose store record was confirmed. Then
///   nothing is read, stored or recorded: only its pointers are published (again) to every recipient, whose
///   journals (keyed by pointer_id) and the coordinator deduplicate them. `open` is not called.
struct PayloadInput {
  std::string label;
  std::string name;
  std::string content_type = "application/octet-stream";
  std::string key_ext = ".bin";
  std::function<Result<std::unique_ptr<ByteSource>>()> open;
  std::string pointer_id;
  std::optional<Timestamp> created_at;
  std::string resume_pointer;
};

/// Settings of one Producer run. Plain data; only the CLI fills it from flags and env.
///
/// - `bucket`, `key_prefix`: objects go to `bucket/<key_prefix>/YYYY/MM/DD/<uuid><key_ext><codec ext>`.
/// - `recipients`: expected recipients of every payload (unique, validate_recipient_id rules, ≥ 1).
/// - `encoding`, `level`: codec applied to every payload.
/// - `inline_threshold`: bytes. 0 disables inlining (every payload, even an empty one, is offloaded).
///   Otherwise a payload with raw size `<= inline_threshold` travels inline (`inline-v1`, no S3, no
///   coordinator) and a larger one is offloaded. Byte length, not characters. At most 16 MiB.
/// - `ttl`: expires_at = created_at + ttl (≥ 1 s).
/// - `presign`: put into every pointer a SigV4 presigned GET `url` of its object, signed with `s3`'s keys,
///   valid for min(ttl, 7 days) from created_at, so recipients without S3 keys can download it (DESIGN.md
///   §9). A ttl above 7 days is allowed but logged as a warning once by create(): such recipients can
///   download only within the first 7 days.
/// - `producer_id`: written into every pointer and store record.
/// - `verify`: read each object back (GET) and compare SHA-256 and size before publishing.
/// - `storage_check`: a storage round trip only (the reference demo's `DELETE=1`): upload, [verify], then
///   delete each object; publish no store record and no pointer. Invariant S3 (DESIGN.md §5): once a store
///   record is confirmed only the coordinator deletes the object, so the producer never deletes an object
///   a recipient was told about. Cannot be combined with `inline_threshold` > 0.
/// - `concurrency`: worker threads (each with its own S3Client), 1..64.
/// - `publish_timeout`: longest wait for the confirms of one payload's store record + pointers once
///   published; past it the payload fails (its object is deleted best-effort).
/// - `names`: topology names (DESIGN.md §3); the producer declares recipient_topology + coordinator_topology.
struct ProducerConfig {
  s3::S3Config s3;
  amqp::AmqpConfig amqp;
  TopologyNames names;
  std::string bucket;
  std::string key_prefix = "claimcheck";
  std::vector<std::string> recipients{"branch1"};
  Encoding encoding = Encoding::Zstd;
  int level = 1;
  std::uint64_t inline_threshold = 0;
  std::chrono::seconds ttl{7 * 24 * 3600};
  bool presign = true;
  std::string producer_id;
  bool verify = false;
  bool storage_check = false;
  int concurrency = 4;
  std::chrono::milliseconds publish_timeout{120000};

  /// Checks every field (and s3/amqp via their validate()). Errors: InvalidArgument (Origin::Config)
  /// naming the field. Never mentions secrets. Thread-safe (const).
  [[nodiscard]] Result<void> validate() const;
};

/// Outcome of one payload.
struct ProduceOutcome {
  std::string label;
  std::string name;
  std::string pointer_id;       ///< empty if the payload failed before an id was assigned
  std::string key;              ///< object key (empty for inline payloads)
  bool ok = false;
  bool inlined = false;         ///< travelled as inline-v1
  bool verified = false;        ///< --verify read it back successfully
  bool deleted = false;         ///< object deleted by the producer (storage_check, or cleanup after a failure
                                ///< that came before its store record was confirmed)
  std::uint64_t size_raw = 0;
  std::uint64_t size_stored = 0;
  std::string pointer_json;     ///< the s3-pointer-v1 JSON sent to the first recipient (empty if inline)
  std::string error;            ///< what failed, empty when ok; a pointer that could not be delivered names
                                ///< each refused recipient ("not delivered to recipient 'b': nack")
  bool key_taken = false;       ///< a fixed pointer_id's key holds an object with other bytes: nothing was
                                ///< published; retry under a new pointer id
  bool store_confirmed = false; ///< its store record was confirmed (from here on only the coordinator deletes)
};

/// Live counters for a progress line. Snapshot values.
struct ProduceProgress {
  std::size_t total = 0;
  std::size_t done = 0;
  std::size_t failed = 0;
  std::uint64_t bytes_raw = 0;
  std::chrono::steady_clock::duration elapsed{};
};

/// Result of a run: one outcome per input, in input order.
struct ProduceReport {
  std::vector<ProduceOutcome> outcomes;
  std::size_t succeeded = 0;
  std::size_t failed = 0;
  std::size_t inlined = 0;
  std::size_t verified = 0;
  std::uint64_t bytes_raw = 0;     ///< of the successful payloads
  std::uint64_t bytes_stored = 0;  ///< of the successful payloads
  std::chrono::steady_clock::duration elapsed{};
  bool interrupted = false;        ///< stopped by the stop predicate before every input was attempted
  std::optional<Error> fatal;      ///< set when the AMQP connection was lost for good (poll() failed), or when
                                   ///< S3 refused the endpoint's TLS certificate or the credentials (unknown
                                   ///< access key, bad signature: every payload would fail alike; in-flight ones
                                   ///< finish); every unfinished input is then reported failed
};

/// Callbacks of Producer::run_stream(), all called on the thread that called run_stream().
///
/// - `next(room)`: up to `room` (≥ 1) new inputs to start now; fewer or none is fine. Called about every
///   50 ms while `should_stop` is false, so it may also do the caller's own polling (it must not block long).
/// - `stored(input, pointer_json)`: the store record of `input` was confirmed and its pointers are about to
///   be published (a journal records the pointer here, outbox.h). An error fails the payload before any
///   pointer goes out (its object stays: the coordinator deletes or expires it). May be empty.
/// - `finished(input, outcome)`: `input` settled (ok, or failed with outcome.error). Every input handed out
///   by `next` gets exactly one call, also when the run stops or the connection is lost for good.
/// - `should_stop`: once true, no new input is taken; the run returns when every started input settled.
struct ProduceStream {
  std::function<std::vector<PayloadInput>(std::size_t room)> next;
  std::function<Result<void>(const PayloadInput&, const std::string& pointer_json)> stored;
  std::function<void(const PayloadInput&, const ProduceOutcome&)> finished;
  std::function<bool()> should_stop;
};

/// Runs the produce flow: for each input, on N workers, stream → EncodingSource (compress + SHA-256) →
/// S3 put_object (If-None-Match: *, multipart above the part size, metadata `sha256` when the object fits
/// in one part, `pointer-id`, `size-raw` when known) → [verify] → on the calling thread (the AMQP thread):
/// publish the s3-store-v1 to `ack_exchange`/`store_routing_key` (confirmed) → then the s3-pointer-v1 to
/// `msg_exchange`/<recipient> for every recipient (mandatory, confirmed). A failure before the store
/// record is confirmed deletes the object best-effort (the orphan sweep covers what is left); after it,
/// the producer never deletes (invariant S3): a pointer refused for one recipient (nack, basic.return, no
/// confirm within `publish_timeout`) fails the payload naming that recipient, the recipients whose pointer
/// was confirmed got it exactly once, and the object stays until the coordinator deletes or expires it.
/// The bookkeeping is the ProduceJobs state machine (src/produce/produce_jobs.h).
///
/// Thread safety: one run() at a time; run() blocks the calling thread, which owns the AMQP connection and
/// polls it every ≤ 50 ms (heartbeats stay serviced during long uploads).
class Producer {
 public:
  /// Validates `cfg`. Errors: InvalidArgument.
  [[nodiscard]] static Result<Producer> create(ProducerConfig cfg);

  /// Produces every input. Returns a report (per-input failures are in it, not in the error) or an error
  /// when the run could not start: AMQP connect/declare (Unavailable, PermissionDenied, FailedPrecondition),
  /// S3 client creation. `should_stop` (thread-safe, may be empty) is checked often: once true, no new input
  /// is started, in-flight ones finish, the rest are reported failed "interrupted". `progress` (may be empty)
  /// is called on the calling thread about every 200 ms and once at the end.
  [[nodiscard]] Result<ProduceReport> run(const std::vector<PayloadInput>& inputs,
                                          const std::function<bool()>& should_stop = {},
                                          const std::function<void(const ProduceProgress&)>& progress = {});

  /// The same flow for inputs that arrive while it runs (the outbox, outbox.h): one AMQP connection and
  /// `concurrency` workers serve every input `stream.next` hands out, at most 2 × concurrency in flight.
  /// Returns ok once `stream.should_stop` is true and every started input settled; the connection errors of
  /// run() when it could not start; or the error that lost the connection for good (every unsettled input
  /// is then reported failed through `stream.finished` first). `stream.next` and `stream.finished` are required.
  [[nodiscard]] Result<void> run_stream(const ProduceStream& stream);

  /// The configuration in use (holds secrets: do not log it).
  [[nodiscard]] const ProducerConfig& config() const noexcept { return cfg_; }

 private:
  explicit Producer(ProducerConfig cfg) : cfg_(std::move(cfg)) {}
  ProducerConfig cfg_;
};

/// Inputs of `count` synthetic JSON payloads of exactly `size_bytes` each (the reference demo's documents,
/// SyntheticPayloadSource), named "<name_prefix>msg-<idx>.json" when `name_prefix` is non-empty, else unnamed.
/// `seed` makes the run reproducible. content_type application/json, key_ext ".json".
std::vector<PayloadInput> synthetic_inputs(std::uint64_t count, std::uint64_t size_bytes, std::uint64_t seed,
                                           const std::string& name_prefix = "");

/// Input of one file ("-" = stdin). `name` is the pointer name (may be empty). The file is opened when the
/// producer reads it, with O_NOFOLLOW, and must be a regular file (fstat on the opened descriptor): a
/// symbolic link, FIFO or device fails that input with InvalidArgument (Origin::Io) naming the path.
PayloadInput file_input(const std::string& path, const std::string& name);

/// Input of the regular file `rel` (a validate_relative_name() path, "/"-separated) beneath `dir`, sent
/// under `name`: opened beneath `dir` without following any symlink (FileSource::open_beneath), so an entry
/// swapped for a symlink fails its input instead of sending another file. Label: `dir/rel`.
PayloadInput directory_entry_input(const std::string& dir, const std::string& rel, const std::string& name);

/// Inputs of every regular file under `dir`, recursively, symlinks not followed, sorted by relative path
/// (byte order); each file's relative path (with "/" separators), prefixed by `name_prefix`, is its name.
/// Each file is later opened beneath `dir` without following any symlink (FileSource::open_beneath), so an
/// entry swapped for a symlink after this listing fails its input instead of sending another file.
/// Errors: NotFound / InvalidArgument (not a directory) / PermissionDenied (Origin::Io), and
/// InvalidArgument when a relative path is not a valid name (validate_relative_name).
[[nodiscard]] Result<std::vector<PayloadInput>> directory_inputs(const std::string& dir,
                                                                 const std::string& name_prefix = "");

}  // namespace claimcheck
