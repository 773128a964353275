#pragma once
/// claimcheck::s3 — a small, streaming S3 client on libcurl with CURLOPT_AWS_SIGV4 (DESIGN.md §6, §7).
///
/// Speaks the AWS S3 REST API (PutObject, multipart upload, GetObject, HeadObject, DeleteObject(s),
/// ListObjectsV2, CreateBucket, Get/PutBucketLifecycleConfiguration) signed with AWS Signature V4.
/// Tested against Ceph RGW 16 (see INFRA-NOTES.md for the libcurl 7.88 caveats this code works around).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "claimcheck/core/io.h"
#include "claimcheck/core/result.h"
#include "claimcheck/core/retry.h"
#include "claimcheck/s3/s3_error.h"

namespace claimcheck::s3 {

/// One mebibyte (1024 * 1024 bytes).
inline constexpr std::uint64_t kMiB = 1024ULL * 1024ULL;

/// Connection and behaviour settings of one S3Client. Plain data; the library never reads env or files.
///
/// - `endpoint`: `http://host:port` or `https://host:port` (no path, no query); a trailing `/` is ignored.
/// - `region`: SigV4 signing region (`us-east-1` for RGW/MinIO defaults).
/// - `access_key` / `secret_key`: SigV4 credentials; the secret never appears in logs or errors. Both empty
///   = no credentials: the client can then only download presigned URLs (get_presigned(); a recipient
///   without S3 rights, DESIGN.md §9) and every other operation fails with InvalidArgument.
/// - `path_style`: true → `endpoint/bucket/key`; false → virtual-hosted `scheme://bucket.host:port/key`.
/// - `ca_bundle`: PEM file of trusted CAs for https (empty = system default); `verify_tls` = false disables
///   peer and host verification (tests only).
/// - `proxy`: HTTP proxy URL; empty = no proxy at all (environment proxy variables are ignored).
/// - `connect_timeout`: TCP+TLS connect bound per attempt. `request_timeout`: whole-request bound per attempt
///   of requests that move little data (HEAD, DELETE, lists, small PUTs; 0 = none); transfers — GETs into a
///   sink and request bodies over 1 MiB — have no total bound: a transfer that makes progress is never
///   failed for taking long. `stall_timeout` / `low_speed_limit`: abort any attempt that moves less than
///   `low_speed_limit` bytes/s (>= 1) for `stall_timeout` (whole seconds, >= 1 s).
/// - `part_size`: bytes per multipart part and size of the one upload buffer (5 MiB .. 5 GiB); objects whose
///   source ends within the first part are sent with one PutObject.
/// - `retry`: backoff between attempts of one request (full jitter) and `retry.max_attempts`, the attempts in
///   a row WITHOUT progress per request (1..100) for retryable failures (Unavailable): an attempt of a GET
///   that delivered bytes before failing resets the count (and the backoff), and the next attempt resumes
///   after the last byte delivered (claimcheck::retry, core/retry.h).
struct S3Config {
  std::string endpoint;
  std::string region = "us-east-1";
  std::string access_key;
  std::string secret_key;  ///< never logged
  bool path_style = true;
  std::string ca_bundle;
  bool verify_tls = true;
  std::string proxy;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{60000};
  std::chrono::milliseconds stall_timeout{30000};
  std::uint32_t low_speed_limit = 1;
  std::uint64_t part_size = 8 * kMiB;
  BackoffPolicy retry{std::chrono::milliseconds(100), std::chrono::milliseconds(5000), 2.0, 5, 1.0};

  /// Checks every field (access and secret key: both or neither). Errors: InvalidArgument (origin
  /// "config") naming the field and the rule. Never mentions the secret's value. Thread-safe (const).
  [[nodiscard]] Result<void> validate() const;

  /// True when an access key and a secret key are set (signed requests possible). Thread-safe (const).
  [[nodiscard]] bool has_credentials() const noexcept { return !access_key.empty() && !secret_key.empty(); }
};

/// detail_code of the error get_presigned() returns for a 403 on a URL whose X-Amz-Date + X-Amz-Expires
/// has passed (code PermissionDenied, message "presigned url expired at <RFC 3339>"): permanent.
inline constexpr std::string_view kPresignedUrlExpired = "PresignedUrlExpired";
/// detail_code of the error get_presigned() returns when S3 answers 403 SignatureDoesNotMatch to a
/// presigned URL (code PermissionDenied): the URL was altered or signed with other credentials, so no
/// retry with the same URL can succeed; permanent.
inline constexpr std::string_view kPresignedUrlRejected = "PresignedUrlRejected";

/// Options of a PutObject.
///
/// - `content_type` / `content_encoding`: stored and returned as the object's headers (empty = not sent).
/// - `metadata`: user metadata sent as `x-amz-meta-<name>`; names must match `[a-z0-9-]+` (RGW rewrites `_`
///   to `-`, HTTP lowercases names), values printable ASCII (0x20..0x7e); anything else → InvalidArgument.
/// - `if_none_match`: create-only. An existing key → FailedPrecondition (HTTP 412 or, for multipart uploads,
///   a HEAD check before the upload is created — see put_object()).
/// - `body_sha256`: the SHA-256 (64 lowercase hex) of the whole body when the caller already has it (the
///   producer's encoder hashes the stored bytes anyway): a single-request PUT sends it as
///   x-amz-content-sha256 instead of hashing the body a second time; multipart parts are still hashed. The
///   server checks it (a wrong value fails the PUT, nothing is stored). Empty = computed. Not 64 lowercase hex
///   → InvalidArgument.
struct PutOptions {
  std::string content_type = "application/octet-stream";
  std::string content_encoding;
  std::map<std::string, std::string> metadata;
  bool if_none_match = false;
  std::string body_sha256;
};

/// Outcome of a successful PutObject. `etag` is without quotes (`md5hex` single, `md5hex-N` multipart).
struct PutResult {
  std::string etag;
  std::uint64_t size = 0;  ///< bytes stored
  bool multipart = false;  ///< true when the multipart API was used
  std::string version_id;  ///< x-amz-version-id of the version created ("" = unversioned bucket, or unknown
                           ///< after a retried conditional PUT whose first response was lost)
};

/// One object version to delete: `version_id` "" = the current version (a delete marker on a versioned
/// bucket), else exactly that version (frees its bytes).
struct ObjectVersion {
  std::string key;
  std::string version_id;
};

struct ObjectInfo;

/// Options of a GetObject (get_object(bucket, key, out, GetOptions)).
///
/// - `offset`: first byte wanted (`Range: bytes=offset-`; 0 = the whole object, no Range header).
/// - `if_match`: ETag (without quotes) the object must still have (`If-Match`); a changed object →
///   FailedPrecondition (412) and nothing is delivered. Empty = the ETag of the first response pins the
///   resumed attempts.
/// - `on_response`: called once per successful (2xx) response before its first byte reaches the sink,
///   with the response's ObjectInfo (etag, full size); an error it returns aborts the GET with that error
///   (not retried). May be empty.
struct GetOptions {
  std::uint64_t offset = 0;
  std::string if_match;
  std::function<Result<void>(const ObjectInfo&)> on_response;
};

/// Properties of a stored object, from HeadObject / GetObject response headers.
/// `size` is the full object size in bytes (also for ranged GETs). `etag` without quotes. Metadata names are
/// lowercase without the `x-amz-meta-` prefix.
struct ObjectInfo {
  std::uint64_t size = 0;
  std::string etag;
  std::string content_type;
  std::string content_encoding;
  std::map<std::string, std::string> metadata;
  std::chrono::system_clock::time_point last_modified{};
  std::string version_id;  ///< x-amz-version-id ("" = unversioned bucket)
};

/// One entry of a ListObjectsV2 page.
struct ListedObject {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;  ///< without quotes
  /// LastModified; epoch (time_point{}) when missing, unreadable or outside 1970..2262.
  std::chrono::system_clock::time_point last_modified{};
};

/// One ListObjectsV2 page. When `truncated`, pass `next_continuation_token` to get the next page.
struct ListPage {
  std::vector<ListedObject> objects;
  std::string next_continuation_token;
  bool truncated = false;
};

/// One bucket lifecycle rule (subset of S3 LifecycleConfiguration: prefix filter, expiration in days,
/// abort of incomplete multipart uploads). 0 days = that action is absent.
struct LifecycleRule {
  std::string id;      ///< unique per bucket, 1..255 chars
  std::string prefix;  ///< key prefix filter ("" = whole bucket)
  int expiration_days = 0;
  int abort_incomplete_multipart_days = 0;
  bool enabled = true;
  /// Versioned buckets: noncurrent versions (what a DELETE leaves behind a delete marker) are removed this
  /// many days after they became noncurrent (NoncurrentVersionExpiration/NoncurrentDays); 0 = absent.
  int noncurrent_version_expiration_days = 0;
};

/// One in-progress multipart upload (ListMultipartUploads).
struct MultipartUpload {
  std::string key;
  std::string upload_id;
};

/// Counters of one client since creation. Used by metrics and tests (e.g. to assert retry counts).
struct S3Stats {
  std::uint64_t requests = 0;        ///< logical requests (each may take several attempts)
  std::uint64_t attempts = 0;        ///< HTTP attempts sent (requests + retries)
  std::uint64_t retries = 0;         ///< attempts after the first, caused by retryable failures
  std::uint64_t connects = 0;        ///< new TCP connections opened (low = connections are reused)
  std::uint64_t bytes_sent = 0;      ///< request body bytes of successful attempts
  std::uint64_t bytes_received = 0;  ///< object bytes delivered to sinks
};

/// S3 client: one per thread, holding one CURL easy handle so that connections are reused.
///
/// Thread safety: none — use one S3Client per thread (move it, don't share it). Move-only.
/// Every operation: keys must match `[A-Za-z0-9._~/-]{1,1024}` with no leading `/` and no `.`/`..` segment,
/// buckets `[a-z0-9.-]{3,63}` — else InvalidArgument before anything is sent. Retryable failures
/// (Unavailable: 5xx, SlowDown, RequestTimeout, connection refused/reset, timeouts) are retried up to
/// `retry.max_attempts` with backoff (S3Config::retry), then returned. Errors carry Origin::S3 (HTTP/XML) or Origin::Curl (transport),
/// the S3 error code in `detail_code`, `http_status` and `request_id`.
/// Logging: a debug line on claimcheck::logger() (core/log.h) per request (method, bucket, key, status, bytes, ms, attempt); never secrets.
///
/// Example — stream a file up and back down, verifying it:
///
///     claimcheck::s3::S3Config cfg;
///     cfg.endpoint = "http://127.0.0.1:7480";
///     cfg.access_key = key_id;  cfg.secret_key = secret;   // the CLI reads them from env/flags
///     CC_TRY(s3, claimcheck::s3::S3Client::create(cfg));
///     CC_TRY(file, claimcheck::FileSource::open("report.csv"));
///     CC_TRY(put, s3->put_object("1c-exchange", "reports/report.csv", *file));   // single or multipart
///     claimcheck::HashingSink sink;                                             // or a file sink
///     CC_TRY(info, s3->get_object("1c-exchange", "reports/report.csv", sink));   // resumes on retries
class S3Client {
 public:
  /// Validates `cfg` (InvalidArgument) and creates the curl handle (Internal if curl fails).
  [[nodiscard]] static Result<S3Client> create(S3Config cfg);

  S3Client(S3Client&&) noexcept;
  S3Client& operator=(S3Client&&) noexcept;
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;
  ~S3Client();

  /// Streams `body` into `bucket/key`. Reads at most `part_size` bytes at a time into one buffer (memory is
  /// O(part_size), independent of the object size). Source ends within the first part → one PutObject
  /// (signed payload SHA-256); else CreateMultipartUpload (content type, encoding, metadata set there),
  /// UploadPart per buffer, CompleteMultipartUpload; any failure aborts the upload (AbortMultipartUpload).
  /// `if_none_match`: single PUT sends `If-None-Match: *` (412 → FailedPrecondition). Multipart: measured,
  /// RGW 16 ignores If-None-Match on CompleteMultipartUpload and overwrites, so the client HEADs the key
  /// before CreateMultipartUpload and again before Complete (existing → FailedPrecondition, upload aborted)
  /// and still sends the header on Complete; a writer racing within that last round trip is not detected.
  /// Errors: as the class, plus the source's own errors (returned as is, not retried).
  /// Idempotent without if_none_match (a retried PUT overwrites with the same bytes).
  [[nodiscard]] Result<PutResult> put_object(const std::string& bucket, const std::string& key,
                                             ByteSource& body, const PutOptions& opts = {});

  /// Convenience: put_object from memory (same contract; `body` must stay valid during the call).
  [[nodiscard]] Result<PutResult> put_object(const std::string& bucket, const std::string& key,
                                             std::string_view body, const PutOptions& opts = {});

  /// Streams the object (or the inclusive byte range [first, last]) to `out` via `out.write()` in chunks as
  /// they arrive; never buffers the whole object. Calls `out.finish()` after the last byte. A retry after
  /// some bytes were delivered resumes with `Range` from the next byte and `If-Match: <etag>` (no byte is
  /// ever delivered twice; an object replaced meanwhile → FailedPrecondition). Errors: NotFound
  /// (NoSuchKey / NoSuchBucket in detail_code), PermissionDenied, InvalidArgument (416 bad range), sink
  /// errors as returned by the sink (not retried).
  [[nodiscard]] Result<ObjectInfo> get_object(const std::string& bucket, const std::string& key, ByteSink& out,
                                              std::optional<std::pair<std::uint64_t, std::uint64_t>> range = {});

  /// Streams the object behind a SigV4 presigned GET `url` (presign.h) to `out`, like get_object() (same
  /// chunks, the same one retry loop, resume with Range + If-Match, the same error mapping), sending no
  /// credentials of its own: works on a client without keys. Before any request the URL must pass
  /// parse_presigned_url() and check_presigned_target() against this client's endpoint and `bucket/key`
  /// (never an arbitrary host) → else InvalidArgument. A 403 on a URL whose expiry has passed →
  /// PermissionDenied with detail_code kPresignedUrlExpired; 403 SignatureDoesNotMatch →
  /// kPresignedUrlRejected; other 403s as get_object(). Errors and logs name bucket/key and host, never
  /// the URL's query (it holds the signature).
  /// `opts` as for get_object() (resume from an offset, pinned to an ETag).
  [[nodiscard]] Result<ObjectInfo> get_presigned(const std::string& url, const std::string& bucket,
                                                 const std::string& key, ByteSink& out, const GetOptions& opts = {});
  /// As above from `opts.offset` to the end of the object (resuming a partial copy held by the caller),
  /// optionally pinned to `opts.if_match`. An offset at or past the end → InvalidArgument (416).
  [[nodiscard]] Result<ObjectInfo> get_object(const std::string& bucket, const std::string& key, ByteSink& out,
                                              const GetOptions& opts);

  /// HeadObject. Errors: NotFound (404; HEAD has no body, detail_code "NotFound"), PermissionDenied (403).
  [[nodiscard]] Result<ObjectInfo> head_object(const std::string& bucket, const std::string& key);

  /// DeleteObject. A missing key is success (S3 answers 204). Idempotent.
  [[nodiscard]] Result<void> delete_object(const std::string& bucket, const std::string& key);

  /// DeleteObjects (POST `?delete=`, quiet mode, Content-MD5), at most 1000 keys per request; longer lists
  /// are split. Returns the keys the server reported as failed (each logged at warn with its S3 code);
  /// empty = all deleted. Missing keys count as deleted. Any invalid key → InvalidArgument before sending.
  /// A request-level failure (after retries) is returned as the error; earlier chunks stay deleted.
  [[nodiscard]] Result<std::vector<std::string>> delete_objects(const std::string& bucket,
                                                                const std::vector<std::string>& keys);

  /// DeleteObjects of exact versions (`<VersionId>` per object where version_id is set; S3 API
  /// DeleteObjects), same contract as delete_objects(keys): returns the keys reported as failed; NoSuchKey
  /// and NoSuchVersion count as deleted. A version id that is not printable ASCII → InvalidArgument.
  [[nodiscard]] Result<std::vector<std::string>> delete_object_versions(const std::string& bucket,
                                                                        const std::vector<ObjectVersion>& objects);

  /// ListObjectsV2, one page of at most `max_keys` (1..1000) objects whose key starts with `prefix`,
  /// in key order. `continuation_token` = "" for the first page.
  [[nodiscard]] Result<ListPage> list_objects_v2(const std::string& bucket, const std::string& prefix,
                                                 const std::string& continuation_token = "", int max_keys = 1000);

  /// ListMultipartUploads (`?uploads=`) of keys under `prefix` (first 1000). For tests and cleanup tools.
  [[nodiscard]] Result<std::vector<MultipartUpload>> list_multipart_uploads(const std::string& bucket,
                                                                            const std::string& prefix);

  /// CreateBucket. A bucket already owned by these credentials is success. Idempotent.
  [[nodiscard]] Result<void> create_bucket(const std::string& bucket);

  /// GetBucketLifecycleConfiguration. No configuration (NoSuchLifecycleConfiguration) → empty vector.
  /// Rules using features outside LifecycleRule (tags, dates, transitions) are returned with those parts
  /// omitted; use ensure_lifecycle_rule() to add a rule without losing them.
  [[nodiscard]] Result<std::vector<LifecycleRule>> get_bucket_lifecycle(const std::string& bucket);

  /// PutBucketLifecycleConfiguration: replaces the whole configuration with `rules` (must be non-empty,
  /// unique ids, each with at least one action). Errors: InvalidArgument, plus the class errors.
  [[nodiscard]] Result<void> put_bucket_lifecycle(const std::string& bucket, const std::vector<LifecycleRule>& rules);

  /// Adds or replaces the rule with `rule.id`, keeping every other existing rule verbatim (edits the XML
  /// document as read, so unmodelled elements survive). Idempotent. Not atomic against concurrent writers.
  [[nodiscard]] Result<void> ensure_lifecycle_rule(const std::string& bucket, const LifecycleRule& rule);

  /// AbortMultipartUpload. An already-gone upload (NoSuchUpload) is success. Used internally by put_object.
  [[nodiscard]] Result<void> abort_multipart_upload(const std::string& bucket, const std::string& key,
                                                    const std::string& upload_id);

  /// Counters since creation (see S3Stats).
  [[nodiscard]] S3Stats stats() const noexcept;

  /// The configuration in use (secret included: do not log it).
  [[nodiscard]] const S3Config& config() const noexcept;

  /// Opaque implementation (public only so that src/s3 helpers can name it).
  struct Impl;

 private:
  explicit S3Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck::s3
