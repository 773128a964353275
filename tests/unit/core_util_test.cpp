// core/ value helpers: sizes and durations (units.h), UUIDs (ids.h), RFC 3339 (time.h), byte formatting,
// URL/DSN redaction (credentials.h), comma lists (text.h), backoff (retry.h), synthetic payloads.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <limits>
#include <set>

#include "claimcheck/core/file_io.h"
#include "claimcheck/core/codec.h"
#include "claimcheck/core/credentials.h"
#include "claimcheck/core/ids.h"
#include "claimcheck/core/retry.h"
#include "claimcheck/core/synthetic_payload.h"
#include "claimcheck/core/text.h"
#include "claimcheck/core/time.h"
#include "claimcheck/core/units.h"

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

// Issue 12 item 5: every size and duration is bounded so that no later conversion overflows.
TEST(ParseSize, BoundedAtOnePiB) {
  EXPECT_EQ(*cc::parse_size("1024TiB"), 1ULL << 50);
  EXPECT_EQ(cc::kMaxSize, 1125899906842624ULL);
  for (const char* bad : {"1025TiB", "1024.5TiB", "1125899906842625", "18446744073709551615"}) {
    auto r = cc::parse_size(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
    EXPECT_NE(r.error().message.find("at most 1 PiB"), std::string::npos) << r.error().message;
  }
}

TEST(ParseDuration, BoundedAtHundredYears) {
  EXPECT_EQ(*cc::parse_duration("36500d"), 36500 * 24h);
  EXPECT_EQ(cc::kMaxDuration.count(), 3153600000LL);
  EXPECT_EQ(*cc::parse_duration("3153600000"), 3153600000s);
  // 200000d passed validation before and overflowed in nanoseconds (the orphan cutoff went to the future).
  for (const char* bad : {"200000d", "36501d", "36500d1s", "3153600001", "876001h", "9223372036854775807s"}) {
    auto r = cc::parse_duration(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
    EXPECT_NE(r.error().message.find("at most 36500d"), std::string::npos) << r.error().message;
  }
  // The bound keeps "now - grace" and "now + ttl" inside the nanosecond clock.
  const auto now = std::chrono::system_clock::now();
  EXPECT_LT(now - cc::kMaxDuration, now);
  EXPECT_GT(now + cc::kMaxDuration, now);
  EXPECT_FALSE(cc::parse_duration("50ms").has_value());  // "ms" only where milliseconds are meant
}

TEST(ParseDurationMillis, UnitsAndBound) {
  EXPECT_EQ(*cc::parse_duration_millis("50ms"), 50ms);
  EXPECT_EQ(*cc::parse_duration_millis("1s500ms"), 1500ms);
  EXPECT_EQ(*cc::parse_duration_millis("2m"), 120000ms);
  EXPECT_EQ(*cc::parse_duration_millis("1m30s"), 90000ms);
  EXPECT_EQ(*cc::parse_duration_millis("7"), 7000ms);
  EXPECT_EQ(*cc::parse_duration_millis("3153600000000ms"), 3153600000000ms);
  for (const char* bad : {"", "ms", "5x", "3153600000001ms", "200000d", "-1ms", "1.5s"})
    EXPECT_FALSE(cc::parse_duration_millis(bad).has_value()) << bad;
}

TEST(DurationFromSeconds, Bounded) {
  EXPECT_EQ(*cc::duration_from_seconds(0), 0ms);
  EXPECT_EQ(*cc::duration_from_seconds(1.5), 1500ms);
  EXPECT_EQ(*cc::duration_from_seconds(3153600000.0), 3153600000000ms);
  for (double bad : {-1.0, 3153600000.5, 1e300, std::numeric_limits<double>::infinity(),
                     std::numeric_limits<double>::quiet_NaN()})
    EXPECT_FALSE(cc::duration_from_seconds(bad).has_value()) << bad;
}

TEST(Rfc3339, OutsideTheNanosecondRangeIsRefusedNotWrapped) {
  // The last representable whole second and the first one (system_clock counts int64 nanoseconds).
  auto hi = cc::parse_rfc3339("2262-04-11T23:47:15.999999999Z");
  ASSERT_TRUE(hi.has_value()) << hi.error().message;
  EXPECT_GT(*hi, *cc::parse_rfc3339("2262-01-01T00:00:00Z"));
  EXPECT_EQ(cc::format_rfc3339(*hi), "2262-04-11T23:47:15.999Z");
  auto lo = cc::parse_rfc3339("1677-09-21T00:12:44Z");
  ASSERT_TRUE(lo.has_value()) << lo.error().message;
  EXPECT_LT(*lo, cc::Timestamp{});
  for (const char* bad : {"2262-04-11T23:47:16Z", "2263-01-01T00:00:00Z", "2300-01-01T00:00:00Z",
                          "9999-12-31T23:59:59.999Z", "1677-09-21T00:12:43Z", "0000-01-01T00:00:00Z"}) {
    auto r = cc::parse_rfc3339(bad);
    ASSERT_FALSE(r.has_value()) << bad << " parsed as " << cc::format_rfc3339(*r);
    EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
    EXPECT_NE(r.error().message.find("representable range"), std::string::npos) << r.error().message;
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

TEST(Util, JoinPutsTheSeparatorBetweenItemsOnly) {
  EXPECT_EQ(claimcheck::join({"a", "b", "c"}, ","), "a,b,c");
  EXPECT_EQ(claimcheck::join({"branch1"}, "\n"), "branch1");
  EXPECT_EQ(claimcheck::join({}, ", "), "");
  EXPECT_EQ(claimcheck::join({"x", "y"}, ", "), "x, y");
}

// Issue 12 item 2: secrets never reach logs or errors; a ',' in a password does not split a URL list.
TEST(Secrets, UrlListSplitsOnlyBeforeAScheme) {
  const auto v = cc::split_url_list("amqp://app:pa,ss@h1:5672/%2F, amqps://app:x,y,z@h2/vh,amqp://h3");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], "amqp://app:pa,ss@h1:5672/%2F");
  EXPECT_EQ(v[1], "amqps://app:x,y,z@h2/vh");
  EXPECT_EQ(v[2], "amqp://h3");
  EXPECT_EQ(cc::split_url_list("amqp://u:,amqp@h/").size(), 1u);
  EXPECT_TRUE(cc::split_url_list(" , ").empty());
  // redact_url splits the same way, so no piece of such a password is shown.
  const std::string red = cc::redact_url("amqp://app:pa,ss@h1/%2F,amqp://app:se,cret@h2/%2F");
  EXPECT_EQ(red, "amqp://app:***@h1/%2F,amqp://app:***@h2/%2F");
  EXPECT_EQ(red.find("ss@"), std::string::npos);
  EXPECT_EQ(red.find("cret"), std::string::npos);
}

TEST(Secrets, RedactDsnHidesUserinfoQueryAndKeywordPasswords) {
  const std::string secret = "Hunter2-s3cr3t";
  EXPECT_EQ(cc::redact_dsn("postgresql://cc:" + secret + "@127.0.0.1:5432/claimcheck"),
            "postgresql://cc:***@127.0.0.1:5432/claimcheck");
  EXPECT_EQ(cc::redact_dsn("postgresql://cc@127.0.0.1/db?sslmode=require&password=" + secret + "&schema=s1"),
            "postgresql://cc@127.0.0.1/db?sslmode=require&password=***&schema=s1");
  EXPECT_EQ(cc::redact_dsn("postgresql://cc:" + secret + "@h/db?password=" + secret),
            "postgresql://cc:***@h/db?password=***");
  EXPECT_EQ(cc::redact_dsn("host=h password=" + secret + " dbname=d"), "host=h password=*** dbname=d");
  EXPECT_EQ(cc::redact_dsn("host=h password = '" + secret + " \\' x' dbname=d"), "host=h password = '***' dbname=d");
  EXPECT_EQ(cc::redact_dsn("sqlite:.local/claimcheck.db"), "sqlite:.local/claimcheck.db");
  for (const std::string& dsn : {"postgresql://cc:" + secret + "@h/db", "postgresql://h/db?password=" + secret,
                                 "password=" + secret, std::string("postgresql://cc:%48unter2-s3cr3t@h/db")}) {
    EXPECT_EQ(cc::redact_dsn(dsn).find("s3cr3t"), std::string::npos) << dsn;
  }
}

TEST(Secrets, ScrubRemovesRawAndDecodedPasswords) {
  const std::string dsn = "postgresql://cc:%zzTopSecret%41@h/db?password=Other%2Cone";
  const auto secrets = cc::dsn_secrets(dsn);
  const std::string msg = "invalid percent-encoded token: \"%zzTopSecret%41\"; also %zzTopSecretA and Other,one";
  const std::string out = cc::scrub_secrets(msg, secrets);
  EXPECT_EQ(out.find("TopSecret"), std::string::npos) << out;
  EXPECT_EQ(out.find("Other"), std::string::npos) << out;
  EXPECT_NE(out.find("invalid percent-encoded token"), std::string::npos) << out;
  EXPECT_EQ(cc::scrub_secrets("nothing here", {}), "nothing here");
  EXPECT_EQ(cc::scrub_secrets("aaa", {"a"}), "*********");
}

TEST(Secrets, SetUrlPasswordPercentEncodes) {
  auto u = cc::set_url_password("amqp://app:old@h1:5672/%2F", "n,w@/:%");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(*u, "amqp://app:n%2Cw%40%2F%3A%25@h1:5672/%2F");
  EXPECT_EQ(*cc::set_url_password("amqps://app@h2/vh", "pw"), "amqps://app:pw@h2/vh");
  for (const char* bad : {"amqp://h/%2F", "h:5672", "amqp://:old@h/"}) {
    auto r = cc::set_url_password(bad, "TopSecret");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().message.find("TopSecret"), std::string::npos);
    EXPECT_EQ(r.error().message.find("old"), std::string::npos);
  }
}
