// Compatibility with the reference demo (issue 8 item 9), on the fixtures of tests/fixtures/reference/:
// its producer's pointers are read by parse_pointer_or_reference (consume --accept-reference-pointers) as
// addressed to the consuming recipient alone; claimcheck's gzip pointers keep every field its consumer reads.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/time.h"
#include "subprocess.h"

namespace cc = claimcheck;
using namespace std::chrono_literals;

namespace {

std::string fixture(const std::string& name) {
  const std::string path = cc::test::source_dir() + "/tests/fixtures/reference/" + name;
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "missing fixture " << path;
  std::string s{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

cc::ReferencePointerDefaults defaults() {
  return {"branch1", std::chrono::seconds(3 * 86400), *cc::parse_rfc3339("2026-12-01T11:00:00.000Z")};
}

TEST(ReferenceCompat, ReferencePointerIsAddressedToThisRecipientAloneAndExpiresAfterTheTtl) {
  auto p = cc::parse_pointer_or_reference(fixture("reference-pointer.json"), {}, defaults());
  ASSERT_TRUE(p.has_value()) << p.error().to_string();
  EXPECT_EQ(p->recipients, std::vector<std::string>{"branch1"});
  EXPECT_EQ(p->recipients_total, 1);
  EXPECT_EQ(p->encoding, cc::Encoding::Gzip);
  EXPECT_EQ(p->size_stored, 791234) << "size_gz is the stored size";
  EXPECT_EQ(p->size_raw, 1048576);
  EXPECT_EQ(p->created_at_rfc3339(), "2026-12-01T10:00:00.000Z");
  EXPECT_EQ(p->expires_at_rfc3339(), "2026-12-04T10:00:00.000Z");
  EXPECT_EQ(p->producer_id, "");
  EXPECT_FALSE(p->url.has_value());
}

TEST(ReferenceCompat, WithoutTheFlagAReferencePointerIsRefusedNamingTheField) {
  auto p = cc::parse_pointer(fixture("reference-pointer.json"), {});
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().message, "field 'recipients': is required");
}

TEST(ReferenceCompat, MissingOrFutureCreatedAtIsBoundedByNow) {
  auto j = nlohmann::json::parse(fixture("reference-pointer.json"));
  j.erase("created_at");
  auto p = cc::parse_pointer_or_reference(j.dump(), {}, defaults());
  ASSERT_TRUE(p.has_value()) << p.error().to_string();
  EXPECT_EQ(p->created_at_rfc3339(), "2026-12-01T11:00:00.000Z");
  j["created_at"] = "2030-01-01T00:00:00.000Z";
  p = cc::parse_pointer_or_reference(j.dump(), {}, defaults());
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->expires_at_rfc3339(), "2026-12-04T11:00:00.000Z") << "a clock ahead must not stretch the expiry";
}

TEST(ReferenceCompat, ClaimcheckPointersAreParsedAsUsualAndStillChecked) {
  auto j = nlohmann::json::parse(fixture("claimcheck-gzip-pointer.json"));
  auto p = cc::parse_pointer_or_reference(j.dump(), {}, defaults());
  ASSERT_TRUE(p.has_value()) << p.error().to_string();
  EXPECT_EQ(p->recipients, (std::vector<std::string>{"branch1", "branch2", "branch3"})) << "not re-addressed";
  j["recipients_total"] = 2;
  EXPECT_FALSE(cc::parse_pointer_or_reference(j.dump(), {}, defaults()).has_value());
  auto bad = nlohmann::json::parse(fixture("reference-pointer.json"));
  bad["key"] = "../etc/passwd";
  EXPECT_FALSE(cc::parse_pointer_or_reference(bad.dump(), {}, defaults()).has_value()) << "same field rules";
}

cc::Pointer gzip_pointer() {
  cc::Pointer p;
  p.pointer_id = "6a1e2f3c-4d5b-4e6f-8a7b-9c0d1e2f3a4b";
  p.bucket = "1c-exchange";
  p.key = "claimcheck/2026/12/01/6a1e2f3c-4d5b-4e6f-8a7b-9c0d1e2f3a4b.json.gz";
  p.encoding = cc::Encoding::Gzip;
  p.content_type = "application/json";
  p.size_raw = 1048576;
  p.size_stored = 791234;
  p.sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  p.recipients = {"branch1", "branch2", "branch3"};
  p.recipients_total = 3;
  p.created_at = *cc::parse_rfc3339("2026-12-01T10:00:00.000Z");
  p.expires_at = *cc::parse_rfc3339("2026-12-08T10:00:00.000Z");
  p.producer_id = "head-office";
  return p;
}

TEST(ReferenceCompat, ClaimcheckGzipPointerIsTheGoldenFixture) {
  EXPECT_EQ(cc::to_json(gzip_pointer()), fixture("claimcheck-gzip-pointer.json"));
}

TEST(ReferenceCompat, ClaimcheckGzipPointerHasEveryFieldTheReferenceConsumerReads) {
  const auto ours = nlohmann::json::parse(fixture("claimcheck-gzip-pointer.json"));
  const auto reads = nlohmann::json::parse(fixture("reference-consumer-reads.json"));
  ASSERT_GE(reads.size(), 8u);
  for (const auto& [field, type] : reads.items()) {
    ASSERT_TRUE(ours.contains(field)) << "claimcheck's gzip pointer lacks '" << field << "'";
    if (type == "string") EXPECT_TRUE(ours[field].is_string()) << field;
    else EXPECT_TRUE(ours[field].is_number_integer()) << field;
  }
  EXPECT_EQ(ours["schema"], "s3-pointer-v1");
  EXPECT_EQ(ours["encoding"], "gzip");
  EXPECT_EQ(ours["size_gz"], ours["size_stored"]) << "the reference consumer reads the stored size as size_gz";
}

}  // namespace
