// Wire protocol: round trips and one rejection per validation rule (each naming its field).
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "claimcheck/core/base64.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/time.h"

namespace cc = claimcheck;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::string kId = "3f8e2a1c-9b4d-4e6f-8a2b-1c3d5e7f9a0b";
const std::string kSha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

cc::Pointer sample_pointer() {
  cc::Pointer p;
  p.pointer_id = kId;
  p.bucket = "claimcheck";
  p.key = "claimcheck/2024/05/01/" + kId + ".json.zst";
  p.encoding = cc::Encoding::Zstd;
  p.content_type = "application/json";
  p.size_raw = 1048576;
  p.size_stored = 123456;
  p.sha256 = kSha;
  p.recipients = {"branch-a", "branch_b", "c.3"};
  p.recipients_total = 3;
  p.created_at = *cc::parse_rfc3339("2024-05-01T12:00:00.250Z");
  p.expires_at = *cc::parse_rfc3339("2024-05-08T12:00:00.250Z");
  p.producer_id = "producer-1";
  p.name = "dir/sub/file.json";
  return p;
}

cc::Ack sample_ack() {
  cc::Ack a;
  a.pointer_id = kId;
  a.recipient_id = "branch-a";
  a.status = cc::AckStatus::Processed;
  a.processed_at = *cc::parse_rfc3339("2024-05-01T12:00:05.000Z");
  a.bucket = "claimcheck";
  a.key = "claimcheck/2024/05/01/x.json.zst";
  a.recipients_total = 3;
  return a;
}

bool same(const cc::Pointer& a, const cc::Pointer& b) {
  return a.pointer_id == b.pointer_id && a.bucket == b.bucket && a.key == b.key && a.encoding == b.encoding &&
         a.content_type == b.content_type && a.size_raw == b.size_raw && a.size_stored == b.size_stored &&
         a.sha256 == b.sha256 && a.recipients == b.recipients && a.recipients_total == b.recipients_total &&
         a.created_at == b.created_at && a.expires_at == b.expires_at && a.producer_id == b.producer_id &&
         a.name == b.name && a.url == b.url;
}

}  // namespace

TEST(Protocol, PointerRoundTrip) {
  for (auto enc : {cc::Encoding::Zstd, cc::Encoding::Gzip, cc::Encoding::Identity}) {
    cc::Pointer p = sample_pointer();
    p.encoding = enc;
    const std::string text = cc::to_json(p);
    auto back = cc::parse_pointer(text, {});
    ASSERT_TRUE(back.has_value()) << back.error().to_string();
    EXPECT_TRUE(same(p, *back)) << text;
    const json j = json::parse(text);
    EXPECT_EQ(j["schema"], "s3-pointer-v1");
    EXPECT_EQ(j["created_at"], "2024-05-01T12:00:00.250Z");
    EXPECT_EQ(j.contains("size_gz"), enc == cc::Encoding::Gzip);
    if (enc == cc::Encoding::Gzip) {
      EXPECT_EQ(j["size_gz"], 123456);
    }
  }
  cc::Pointer no_name = sample_pointer();
  no_name.name.reset();
  const std::string text = cc::to_json(no_name);
  EXPECT_EQ(text.find("\"name\""), std::string::npos);
  auto back = cc::parse_pointer(text, {});
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->name.has_value());
  EXPECT_EQ(back->message_id(), kId);
}

// Regression (issue 8, data loss): two names differing in one byte that is not valid UTF-8 used to both
// travel as "r\uFFFD.txt" (JSON replacement), so one recipient file held only one of the payloads.
TEST(Protocol, NonUtf8NamesRoundTripExactlyAndStayDistinct) {
  cc::Pointer a = sample_pointer();
  cc::Pointer b = sample_pointer();
  a.name = std::string("dir/r\xe9.txt");
  b.name = std::string("dir/r\xe8.txt");
  const std::string ta = cc::to_json(a), tb = cc::to_json(b);
  EXPECT_NE(ta, tb);
  const json ja = json::parse(ta);
  EXPECT_FALSE(ja.contains("name")) << ta;  // an older consumer must not write it under a lossy name
  EXPECT_EQ(ja["name_b64"], cc::base64_encode("dir/r\xe9.txt"));
  auto ba = cc::parse_pointer(ta, {});
  auto bb = cc::parse_pointer(tb, {});
  ASSERT_TRUE(ba.has_value()) << ba.error().to_string();
  ASSERT_TRUE(bb.has_value()) << bb.error().to_string();
  EXPECT_EQ(*ba->name, std::string("dir/r\xe9.txt"));
  EXPECT_EQ(*bb->name, std::string("dir/r\xe8.txt"));
  // A valid UTF-8 name (here "ré.txt") keeps travelling as plain `name`.
  cc::Pointer u = sample_pointer();
  u.name = std::string("r\xc3\xa9.txt");
  const json ju = json::parse(cc::to_json(u));
  EXPECT_EQ(ju["name"], "r\xc3\xa9.txt");
  EXPECT_FALSE(ju.contains("name_b64"));
}

TEST(Protocol, NameB64RulesNamingTheField) {
  json j = json::parse(cc::to_json(sample_pointer()));
  auto err_of = [&](const json& v) {
    auto r = cc::parse_pointer(v.dump(), {});
    return r.has_value() ? std::string("accepted") : r.error().message;
  };
  json both = j;
  both["name_b64"] = cc::base64_encode("r\xe9");
  EXPECT_EQ(err_of(both), "field 'name_b64': must not be given together with 'name'");
  j.erase("name");
  json bad = j;
  bad["name_b64"] = "cu@=";
  EXPECT_EQ(err_of(bad), "field 'name_b64': must be padded standard base64 (RFC 4648)");
  json utf8 = j;
  utf8["name_b64"] = cc::base64_encode("plain.txt");
  EXPECT_EQ(err_of(utf8), "field 'name_b64': is only for names that are not valid UTF-8 (use 'name')");
  json escape = j;
  escape["name_b64"] = cc::base64_encode("../\xff");
  EXPECT_EQ(err_of(escape), "field 'name': must not contain a '..' path component");
}

TEST(Protocol, PointerUrlRoundTripsAndIsOptionalButStrict) {
  const std::string url =
      "http://127.0.0.1:7480/claimcheck/k.zst?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240501T120000Z"
      "&X-Amz-Expires=604800&X-Amz-SignedHeaders=host&X-Amz-Signature=" + std::string(64, 'a');
  cc::Pointer p = sample_pointer();
  p.url = url;
  auto back = cc::parse_pointer(cc::to_json(p), {});
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_EQ(back->url, url);
  const json without = json::parse(cc::to_json(sample_pointer()));
  EXPECT_FALSE(without.contains("url"));
  EXPECT_FALSE(cc::parse_pointer(without.dump(), {})->url.has_value());

  json j = json::parse(cc::to_json(p));
  auto err_of = [&](const json& v) {
    auto r = cc::parse_pointer(v.dump(), {});
    return r.has_value() ? std::string("accepted") : r.error().message;
  };
  auto with_url = [&](json v) {
    j["url"] = std::move(v);
    return err_of(j);
  };
  EXPECT_EQ(with_url(42), "field 'url': must be a string");
  EXPECT_EQ(with_url("ftp://h/k?X-Amz-Signature=1"), "field 'url': must start with http:// or https://");
  EXPECT_EQ(with_url("file:///etc/passwd"), "field 'url': must start with http:// or https://");
  EXPECT_EQ(with_url(url + std::string(4096, 'a')), "field 'url': must be at most 4096 bytes");
  EXPECT_EQ(with_url("http://h/k?X-Amz-Signature=1 2"), "field 'url': must be printable ASCII without spaces");
  EXPECT_EQ(with_url("http://h/k\n?X-Amz-Signature=1\n"), "field 'url': must be printable ASCII without spaces");
  EXPECT_EQ(with_url("https://h/k?X-Amz-Date=1"),
            "field 'url': must be a SigV4 presigned URL (no X-Amz-Signature in its query)");
  EXPECT_EQ(with_url("https://h/X-Amz-Signature=1"),
            "field 'url': must be a SigV4 presigned URL (no X-Amz-Signature in its query)");
  EXPECT_EQ(with_url("https://h/k?X-Amz-Signature=1"), "accepted");
  cc::Pointer bad = sample_pointer();
  bad.url = "http://h/no-signature";
  EXPECT_FALSE(cc::validate(bad));
}

TEST(Validators, Utf8) {
  EXPECT_TRUE(cc::is_valid_utf8(""));
  EXPECT_TRUE(cc::is_valid_utf8("ascii/path.txt"));
  EXPECT_TRUE(cc::is_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));  // é € 😀
  EXPECT_FALSE(cc::is_valid_utf8("\xe9"));              // Latin-1 é
  EXPECT_FALSE(cc::is_valid_utf8("\xc0\xaf"));         // overlong '/'
  EXPECT_FALSE(cc::is_valid_utf8("\xed\xa0\x80"));     // UTF-16 surrogate
  EXPECT_FALSE(cc::is_valid_utf8("\xf4\x90\x80\x80")); // above U+10FFFF
  EXPECT_FALSE(cc::is_valid_utf8("\xe2\x82"));         // truncated
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> v[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                   {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [raw, enc] : v) {
    EXPECT_EQ(cc::base64_encode(raw), enc);
    auto d = cc::base64_decode(enc);
    ASSERT_TRUE(d.has_value()) << enc;
    EXPECT_EQ(*d, raw);
  }
  const std::string all = [] { std::string s; for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i)); return s; }();
  EXPECT_EQ(*cc::base64_decode(cc::base64_encode(all)), all);
  for (const char* bad : {"Zg=", "Zh==", "Z===", "Zm9v\n", "Zm 9", "====", "Zg==Zg=="})
    EXPECT_FALSE(cc::base64_decode(bad).has_value()) << bad;
}

TEST(Protocol, PointerAcceptsUnknownFieldsAndDemoSizeGz) {
  json j = json::parse(cc::to_json(sample_pointer()));
  j["future_field"] = {1, 2, 3};
  EXPECT_TRUE(cc::parse_pointer(j.dump(), {}).has_value());
  // Reference-demo style gzip pointer carrying only size_gz.
  j["encoding"] = "gzip";
  j.erase("size_stored");
  j["size_gz"] = 777;
  auto p = cc::parse_pointer(j.dump(), {});
  ASSERT_TRUE(p.has_value()) << p.error().to_string();
  EXPECT_EQ(p->size_stored, 777);
}

TEST(Protocol, StoreRoundTripAndFromPointer) {
  const cc::Pointer p = sample_pointer();
  const cc::StoreRecord s = cc::store_record_from(p);
  EXPECT_EQ(s.pointer_id, p.pointer_id);
  EXPECT_EQ(s.recipients, p.recipients);
  EXPECT_EQ(s.size_stored, p.size_stored);
  EXPECT_EQ(s.expires_at, p.expires_at);
  const std::string text = cc::to_json(s);
  EXPECT_EQ(json::parse(text)["schema"], "s3-store-v1");
  auto back = cc::parse_store_record(text);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->pointer_id, s.pointer_id);
  EXPECT_EQ(back->bucket, s.bucket);
  EXPECT_EQ(back->key, s.key);
  EXPECT_EQ(back->recipients, s.recipients);
  EXPECT_EQ(back->recipients_total, 3);
  EXPECT_EQ(back->sha256, kSha);
  EXPECT_EQ(back->created_at, s.created_at);
  EXPECT_EQ(back->expires_at, s.expires_at);
  EXPECT_EQ(back->producer_id, "producer-1");
  EXPECT_EQ(back->encoding, cc::Encoding::Zstd);
  EXPECT_EQ(back->size_raw, 1048576);
  // A pointer is not a store record.
  auto wrong = cc::parse_store_record(cc::to_json(p));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(wrong.error().message.find("field 'schema'"), std::string::npos);
}

TEST(Protocol, AckRoundTrip) {
  cc::Ack a = sample_ack();
  auto back = cc::parse_ack(cc::to_json(a));
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->pointer_id, kId);
  EXPECT_EQ(back->recipient_id, "branch-a");
  EXPECT_EQ(back->status, cc::AckStatus::Processed);
  EXPECT_FALSE(back->reason.has_value());
  EXPECT_EQ(back->processed_at, a.processed_at);
  EXPECT_EQ(back->recipients_total, 3);
  EXPECT_EQ(back->message_id(), kId + ":branch-a");
  EXPECT_EQ(cc::ack_message_id(kId, "r1"), kId + ":r1");

  a.status = cc::AckStatus::Rejected;
  a.reason = "sha256 mismatch";
  back = cc::parse_ack(cc::to_json(a));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->status, cc::AckStatus::Rejected);
  EXPECT_EQ(back->reason, "sha256 mismatch");
  // Rejected without a reason still serializes to something parseable.
  a.reason.reset();
  back = cc::parse_ack(cc::to_json(a));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->reason, "unspecified");
}

// DESIGN.md §2: an ack carries the sha256 the recipient verified; optional on the wire (the reference
// demo's consumers send none), strictly validated when present.
TEST(Protocol, AckSha256RoundTripsAndIsOptionalButStrict) {
  cc::Ack a = sample_ack();
  EXPECT_EQ(cc::to_json(a).find("sha256"), std::string::npos);
  auto back = cc::parse_ack(cc::to_json(a));
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_FALSE(back->sha256.has_value());

  a.sha256 = std::string(64, 'e');
  back = cc::parse_ack(cc::to_json(a));
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->sha256, std::string(64, 'e'));
  a.status = cc::AckStatus::Rejected;  // rejected acks carry it too
  a.reason = "handler refused";
  back = cc::parse_ack(cc::to_json(a));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->sha256, std::string(64, 'e'));

  for (const std::string& bad : {std::string(64, 'E'), std::string(63, 'a'), std::string("xyz"), std::string()}) {
    a.sha256 = bad;
    EXPECT_FALSE(cc::validate(a).has_value()) << bad;
    auto r = cc::parse_ack(cc::to_json(a));
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message.find("field 'sha256'"), std::string::npos) << r.error().message;
  }
  auto not_string = cc::parse_ack(R"({"schema":"s3-ack-v1","pointer_id":")" + kId +
                                  R"(","recipient_id":"r","status":"processed","processed_at":"2024-05-01T12:00:05.000Z",)"
                                  R"("bucket":"claimcheck","key":"k","recipients_total":1,"sha256":5})");
  EXPECT_FALSE(not_string.has_value());
}

TEST(Protocol, PeekSchema) {
  EXPECT_EQ(*cc::peek_schema(cc::to_json(sample_ack())), "s3-ack-v1");
  EXPECT_EQ(*cc::peek_schema(R"({"schema":"whatever"})"), "whatever");
  EXPECT_FALSE(cc::peek_schema("[1]").has_value());
  EXPECT_FALSE(cc::peek_schema("{").has_value());
  EXPECT_FALSE(cc::peek_schema(R"({"schema":1})").has_value());
}

TEST(Protocol, ValidateInMemory) {
  EXPECT_TRUE(cc::validate(sample_pointer()).has_value());
  cc::Pointer p = sample_pointer();
  p.recipients_total = 2;
  auto r = cc::validate(p);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("recipients_total"), std::string::npos);
}

// ---- One rejection per rule. Each case mutates a valid pointer JSON and names the field expected in the error.

struct RuleCase {
  std::string name;
  std::string field;
  std::function<void(json&)> mutate;
  cc::ValidationLimits limits{};
};

class PointerRule : public ::testing::TestWithParam<RuleCase> {};

TEST_P(PointerRule, RejectedNamingField) {
  const RuleCase& c = GetParam();
  json j = json::parse(cc::to_json(sample_pointer()));
  c.mutate(j);
  auto r = cc::parse_pointer(j.dump(), c.limits);
  ASSERT_FALSE(r.has_value()) << c.name << ": " << j.dump();
  EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_EQ(r.error().origin, claimcheck::Origin::Protocol);
  EXPECT_NE(r.error().message.find("field '" + c.field + "'"), std::string::npos)
      << c.name << ": got '" << r.error().message << "'";
}

cc::ValidationLimits only_bucket(std::string b) {
  cc::ValidationLimits l;
  l.allowed_buckets = {std::move(b)};
  return l;
}
cc::ValidationLimits max_sizes(std::int64_t raw, std::int64_t stored) {
  cc::ValidationLimits l;
  l.max_size_raw = raw;
  l.max_size_stored = stored;
  return l;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, PointerRule,
    ::testing::Values(
        RuleCase{"unknown_schema", "schema", [](json& j) { j["schema"] = "s3-pointer-v2"; }},
        RuleCase{"missing_schema", "schema", [](json& j) { j.erase("schema"); }},
        RuleCase{"missing_pointer_id", "pointer_id", [](json& j) { j.erase("pointer_id"); }},
        RuleCase{"pointer_id_not_uuid", "pointer_id", [](json& j) { j["pointer_id"] = "not-a-uuid"; }},
        RuleCase{"pointer_id_uppercase", "pointer_id",
                 [](json& j) { j["pointer_id"] = "3F8E2A1C-9B4D-4E6F-8A2B-1C3D5E7F9A0B"; }},
        RuleCase{"pointer_id_ill_typed", "pointer_id", [](json& j) { j["pointer_id"] = 12; }},
        RuleCase{"missing_bucket", "bucket", [](json& j) { j.erase("bucket"); }},
        RuleCase{"bucket_bad_chars", "bucket", [](json& j) { j["bucket"] = "Bad_Bucket"; }},
        RuleCase{"bucket_too_short", "bucket", [](json& j) { j["bucket"] = "ab"; }},
        RuleCase{"bucket_not_allowed", "bucket", [](json&) {}, only_bucket("other-bucket")},
        RuleCase{"missing_key", "key", [](json& j) { j.erase("key"); }},
        RuleCase{"key_empty", "key", [](json& j) { j["key"] = ""; }},
        RuleCase{"key_bad_char", "key", [](json& j) { j["key"] = "a/b c"; }},
        RuleCase{"key_dotdot", "key", [](json& j) { j["key"] = "a/../b"; }},
        RuleCase{"key_leading_slash", "key", [](json& j) { j["key"] = "/a/b"; }},
        RuleCase{"key_too_long", "key", [](json& j) { j["key"] = std::string(1025, 'k'); }},
        RuleCase{"encoding_unknown", "encoding", [](json& j) { j["encoding"] = "brotli"; }},
        RuleCase{"encoding_missing", "encoding", [](json& j) { j.erase("encoding"); }},
        RuleCase{"content_type_missing", "content_type", [](json& j) { j.erase("content_type"); }},
        RuleCase{"content_type_empty", "content_type", [](json& j) { j["content_type"] = ""; }},
        RuleCase{"size_raw_missing", "size_raw", [](json& j) { j.erase("size_raw"); }},
        RuleCase{"size_raw_string", "size_raw", [](json& j) { j["size_raw"] = "100"; }},
        RuleCase{"size_raw_float", "size_raw", [](json& j) { j["size_raw"] = 1.5; }},
        RuleCase{"size_raw_negative", "size_raw", [](json& j) { j["size_raw"] = -1; }},
        RuleCase{"size_raw_over_limit", "size_raw", [](json&) {}, max_sizes(1000, 1000000)},
        RuleCase{"size_stored_missing", "size_stored", [](json& j) { j.erase("size_stored"); }},
        RuleCase{"size_stored_negative", "size_stored", [](json& j) { j["size_stored"] = -5; }},
        RuleCase{"size_stored_over_limit", "size_stored", [](json&) {}, max_sizes(1LL << 40, 1000)},
        RuleCase{"size_stored_huge_unsigned", "size_stored",
                 [](json& j) { j["size_stored"] = std::uint64_t{18446744073709551615ull}; }},
        RuleCase{"size_gz_mismatch", "size_gz", [](json& j) { j["size_gz"] = 1; }},
        RuleCase{"sha256_missing", "sha256", [](json& j) { j.erase("sha256"); }},
        RuleCase{"sha256_uppercase", "sha256",
                 [](json& j) { j["sha256"] = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"; }},
        RuleCase{"sha256_short", "sha256", [](json& j) { j["sha256"] = "abc"; }},
        RuleCase{"recipients_missing", "recipients", [](json& j) { j.erase("recipients"); }},
        RuleCase{"recipients_not_array", "recipients", [](json& j) { j["recipients"] = "a"; }},
        RuleCase{"recipients_empty", "recipients", [](json& j) { j["recipients"] = json::array(); }},
        RuleCase{"recipients_duplicate", "recipients",
                 [](json& j) { j["recipients"] = {"a", "b", "a"}; }},
        RuleCase{"recipients_bad_char", "recipients", [](json& j) { j["recipients"] = {"a", "b/c", "d"}; }},
        RuleCase{"recipients_too_long", "recipients",
                 [](json& j) { j["recipients"] = {"a", std::string(65, 'r'), "d"}; }},
        RuleCase{"recipients_empty_id", "recipients", [](json& j) { j["recipients"] = {"a", "", "d"}; }},
        RuleCase{"recipients_non_string", "recipients", [](json& j) { j["recipients"] = {"a", 2, "d"}; }},
        RuleCase{"recipients_total_mismatch", "recipients_total", [](json& j) { j["recipients_total"] = 2; }},
        RuleCase{"recipients_total_missing", "recipients_total", [](json& j) { j.erase("recipients_total"); }},
        RuleCase{"created_at_bad", "created_at", [](json& j) { j["created_at"] = "yesterday"; }},
        RuleCase{"created_at_offset", "created_at", [](json& j) { j["created_at"] = "2024-05-01T12:00:00+02:00"; }},
        RuleCase{"expires_at_missing", "expires_at", [](json& j) { j.erase("expires_at"); }},
        RuleCase{"expires_at_invalid_date", "expires_at", [](json& j) { j["expires_at"] = "2024-02-30T00:00:00Z"; }},
        RuleCase{"expires_before_created", "expires_at", [](json& j) { j["expires_at"] = "2024-04-01T00:00:00Z"; }},
        RuleCase{"producer_id_missing", "producer_id", [](json& j) { j.erase("producer_id"); }},
        RuleCase{"name_absolute", "name", [](json& j) { j["name"] = "/etc/passwd"; }},
        RuleCase{"name_dotdot", "name", [](json& j) { j["name"] = "a/../../b"; }},
        RuleCase{"name_nul", "name", [](json& j) { j["name"] = std::string("a\0b", 3); }},
        RuleCase{"name_empty", "name", [](json& j) { j["name"] = ""; }},
        RuleCase{"name_empty_component", "name", [](json& j) { j["name"] = "a//b"; }},
        RuleCase{"name_ill_typed", "name", [](json& j) { j["name"] = 5; }}),
    [](const auto& pinfo) { return pinfo.param.name; });

TEST(Protocol, MalformedMessages) {
  for (const char* text : {"", "not json", "[]", "\"s\"", "{\"schema\":\"s3-pointer-v1\""}) {
    auto r = cc::parse_pointer(text, {});
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
    EXPECT_NE(r.error().message.find("message"), std::string::npos) << r.error().message;
  }
  const std::string huge(cc::kMaxMessageBytes + 1, ' ');
  EXPECT_FALSE(cc::parse_pointer(huge, {}).has_value());
}

struct AckCase {
  std::string name;
  std::string field;
  std::function<void(json&)> mutate;
};

class AckRule : public ::testing::TestWithParam<AckCase> {};

TEST_P(AckRule, RejectedNamingField) {
  const AckCase& c = GetParam();
  json j = json::parse(cc::to_json(sample_ack()));
  c.mutate(j);
  auto r = cc::parse_ack(j.dump());
  ASSERT_FALSE(r.has_value()) << c.name;
  EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_NE(r.error().message.find("field '" + c.field + "'"), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, AckRule,
    ::testing::Values(
        AckCase{"schema", "schema", [](json& j) { j["schema"] = "s3-pointer-v1"; }},
        AckCase{"status_unknown", "status", [](json& j) { j["status"] = "done"; }},
        AckCase{"status_missing", "status", [](json& j) { j.erase("status"); }},
        AckCase{"rejected_without_reason", "reason", [](json& j) { j["status"] = "rejected"; }},
        AckCase{"reason_ill_typed", "reason", [](json& j) { j["reason"] = 3; }},
        AckCase{"recipient_id_bad", "recipient_id", [](json& j) { j["recipient_id"] = "a b"; }},
        AckCase{"recipient_id_missing", "recipient_id", [](json& j) { j.erase("recipient_id"); }},
        AckCase{"pointer_id_bad", "pointer_id", [](json& j) { j["pointer_id"] = "x"; }},
        AckCase{"processed_at_bad", "processed_at", [](json& j) { j["processed_at"] = "2024-13-01T00:00:00Z"; }},
        AckCase{"bucket_bad", "bucket", [](json& j) { j["bucket"] = "-bad-"; }},
        AckCase{"key_bad", "key", [](json& j) { j["key"] = "../x"; }},
        AckCase{"recipients_total_zero", "recipients_total", [](json& j) { j["recipients_total"] = 0; }}),
    [](const auto& pinfo) { return pinfo.param.name; });

struct StoreCase {
  std::string name;
  std::string field;
  std::function<void(json&)> mutate;
};

class StoreRule : public ::testing::TestWithParam<StoreCase> {};

TEST_P(StoreRule, RejectedNamingField) {
  const StoreCase& c = GetParam();
  json j = json::parse(cc::to_json(cc::store_record_from(sample_pointer())));
  c.mutate(j);
  auto r = cc::parse_store_record(j.dump());
  ASSERT_FALSE(r.has_value()) << c.name;
  EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_NE(r.error().message.find("field '" + c.field + "'"), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, StoreRule,
    ::testing::Values(
        StoreCase{"schema", "schema", [](json& j) { j["schema"] = "s3-ack-v1"; }},
        StoreCase{"recipients_dup", "recipients", [](json& j) { j["recipients"] = {"a", "a", "b"}; }},
        StoreCase{"recipients_total", "recipients_total", [](json& j) { j["recipients_total"] = 4; }},
        StoreCase{"size_stored_missing", "size_stored", [](json& j) { j.erase("size_stored"); }},
        StoreCase{"sha256", "sha256", [](json& j) { j["sha256"] = std::string(64, 'g'); }},
        StoreCase{"expires_at", "expires_at", [](json& j) { j["expires_at"] = 17; }},
        StoreCase{"encoding", "encoding", [](json& j) { j["encoding"] = "lz4"; }},
        StoreCase{"key", "key", [](json& j) { j["key"] = "a\\b"; }}),
    [](const auto& pinfo) { return pinfo.param.name; });

TEST(Validators, Key) {
  EXPECT_TRUE(cc::validate_key("abcXYZ019._~/-").has_value());
  EXPECT_TRUE(cc::validate_key("a.b/c").has_value());
  EXPECT_FALSE(cc::validate_key("a..b").has_value());
  for (const char* dot : {".", "./a", "a/.", "a/./b"}) EXPECT_FALSE(cc::validate_key(dot).has_value()) << dot;
  EXPECT_TRUE(cc::validate_key(".hidden/c.").has_value()) << "dots inside a segment are fine";
  EXPECT_FALSE(cc::validate_key("a+b").has_value());
  EXPECT_FALSE(cc::validate_key(std::string("a\0b", 3)).has_value());
}

TEST(Validators, RecipientId) {
  EXPECT_TRUE(cc::validate_recipient_id(std::string(64, 'x')).has_value());
  EXPECT_TRUE(cc::validate_recipient_id("A.b_c-9").has_value());
  auto r = cc::validate_recipient_id(std::string(65, 'x'));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("field 'recipient_id'"), std::string::npos);
  EXPECT_FALSE(cc::validate_recipient_id("a:b").has_value());
}

TEST(Validators, RelativeName) {
  EXPECT_TRUE(cc::validate_relative_name("a/b/c.txt").has_value());
  EXPECT_TRUE(cc::validate_relative_name("données/été.json").has_value());
  EXPECT_TRUE(cc::validate_relative_name("a..b/c").has_value());  // '..' only forbidden as a component
  for (const char* bad : {"/a", "..", "a/..", "./a", "a/", "a\\..\\b", "a\tb"}) {
    auto r = cc::validate_relative_name(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message.find("field 'name'"), std::string::npos);
  }
}

TEST(Validators, BucketName) {
  EXPECT_TRUE(cc::validate_bucket_name("claimcheck").has_value());
  EXPECT_TRUE(cc::validate_bucket_name("my.bucket-1").has_value());
  for (const char* bad : {"ab", "UPPER", "a_b", ".abc", "abc-", "a..b", "192.168.1.1", ""}) {
    EXPECT_FALSE(cc::validate_bucket_name(bad).has_value()) << bad;
  }
  EXPECT_FALSE(cc::validate_bucket_name(std::string(64, 'a')).has_value());
}

TEST(Validators, AckStatus) {
  EXPECT_EQ(*cc::parse_ack_status("processed"), cc::AckStatus::Processed);
  EXPECT_EQ(*cc::parse_ack_status("rejected"), cc::AckStatus::Rejected);
  EXPECT_FALSE(cc::parse_ack_status("Processed").has_value());
  EXPECT_EQ(cc::to_string(cc::AckStatus::Rejected), "rejected");
}

TEST(ObjectKey, Layout) {
  const auto tp = std::chrono::sys_days{std::chrono::year{2024} / 5 / 1} + 23h;
  EXPECT_EQ(cc::make_object_key("claimcheck", tp, "id1", cc::Encoding::Zstd), "claimcheck/2024/05/01/id1.json.zst");
  EXPECT_EQ(cc::make_object_key("p/", tp, "id1", cc::Encoding::Gzip), "p/2024/05/01/id1.json.gz");
  EXPECT_EQ(cc::make_object_key("", tp, "id1", cc::Encoding::Identity), "2024/05/01/id1.json");
  EXPECT_EQ(cc::make_object_key("x", tp, "id1", cc::Encoding::Zstd, ".bin"), "x/2024/05/01/id1.bin.zst");
}
