#pragma once
/// Sizes and durations of configuration options: bounded parsers ("1.5GiB", "1h30m", "50ms") and byte
/// formatting for logs. Every size/duration option goes through these, so no option overflows later.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "claimcheck/core/result.h"

namespace claimcheck {

/// Largest size parse_size() accepts: 1 PiB (2^50 bytes). Every size option goes through parse_size(), so
/// no option can overflow later arithmetic (a signed 64-bit byte count, sums and small multiples of it).
inline constexpr std::uint64_t kMaxSize = 1ULL << 50;

/// Largest duration parse_duration()/parse_duration_millis()/duration_from_seconds() accept: 100 years
/// (36500 d). A present time point plus or minus it stays inside the nanosecond system_clock range
/// (1677..2262), and it converts to nanoseconds without overflow.
inline constexpr std::chrono::seconds kMaxDuration{36500LL * 86400};

/// Parse a byte size: a non-negative decimal number (fraction allowed: "1.5GiB") followed by an optional,
/// case-insensitive unit. Units are BINARY: B; K, KB, KiB = 1024; M, MB, MiB = 1024²; G, GB, GiB = 1024³;
/// T, TB, TiB = 1024⁴. So "1MB" = 1048576 (matching the reference demo's MSG_SIZE=1MB meaning 1 MiB).
/// Optional spaces between number and unit. The result is floored to whole bytes, at most kMaxSize.
/// Errors: InvalidArgument (Origin::Config) for empty input, bad number, unknown unit, above kMaxSize.
/// Thread-safe.
[[nodiscard]] Result<std::uint64_t> parse_size(std::string_view s);

/// Parse a duration: one or more `<integer><unit>` groups, units d, h, m, s (e.g. "7d", "12h", "1h30m",
/// "45s"); a bare integer means seconds ("90"). At most kMaxDuration. Errors: InvalidArgument (origin
/// "config") for empty input, unknown unit (including "ms": use parse_duration_millis), above kMaxDuration.
/// Thread-safe.
[[nodiscard]] Result<std::chrono::seconds> parse_duration(std::string_view s);

/// As parse_duration(), with the extra unit "ms" (e.g. "50ms", "1s500ms"). At most kMaxDuration.
/// Errors: InvalidArgument (Origin::Config). Thread-safe.
[[nodiscard]] Result<std::chrono::milliseconds> parse_duration_millis(std::string_view s);

/// A duration given as (fractional) seconds, e.g. a `--idle-exit 1.5` flag, as whole milliseconds
/// (truncated). Errors: InvalidArgument (Origin::Config) for NaN, negative or above kMaxDuration.
/// Thread-safe.
[[nodiscard]] Result<std::chrono::milliseconds> duration_from_seconds(double seconds);

/// Human-readable binary size: "512 B", "1.5 KiB", "1.0 MiB", "3.2 GiB", "1.0 TiB" (one decimal ≥ 1 KiB).
std::string format_bytes(std::uint64_t bytes);

}  // namespace claimcheck
