// Unit tests with a scripted local HTTP server: GET resume without duplicate bytes, retries of 503
// SlowDown, abort of a failed multipart upload, signing headers present.
#include <gtest/gtest.h>

#include "claimcheck/core/sha256.h"

#include "claimcheck/s3/s3_client.h"
#include "s3/s3_internal.h"
#include "s3_fake_server.h"
#include "s3_test_util.h"

using namespace claimcheck;
using namespace claimcheck::s3;
using namespace claimcheck::test;
using namespace std::chrono_literals;

namespace {

std::string pattern(std::uint64_t from, std::uint64_t n) {
  std::string s(n, '\0');
  for (std::uint64_t i = 0; i < n; ++i) s[i] = static_cast<char>(pattern_byte(from + i));
  return s;
}

S3Config fake_config(const FakeS3Server& srv) {
  S3Config c;
  c.endpoint = srv.endpoint();
  c.access_key = "AKFAKE";
  c.secret_key = "fake-secret";
  c.retry.initial = 1ms;
  c.retry.max = 5ms;
  c.retry.max_attempts = 4;
  return c;
}

std::string ok_head(int status, const std::string& extra, std::uint64_t content_length) {
  std::string reason = status == 206 ? "Partial Content" : "OK";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n" + extra +
         "Content-Length: " + std::to_string(content_length) + "\r\nx-amz-request-id: rid-" + std::to_string(status) +
         "\r\n\r\n";
}

constexpr std::uint64_t kSize = 100000;

}  // namespace

TEST(S3Retry, GetResumesWithRangeAfterTruncation) {
  FakeS3Server srv([](const FakeRequest& req, int i) -> FakeResponse {
    if (i == 0) {  // whole object announced, 40000 bytes sent, connection dropped
      return {ok_head(200, "ETag: \"e1\"\r\nContent-Type: text/plain\r\n", kSize) + pattern(0, 40000), true};
    }
    const auto range = req.headers.count("range") ? req.headers.at("range") : "";
    if (range != "bytes=40000-") return {"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n", true};
    return {ok_head(206, "ETag: \"e1\"\r\nContent-Range: bytes 40000-99999/100000\r\n", kSize - 40000) +
                pattern(40000, kSize - 40000),
            false};
  });
  auto client = S3Client::create(fake_config(srv));
  ASSERT_TRUE(client);
  PatternCheckSink sink;
  auto r = client->get_object("bucket", "some/key", sink);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(sink.count(), kSize);
  EXPECT_EQ(sink.mismatches(), 0U) << "first mismatch at " << sink.first_mismatch();
  EXPECT_EQ(r->size, kSize);
  EXPECT_EQ(r->etag, "e1");
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2U);
  EXPECT_EQ(reqs[0].headers.count("range"), 0U);
  EXPECT_EQ(reqs[1].headers.at("range"), "bytes=40000-");
  EXPECT_EQ(reqs[1].headers.at("if-match"), "\"e1\"");
  EXPECT_EQ(reqs[0].target, "/bucket/some/key");
  EXPECT_EQ(client->stats().retries, 1U);
  EXPECT_EQ(client->stats().bytes_received, kSize);
}

TEST(S3Retry, ResumeWhenServerIgnoresRangeSkipsDeliveredBytes) {
  FakeS3Server srv([](const FakeRequest&, int i) -> FakeResponse {
    if (i == 0) return {ok_head(200, "ETag: \"e1\"\r\n", kSize) + pattern(0, 30000), true};
    return {ok_head(200, "ETag: \"e1\"\r\n", kSize) + pattern(0, kSize), false};  // Range ignored
  });
  auto client = S3Client::create(fake_config(srv));
  ASSERT_TRUE(client);
  PatternCheckSink sink;
  auto r = client->get_object("bucket", "k", sink);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(sink.count(), kSize);
  EXPECT_EQ(sink.mismatches(), 0U);
}

TEST(S3Retry, RangedGetResumesInsideTheRange) {
  FakeS3Server srv([](const FakeRequest& req, int i) -> FakeResponse {
    if (i == 0) {
      return {ok_head(206, "ETag: \"e2\"\r\nContent-Range: bytes 1000-50999/100000\r\n", 50000) + pattern(1000, 20000),
              true};
    }
    if (req.headers.at("range") != "bytes=21000-50999") return {"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n", true};
    return {ok_head(206, "ETag: \"e2\"\r\nContent-Range: bytes 21000-50999/100000\r\n", 30000) + pattern(21000, 30000),
            false};
  });
  auto client = S3Client::create(fake_config(srv));
  ASSERT_TRUE(client);
  PatternCheckSink sink(1000);
  auto r = client->get_object("bucket", "k", sink, std::make_pair<std::uint64_t, std::uint64_t>(1000, 50999));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(sink.count(), 50000U);
  EXPECT_EQ(sink.mismatches(), 0U);
  EXPECT_EQ(r->size, kSize);
  EXPECT_EQ(srv.requests().at(0).headers.at("range"), "bytes=1000-50999");
}

TEST(S3Retry, SlowDownIsRetriedThenSucceeds) {
  const std::string slow =
      "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
  FakeS3Server srv([&](const FakeRequest&, int i) -> FakeResponse {
    if (i < 2) {
      return {"HTTP/1.1 503 Slow Down\r\nContent-Length: " + std::to_string(slow.size()) +
                  "\r\nx-amz-request-id: rid-slow\r\n\r\n" + slow,
              false};
    }
    return {"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 0\r\n\r\n", false};
  });
  auto client = S3Client::create(fake_config(srv));
  ASSERT_TRUE(client);
  PutOptions o;
  o.metadata = {{"sha256", "ff"}};
  auto r = client->put_object("bucket", "k", std::string_view("payload"), o);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->etag, "abc");
  EXPECT_EQ(client->stats().attempts, 3U);
  EXPECT_EQ(client->stats().retries, 2U);
  EXPECT_EQ(client->stats().connects, 1U);  // 503 keeps the connection
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 3U);
  for (const auto& q : reqs) {
    EXPECT_EQ(q.method, "PUT");
    EXPECT_EQ(q.body, "payload");  // the body is re-sent in full on each attempt
    EXPECT_EQ(q.headers.at("x-amz-content-sha256"), sha256_hex(std::string_view("payload")));
    EXPECT_EQ(q.headers.at("authorization").rfind("AWS4-HMAC-SHA256 Credential=AKFAKE/", 0), 0U);
    EXPECT_EQ(q.headers.at("authorization").find("fake-secret"), std::string::npos);
    EXPECT_EQ(q.headers.at("x-amz-meta-sha256"), "ff");
  }
}

// A caller that already hashed the body (the producer's encoder) hands the hash over: it is sent as is
// (no second pass over the body), on every attempt; a malformed one is refused before any request.
TEST(S3Retry, GivenBodySha256IsSentInsteadOfHashingAgain) {
  FakeS3Server srv([](const FakeRequest&, int i) -> FakeResponse {
    if (i == 0) return {"HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\n\r\n", false};
    return {"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 0\r\n\r\n", false};
  });
  auto client = S3Client::create(fake_config(srv));
  ASSERT_TRUE(client);
  PutOptions o;
  o.body_sha256 = std::string(64, 'a');  // not the body's hash: proves it is not recomputed (RGW would refuse it)
  auto r = client->put_object("bucket", "k", std::string_view("payload"), o);
  ASSERT_TRUE(r) << r.error().to_string();
  const auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2U);
  for (const auto& q : reqs) EXPECT_EQ(q.headers.at("x-amz-content-sha256"), std::string(64, 'a'));

  for (const std::string& bad : {std::string(63, 'a'), std::string(64, 'A'), std::string(63, 'a') + "g"}) {
    o.body_sha256 = bad;
    auto refused = client->put_object("bucket", "k", std::string_view("payload"), o);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::InvalidArgument);
  }
  EXPECT_EQ(srv.requests().size(), 2U);  // nothing sent for the malformed ones
}

TEST(S3Retry, SlowDownExhaustsAttempts) {
  FakeS3Server srv([](const FakeRequest&, int) -> FakeResponse {
    const std::string b = "<Error><Code>SlowDown</Code><RequestId>xml-rid</RequestId></Error>";
    return {"HTTP/1.1 503 Slow Down\r\nContent-Length: " + std::to_string(b.size()) +
                "\r\nx-amz-request-id: hdr-rid\r\n\r\n" + b,
            false};
  });
  auto client = S3Client::create(fake_config(srv));
  ASSERT_TRUE(client);
  auto r = client->head_object("bucket", "k");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(r.error().http_status, 503);
  EXPECT_EQ(r.error().detail_code, "ServiceUnavailable");  // HEAD: no body is read
  EXPECT_EQ(r.error().request_id, "hdr-rid");
  EXPECT_EQ(client->stats().attempts, 4U);
  StringSink sink;
  auto g = client->get_object("bucket", "k", sink);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().detail_code, "SlowDown");
  EXPECT_TRUE(sink.data().empty());
}

TEST(S3Retry, FailedPartAbortsTheUpload) {
  FakeS3Server srv([](const FakeRequest& req, int) -> FakeResponse {
    if (req.method == "POST" && req.target.ends_with("?uploads=")) {
      const std::string b = "<InitiateMultipartUploadResult><UploadId>up~1</UploadId></InitiateMultipartUploadResult>";
      return {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b, false};
    }
    if (req.method == "PUT") {
      const std::string b = "<Error><Code>AccessDenied</Code></Error>";
      return {"HTTP/1.1 403 Forbidden\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b, false};
    }
    return {"HTTP/1.1 204 No Content\r\n\r\n", false};  // DELETE ?uploadId=
  });
  S3Config cfg = fake_config(srv);
  cfg.part_size = 5 * kMiB;
  auto client = S3Client::create(cfg);
  ASSERT_TRUE(client);
  PatternSource src(cfg.part_size + 10);
  PutOptions o;
  o.content_type = "application/zstd";
  auto r = client->put_object("bucket", "dir/obj", src, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::PermissionDenied);
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 3U);
  EXPECT_EQ(reqs[0].target, "/bucket/dir/obj?uploads=");
  EXPECT_EQ(reqs[0].headers.at("content-type"), "application/zstd");
  EXPECT_EQ(reqs[1].target, "/bucket/dir/obj?partNumber=1&uploadId=up~1");
  EXPECT_EQ(reqs[1].body.size(), cfg.part_size);
  EXPECT_EQ(reqs[2].method, "DELETE");
  EXPECT_EQ(reqs[2].target, "/bucket/dir/obj?uploadId=up~1");
}
