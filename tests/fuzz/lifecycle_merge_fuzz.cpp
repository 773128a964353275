// Fuzz target: merge_lifecycle_xml (src/s3/s3_xml.cpp), which adds the coordinator's safety-net rule to a
// bucket's existing lifecycle configuration. Input: the rule (id, prefix, days, from FuzzedDataProvider),
// then the existing configuration's XML. Invariants when the merge succeeds:
// - the result parses, holds the rule exactly once and with exactly the fields given;
// - every rule of the existing configuration with another id is kept (same count, same fields, same order);
// - merging the same rule again changes nothing (idempotent).
#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_check.h"
#include "s3/s3_internal.h"

namespace cc = claimcheck;
namespace d = claimcheck::s3::detail;

namespace {

bool same(const cc::s3::LifecycleRule& a, const cc::s3::LifecycleRule& b) {
  return a.id == b.id && a.prefix == b.prefix && a.enabled == b.enabled && a.expiration_days == b.expiration_days &&
         a.abort_incomplete_multipart_days == b.abort_incomplete_multipart_days &&
         a.noncurrent_version_expiration_days == b.noncurrent_version_expiration_days;
}

cc::s3::LifecycleRule rule_from(FuzzedDataProvider& in) {
  cc::s3::LifecycleRule r;
  r.id = in.ConsumeRandomLengthString(64);
  r.prefix = in.ConsumeRandomLengthString(64);
  r.enabled = in.ConsumeBool();
  r.expiration_days = in.ConsumeIntegralInRange(-1, 40000);
  r.abort_incomplete_multipart_days = in.ConsumeIntegralInRange(-1, 40000);
  r.noncurrent_version_expiration_days = in.ConsumeIntegralInRange(-1, 40000);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const cc::s3::LifecycleRule rule = rule_from(in);
  const std::string existing = in.ConsumeRemainingBytesAsString();
  auto merged = d::merge_lifecycle_xml(existing, rule);
  if (!merged) return 0;
  auto rules = d::parse_lifecycle(*merged);
  FUZZ_CHECK(rules.has_value(), "merged configuration does not parse");
  std::vector<cc::s3::LifecycleRule> others;
  int mine = 0;
  for (const auto& r : *rules) {
    if (r.id != rule.id) others.push_back(r);
    else if (++mine == 1) FUZZ_CHECK(same(r, rule), "merged rule differs from the rule given");
  }
  FUZZ_CHECK(mine == 1, "the rule is not in the merged configuration exactly once");
  if (!existing.empty()) {
    auto before = d::parse_lifecycle(existing);
    FUZZ_CHECK(before.has_value(), "merge accepted a configuration parse_lifecycle refuses");
    std::size_t i = 0;
    for (const auto& r : *before) {
      if (r.id == rule.id) continue;
      FUZZ_CHECK(i < others.size() && same(r, others[i]), "an existing rule was lost or changed");
      ++i;
    }
    FUZZ_CHECK(i == others.size(), "rules appeared from nowhere");
  }
  auto twice = d::merge_lifecycle_xml(*merged, rule);
  FUZZ_CHECK(twice.has_value() && *twice == *merged, "merging the same rule twice is not idempotent");
  return 0;
}
