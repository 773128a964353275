// Unit tests: curl and S3 XML error mapping with canned inputs.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include "claimcheck/s3/s3_error.h"

using namespace claimcheck;
using namespace claimcheck::s3;

namespace {

std::string s3_xml(const std::string& code, const std::string& msg = "msg", const std::string& rid = "") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" + msg +
         "</Message><Resource>/b/k</Resource><RequestId>" + rid + "</RequestId></Error>";
}

}  // namespace

TEST(S3CurlError, TransientCodesAreUnavailable) {
  for (CURLcode c : {CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR,
                     CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_SSL_CONNECT_ERROR}) {
    auto e = map_curl_error(static_cast<int>(c), "GET b/k");
    EXPECT_EQ(e.code, ErrorCode::Unavailable) << c;
    EXPECT_TRUE(e.is_retryable());
    EXPECT_EQ(e.origin, claimcheck::Origin::Curl);
  }
}

TEST(S3CurlError, NamesAndContext) {
  auto e = map_curl_error(CURLE_COULDNT_CONNECT, "PUT bucket/key");
  EXPECT_EQ(e.detail_code, "CURLE_COULDNT_CONNECT");
  EXPECT_EQ(e.message.rfind("PUT bucket/key: ", 0), 0U) << e.message;
  EXPECT_NE(e.message.find("onnect"), std::string::npos) << e.message;
  EXPECT_EQ(map_curl_error(CURLE_OPERATION_TIMEDOUT, "").detail_code, "CURLE_OPERATION_TIMEDOUT");
  EXPECT_EQ(map_curl_error(9999, "x").detail_code, "CURLE_9999");
}

TEST(S3CurlError, PermanentCodes) {
  EXPECT_EQ(map_curl_error(CURLE_PEER_FAILED_VERIFICATION, "x").code, ErrorCode::PermissionDenied);
  EXPECT_EQ(map_curl_error(CURLE_URL_MALFORMAT, "x").code, ErrorCode::InvalidArgument);
  EXPECT_EQ(map_curl_error(CURLE_UNSUPPORTED_PROTOCOL, "x").code, ErrorCode::InvalidArgument);
  EXPECT_EQ(map_curl_error(CURLE_SSL_CACERT_BADFILE, "x").code, ErrorCode::InvalidArgument);
  EXPECT_EQ(map_curl_error(CURLE_WRITE_ERROR, "x").code, ErrorCode::Internal);
  EXPECT_EQ(map_curl_error(CURLE_OUT_OF_MEMORY, "x").code, ErrorCode::Internal);
  EXPECT_FALSE(map_curl_error(CURLE_PEER_FAILED_VERIFICATION, "x").is_retryable());
}

TEST(S3XmlError, NotFoundKeepsTheS3Code) {
  auto k = map_s3_error(404, s3_xml("NoSuchKey", "The specified key does not exist.", "tx1"), "");
  EXPECT_EQ(k.code, ErrorCode::NotFound);
  EXPECT_EQ(k.detail_code, "NoSuchKey");
  EXPECT_EQ(k.http_status, 404);
  EXPECT_EQ(k.request_id, "tx1");
  EXPECT_EQ(k.origin, claimcheck::Origin::S3);
  EXPECT_NE(k.message.find("The specified key does not exist."), std::string::npos);
  auto b = map_s3_error(404, s3_xml("NoSuchBucket"), "hdr-id");
  EXPECT_EQ(b.code, ErrorCode::NotFound);
  EXPECT_EQ(b.detail_code, "NoSuchBucket");
  EXPECT_EQ(b.request_id, "hdr-id");  // header wins over XML
}

TEST(S3XmlError, ForbiddenIsNeverNotFound) {
  for (const char* code : {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "RequestTimeTooSkewed"}) {
    auto e = map_s3_error(403, s3_xml(code), "r");
    EXPECT_EQ(e.code, ErrorCode::PermissionDenied) << code;
    EXPECT_EQ(e.detail_code, code);
    EXPECT_FALSE(e.is_retryable());
  }
  // 403 with no body (HEAD) still PermissionDenied; 404 with no body NotFound.
  auto h403 = map_s3_error(403, "", "r1");
  EXPECT_EQ(h403.code, ErrorCode::PermissionDenied);
  EXPECT_EQ(h403.detail_code, "Forbidden");
  EXPECT_EQ(h403.request_id, "r1");
  auto h404 = map_s3_error(404, "", "");
  EXPECT_EQ(h404.code, ErrorCode::NotFound);
  EXPECT_EQ(h404.detail_code, "NotFound");
}

TEST(S3XmlError, PreconditionAndConflict) {
  EXPECT_EQ(map_s3_error(412, s3_xml("PreconditionFailed"), "").code, ErrorCode::FailedPrecondition);
  EXPECT_EQ(map_s3_error(412, "", "").code, ErrorCode::FailedPrecondition);
  EXPECT_EQ(map_s3_error(409, s3_xml("BucketAlreadyExists"), "").code, ErrorCode::FailedPrecondition);
}

TEST(S3XmlError, TransientAreUnavailable) {
  EXPECT_EQ(map_s3_error(503, s3_xml("SlowDown"), "").code, ErrorCode::Unavailable);
  EXPECT_EQ(map_s3_error(500, s3_xml("InternalError"), "").code, ErrorCode::Unavailable);
  EXPECT_EQ(map_s3_error(400, s3_xml("RequestTimeout"), "").code, ErrorCode::Unavailable);
  EXPECT_EQ(map_s3_error(409, s3_xml("OperationAborted"), "").code, ErrorCode::Unavailable);
  EXPECT_EQ(map_s3_error(502, "<html>bad gateway</html>", "").code, ErrorCode::Unavailable);
  EXPECT_EQ(map_s3_error(504, "", "").code, ErrorCode::Unavailable);
  EXPECT_EQ(map_s3_error(429, "", "").code, ErrorCode::Unavailable);
  EXPECT_EQ(map_s3_error(503, "not xml at all <", "").detail_code, "ServiceUnavailable");
  EXPECT_TRUE(map_s3_error(503, s3_xml("SlowDown"), "").is_retryable());
}

TEST(S3XmlError, OtherClasses) {
  EXPECT_EQ(map_s3_error(501, s3_xml("NotImplemented"), "").code, ErrorCode::Internal);
  EXPECT_EQ(map_s3_error(400, s3_xml("XAmzContentSHA256Mismatch"), "").code, ErrorCode::DataLoss);
  EXPECT_EQ(map_s3_error(400, s3_xml("BadDigest"), "").code, ErrorCode::DataLoss);
  EXPECT_EQ(map_s3_error(400, s3_xml("MalformedXML"), "").code, ErrorCode::InvalidArgument);
  EXPECT_EQ(map_s3_error(416, s3_xml("InvalidRange"), "").code, ErrorCode::InvalidArgument);
  EXPECT_EQ(map_s3_error(400, s3_xml("EntityTooSmall"), "").code, ErrorCode::InvalidArgument);
  auto e = map_s3_error(400, s3_xml("InvalidBucketName", "bad"), "id9");
  EXPECT_EQ(e.to_string(), "s3: InvalidArgument: HTTP 400 InvalidBucketName: bad [InvalidBucketName] (request_id=id9)");
}
