#pragma once
/// Wire protocol (DESIGN.md §2): s3-pointer-v1, s3-store-v1, s3-ack-v1 — types, JSON serialization,
/// strict parsing/validation, and reusable field validators.
///
/// Every rejection is InvalidArgument with Origin::Protocol and a message of the form
/// "field '<name>': <rule>" (e.g. "field 'sha256': must be 64 lowercase hex characters"), suitable for the
/// `x-claimcheck-error` dead-letter header. Unknown extra JSON fields are ignored (forward compatibility).
/// All functions are pure and thread-safe.
///
/// Example — a consumer's side of one pointer:
///
///     CC_TRY(p, claimcheck::parse_pointer(delivery.message.body, claimcheck::ValidationLimits{}));
///     // ... download p->bucket/p->key, verify p->sha256, hand the payload over ...
///     const claimcheck::Ack a = claimcheck::ack_for(*p, "branch1", claimcheck::AckStatus::Processed, std::nullopt);
///     publish(to_json(a));                       // s3-ack-v1 to the ack exchange
///     // a malformed pointer: parse_pointer's error message is the dead-letter reason

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "claimcheck/core/codec.h"
#include "claimcheck/core/result.h"
#include "claimcheck/core/time.h"

namespace claimcheck {

/// `schema` value of a pointer message (producer → recipient queue).
inline constexpr std::string_view kSchemaPointer = "s3-pointer-v1";
/// `schema` value of a store record (producer → coordinator).
inline constexpr std::string_view kSchemaStore = "s3-store-v1";
/// `schema` value of an ack (consumer → coordinator).
inline constexpr std::string_view kSchemaAck = "s3-ack-v1";
/// AMQP `type` of an inline (not offloaded) payload message.
inline constexpr std::string_view kTypeInline = "inline-v1";

/// AMQP header carrying the reason a message was dead-lettered.
inline constexpr std::string_view kHeaderError = "x-claimcheck-error";
/// AMQP header of an inline message: the payload's encoding ("zstd" | "gzip" | "identity").
inline constexpr std::string_view kHeaderEncoding = "x-claimcheck-encoding";
/// AMQP header of an inline message: SHA-256 (64 lowercase hex) of the body (the encoded bytes).
inline constexpr std::string_view kHeaderSha256 = "x-claimcheck-sha256";
/// AMQP header of an inline message: raw payload size in bytes (integer).
inline constexpr std::string_view kHeaderSizeRaw = "x-claimcheck-size-raw";
/// AMQP header of an inline message: the payload's relative name when it is valid UTF-8 (optional, same
/// rules as Pointer::name).
inline constexpr std::string_view kHeaderName = "x-claimcheck-name";
/// AMQP header of an inline message: base64 (RFC 4648) of the name's bytes when they are not valid UTF-8;
/// never together with kHeaderName (see decode_name_b64).
inline constexpr std::string_view kHeaderNameB64 = "x-claimcheck-name-b64";

/// Largest JSON message body parse_*() accept, in bytes (1 MiB).
inline constexpr std::size_t kMaxMessageBytes = 1024 * 1024;
/// Longest key accepted, in bytes (S3's limit).
inline constexpr std::size_t kMaxKeyBytes = 1024;
/// Longest `name` accepted, in bytes.
inline constexpr std::size_t kMaxNameBytes = 4096;
/// Longest pointer `url` accepted, in bytes.
inline constexpr std::size_t kMaxUrlBytes = 4096;

/// Limits applied while parsing messages (consumer/coordinator configuration).
struct ValidationLimits {
  /// Buckets a message may point into; empty = any (syntactically valid) bucket.
  std::vector<std::string> allowed_buckets;
  /// Largest accepted `size_raw`, bytes (default 64 TiB).
  std::int64_t max_size_raw = std::int64_t{64} << 40;
  /// Largest accepted `size_stored` (and `size_gz`), bytes (default 5 TiB, S3's object size limit).
  std::int64_t max_size_stored = std::int64_t{5} << 40;
};

/// `s3-pointer-v1`: tells one recipient where the payload object is and how to verify it.
/// Timestamps are UTC; they travel as RFC 3339 with millisecond precision (see format_rfc3339), so keep
/// them at millisecond resolution (utc_now() does) if you need exact round trips.
struct Pointer {
  std::string pointer_id;                         ///< UUID (lowercase canonical form); the refcount key
  std::string bucket;                             ///< S3 bucket
  std::string key;                                ///< S3 key, charset [A-Za-z0-9._~/-], no "..", no leading "/"
  Encoding encoding = Encoding::Zstd;             ///< how the stored bytes are compressed
  std::string content_type = "application/octet-stream";  ///< of the decompressed payload
  std::int64_t size_raw = 0;                      ///< payload bytes before compression
  std::int64_t size_stored = 0;                   ///< object bytes in S3 (written also as size_gz for gzip)
  std::string sha256;                             ///< SHA-256 of the stored bytes, 64 lowercase hex
  std::vector<std::string> recipients;            ///< expected recipient ids, unique, [A-Za-z0-9._-]{1,64}
  std::int64_t recipients_total = 0;              ///< must equal recipients.size() (≥ 1)
  Timestamp created_at{};                         ///< when the object was stored
  Timestamp expires_at{};                         ///< created_at + TTL; ≥ created_at
  std::string producer_id;                        ///< free-form producer identity (may be empty, ≤ 256 bytes)
  std::optional<std::string> name;                ///< original relative path, raw bytes (validate_relative_name
                                                  ///< rules); travels as `name` when valid UTF-8, else as
                                                  ///< `name_b64` (base64 of the bytes), so it round-trips
  std::optional<std::string> url;                 ///< SigV4 presigned GET of bucket/key (validate_pointer_url
                                                  ///< rules), valid until expires_at at the latest and at
                                                  ///< most 7 days: lets a recipient without S3 keys download

  /// created_at as RFC 3339 (millisecond precision, "Z").
  [[nodiscard]] std::string created_at_rfc3339() const { return format_rfc3339(created_at); }
  /// expires_at as RFC 3339 (millisecond precision, "Z").
  [[nodiscard]] std::string expires_at_rfc3339() const { return format_rfc3339(expires_at); }
  /// AMQP message_id of this pointer (= pointer_id).
  [[nodiscard]] const std::string& message_id() const noexcept { return pointer_id; }
};

/// `s3-store-v1`: tells the coordinator an object exists, who must ack it and when it expires.
/// Authoritative for what the coordinator may delete and when.
struct StoreRecord {
  std::string pointer_id;                ///< UUID (lowercase canonical form)
  std::string bucket;                    ///< S3 bucket
  std::string key;                       ///< S3 key (validate_key rules)
  std::vector<std::string> recipients;   ///< expected recipient ids (unique)
  std::int64_t recipients_total = 0;     ///< = recipients.size() (≥ 1)
  std::int64_t size_stored = 0;          ///< object bytes in S3
  std::string sha256;                    ///< SHA-256 of the stored bytes, 64 lowercase hex
  Timestamp created_at{};                ///< when the object was stored
  Timestamp expires_at{};                ///< deadline after which the object may be deleted regardless of acks
  std::string producer_id;               ///< optional on the wire (written always; "" if absent)
  std::optional<Encoding> encoding;      ///< optional on the wire (informational)
  std::optional<std::int64_t> size_raw;  ///< optional on the wire (informational)
  std::optional<std::string> version_id; ///< S3 version the PUT created (x-amz-version-id; versioned buckets
                                         ///< only): the coordinator deletes exactly this version.
                                         ///< 1..1024 printable ASCII bytes without space, '<', '>', '&', '"'

  /// created_at as RFC 3339 (millisecond precision, "Z").
  [[nodiscard]] std::string created_at_rfc3339() const { return format_rfc3339(created_at); }
  /// expires_at as RFC 3339 (millisecond precision, "Z").
  [[nodiscard]] std::string expires_at_rfc3339() const { return format_rfc3339(expires_at); }
  /// AMQP message_id of this record (= pointer_id).
  [[nodiscard]] const std::string& message_id() const noexcept { return pointer_id; }
};

/// Outcome a recipient reports for a pointer.
enum class AckStatus : std::uint8_t {
  Processed,  ///< the handler accepted the payload
  Rejected,   ///< the recipient refused it (bad checksum, missing object, handler refusal); see reason
};

/// Wire name: "processed" | "rejected".
std::string_view to_string(AckStatus s) noexcept;
/// Parse "processed" | "rejected". Errors: InvalidArgument (Origin::Protocol) naming field 'status'.
[[nodiscard]] Result<AckStatus> parse_ack_status(std::string_view s);

/// `s3-ack-v1`: a recipient's business acknowledgement of one pointer.
struct Ack {
  std::string pointer_id;                 ///< UUID of the pointer acked
  std::string recipient_id;               ///< who acks ([A-Za-z0-9._-]{1,64})
  AckStatus status = AckStatus::Processed;
  std::optional<std::string> reason;      ///< why, when rejected. Required on the wire when status is
                                          ///< rejected: to_json writes "unspecified" if it is missing.
  Timestamp processed_at{};               ///< when the recipient finished
  std::string bucket;                     ///< copied from the pointer
  std::string key;                        ///< copied from the pointer
  std::int64_t recipients_total = 0;      ///< copied from the pointer (≥ 1)
  /// SHA-256 (64 lowercase hex) of the stored bytes the recipient verified: the pointer's sha256. Optional
  /// on the wire (the reference demo's consumers send none); when present it must be well-formed. The
  /// coordinator counts an ack only if it equals the store record's sha256 (DESIGN.md §2, §5 S1).
  std::optional<std::string> sha256;

  /// processed_at as RFC 3339 (millisecond precision, "Z").
  [[nodiscard]] std::string processed_at_rfc3339() const { return format_rfc3339(processed_at); }
  /// AMQP message_id of this ack: "pointer_id:recipient_id".
  [[nodiscard]] std::string message_id() const;
};

/// Serialize to one-line JSON with `schema` = "s3-pointer-v1"; writes `size_gz` (= size_stored) too when
/// encoding is gzip; omits `name` when absent; a name that is not valid UTF-8 is written as `name_b64`
/// (base64 of its bytes) instead of `name`, so parse_pointer returns exactly the same bytes. Does not
/// validate (use validate()).
std::string to_json(const Pointer& p);
/// Serialize to one-line JSON with `schema` = "s3-store-v1". Optional fields are omitted when absent.
std::string to_json(const StoreRecord& s);
/// Serialize to one-line JSON with `schema` = "s3-ack-v1". Omits `reason` when absent and processed, and
/// `sha256` when absent.
/// The ack of `recipient` for pointer `p`: pointer_id, bucket, key, recipients_total and sha256 copied from
/// the pointer (the sha256 this recipient verified, or was asked to), `status`/`reason` as given,
/// processed_at = now (UTC). Never fails; thread-safe.
[[nodiscard]] Ack ack_for(const Pointer& p, const std::string& recipient, AckStatus status,
                          std::optional<std::string> reason = std::nullopt);

std::string to_json(const Ack& a);

/// Parse and strictly validate a pointer. Errors: InvalidArgument "field '<f>': <rule>" (or
/// "message: ..." for non-JSON / non-object / oversized bodies, "field 'schema': ..." for a wrong schema).
[[nodiscard]] Result<Pointer> parse_pointer(std::string_view json, const ValidationLimits& limits);
/// How a consumer with `--accept-reference-pointers` reads the reference demo's pointers (issue 8 item 9).
struct ReferencePointerDefaults {
  std::string recipient;                       ///< the consuming recipient: the pointer's only recipient
  std::chrono::seconds ttl{7 * 24 * 3600};     ///< expires_at = created_at + ttl
  Timestamp now{};                             ///< created_at when the pointer has none (and its upper bound)
};

/// parse_pointer, and also the reference demo producer's `s3-pointer-v1` (no `recipients`,
/// `recipients_total`, `expires_at` nor `producer_id`; `size_gz` for the stored size): such a pointer is
/// read as addressed to `ref.recipient` alone (recipients_total 1), created at its `created_at` (or
/// `ref.now`; never later than `ref.now`) and expiring `ref.ttl` after that; `producer_id` "" unless given.
/// A pointer that has `recipients` is parsed exactly as parse_pointer does. Errors as parse_pointer. Pure.
[[nodiscard]] Result<Pointer> parse_pointer_or_reference(std::string_view json, const ValidationLimits& limits,
                                                         const ReferencePointerDefaults& ref);
/// Parse and strictly validate a store record. Errors as parse_pointer.
[[nodiscard]] Result<StoreRecord> parse_store_record(std::string_view json, const ValidationLimits& limits = {});
/// Parse and strictly validate an ack (status, reason when rejected, ids, bucket/key, timestamp, sha256
/// when present).
/// Errors as parse_pointer.
[[nodiscard]] Result<Ack> parse_ack(std::string_view json, const ValidationLimits& limits = {});

/// Validate an in-memory pointer with the same rules as parse_pointer (e.g. before publishing).
[[nodiscard]] Result<void> validate(const Pointer& p, const ValidationLimits& limits = {});
/// Validate an in-memory store record with the same rules as parse_store_record.
[[nodiscard]] Result<void> validate(const StoreRecord& s, const ValidationLimits& limits = {});
/// Validate an in-memory ack with the same rules as parse_ack.
[[nodiscard]] Result<void> validate(const Ack& a, const ValidationLimits& limits = {});

/// Read only the `schema` string of a JSON object (to dispatch store vs ack on one queue).
/// Errors: InvalidArgument if not a JSON object or `schema` is missing / not a string. Does not check the
/// value against known schemas.
[[nodiscard]] Result<std::string> peek_schema(std::string_view json);

/// The store record describing the same object as `p` (identity, location, recipients, sizes, hash, times,
/// producer_id, encoding, size_raw).
StoreRecord store_record_from(const Pointer& p);

/// AMQP message_id of an ack: "<pointer_id>:<recipient_id>".
std::string ack_message_id(std::string_view pointer_id, std::string_view recipient_id);

/// Object key layout: "<prefix>/YYYY/MM/DD/<id><base_ext><encoding ext>" with the UTC date of `tp`, e.g.
/// "claimcheck/2024/05/01/<uuid>.json.zst" (zstd), ".json.gz" (gzip, as the reference demo), ".json"
/// (identity). An empty prefix gives "YYYY/MM/DD/..."; trailing "/" of the prefix are dropped.
std::string make_object_key(std::string_view prefix, Timestamp tp, std::string_view id, Encoding encoding,
                            std::string_view base_ext = ".json");
/// The one S3 key rule (docs/protocol.md "Keys"; the S3 layer applies it too): 1..1024 bytes of
/// [A-Za-z0-9._~/-], not starting with "/", no ".." anywhere and no "." path segment.
/// Errors: InvalidArgument "field 'key': <rule>".
[[nodiscard]] Result<void> validate_key(std::string_view key);
/// True if `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
/// Pure, thread-safe.
[[nodiscard]] bool is_valid_utf8(std::string_view s) noexcept;
/// Decode the `name_b64` form of a name (pointer field or inline header kHeaderNameB64): padded base64 of
/// at most kMaxNameBytes bytes that are NOT valid UTF-8 (valid UTF-8 must travel as `name`, so each name
/// has one wire form). Errors: InvalidArgument "field 'name_b64': <rule>". Does not apply
/// validate_relative_name (callers do).
[[nodiscard]] Result<std::string> decode_name_b64(std::string_view b64);
/// Recipient id rule: [A-Za-z0-9._-]{1,64}. Errors: InvalidArgument "field 'recipient_id': <rule>".
[[nodiscard]] Result<void> validate_recipient_id(std::string_view id);
/// Relative name rule (for writing files under an output dir): 1..4096 bytes, not absolute ("/" first),
/// no empty, "." or ".." path component (so no "//" and no trailing "/"), no NUL or other ASCII control
/// character, no backslash. Errors: InvalidArgument "field 'name': <rule>".
[[nodiscard]] Result<void> validate_relative_name(std::string_view name);
/// S3 bucket rule (AWS naming rules): 3..63 chars of [a-z0-9.-], starts and ends with a letter or digit,
/// no "..", not formatted like an IPv4 address. Errors: InvalidArgument "field 'bucket': <rule>".
[[nodiscard]] Result<void> validate_bucket_name(std::string_view bucket);
/// Pointer `url` rule (format only; the recipient also checks host and path against its S3 endpoint):
/// `http://` or `https://`, at most kMaxUrlBytes, printable ASCII without space, a query containing
/// `X-Amz-Signature=`. Errors: InvalidArgument "field 'url': <rule>" (never repeating the URL).
[[nodiscard]] Result<void> validate_pointer_url(std::string_view url);
/// pointer_id rule: canonical lowercase UUID 8-4-4-4-12 hex. Errors: InvalidArgument
/// "field 'pointer_id': <rule>".
[[nodiscard]] Result<void> validate_pointer_id(std::string_view id);

}  // namespace claimcheck
