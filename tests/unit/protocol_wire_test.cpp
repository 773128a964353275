// The wire builders (include/claimcheck/protocol/wire.h): every message claimcheck publishes, with its AMQP
// properties and headers, and the parsers read back what the builders wrote.
#include <gtest/gtest.h>

#include "claimcheck/core/base64.h"
#include "claimcheck/protocol/wire.h"
#include "claimcheck/core/time.h"

namespace cc = claimcheck;

namespace {

const cc::Timestamp kNow = *cc::parse_rfc3339("2026-12-01T10:00:05.750Z");
const std::string kId = "6a1e2f3c-4d5b-4e6f-8a7b-9c0d1e2f3a4b";

cc::StoreRecord record() {
  cc::StoreRecord s;
  s.pointer_id = kId;
  s.bucket = "1c-exchange";
  s.key = "claimcheck/2026/12/01/" + kId + ".bin.zst";
  s.recipients = {"a", "b"};
  s.recipients_total = 2;
  s.size_stored = 10;
  s.sha256 = std::string(64, 'a');
  s.created_at = *cc::parse_rfc3339("2026-12-01T10:00:00.000Z");
  s.expires_at = *cc::parse_rfc3339("2026-12-08T10:00:00.000Z");
  s.version_id = "v1";
  return s;
}

TEST(Wire, StoreMessageCarriesTheRecordAndItsProperties) {
  const auto m = cc::store_message(record(), kNow);
  EXPECT_EQ(m.type, "s3-store-v1");
  EXPECT_EQ(m.message_id, kId);
  EXPECT_EQ(m.timestamp, 1796119205) << "seconds since the epoch";
  EXPECT_EQ(m.content_type, "application/json");
  EXPECT_TRUE(m.persistent);
  auto back = cc::parse_store_record(m.body);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->version_id, std::optional<std::string>("v1"));
  EXPECT_EQ(back->recipients, (std::vector<std::string>{"a", "b"}));
}

TEST(Wire, PointerAndAckMessageIds) {
  const auto p = cc::pointer_message("{\"x\":1}", kId, kNow);
  EXPECT_EQ(p.type, "s3-pointer-v1");
  EXPECT_EQ(p.message_id, kId);
  EXPECT_EQ(p.body, "{\"x\":1}");
  const auto a = cc::ack_message("{}", kId, "branch-1", kNow);
  EXPECT_EQ(a.type, "s3-ack-v1");
  EXPECT_EQ(a.message_id, kId + ":branch-1");
  EXPECT_EQ(a.timestamp, 1796119205);
}

TEST(Wire, InlineMessageHeadersAndLosslessNames) {
  cc::InlinePayload p{kId, "bytes", cc::Encoding::Gzip, std::string(64, 'b'), 42, "text/plain", "dir/r\xe9.txt"};
  auto m = cc::inline_message(p, kNow);
  EXPECT_EQ(m.type, "inline-v1");
  EXPECT_EQ(m.content_type, "text/plain");
  EXPECT_EQ(m.body, "bytes");
  EXPECT_EQ(m.headers.at("x-claimcheck-encoding"), "gzip");
  EXPECT_EQ(m.headers.at("x-claimcheck-sha256"), std::string(64, 'b'));
  EXPECT_EQ(m.headers.at("x-claimcheck-size-raw"), "42");
  EXPECT_EQ(m.headers.count("x-claimcheck-name"), 0u) << "not UTF-8: only the base64 form";
  EXPECT_EQ(cc::base64_decode(m.headers.at("x-claimcheck-name-b64")).value_or(""), "dir/r\xe9.txt");
  p.name = "plain.txt";
  m = cc::inline_message(p, kNow);
  EXPECT_EQ(m.headers.at("x-claimcheck-name"), "plain.txt");
  EXPECT_EQ(m.headers.count("x-claimcheck-name-b64"), 0u);
  p.name.reset();
  m = cc::inline_message(p, kNow);
  EXPECT_EQ(m.headers.size(), 3u) << "no name header for an unnamed payload";
}

TEST(Wire, DeadLetterCopyKeepsTheOriginalAndNamesWhyAndWho) {
  auto orig = cc::pointer_message("{\"body\":true}", kId, kNow);
  orig.user_id = "producer";
  orig.headers["x-other"] = "kept";
  auto d = cc::dead_letter_copy(orig, "field 'key': bad", {"q.ack", "coordinator", "ack_sender"});
  EXPECT_EQ(d.body, orig.body);
  EXPECT_EQ(d.message_id, kId);
  EXPECT_EQ(d.user_id, "producer");
  EXPECT_EQ(d.headers.at("x-other"), "kept");
  EXPECT_EQ(d.headers.at("x-claimcheck-error"), "field 'key': bad");
  EXPECT_EQ(d.headers.at("x-claimcheck-source-queue"), "q.ack");
  EXPECT_EQ(d.headers.at("x-claimcheck-recipient"), "coordinator");
  EXPECT_EQ(d.headers.at("x-claimcheck-rule"), "ack_sender");
  d = cc::dead_letter_copy(orig, "why", {"q.a", "a", ""});
  EXPECT_EQ(d.headers.count("x-claimcheck-rule"), 0u);
}

}  // namespace
