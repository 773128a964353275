// Fuzz target: the size, duration and time parsers — parse_size, parse_duration, parse_duration_millis
// (include/claimcheck/core/units.h), parse_rfc3339, and the S3 client's parse_iso8601 / parse_http_date
// (src/s3/s3_internal.h). UBSan (signed overflow, float-to-int casts) aborts on any arithmetic slip.
// Invariants: sizes ≤ kMaxSize, durations in [0, kMaxDuration]; an accepted RFC 3339 instant formats and
// parses back to itself truncated to milliseconds.
#include <chrono>
#include <cmath>
#include <cstring>

#include "claimcheck/core/time.h"
#include "claimcheck/core/units.h"
#include "fuzz_check.h"
#include "s3/s3_internal.h"

namespace cc = claimcheck;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view s = fuzz::text(data, size);
  if (auto v = cc::parse_size(s)) FUZZ_CHECK(*v <= cc::kMaxSize, "size above kMaxSize");
  if (auto v = cc::parse_duration(s)) FUZZ_CHECK(v->count() >= 0 && *v <= cc::kMaxDuration, "duration bounds");
  if (auto v = cc::parse_duration_millis(s)) {
    FUZZ_CHECK(v->count() >= 0 && *v <= cc::kMaxDuration, "duration (ms) bounds");
  }
  if (auto t = cc::parse_rfc3339(s)) {
    const auto ms = std::chrono::floor<std::chrono::milliseconds>(*t);
    auto back = cc::parse_rfc3339(cc::format_rfc3339(*t));
    FUZZ_CHECK(back.has_value() && *back == ms, "RFC 3339 round trip");
    auto secs = cc::parse_rfc3339(cc::format_rfc3339_seconds(*t));
    FUZZ_CHECK(secs.has_value() && *secs == std::chrono::floor<std::chrono::seconds>(*t), "RFC 3339 seconds");
  }
  if (size == sizeof(double)) {  // duration_from_seconds(double): NaN, infinities, huge and negative values
    double secs = 0;
    std::memcpy(&secs, data, sizeof secs);
    if (auto v = cc::duration_from_seconds(secs)) {
      FUZZ_CHECK(std::isfinite(secs) && v->count() >= 0 && *v <= cc::kMaxDuration, "seconds bounds");
    }
  }
  (void)claimcheck::s3::detail::parse_iso8601(s);
  (void)claimcheck::s3::detail::parse_http_date(s);
  return 0;
}
