// Fuzz target: the JSON wire parsers (include/claimcheck/protocol/messages.h) — parse_pointer,
// parse_pointer_or_reference, parse_store_record, parse_ack and peek_schema on the same input.
// Invariants beyond "no crash, no UB": whatever a parser accepts passes validate(), and its to_json()
// parses back to the same JSON (serialization is a fixed point after one round trip).
#include <chrono>

#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/time.h"
#include "fuzz_check.h"

namespace cc = claimcheck;

namespace {

template <class T, class Parse>
void round_trip(const cc::Result<T>& first, Parse parse, const char* what) {
  if (!first) return;
  FUZZ_CHECK(cc::validate(*first).has_value(), what);
  const std::string once = cc::to_json(*first);
  auto again = parse(once);
  FUZZ_CHECK(again.has_value(), what);
  FUZZ_CHECK(cc::to_json(*again) == once, what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json = fuzz::text(data, size);
  const cc::ValidationLimits limits;
  (void)cc::peek_schema(json);
  round_trip(cc::parse_pointer(json, limits), [&](std::string_view j) { return cc::parse_pointer(j, limits); },
             "pointer");
  round_trip(cc::parse_store_record(json), [](std::string_view j) { return cc::parse_store_record(j); }, "store");
  round_trip(cc::parse_ack(json), [](std::string_view j) { return cc::parse_ack(j); }, "ack");
  cc::ReferencePointerDefaults ref;
  ref.recipient = "branch1";
  ref.now = cc::Timestamp{} + std::chrono::hours(24 * 365 * 57);  // fixed (2027), so runs reproduce
  auto p = cc::parse_pointer_or_reference(json, limits, ref);
  if (p) {
    FUZZ_CHECK(cc::validate(*p).has_value(), "reference pointer");
    FUZZ_CHECK(cc::parse_pointer(cc::to_json(*p), limits).has_value(), "reference pointer re-parse");
  }
  return 0;
}
