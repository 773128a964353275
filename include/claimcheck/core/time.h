#pragma once
/// Protocol time: the UTC Timestamp type, the current time, and RFC 3339 formatting and parsing.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "claimcheck/core/result.h"

namespace claimcheck {

/// Wall-clock UTC time point used throughout the protocol.
using Timestamp = std::chrono::system_clock::time_point;

/// Current time floored to whole milliseconds (the precision RFC 3339 timestamps travel with).
Timestamp utc_now();

/// Format as RFC 3339 UTC with milliseconds: "2024-05-01T12:34:56.789Z" (sub-millisecond part truncated).
std::string format_rfc3339(Timestamp tp);
/// Format as RFC 3339 UTC with whole seconds: "2024-05-01T12:34:56Z" (fraction truncated).
std::string format_rfc3339_seconds(Timestamp tp);

/// Parse an RFC 3339 UTC timestamp: "YYYY-MM-DDTHH:MM:SS[.fraction]" followed by "Z" (or "z", "+00:00",
/// "-00:00"). 'T' may be 't'. Fraction: 1–9 digits (nanoseconds kept). Other offsets, leap seconds,
/// invalid dates (Feb 30) and instants outside Timestamp's range (nanoseconds since 1970 in 64 bits:
/// about 1677-09-21 to 2262-04-11) are rejected, never wrapped. Errors: InvalidArgument (origin
/// "protocol"). Thread-safe.
[[nodiscard]] Result<Timestamp> parse_rfc3339(std::string_view s);

}  // namespace claimcheck
