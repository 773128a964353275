// Utilities: size/duration parsing, UUIDs, RFC 3339, formatting, redaction, keys, backoff, synthetic payloads.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "claimcheck/file_io.h"
#include "claimcheck/util.h"

namespace cc = claimcheck;
using namespace std::chrono_literals;

TEST(ParseSize, Good) {
  EXPECT_EQ(*cc::parse_size("1024"), 1024u);
  EXPECT_EQ(*cc::parse_size("0"), 0u);
  EXPECT_EQ(*cc::parse_size("500KB"), 500u * 1024);
  EXPECT_EQ(*cc::parse_size("1MB"), 1048576u);
  EXPECT_EQ(*cc::parse_size("5MB"), 5u * 1048576);
  EXPECT_EQ(*cc::parse_size("1mib"), 1048576u);
  EXPECT_EQ(*cc::parse_size("1.5GiB"), 1610612736u);
  EXPECT_EQ(*cc::parse_size("2 G"), 2147483648u);
  EXPECT_EQ(*cc::parse_size("1.5KB"), 1536u);
  EXPECT_EQ(*cc::parse_size("10B"), 10u);
  EXPECT_EQ(*cc::parse_size("1TiB"), 1099511627776u);
}

TEST(ParseSize, Bad) {
  for (const char* bad : {"", "MB", "-1", "1.5.5MB", "1XB", "1.MB", "abc", "99999999999999999999", "20000000TB"}) {
    auto r = cc::parse_size(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
  }
}

TEST(ParseDuration, GoodAndBad) {
  EXPECT_EQ(*cc::parse_duration("7d"), 7 * 24h);
  EXPECT_EQ(*cc::parse_duration("12h"), 12h);
  EXPECT_EQ(*cc::parse_duration("30m"), 30min);
  EXPECT_EQ(*cc::parse_duration("45s"), 45s);
  EXPECT_EQ(*cc::parse_duration("90"), 90s);
  EXPECT_EQ(*cc::parse_duration("1h30m"), 90min);
  EXPECT_EQ(*cc::parse_duration("0s"), 0s);
  for (const char* bad : {"", "d", "7x", "1h30", "-5s", "1.5h", "99999999999999999999d"}) {
    EXPECT_FALSE(cc::parse_duration(bad).has_value()) << bad;
  }
}

TEST(Uuid, FormatAndUniqueness) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string u = cc::new_uuid_v4();
    ASSERT_TRUE(cc::is_uuid(u)) << u;
    EXPECT_EQ(u[14], '4');
    EXPECT_TRUE(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b') << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(cc::is_uuid("3F8E2A1C-9B4D-4E6F-8A2B-1C3D5E7F9A0B"));
  EXPECT_FALSE(cc::is_uuid("3f8e2a1c9b4d4e6f8a2b1c3d5e7f9a0b"));
}

TEST(Rfc3339, FormatAndParse) {
  const auto tp = std::chrono::sys_days{std::chrono::year{2024} / 2 / 29} + 23h + 59min + 58s + 123ms;
  EXPECT_EQ(cc::format_rfc3339(tp), "2024-02-29T23:59:58.123Z");
  EXPECT_EQ(cc::format_rfc3339_seconds(tp), "2024-02-29T23:59:58Z");
  EXPECT_EQ(*cc::parse_rfc3339("2024-02-29T23:59:58.123Z"), tp);
  EXPECT_EQ(*cc::parse_rfc3339("2024-02-29t23:59:58.123+00:00"), tp);
  EXPECT_EQ(*cc::parse_rfc3339("2024-02-29T23:59:58.123000Z"), tp);
  EXPECT_EQ(*cc::parse_rfc3339("1970-01-01T00:00:00Z"), cc::Timestamp{});
  const auto now = cc::utc_now();
  EXPECT_EQ(*cc::parse_rfc3339(cc::format_rfc3339(now)), now);
  for (const char* bad : {"", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2024-01-01T24:00:00Z",
                          "2024-01-01T00:60:00Z", "2024-01-01T00:00:60Z", "2024-01-01 00:00:00Z",
                          "2024-01-01T00:00:00", "2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00.Z",
                          "2024-01-01T00:00:00.1234567890Z", "2024-1-01T00:00:00Z", "2024-01-01T00:00:00Zjunk"}) {
    auto r = cc::parse_rfc3339(bad);
    EXPECT_FALSE(r.has_value()) << bad;
  }
}

TEST(FormatBytes, Values) {
  EXPECT_EQ(cc::format_bytes(0), "0 B");
  EXPECT_EQ(cc::format_bytes(512), "512 B");
  EXPECT_EQ(cc::format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(cc::format_bytes(1048576), "1.0 MiB");
  EXPECT_EQ(cc::format_bytes(1610612736), "1.5 GiB");
}

TEST(RedactUrl, HidesPasswords) {
  EXPECT_EQ(cc::redact_url("amqp://user:secret@host:5672/vh"), "amqp://user:***@host:5672/vh");
  EXPECT_EQ(cc::redact_url("amqp://guest@host/"), "amqp://guest@host/");
  EXPECT_EQ(cc::redact_url("http://host:9000/path?x=1"), "http://host:9000/path?x=1");
  EXPECT_EQ(cc::redact_url("amqp://a:p1@h1,amqp://b:p@2@h2/v"), "amqp://a:***@h1,amqp://b:***@h2/v");
  EXPECT_EQ(cc::redact_url("postgresql://u:pw@db/x"), "postgresql://u:***@db/x");
  EXPECT_EQ(cc::redact_url("amqp://u:s3cr3t@h/x").find("s3cr3t"), std::string::npos);
  // Malformed: unencoded '/' in the password, no scheme.
  EXPECT_EQ(cc::redact_url("postgresql://u:a/s3cr3t@db/x"), "postgresql://u:***@db/x");
  EXPECT_EQ(cc::redact_url("u:s3cr3t@h:5672/%2F"), "u:***@h:5672/%2F");
}

TEST(ObjectKey, Layout) {
  const auto tp = std::chrono::sys_days{std::chrono::year{2024} / 5 / 1} + 23h;
  EXPECT_EQ(cc::make_object_key("claimcheck", tp, "id1", cc::Encoding::Zstd), "claimcheck/2024/05/01/id1.json.zst");
  EXPECT_EQ(cc::make_object_key("p/", tp, "id1", cc::Encoding::Gzip), "p/2024/05/01/id1.json.gz");
  EXPECT_EQ(cc::make_object_key("", tp, "id1", cc::Encoding::Identity), "2024/05/01/id1.json");
  EXPECT_EQ(cc::make_object_key("x", tp, "id1", cc::Encoding::Zstd, ".bin"), "x/2024/05/01/id1.bin.zst");
}

TEST(Backoff, FullJitterWithinCap) {
  cc::BackoffPolicy p;
  ASSERT_TRUE(p.validate().has_value());
  std::mt19937_64 rng(1);
  for (int attempt = 1; attempt <= 10; ++attempt) {
    const std::int64_t cap = std::min<std::int64_t>(10000, 100LL << (attempt - 1));
    std::int64_t maxseen = 0;
    for (int i = 0; i < 500; ++i) {
      const auto d = cc::backoff_delay(p, attempt, rng).count();
      ASSERT_GE(d, 0);
      ASSERT_LE(d, cap);
      maxseen = std::max(maxseen, d);
    }
    EXPECT_GT(maxseen, cap / 2) << "jitter should span the range, attempt " << attempt;
  }
  EXPECT_TRUE(p.may_retry(5));
  EXPECT_FALSE(p.may_retry(6));
  p.multiplier = 0.5;
  EXPECT_FALSE(p.validate().has_value());
  p = {};
  p.max_attempts = 0;
  EXPECT_FALSE(p.validate().has_value());
}

TEST(Synthetic, ExactSizeValidJson) {
  const auto ts = *cc::parse_rfc3339("2024-05-01T00:00:00Z");
  for (std::uint64_t size : {200ull, 1024ull, 1025ull, 1026ull, 1027ull, 1028ull, 1029ull, 5000ull, 1048576ull,
                             1048577ull, 1048578ull, 3 * 1048576ull + 7}) {
    cc::SyntheticPayloadSource src(7, size, 99, ts);
    EXPECT_EQ(src.total(), size);
    auto all = cc::read_all(src);
    ASSERT_TRUE(all.has_value());
    ASSERT_EQ(all->size(), size);
    auto j = nlohmann::json::parse(*all, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "size " << size;
    EXPECT_EQ(j["schema"], "demo-1c-object-v1");
    EXPECT_EQ(j["idx"], 7);
    EXPECT_EQ(j["ts"], "2024-05-01T00:00:00.000Z");
    EXPECT_EQ(j["id"], src.id());
    EXPECT_TRUE(cc::is_uuid(src.id()));
    ASSERT_TRUE(j["data"].is_array());
    for (std::size_t i = 0; i < j["data"].size(); ++i) {
      const std::string s = j["data"][i];
      if (i + 1 < j["data"].size()) {
        EXPECT_EQ(s.size(), 1024u);
      }
      for (char c : s) ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
    }
  }
  // Too small for the envelope: minimal document, still valid.
  cc::SyntheticPayloadSource tiny(1, 10, 1, ts);
  auto t = cc::read_all(tiny);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->size(), tiny.total());
  EXPECT_GT(tiny.total(), 10u);
  EXPECT_TRUE(nlohmann::json::parse(*t)["data"].empty());
}

TEST(Synthetic, DeterministicPerSeed) {
  const auto ts = *cc::parse_rfc3339("2024-05-01T00:00:00Z");
  cc::SyntheticPayloadSource a(1, 10000, 5, ts), b(1, 10000, 5, ts), c(1, 10000, 6, ts);
  const auto sa = *cc::read_all(a), sb = *cc::read_all(b), sc = *cc::read_all(c);
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  std::mt19937_64 rng(3);
  EXPECT_EQ(cc::synthetic_payload(2, 4096, rng).size(), 4096u);
}

TEST(Util, SplitCommaListTrimsAndDropsEmptyItems) {
  EXPECT_EQ(claimcheck::split_comma_list(" a, b ,,c,\t"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(claimcheck::split_comma_list("branch1"), (std::vector<std::string>{"branch1"}));
  EXPECT_TRUE(claimcheck::split_comma_list("").empty());
  EXPECT_TRUE(claimcheck::split_comma_list(" , ").empty());
}
