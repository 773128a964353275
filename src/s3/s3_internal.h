#pragma once
/// Private helpers of the S3 client (pure functions, unit-tested in tests/unit/s3_*_test.cpp).

#include <chrono>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "claimcheck/core/result.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/core/retry.h"

namespace claimcheck::s3::detail {

/// Parsed `scheme://host[:port]` endpoint. `port` 0 = scheme default (not written in URLs).
struct Endpoint {
  std::string scheme;  ///< "http" or "https"
  std::string host;    ///< host name, IPv4 or `[IPv6]`
  int port = 0;
};

/// Parses an endpoint URL; a trailing `/` is allowed, any other path, query, userinfo → InvalidArgument.
Result<Endpoint> parse_endpoint(std::string_view url);

/// InvalidArgument unless key matches `[A-Za-z0-9._~/-]{1,1024}`, no leading `/`, no `.` or `..` segment.
Result<void> check_key(std::string_view key);
/// InvalidArgument unless bucket matches `[a-z0-9.-]{3,63}`, starting and ending alphanumeric.
Result<void> check_bucket(std::string_view bucket);
/// InvalidArgument unless name matches `[a-z0-9-]+` and value is printable ASCII.
Result<void> check_metadata(const std::map<std::string, std::string>& md);

/// RFC 3986 / SigV4 URI encoding: unreserved `A-Za-z0-9-._~` kept, everything else `%XX` (upper hex);
/// `/` kept when `keep_slash`.
std::string uri_encode(std::string_view s, bool keep_slash);

/// Full request URL. Path-style: `scheme://host:port/bucket[/key]`; virtual-hosted:
/// `scheme://bucket.host:port/[key]`. `query` is appended verbatim after `?` when non-empty (it must already
/// be sorted and encoded, as curl signs it as written). bucket empty → service root `/`.
std::string build_url(const Endpoint& ep, bool path_style, std::string_view bucket, std::string_view key,
                      std::string_view query);

/// Raw 32-byte HMAC-SHA256 (RFC 2104, FIPS 180-4) of `data` under `key` (OpenSSL HMAC).
std::string hmac_sha256(std::string_view key, std::string_view data);
/// Lowercase hex MD5 of `data` (single-part S3 ETag).
std::string md5_hex(std::span<const std::byte> data);
/// Base64 MD5 of `data` (Content-MD5 header).
std::string md5_base64(std::span<const std::byte> data);
/// View a string's bytes.
inline std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// Strips surrounding double quotes (and a `W/` prefix) from an ETag.
std::string unquote_etag(std::string_view etag);

/// Parses `2009-10-12T17:50:30.000Z` (fraction optional); epoch (time_point{}) on failure and for instants
/// before 1970 or past system_clock's range (2262-04-11).
std::chrono::system_clock::time_point parse_iso8601(std::string_view s);
/// Parses an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`); epoch on failure, as parse_iso8601.
std::chrono::system_clock::time_point parse_http_date(std::string_view s);


// ---- XML bodies (pugixml) ----

/// `<Delete><Quiet>true</Quiet><Object><Key>..</Key></Object>...</Delete>`.
std::string build_delete_xml(std::span<const ObjectVersion> objects);
/// One failed key of a DeleteObjects response.
struct DeleteFailure {
  std::string key, code, message;
};
/// Parses `<DeleteResult>`; returns the `<Error>` entries. Not XML / wrong root → Internal.
Result<std::vector<DeleteFailure>> parse_delete_result(std::string_view xml);

/// Parses `<ListBucketResult>` (ListObjectsV2). Not XML / wrong root → Internal.
Result<ListPage> parse_list_v2(std::string_view xml);
/// Parses `<ListMultipartUploadsResult>`.
Result<std::vector<MultipartUpload>> parse_list_uploads(std::string_view xml);
/// Parses `<InitiateMultipartUploadResult>` → UploadId.
Result<std::string> parse_initiate(std::string_view xml);
/// `<CompleteMultipartUpload>` with `<Part><PartNumber/><ETag>"etag"</ETag></Part>` per part (1-based order).
std::string build_complete_xml(std::span<const std::string> etags);
/// Parses `<CompleteMultipartUploadResult>` → unquoted ETag; an `<Error>` body (sent with HTTP 200) → the
/// mapped error; other → Internal.
Result<std::string> parse_complete(std::string_view xml, std::string_view request_id);

/// Validates rules (non-empty, unique ids 1..255 chars, >= 1 action, days >= 0; the id UTF-8 without control
/// characters or leading/trailing space and the prefix of key characters [A-Za-z0-9._~/-], so both round-trip
/// through XML) → InvalidArgument.
Result<void> check_lifecycle_rules(std::span<const LifecycleRule> rules);
/// `<LifecycleConfiguration>` from rules (Filter/Prefix, Status, Expiration/Days, AbortIncomplete...).
std::string build_lifecycle_xml(std::span<const LifecycleRule> rules);
/// Parses `<LifecycleConfiguration>` (Prefix at rule level or in Filter[/And]).
Result<std::vector<LifecycleRule>> parse_lifecycle(std::string_view xml);
/// Returns `existing_xml` (may be empty = no configuration) with the rule of `rule.id` replaced by (or
/// appended as) `rule`; other rules kept verbatim.
Result<std::string> merge_lifecycle_xml(std::string_view existing_xml, const LifecycleRule& rule);

}  // namespace claimcheck::s3::detail
