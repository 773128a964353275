// Unit tests: SigV4 presigned GET URLs (signer against AWS's documented example, URL parsing, endpoint check).
#include <gtest/gtest.h>

#include "claimcheck/s3/presign.h"
#include "claimcheck/core/time.h"

using namespace claimcheck;
using namespace claimcheck::s3;
using namespace std::chrono_literals;

namespace {

// AWS S3 API reference, "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)",
// example: GET examplebucket/test.txt, 2013-05-24T00:00:00Z, us-east-1, 86400 s.
PresignRequest aws_example() {
  PresignRequest r;
  r.endpoint = "https://s3.amazonaws.com";
  r.region = "us-east-1";
  r.access_key = "AKIAIOSFODNN7EXAMPLE";
  r.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  r.bucket = "examplebucket";
  r.key = "test.txt";
  r.expires = 86400s;
  r.signing_time = *parse_rfc3339("2013-05-24T00:00:00Z");
  r.path_style = false;
  return r;
}

constexpr const char* kAwsExampleUrl =
    "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

std::string local_url(std::string endpoint = "http://127.0.0.1:7480", bool path_style = true) {
  PresignRequest r = aws_example();
  r.endpoint = std::move(endpoint);
  r.path_style = path_style;
  r.bucket = "claimcheck";
  r.key = "p/2024/01/02/x.json.zst";
  auto u = presign_get(r);
  EXPECT_TRUE(u) << u.error().to_string();
  return u ? *u : std::string();
}

}  // namespace

TEST(S3Presign, MatchesAwsDocumentedExample) {
  auto url = presign_get(aws_example());
  ASSERT_TRUE(url) << url.error().to_string();
  EXPECT_EQ(*url, kAwsExampleUrl);
}

TEST(S3Presign, SignatureDependsOnEveryInput) {
  const std::string base = *presign_get(aws_example());
  auto changed = [](auto mutate) {
    PresignRequest r = aws_example();
    mutate(r);
    return *presign_get(r);
  };
  EXPECT_NE(base, changed([](PresignRequest& r) { r.secret_key += "x"; }));
  EXPECT_NE(base, changed([](PresignRequest& r) { r.region = "eu-west-1"; }));
  EXPECT_NE(base, changed([](PresignRequest& r) { r.key = "test2.txt"; }));
  EXPECT_NE(base, changed([](PresignRequest& r) { r.expires = 3600s; }));
  EXPECT_NE(base, changed([](PresignRequest& r) { r.signing_time += 1s; }));
  EXPECT_EQ(base, changed([](PresignRequest& r) { r.signing_time += 999ms; }));  // whole seconds
}

TEST(S3Presign, PathStyleLocalEndpointKeepsPortAndNeverTheSecret) {
  const std::string url = local_url();
  EXPECT_TRUE(url.starts_with("http://127.0.0.1:7480/claimcheck/p/2024/01/02/x.json.zst?X-Amz-Algorithm="));
  EXPECT_EQ(url.find("wJalrXUtnFEMI"), std::string::npos);
  EXPECT_EQ(url.find("EXAMPLEKEY"), std::string::npos);
}

TEST(S3Presign, RefusesBadRequests) {
  auto refused = [](auto mutate) {
    PresignRequest r = aws_example();
    mutate(r);
    auto u = presign_get(r);
    EXPECT_FALSE(u);
    if (!u) {
      EXPECT_EQ(u.error().code, ErrorCode::InvalidArgument);
      EXPECT_EQ(u.error().message.find("EXAMPLEKEY"), std::string::npos);
    }
  };
  refused([](PresignRequest& r) { r.expires = 604801s; });
  refused([](PresignRequest& r) { r.expires = 0s; });
  refused([](PresignRequest& r) { r.secret_key.clear(); });
  refused([](PresignRequest& r) { r.access_key.clear(); });
  refused([](PresignRequest& r) { r.key = "../etc"; });
  refused([](PresignRequest& r) { r.bucket = "A"; });
  refused([](PresignRequest& r) { r.endpoint = "ftp://x"; });
  PresignRequest seven = aws_example();
  seven.expires = kMaxPresignExpiry;
  EXPECT_TRUE(presign_get(seven));
}

TEST(S3Presign, FromConfigNeedsKeys) {
  S3Config cfg;
  cfg.endpoint = "http://127.0.0.1:7480";
  auto none = presign_get(cfg, "claimcheck", "k", 60s, utc_now());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::InvalidArgument);
  cfg.access_key = "a";
  cfg.secret_key = "s";
  EXPECT_TRUE(presign_get(cfg, "claimcheck", "k", 60s, utc_now()));
}

TEST(S3PresignedUrl, ParsesTheAwsExample) {
  auto p = parse_presigned_url(kAwsExampleUrl);
  ASSERT_TRUE(p) << p.error().to_string();
  EXPECT_EQ(p->scheme, "https");
  EXPECT_EQ(p->host, "examplebucket.s3.amazonaws.com");
  EXPECT_EQ(p->port, 443);
  EXPECT_EQ(p->path, "/test.txt");
  EXPECT_EQ(p->signed_at, *parse_rfc3339("2013-05-24T00:00:00Z"));
  EXPECT_EQ(p->expires, 86400s);
  EXPECT_EQ(p->expires_at(), *parse_rfc3339("2013-05-25T00:00:00Z"));
}

TEST(S3PresignedUrl, RefusesMalformedUrls) {
  const std::string good = local_url();
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string u = good;
    u.replace(u.find(from), from.size(), to);
    return u;
  };
  const std::string sig = good.substr(good.find("X-Amz-Signature=") + 16);
  for (const std::string& bad :
       {std::string("ftp://127.0.0.1/claimcheck/k?X-Amz-Signature=" + sig), replaced("http://", "http://u@"),
        good + "#frag", replaced("?", "? "), good + "&X-Amz-Signature=" + sig, replaced("AWS4-HMAC-SHA256", "AWS4-X"),
        replaced("X-Amz-Expires=86400", "X-Amz-Expires=604801"), replaced("X-Amz-Expires=86400", "X-Amz-Expires=-1"),
        replaced("X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013-05-24"), replaced(sig, sig.substr(1)),
        replaced(sig, "Z" + sig.substr(1)), replaced("&X-Amz-Credential=", "&X-Amz-Cred="),
        std::string("http://127.0.0.1:7480?X-Amz-Signature=") + sig, good + std::string(4096, 'a')}) {
    auto p = parse_presigned_url(bad);
    EXPECT_FALSE(p) << bad;
    if (!p) {
      EXPECT_EQ(p.error().message.find(sig), std::string::npos) << "signature in error: " << bad;
    }
  }
}

TEST(S3PresignedUrl, EndpointHostRule) {
  auto check = [](const std::string& url, std::string_view endpoint, std::string_view key = "p/2024/01/02/x.json.zst") {
    auto p = parse_presigned_url(url);
    EXPECT_TRUE(p) << url;
    return p ? check_presigned_target(*p, endpoint, "claimcheck", key) : Result<void>(ok());
  };
  const std::string url = local_url();
  EXPECT_TRUE(check(url, "http://127.0.0.1:7480"));
  EXPECT_TRUE(check(url, "http://127.0.0.1:7480/"));
  EXPECT_TRUE(check(local_url("http://127.0.0.1:7480", false), "http://127.0.0.1:7480"));  // virtual-hosted
  EXPECT_TRUE(check(local_url("http://S3.Example.com"), "http://s3.example.com:80"));    // case, default port
  for (const char* other : {"http://127.0.0.2:7480", "http://127.0.0.1:7481", "https://127.0.0.1:7480",
                            "http://localhost:7480"}) {
    auto r = check(url, other);
    ASSERT_FALSE(r) << other;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(r.error().message.find("not at the configured S3 endpoint"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("X-Amz-Signature"), std::string::npos);
  }
  auto evil = check(local_url("http://evil.example.com:7480"), "http://127.0.0.1:7480");
  EXPECT_FALSE(evil);
  auto other_key = check(url, "http://127.0.0.1:7480", "p/other");
  ASSERT_FALSE(other_key);
  EXPECT_NE(other_key.error().message.find("not the pointer's object"), std::string::npos);
  // A host that merely ends with the endpoint's host is another host.
  auto suffix = check(local_url("http://x127.0.0.1:7480"), "http://127.0.0.1:7480");
  EXPECT_FALSE(suffix);
}

TEST(S3Config, KeysBothOrNeither) {
  S3Config cfg;
  cfg.endpoint = "http://127.0.0.1:7480";
  auto none = cfg.validate();
  EXPECT_TRUE(none) << none.error().to_string();
  EXPECT_FALSE(cfg.has_credentials());
  cfg.access_key = "a";
  auto half = cfg.validate();
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().message.find("secret_key"), std::string::npos);
  cfg.secret_key = "s";
  EXPECT_TRUE(cfg.validate());
  EXPECT_TRUE(cfg.has_credentials());
}
