// Unit tests: S3 client helpers (URL building, validation, hashing, XML, backoff, config).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "claimcheck/s3/s3_client.h"
#include "claimcheck/core/sha256.h"
#include "claimcheck/core/retry.h"
#include "s3/s3_internal.h"

using namespace claimcheck;
using namespace claimcheck::s3;
using namespace claimcheck::s3::detail;
using namespace std::chrono_literals;

TEST(S3Endpoint, Parses) {
  auto a = parse_endpoint("http://127.0.0.1:7480");
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->scheme, "http");
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7480);
  auto b = parse_endpoint("https://s3.example.com/");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->scheme, "https");
  EXPECT_EQ(b->host, "s3.example.com");
  EXPECT_EQ(b->port, 0);
  auto c = parse_endpoint("http://[::1]:9000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "[::1]");
  EXPECT_EQ(c->port, 9000);
  for (const char* bad : {"ftp://x", "127.0.0.1:80", "http://", "http://h:0", "http://h:70000", "http://h:x",
                          "http://h/path", "http://u:p@h", "http://h?x=1", "http://h:"}) {
    EXPECT_FALSE(parse_endpoint(bad)) << bad;
  }
}

TEST(S3Url, PathStyle) {
  Endpoint ep{"http", "127.0.0.1", 7480};
  EXPECT_EQ(build_url(ep, true, "bkt", "a/b.c", ""), "http://127.0.0.1:7480/bkt/a/b.c");
  EXPECT_EQ(build_url(ep, true, "bkt", "", "list-type=2&prefix="), "http://127.0.0.1:7480/bkt?list-type=2&prefix=");
  EXPECT_EQ(build_url(ep, true, "bkt", "k", "uploads="), "http://127.0.0.1:7480/bkt/k?uploads=");
  EXPECT_EQ(build_url(ep, true, "", "", ""), "http://127.0.0.1:7480/");
}

TEST(S3Url, VirtualHosted) {
  Endpoint ep{"https", "s3.example.com", 0};
  EXPECT_EQ(build_url(ep, false, "bkt", "a/b~c", ""), "https://bkt.s3.example.com/a/b~c");
  EXPECT_EQ(build_url(ep, false, "bkt", "", "lifecycle="), "https://bkt.s3.example.com/?lifecycle=");
  Endpoint local{"http", "localhost", 9000};
  EXPECT_EQ(build_url(local, false, "my.bucket", "k", "partNumber=1&uploadId=x"),
            "http://my.bucket.localhost:9000/k?partNumber=1&uploadId=x");
}

TEST(S3Url, UriEncode) {
  EXPECT_EQ(uri_encode("AZaz09-._~", false), "AZaz09-._~");
  EXPECT_EQ(uri_encode("a/b c+d=e", false), "a%2Fb%20c%2Bd%3De");
  EXPECT_EQ(uri_encode("a/b", true), "a/b");
  EXPECT_EQ(uri_encode("\xff", false), "%FF");
}

TEST(S3Key, Validation) {
  EXPECT_TRUE(check_key("prefix/AZaz09._~-/x"));
  EXPECT_TRUE(check_key("a.b/.hidden/c."));
  EXPECT_FALSE(check_key("a..b")) << "the protocol's key rule: no '..' anywhere";
  EXPECT_TRUE(check_key(std::string(1024, 'a')));
  EXPECT_FALSE(check_key(std::string(1025, 'a')));
  EXPECT_FALSE(check_key(""));
  EXPECT_FALSE(check_key("/leading"));
  EXPECT_FALSE(check_key("a/../b"));
  EXPECT_FALSE(check_key("a/./b"));
  EXPECT_FALSE(check_key(".."));
  EXPECT_FALSE(check_key("a/.."));
  for (const char* bad : {"a b", "a+b", "a%20", "a?b", "a#b", "a=b", "ä", "a\\b", "a\nb", "a*b"}) {
    auto r = check_key(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
  }
}

TEST(S3Bucket, Validation) {
  EXPECT_TRUE(check_bucket("1c-exchange"));
  EXPECT_TRUE(check_bucket("a.b-c"));
  // std::string items: a c_str() of a temporary in the list would dangle (ASan: heap-use-after-free).
  const std::vector<std::string> bads{"ab", "Upper", "under_score", "-start", "end-", std::string(64, 'a')};
  for (const std::string& bad : bads) {
    EXPECT_FALSE(check_bucket(bad)) << bad;
  }
}

TEST(S3Metadata, Validation) {
  EXPECT_TRUE(check_metadata({{"sha256", "ab"}, {"pointer-id", "x y"}}));
  EXPECT_FALSE(check_metadata({{"under_score", "v"}}));
  EXPECT_FALSE(check_metadata({{"Upper", "v"}}));
  EXPECT_FALSE(check_metadata({{"", "v"}}));
  EXPECT_FALSE(check_metadata({{"ok", "line\nbreak"}}));
}

TEST(S3Hash, KnownVectors) {
  // The S3 layer signs payloads with the core SHA-256 (claimcheck::sha256_hex): same vectors.
  EXPECT_EQ(claimcheck::sha256_hex(as_bytes("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(claimcheck::sha256_hex(as_bytes("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(md5_hex(as_bytes("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_base64(as_bytes("")), "1B2M2Y8AsgTpgAmY7PhCfg==");
}

TEST(S3Etag, Unquote) {
  EXPECT_EQ(unquote_etag("\"abc\""), "abc");
  EXPECT_EQ(unquote_etag("W/\"abc-2\""), "abc-2");
  EXPECT_EQ(unquote_etag("abc"), "abc");
}

TEST(S3Time, Parse) {
  auto t = parse_iso8601("2009-10-12T17:50:30.123Z");
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count(), 1255369830123LL);
  EXPECT_EQ(parse_iso8601("garbage").time_since_epoch().count(), 0);
  auto h = parse_http_date("Mon, 12 Oct 2009 17:50:30 GMT");
  EXPECT_EQ(std::chrono::system_clock::to_time_t(h), 1255369830);
}

// Found by tests/fuzz (units, s3_xml): instants past 2262-04-11 overflowed in from_time_t (UB; the value
// wrapped to a time long past, so a listed object with such a LastModified looked old to the orphan sweep).
TEST(S3Time, OutOfRangeIsEpochNotWrapped) {
  for (const char* s : {"2262-04-11T23:47:35.999999999Z", "4052-12-01T23:08:56.249Z", "9999-12-31T23:59:59Z",
                        "1969-12-31T23:59:59Z"}) {
    EXPECT_EQ(parse_iso8601(s).time_since_epoch().count(), 0) << s;
  }
  EXPECT_EQ(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT").time_since_epoch().count(), 0);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(parse_iso8601("2262-04-11T23:47:15.999Z")), 9223372035);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(parse_http_date("Mon, 11 Apr 2262 23:47:15 GMT")), 9223372035);
  // What the orphan sweep sees: epoch, which it takes as "age unknown" (never an orphan).
  auto page = parse_list_v2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>claimcheck/a</Key>"
      "<LastModified>4052-12-01T23:08:56.249Z</LastModified><Size>20</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page) << page.error().to_string();
  ASSERT_EQ(page->objects.size(), 1U);
  EXPECT_EQ(page->objects[0].last_modified, std::chrono::system_clock::time_point{});
}

// The request backoff is claimcheck::backoff_delay (core/retry.h), tested in core_retry_test.cpp.

TEST(S3Xml, DeleteRoundTrip) {
  std::vector<claimcheck::s3::ObjectVersion> keys{{"a/1", ""}, {"b&<2>", ""}, {"v/3", "3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrH"}};
  auto xml = build_delete_xml(keys);
  EXPECT_NE(xml.find("<Quiet>true</Quiet>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<Object><Key>a/1</Key></Object>"), std::string::npos) << "no VersionId when none: " << xml;
  EXPECT_NE(xml.find("<Object><Key>v/3</Key><VersionId>3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrH</VersionId></Object>"),
            std::string::npos) << xml;
  EXPECT_NE(xml.find("<Key>b&amp;&lt;2&gt;</Key>"), std::string::npos) << xml;
  auto r = parse_delete_result(
      "<DeleteResult><Deleted><Key>a/1</Key></Deleted><Error><Key>x/y</Key><Code>AccessDenied</Code>"
      "<Message>no</Message></Error></DeleteResult>");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1U);
  EXPECT_EQ((*r)[0].key, "x/y");
  EXPECT_EQ((*r)[0].code, "AccessDenied");
  EXPECT_FALSE(parse_delete_result("<Other/>"));
  EXPECT_FALSE(parse_delete_result("not xml"));
}

TEST(S3Xml, ListV2) {
  auto r = parse_list_v2(
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>tok+/=</NextContinuationToken>"
      "<Contents><Key>p/1</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
      "<ETag>&quot;abc&quot;</ETag><Size>12</Size></Contents>"
      "<Contents><Key>p/2</Key><LastModified>2009-10-12T17:50:31.000Z</LastModified>"
      "<ETag>\"def-2\"</ETag><Size>99999999999</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->next_continuation_token, "tok+/=");
  ASSERT_EQ(r->objects.size(), 2U);
  EXPECT_EQ(r->objects[0].key, "p/1");
  EXPECT_EQ(r->objects[0].etag, "abc");
  EXPECT_EQ(r->objects[0].size, 12U);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(r->objects[0].last_modified), 1255369830);
  EXPECT_EQ(r->objects[1].etag, "def-2");
  EXPECT_EQ(r->objects[1].size, 99999999999ULL);
  EXPECT_FALSE(parse_list_v2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"));
}

TEST(S3Xml, MultipartBodies) {
  auto id = parse_initiate(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>2~xyz</UploadId>"
      "</InitiateMultipartUploadResult>");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, "2~xyz");
  EXPECT_FALSE(parse_initiate("<InitiateMultipartUploadResult/>"));
  std::vector<std::string> etags{"e1", "e2"};
  auto xml = build_complete_xml(etags);
  EXPECT_NE(xml.find("<Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part><Part><PartNumber>2</PartNumber>"),
            std::string::npos)
      << xml;
  auto done = parse_complete("<CompleteMultipartUploadResult><ETag>\"abc-2\"</ETag></CompleteMultipartUploadResult>", "");
  ASSERT_TRUE(done);
  EXPECT_EQ(*done, "abc-2");
  auto err = parse_complete("<Error><Code>InternalError</Code><Message>m</Message></Error>", "rid");
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(err.error().request_id, "rid");
  auto up = parse_list_uploads(
      "<ListMultipartUploadsResult><Upload><Key>k1</Key><UploadId>u1</UploadId></Upload></ListMultipartUploadsResult>");
  ASSERT_TRUE(up);
  ASSERT_EQ(up->size(), 1U);
  EXPECT_EQ((*up)[0].upload_id, "u1");
}

TEST(S3Xml, LifecycleBuildParse) {
  std::vector<LifecycleRule> rules{{"cc-expire", "cc/", 7, 1, true}, {"other", "", 30, 0, false}};
  auto xml = build_lifecycle_xml(rules);
  auto back = parse_lifecycle(xml);
  ASSERT_TRUE(back) << xml;
  ASSERT_EQ(back->size(), 2U);
  EXPECT_EQ((*back)[0].id, "cc-expire");
  EXPECT_EQ((*back)[0].prefix, "cc/");
  EXPECT_EQ((*back)[0].expiration_days, 7);
  EXPECT_EQ((*back)[0].abort_incomplete_multipart_days, 1);
  EXPECT_TRUE((*back)[0].enabled);
  EXPECT_FALSE((*back)[1].enabled);
  EXPECT_EQ((*back)[1].abort_incomplete_multipart_days, 0);
  // Legacy rule-level Prefix and Filter/And/Prefix.
  auto legacy = parse_lifecycle(
      "<LifecycleConfiguration><Rule><ID>a</ID><Prefix>x/</Prefix><Status>Enabled</Status><Expiration><Days>3</Days>"
      "</Expiration></Rule><Rule><ID>b</ID><Filter><And><Prefix>y/</Prefix><Tag><Key>t</Key><Value>v</Value></Tag>"
      "</And></Filter><Status>Enabled</Status><Expiration><Days>4</Days></Expiration></Rule></LifecycleConfiguration>");
  ASSERT_TRUE(legacy);
  EXPECT_EQ((*legacy)[0].prefix, "x/");
  EXPECT_EQ((*legacy)[1].prefix, "y/");
}

TEST(S3Xml, LifecycleValidation) {
  EXPECT_FALSE(check_lifecycle_rules(std::vector<LifecycleRule>{}));
  EXPECT_FALSE(check_lifecycle_rules(std::vector<LifecycleRule>{{"", "", 1, 0, true}}));
  EXPECT_FALSE(check_lifecycle_rules(std::vector<LifecycleRule>{{"a", "", 0, 0, true}}));
  EXPECT_FALSE(check_lifecycle_rules(std::vector<LifecycleRule>{{"a", "", 1, 0, true}, {"a", "p", 2, 0, true}}));
  EXPECT_FALSE(check_lifecycle_rules(std::vector<LifecycleRule>{{"a", "", -1, 1, true}}));
  EXPECT_TRUE(check_lifecycle_rules(std::vector<LifecycleRule>{{"a", "", 0, 1, true}}));
  EXPECT_TRUE(check_lifecycle_rules(std::vector<LifecycleRule>{{"r\xc3\xa8gle 1", "claimcheck/2026~x_y.z-", 1, 0, true}}));
}

// Found by tests/fuzz (lifecycle_merge): an id or prefix with a NUL was cut short in the XML (pugixml's c_str()
// setters), and a whitespace-only prefix read back empty, so the merged configuration held a different rule
// than the one given (and merging again added a second copy). What cannot round-trip is refused.
TEST(S3Xml, LifecycleRefusesTextXmlCannotCarry) {
  for (const std::string& id : {std::string("claimcheck\0net", 14), std::string("a\x01"), std::string("a\x7f"),
                               std::string("a\rb"), std::string("\xff\xfe"), std::string("   "),
                               std::string("claimcheck-safety-net ")}) {
    auto r = merge_lifecycle_xml("", {id, "cc/", 1, 0, true});
    ASSERT_FALSE(r) << *r;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
    EXPECT_EQ(r.error().message, "lifecycle: rule id must be UTF-8 without control characters or edge spaces");
  }
  for (const std::string& prefix : {std::string("cc/\0x", 5), std::string("      "), std::string("a b/"),
                                    std::string("caf\xc3\xa9/")}) {
    auto r = merge_lifecycle_xml("", {"id", prefix, 1, 0, true});
    ASSERT_FALSE(r) << *r;
    EXPECT_EQ(r.error().message, "lifecycle: rule 'id': prefix must be key characters [A-Za-z0-9._~/-]");
  }
}

TEST(S3Xml, LifecycleMergeKeepsOtherRulesVerbatim) {
  const std::string existing =
      "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Rule><ID>keep</ID><Filter><And><Prefix>y/</Prefix><Tag><Key>t</Key><Value>v</Value></Tag></And></Filter>"
      "<Status>Enabled</Status><Expiration><Days>4</Days></Expiration></Rule>"
      "<Rule><ID>mine</ID><Filter><Prefix>old/</Prefix></Filter><Status>Enabled</Status>"
      "<Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>";
  auto merged = merge_lifecycle_xml(existing, {"mine", "cc/", 9, 2, true});
  ASSERT_TRUE(merged);
  EXPECT_NE(merged->find("<Tag><Key>t</Key><Value>v</Value></Tag>"), std::string::npos) << *merged;
  auto rules = parse_lifecycle(*merged);
  ASSERT_TRUE(rules);
  ASSERT_EQ(rules->size(), 2U);
  EXPECT_EQ((*rules)[0].id, "keep");
  EXPECT_EQ((*rules)[1].id, "mine");
  EXPECT_EQ((*rules)[1].prefix, "cc/");
  EXPECT_EQ((*rules)[1].expiration_days, 9);
  auto fresh = merge_lifecycle_xml("", {"mine", "", 1, 0, true});
  ASSERT_TRUE(fresh);
  auto fr = parse_lifecycle(*fresh);
  ASSERT_TRUE(fr);
  EXPECT_EQ(fr->size(), 1U);
  EXPECT_FALSE(merge_lifecycle_xml("<NotLifecycle/>", {"mine", "", 1, 0, true}));
}

// Found by tests/fuzz (lifecycle_merge): the merge dropped whitespace-only text, comments and processing
// instructions of the other rules, so another team's `<Prefix> </Prefix>` (keys starting with a space) came
// back as the whole-bucket prefix, and `<ID>a<!--x-->b</ID>` as the id "ab".
TEST(S3Xml, LifecycleMergeKeepsWhitespaceCommentsAndInstructions) {
  const std::string other =
      "<Rule><ID>a<!--x-->b</ID><Filter><Prefix> </Prefix></Filter><Status>Enabled</Status>"
      "<Expiration><Days>1</Days></Expiration><?keep me?></Rule>";
  auto merged = merge_lifecycle_xml("<LifecycleConfiguration>" + other + "</LifecycleConfiguration>",
                                    {"mine", "cc/", 9, 0, true});
  ASSERT_TRUE(merged) << merged.error().to_string();
  EXPECT_NE(merged->find(other), std::string::npos) << *merged;
  auto rules = parse_lifecycle(*merged);
  ASSERT_TRUE(rules);
  ASSERT_EQ(rules->size(), 2U);
  EXPECT_EQ((*rules)[0].prefix, " ");
  EXPECT_EQ((*rules)[1].id, "mine");
}

// Found by tests/fuzz (lifecycle_merge, 4.5 M executions): a processing instruction named like the root,
// <?LifecycleConfiguration ...?>, was taken for the root element (doc.child() matches a PI's target too): the
// merge "succeeded" without adding the rule, so the coordinator's safety net was silently missing, and the
// existing rules were read from the instruction (none).
TEST(S3Xml, LifecycleRootIsTheDocumentElementNotAnInstructionOfTheSameName) {
  const std::string existing =
      "<?LifecycleConfiguration <Rule><ID>mine</ID></Rule>?>"
      "<LifecycleConfiguration><Rule><ID>other</ID><Filter><Prefix>o/</Prefix></Filter><Status>Enabled</Status>"
      "<Expiration><Days>3</Days></Expiration></Rule><Rule><ID>mine</ID></Rule></LifecycleConfiguration>";
  auto before = parse_lifecycle(existing);
  ASSERT_TRUE(before) << before.error().to_string();
  ASSERT_EQ(before->size(), 2U);
  EXPECT_EQ((*before)[0].id, "other");
  auto merged = merge_lifecycle_xml(existing, {"mine", "cc/", 9, 0, true});
  ASSERT_TRUE(merged) << merged.error().to_string();
  auto rules = parse_lifecycle(*merged);
  ASSERT_TRUE(rules);
  ASSERT_EQ(rules->size(), 2U) << *merged;
  EXPECT_EQ((*rules)[0].id, "other");
  EXPECT_EQ((*rules)[0].expiration_days, 3);
  EXPECT_EQ((*rules)[1].id, "mine");
  EXPECT_EQ((*rules)[1].prefix, "cc/");
  EXPECT_EQ((*rules)[1].expiration_days, 9);
  EXPECT_FALSE(parse_lifecycle("<?LifecycleConfiguration x?><Other/>")) << "the root element decides";
}

TEST(S3Config, Validate) {
  S3Config c;
  c.endpoint = "http://127.0.0.1:7480";
  c.access_key = "AK";
  c.secret_key = "super-secret-value";
  EXPECT_TRUE(c.validate());
  auto bad = [&](auto mutate) {
    S3Config x = c;
    mutate(x);
    auto r = x.validate();
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
      EXPECT_EQ(r.error().to_string().find("super-secret-value"), std::string::npos);
    }
  };
  bad([](S3Config& x) { x.endpoint = ""; });
  bad([](S3Config& x) { x.endpoint = "127.0.0.1:7480"; });
  bad([](S3Config& x) { x.region = ""; });
  bad([](S3Config& x) { x.access_key = ""; });
  bad([](S3Config& x) { x.secret_key = ""; });
  bad([](S3Config& x) { x.part_size = 4 * kMiB; });
  bad([](S3Config& x) { x.retry.max_attempts = 0; });
  bad([](S3Config& x) { x.connect_timeout = 0ms; });
  bad([](S3Config& x) { x.request_timeout = -1ms; });
  bad([](S3Config& x) { x.stall_timeout = 10ms; });
  bad([](S3Config& x) { x.retry.max = 1ms; });
  auto client = S3Client::create(c);
  ASSERT_TRUE(client) << client.error().to_string();
  EXPECT_EQ(client->stats().requests, 0U);
}

TEST(S3Client, RejectsBadKeysBeforeSending) {
  S3Config c;
  c.endpoint = "http://127.0.0.1:1";
  c.access_key = "AK";
  c.secret_key = "SK";
  auto client = S3Client::create(c);
  ASSERT_TRUE(client);
  auto r = client->put_object("bucket", "bad key", std::string_view("x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
  auto d = client->delete_objects("bucket", {"ok", "bad?key"});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::InvalidArgument);
  PutOptions bad_md;
  bad_md.metadata = {{"a_b", "v"}};
  auto m = client->put_object("bucket", "k", std::string_view("x"), bad_md);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(client->stats().attempts, 0U);  // nothing was sent
}
