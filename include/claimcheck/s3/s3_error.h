#pragma once
/// Error mapping for the S3 client: libcurl transport codes and S3 XML error responses → claimcheck::Error.

#include <string_view>

#include "claimcheck/core/error.h"

namespace claimcheck::s3 {

/// Maps a libcurl CURLcode (as int) to an Error with Origin::Curl, detail_code the CURLE_* name and
/// `context` (e.g. "GET bucket/key") in the message.
/// Unavailable: connect/resolve failures, timeouts, send/recv errors, empty reply, partial transfer, TLS
/// handshake failure. PermissionDenied: TLS peer verification failed. InvalidArgument: malformed URL,
/// unsupported protocol, bad CA file. Internal: everything else (incl. CURLE_OK passed by mistake).
/// Pure function, thread-safe.
[[nodiscard]] Error map_curl_error(int curl_code, std::string_view context);

/// Maps an S3 error response (HTTP status + `<Error><Code/><Message/><RequestId/></Error>` body, possibly
/// empty or not XML) to an Error with Origin::S3, detail_code the S3 code (or e.g. "NotFound" from the
/// status when the body has none), http_status, and request_id (the `request_id` argument, which is the
/// x-amz-request-id header, else the XML RequestId).
/// PermissionDenied: 401, 403, AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch,
/// RequestTimeTooSkewed. NotFound: 404 (NoSuchKey, NoSuchBucket, NoSuchUpload, ...). FailedPrecondition:
/// 412, 409 (BucketAlreadyExists, ...). Unavailable: 5xx (except 501), 408, 429, SlowDown, RequestTimeout,
/// OperationAborted, ServiceUnavailable, InternalError. DataLoss: BadDigest, XAmzContentSHA256Mismatch.
/// InvalidArgument: other 4xx (InvalidRange, MalformedXML, EntityTooSmall, ...). Internal: 501, others.
/// Pure function, thread-safe.
[[nodiscard]] Error map_s3_error(long http_status, std::string_view xml_body, std::string_view request_id);

}  // namespace claimcheck::s3
