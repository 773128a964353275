#pragma once
/// Error model shared by every claimcheck layer (DESIGN.md §6).

#include <cstdint>
#include <string>
#include <string_view>

namespace claimcheck {

/// Canonical error codes (names follow gRPC/absl status codes).
enum class ErrorCode : std::uint8_t {
  Ok = 0,
  Unavailable,         ///< transient: network, 5xx, SlowDown, timeout, broker down — retry with backoff
  Aborted,             ///< transient: transaction conflict / serialization failure — retry the transaction
  NotFound,            ///< the object, key, queue or row does not exist (S3 404 NoSuchKey)
  PermissionDenied,    ///< credentials rejected or access denied (S3 403, AMQP 403) — never retried
  InvalidArgument,     ///< bad input: malformed message, invalid config, key outside charset
  FailedPrecondition,  ///< a precondition failed (S3 412 on If-None-Match: *, object already exists)
  DataLoss,            ///< integrity failure: SHA-256 mismatch, truncated or corrupt compressed stream
  Internal,            ///< a bug or an unexpected library state
};

/// Stable upper-case name of a code, e.g. "Unavailable". Thread-safe, never fails.
std::string_view to_string(ErrorCode code) noexcept;

/// The layer or backend an Error comes from. Rendered in lower case by to_string(Origin) ("s3", "curl", ...),
/// which is also the prefix of Error::to_string(). classify() reads it for the two origins whose codes mean
/// something else: Io (the local disk) and Exec (a handler command).
enum class Origin : std::uint8_t {
  Unknown = 0,  ///< not set (renders as "error")
  Config,       ///< a *Config::validate() or option parser
  Io,           ///< local files and directories (file_io, the consumer's output dir)
  S3,           ///< an S3 response (HTTP status / XML error)
  Curl,         ///< libcurl transport (connect, TLS, timeout)
  Http,         ///< the CLI's metrics HTTP listener
  Amqp,         ///< rabbitmq-c / the broker
  Protocol,     ///< message parsing and validation (protocol/)
  Codec,        ///< compression and hashing streams (core/codec)
  Refstore,     ///< the refcount database layer above its backend
  Sqlite,       ///< SQLite (detail_code: extended result code name)
  Postgres,     ///< PostgreSQL via libpqxx (detail_code: SQLSTATE)
  Journal,      ///< the consumer's processed-pointer journal
  Handler,      ///< the consumer's payload handler
  Exec,         ///< the consumer's --exec handler command
  Consume,      ///< the consume pipeline itself (staging, pointers)
  Produce,      ///< the produce pipeline itself
  Bench,        ///< benchmark programs (not the library)
  Test,         ///< unit tests of the error model itself
};

/// Stable lower-case name of an origin, e.g. "s3"; "error" for Unknown. Thread-safe, never fails.
std::string_view to_string(Origin origin) noexcept;

/// One failure, with enough context to log and act on it.
///
/// - `code`: what the caller should do (see is_retryable()).
/// - `origin`: the layer or backend that failed (Origin).
/// - `message`: human-readable, never contains secrets.
/// - `detail_code`: the backend's own code (S3 error code such as "NoSuchKey", HTTP status as text,
///   curl error name, AMQP reply code, SQLSTATE), empty if none.
/// - `request_id`: the server's request id (S3 x-amz-request-id) when known, for support tickets.
/// - `http_status`: HTTP status when the error came from an HTTP response, else 0.
struct Error {
  ErrorCode code = ErrorCode::Internal;
  Origin origin = Origin::Unknown;
  std::string message;
  std::string detail_code;
  std::string request_id;
  int http_status = 0;

  /// True for Unavailable and Aborted: the same operation may succeed if retried later.
  [[nodiscard]] bool is_retryable() const noexcept {
    return code == ErrorCode::Unavailable || code == ErrorCode::Aborted;
  }

  /// One-line rendering: "<origin>: <Code>: <message> [detail_code] (request_id=...)".
  [[nodiscard]] std::string to_string() const;
};

/// Convenience constructor: make_error(ErrorCode::InvalidArgument, Origin::Protocol, "field 'sha256': ...").
Error make_error(ErrorCode code, Origin origin, std::string message, std::string detail_code = {});

}  // namespace claimcheck
