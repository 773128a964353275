#pragma once
/// claimcheck::s3 presigned GET URLs: AWS Signature Version 4, query-string authentication
/// ("Authenticating Requests: Using Query Parameters", AWS S3 API reference). libcurl's CURLOPT_AWS_SIGV4
/// signs headers only, so the producer signs here (OpenSSL HMAC-SHA256) and a recipient without S3
/// credentials downloads with S3Client::get_presigned() (DESIGN.md §2, §9).
///
/// Usage:
///   auto url = s3::presign_get(producer_s3_config, "bucket", "claimcheck/x.zst", 3600s, utc_now());
///   // recipient, no keys:
///   auto info = client.get_presigned(*url, "bucket", "claimcheck/x.zst", sink);

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "claimcheck/core/result.h"
#include "claimcheck/s3/s3_client.h"

namespace claimcheck::s3 {

/// Longest validity SigV4 allows for a presigned URL (`X-Amz-Expires` <= 604800 s = 7 days).
inline constexpr std::chrono::seconds kMaxPresignExpiry{604800};

/// What to sign: a GET of `bucket/key` on `endpoint` (`http(s)://host[:port]`, as S3Config::endpoint).
///
/// - `expires`: validity after `signing_time`, 1 s .. kMaxPresignExpiry (whole seconds).
/// - `signing_time`: becomes `X-Amz-Date` (UTC, truncated to whole seconds); the URL is valid from then
///   until signing_time + expires.
/// - `path_style`: true → `endpoint/bucket/key`; false → virtual-hosted `scheme://bucket.host[:port]/key`.
/// - `secret_key` is used only as HMAC key material: it never appears in the URL, logs or errors.
struct PresignRequest {
  std::string endpoint;
  std::string region = "us-east-1";
  std::string access_key;
  std::string secret_key;  ///< never logged
  std::string bucket;
  std::string key;
  std::chrono::seconds expires{3600};
  std::chrono::system_clock::time_point signing_time{};
  bool path_style = true;
};

/// Builds the presigned GET URL of `req` (AWS Signature Version 4, query-string auth): query parameters
/// X-Amz-Algorithm=AWS4-HMAC-SHA256, X-Amz-Credential (`access/yyyymmdd/region/s3/aws4_request`),
/// X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders=host, payload UNSIGNED-PAYLOAD, then X-Amz-Signature
/// (hex HMAC-SHA256 with the key chain AWS4+secret → date → region → s3 → aws4_request).
/// Errors: InvalidArgument (Origin::S3) for a bad endpoint, bucket, key (S3Client rules), empty or
/// control-character credentials or region, expires outside 1 s .. 7 days, or a signing time before 1970.
/// Pure function (no clock, no I/O), thread-safe.
[[nodiscard]] Result<std::string> presign_get(const PresignRequest& req);

/// Convenience: presign_get() with endpoint, region, keys and addressing style taken from `cfg`.
/// Same errors; additionally InvalidArgument when `cfg` has no credentials.
[[nodiscard]] Result<std::string> presign_get(const S3Config& cfg, const std::string& bucket, const std::string& key,
                                              std::chrono::seconds expires,
                                              std::chrono::system_clock::time_point signing_time);

/// The parts of a presigned URL a recipient checks before and after using it (parse_presigned_url()).
/// `port` is the effective port (80 / 443 when the URL names none); `path` is as written (still encoded).
struct PresignedUrl {
  std::string scheme;  ///< "http" or "https"
  std::string host;    ///< lowercase, `[IPv6]` kept in brackets
  int port = 0;
  std::string path;
  std::chrono::system_clock::time_point signed_at{};  ///< X-Amz-Date
  std::chrono::seconds expires{0};                     ///< X-Amz-Expires

  /// signed_at + expires: after this instant S3 refuses the URL (403).
  [[nodiscard]] std::chrono::system_clock::time_point expires_at() const { return signed_at + expires; }
};

/// Parses and strictly checks a SigV4 presigned GET URL: `http(s)://host[:port]/path?query`, printable ASCII
/// without spaces, no userinfo (`@`), no fragment (`#`), at most kMaxPresignedUrlBytes; the query holds
/// X-Amz-Algorithm=AWS4-HMAC-SHA256, X-Amz-Credential, X-Amz-SignedHeaders, X-Amz-Signature (64 lowercase
/// hex), X-Amz-Date (`yyyymmddThhmmssZ`) and X-Amz-Expires (1..604800). Errors: InvalidArgument (origin
/// "s3") naming the rule; the message never repeats the signature. Pure function, thread-safe.
[[nodiscard]] Result<PresignedUrl> parse_presigned_url(std::string_view url);

/// Longest presigned URL accepted, in bytes (same as the pointer's `url` cap, protocol.h kMaxUrlBytes).
inline constexpr std::size_t kMaxPresignedUrlBytes = 4096;

/// The endpoint-host rule of a recipient (DESIGN.md §9: never an arbitrary host): ok only when `url`'s
/// scheme, host (case-insensitive) and effective port equal `endpoint`'s and its path is the one of
/// `bucket/key` there — path-style `/bucket/key` on the endpoint's host, or virtual-hosted `/key` on
/// `bucket.host`. Errors: InvalidArgument (Origin::S3) naming the URL's and the endpoint's host:port
/// (never the query). Pure function, thread-safe.
[[nodiscard]] Result<void> check_presigned_target(const PresignedUrl& url, std::string_view endpoint,
                                                  std::string_view bucket, std::string_view key);

}  // namespace claimcheck::s3
