// detail::parse_inline_headers: the inline-v1 AMQP headers the consumer accepts (src/protocol/inline_headers.h).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/sha256.h"
#include "protocol/inline_headers.h"

namespace cc = claimcheck;
using Headers = std::map<std::string, std::string>;

namespace {
const std::string kId = "0c9b3a52-7d1e-4f6a-9b2c-5e8d7a6f4b31";
const std::string kSha = cc::sha256_hex(std::string_view("body"));

Headers good() {
  return {{std::string(cc::kHeaderEncoding), "zstd"},
          {std::string(cc::kHeaderSha256), kSha},
          {std::string(cc::kHeaderSizeRaw), "31"}};
}

std::string error_of(const Headers& h, const std::string& id = kId, std::uint64_t max = 1000) {
  auto r = cc::detail::parse_inline_headers(h, id, max);
  if (r) return "accepted";
  EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_EQ(r.error().origin, claimcheck::Origin::Protocol);
  return r.error().message;
}
}  // namespace

TEST(InlineHeaders, AcceptsTheProducersHeaders) {
  auto r = cc::detail::parse_inline_headers(good(), kId, 1000);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->encoding, cc::Encoding::Zstd);
  EXPECT_EQ(r->sha256, kSha);
  EXPECT_EQ(r->size_raw, 31u);
  EXPECT_FALSE(r->name.has_value());

  Headers named = good();
  named[std::string(cc::kHeaderName)] = "dir/a.json";
  named["x-death"] = "ignored";
  r = cc::detail::parse_inline_headers(named, "not-a-uuid", 1000);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->name, "dir/a.json");

  Headers b64 = good();
  b64[std::string(cc::kHeaderNameB64)] = "culzdW3pLnR4dA==";  // "r\xe9sum\xe9.txt" (Latin-1, not UTF-8)
  r = cc::detail::parse_inline_headers(b64, kId, 1000);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(r->name, "r\xe9sum\xe9.txt");
}

TEST(InlineHeaders, RefusesEachBrokenHeaderWithItsName) {
  Headers h = good();
  h.erase(std::string(cc::kHeaderSha256));
  EXPECT_EQ(error_of(h), "missing header (need encoding, sha256, size-raw)");
  h = good();
  h[std::string(cc::kHeaderEncoding)] = "br";
  EXPECT_EQ(error_of(h).rfind("header 'x-claimcheck-encoding': unknown encoding 'br'", 0), 0u) << error_of(h);
  h = good();
  h[std::string(cc::kHeaderSha256)] = std::string(64, 'A');
  EXPECT_EQ(error_of(h), "header 'x-claimcheck-sha256': must be 64 lowercase hex");
  for (const char* size : {"", "-1", "+1", "1 ", "0x10", "1001", "18446744073709551616"}) {
    h = good();
    h[std::string(cc::kHeaderSizeRaw)] = size;
    EXPECT_EQ(error_of(h), "header 'x-claimcheck-size-raw': invalid or over the limit") << size;
  }
  h = good();
  h[std::string(cc::kHeaderSizeRaw)] = "1000";
  EXPECT_EQ(error_of(h), "accepted");
}

TEST(InlineHeaders, NameRules) {
  Headers h = good();
  h[std::string(cc::kHeaderName)] = "a.txt";
  h[std::string(cc::kHeaderNameB64)] = "YQ==";
  EXPECT_EQ(error_of(h), "headers 'x-claimcheck-name' and 'x-claimcheck-name-b64' must not both be given");
  h = good();
  h[std::string(cc::kHeaderName)] = "../etc/passwd";
  EXPECT_NE(error_of(h).find("field 'name'"), std::string::npos) << error_of(h);
  h = good();
  h[std::string(cc::kHeaderNameB64)] = "YQ==";  // "a" is UTF-8: it must travel as kHeaderName
  EXPECT_EQ(error_of(h).rfind("header 'x-claimcheck-name-b64': field 'name_b64'", 0), 0u) << error_of(h);
  EXPECT_EQ(error_of(good(), "not-a-uuid"), "message_id must be a UUID when no name is given");
}
