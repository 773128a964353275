// Mapping of libcurl codes and S3 error responses to claimcheck::Error.
#include "claimcheck/s3/s3_error.h"

#include <curl/curl.h>

#include <pugixml.hpp>

#include <array>
#include <string>
#include <utility>

namespace claimcheck::s3 {
namespace {

struct CurlName {
  CURLcode code;
  const char* name;
};

constexpr std::array kCurlNames{
    CurlName{CURLE_OK, "CURLE_OK"},
    CurlName{CURLE_UNSUPPORTED_PROTOCOL, "CURLE_UNSUPPORTED_PROTOCOL"},
    CurlName{CURLE_URL_MALFORMAT, "CURLE_URL_MALFORMAT"},
    CurlName{CURLE_COULDNT_RESOLVE_PROXY, "CURLE_COULDNT_RESOLVE_PROXY"},
    CurlName{CURLE_COULDNT_RESOLVE_HOST, "CURLE_COULDNT_RESOLVE_HOST"},
    CurlName{CURLE_COULDNT_CONNECT, "CURLE_COULDNT_CONNECT"},
    CurlName{CURLE_WEIRD_SERVER_REPLY, "CURLE_WEIRD_SERVER_REPLY"},
    CurlName{CURLE_HTTP2, "CURLE_HTTP2"},
    CurlName{CURLE_PARTIAL_FILE, "CURLE_PARTIAL_FILE"},
    CurlName{CURLE_WRITE_ERROR, "CURLE_WRITE_ERROR"},
    CurlName{CURLE_READ_ERROR, "CURLE_READ_ERROR"},
    CurlName{CURLE_OUT_OF_MEMORY, "CURLE_OUT_OF_MEMORY"},
    CurlName{CURLE_OPERATION_TIMEDOUT, "CURLE_OPERATION_TIMEDOUT"},
    CurlName{CURLE_RANGE_ERROR, "CURLE_RANGE_ERROR"},
    CurlName{CURLE_SSL_CONNECT_ERROR, "CURLE_SSL_CONNECT_ERROR"},
    CurlName{CURLE_ABORTED_BY_CALLBACK, "CURLE_ABORTED_BY_CALLBACK"},
    CurlName{CURLE_BAD_FUNCTION_ARGUMENT, "CURLE_BAD_FUNCTION_ARGUMENT"},
    CurlName{CURLE_TOO_MANY_REDIRECTS, "CURLE_TOO_MANY_REDIRECTS"},
    CurlName{CURLE_GOT_NOTHING, "CURLE_GOT_NOTHING"},
    CurlName{CURLE_SEND_ERROR, "CURLE_SEND_ERROR"},
    CurlName{CURLE_RECV_ERROR, "CURLE_RECV_ERROR"},
    CurlName{CURLE_SSL_CERTPROBLEM, "CURLE_SSL_CERTPROBLEM"},
    CurlName{CURLE_SSL_CIPHER, "CURLE_SSL_CIPHER"},
    CurlName{CURLE_PEER_FAILED_VERIFICATION, "CURLE_PEER_FAILED_VERIFICATION"},
    CurlName{CURLE_SEND_FAIL_REWIND, "CURLE_SEND_FAIL_REWIND"},
    CurlName{CURLE_SSL_CACERT_BADFILE, "CURLE_SSL_CACERT_BADFILE"},
    CurlName{CURLE_HTTP2_STREAM, "CURLE_HTTP2_STREAM"},
    CurlName{CURLE_HTTP3, "CURLE_HTTP3"},
};

std::string curl_name(int code) {
  for (const auto& n : kCurlNames) {
    if (static_cast<int>(n.code) == code) return n.name;
  }
  return "CURLE_" + std::to_string(code);
}

ErrorCode curl_code_class(int code) {
  switch (static_cast<CURLcode>(code)) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      return ErrorCode::Unavailable;
    case CURLE_PEER_FAILED_VERIFICATION:
      return ErrorCode::PermissionDenied;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CIPHER:
      return ErrorCode::InvalidArgument;
    default:
      return ErrorCode::Internal;
  }
}

bool is_one_of(std::string_view code, std::initializer_list<std::string_view> list) {
  for (auto c : list) {
    if (code == c) return true;
  }
  return false;
}

std::string status_code_name(long status) {
  switch (status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 408: return "RequestTimeout";
    case 409: return "Conflict";
    case 411: return "LengthRequired";
    case 412: return "PreconditionFailed";
    case 416: return "InvalidRange";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 501: return "NotImplemented";
    case 502: return "BadGateway";
    case 503: return "ServiceUnavailable";
    case 504: return "GatewayTimeout";
    default: return "HTTP" + std::to_string(status);
  }
}

ErrorCode classify(long status, std::string_view code) {
  // The S3 code is more specific than the status; check it first.
  if (is_one_of(code, {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "RequestTimeTooSkewed",
                       "ExpiredToken", "InvalidToken", "AllAccessDisabled", "AccountProblem", "UserSuspended"})) {
    return ErrorCode::PermissionDenied;
  }
  if (is_one_of(code, {"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NoSuchLifecycleConfiguration", "NoSuchVersion"})) {
    return ErrorCode::NotFound;
  }
  if (is_one_of(code, {"PreconditionFailed"})) return ErrorCode::FailedPrecondition;
  if (is_one_of(code, {"SlowDown", "RequestTimeout", "OperationAborted", "ServiceUnavailable", "InternalError",
                       "InternalServerError", "ThrottlingException", "Throttling", "RequestThrottled",
                       "TooManyRequests"})) {
    return ErrorCode::Unavailable;
  }
  if (is_one_of(code, {"BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"})) return ErrorCode::DataLoss;
  if (is_one_of(code, {"NotImplemented"})) return ErrorCode::Internal;
  if (status == 401 || status == 403) return ErrorCode::PermissionDenied;
  if (status == 404) return ErrorCode::NotFound;
  if (status == 412 || status == 409) return ErrorCode::FailedPrecondition;
  if (status == 408 || status == 429) return ErrorCode::Unavailable;
  if (status == 501) return ErrorCode::Internal;
  if (status >= 500 && status <= 599) return ErrorCode::Unavailable;
  if (status >= 400 && status <= 499) return ErrorCode::InvalidArgument;
  return ErrorCode::Internal;
}

}  // namespace

Error map_curl_error(int curl_code, std::string_view context) {
  Error e;
  e.code = curl_code_class(curl_code);
  e.origin = Origin::Curl;
  e.detail_code = curl_name(curl_code);
  e.message = std::string(context);
  if (!e.message.empty()) e.message += ": ";
  e.message += curl_easy_strerror(static_cast<CURLcode>(curl_code));
  return e;
}

Error map_s3_error(long http_status, std::string_view xml_body, std::string_view request_id) {
  std::string code, message, xml_request_id;
  if (!xml_body.empty()) {
    pugi::xml_document doc;
    if (doc.load_buffer(xml_body.data(), xml_body.size(), pugi::parse_default, pugi::encoding_utf8)) {
      pugi::xml_node err = doc.child("Error");
      if (err) {
        code = err.child_value("Code");
        message = err.child_value("Message");
        xml_request_id = err.child_value("RequestId");
      }
    }
  }
  Error e;
  e.origin = Origin::S3;
  e.http_status = static_cast<int>(http_status);
  e.detail_code = code.empty() ? status_code_name(http_status) : code;
  e.code = classify(http_status, code);
  e.request_id = request_id.empty() ? xml_request_id : std::string(request_id);
  e.message = "HTTP " + std::to_string(http_status) + " " + e.detail_code;
  if (!message.empty()) e.message += ": " + message;
  return e;
}

}  // namespace claimcheck::s3
