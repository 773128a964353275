#include "claimcheck/core/units.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace claimcheck {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}


}  // namespace

// ---------------------------------------------------------------- parse_size

Result<std::uint64_t> parse_size(std::string_view s) {
  const std::string in(s);
  auto bad = [&](const std::string& why) { return config_error("invalid size '" + in + "': " + why); };
  const std::string too_large = "too large (at most 1 PiB = " + std::to_string(kMaxSize) + " bytes)";
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  std::uint64_t whole = 0;
  std::size_t digits = 0;
  for (; i < s.size() && is_digit(s[i]); ++i, ++digits) {
    const auto d = static_cast<std::uint64_t>(s[i] - '0');
    if (whole > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return bad(too_large);
    whole = whole * 10 + d;
  }
  long double frac = 0;
  std::size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    long double scale = 0.1L;
    for (; i < s.size() && is_digit(s[i]); ++i, ++frac_digits) {
      frac += scale * static_cast<long double>(s[i] - '0');
      scale /= 10;
    }
    if (frac_digits == 0) return bad("expected digits after '.'");
  }
  if (digits == 0) return bad("expected a non-negative number followed by an optional unit (B, KB, MiB, GB, ...)");
  while (i < s.size() && s[i] == ' ') ++i;
  std::string unit = lower(s.substr(i));
  while (!unit.empty() && unit.back() == ' ') unit.pop_back();
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") mult = 1ull << 10;
  else if (unit == "m" || unit == "mb" || unit == "mib") mult = 1ull << 20;
  else if (unit == "g" || unit == "gb" || unit == "gib") mult = 1ull << 30;
  else if (unit == "t" || unit == "tb" || unit == "tib") mult = 1ull << 40;
  else return bad("unknown unit '" + std::string(s.substr(i)) + "' (use B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB)");
  if (whole > std::numeric_limits<std::uint64_t>::max() / mult) return bad(too_large);
  const std::uint64_t base = whole * mult;
  const auto extra = static_cast<std::uint64_t>(std::floor(frac * static_cast<long double>(mult)));
  if (extra > std::numeric_limits<std::uint64_t>::max() - base || base + extra > kMaxSize)
    return bad(too_large);
  return base + extra;
}

// ---------------------------------------------------------------- parse_duration

namespace {

/// The unit at s[i] ("d", "h", "m", "s", and "ms" when allowed) in milliseconds; 0 if unknown. Advances i.
std::int64_t duration_unit_ms(std::string_view s, std::size_t& i, bool allow_ms) {
  const char c = s[i++];
  if (c == 'm' && i < s.size() && s[i] == 's') {
    ++i;
    return allow_ms ? 1 : 0;
  }
  switch (c) {
    case 'd': return 86'400'000;
    case 'h': return 3'600'000;
    case 'm': return 60'000;
    case 's': return 1'000;
    default: return 0;
  }
}

Result<std::chrono::milliseconds> parse_duration_impl(std::string_view s, bool allow_ms) {
  const std::string in(s);
  auto bad = [&](const std::string& why) { return config_error("invalid duration '" + in + "': " + why); };
  const char* units = allow_ms ? "d, h, m, s, ms" : "d, h, m, s";
  if (s.empty()) return bad("empty");
  constexpr std::int64_t kMaxMs = std::chrono::milliseconds(kMaxDuration).count();
  const std::string too_large = "too large (at most " + std::to_string(kMaxDuration.count() / 86400) + "d)";
  std::int64_t total = 0;
  std::size_t i = 0;
  bool bare_allowed = true;
  while (i < s.size()) {
    std::int64_t n = 0;
    std::size_t digits = 0;
    for (; i < s.size() && is_digit(s[i]); ++i, ++digits) {
      n = n * 10 + (s[i] - '0');
      if (n > kMaxMs) return bad(too_large);
    }
    if (digits == 0) return bad(std::string("expected <integer><unit> groups with units ") + units + " (e.g. 7d, 1h30m, 90)");
    std::int64_t mult = 1000;
    if (i == s.size()) {
      if (!bare_allowed) return bad("missing unit after the last number");
    } else {
      const std::size_t at = i;
      mult = duration_unit_ms(s, i, allow_ms);
      if (mult == 0) return bad("unknown unit '" + std::string(s.substr(at, i - at)) + "' (use " + units + ")");
    }
    bare_allowed = false;
    if (n > (kMaxMs - total) / mult) return bad(too_large);
    total += n * mult;
  }
  return std::chrono::milliseconds(total);
}

}  // namespace

Result<std::chrono::seconds> parse_duration(std::string_view s) {
  CC_TRY(ms, parse_duration_impl(s, false));
  return std::chrono::duration_cast<std::chrono::seconds>(*ms);
}

Result<std::chrono::milliseconds> parse_duration_millis(std::string_view s) { return parse_duration_impl(s, true); }

Result<std::chrono::milliseconds> duration_from_seconds(double seconds) {
  const auto max_s = static_cast<double>(kMaxDuration.count());
  if (!(seconds >= 0.0) || !(seconds <= max_s)) {
    return config_error("invalid duration " + std::to_string(seconds) + " s: must be 0.." +
                        std::to_string(kMaxDuration.count()) + " seconds");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}


// ---------------------------------------------------------------- format_bytes / redact_url

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  long double v = static_cast<long double>(bytes);
  std::size_t u = 0;
  while (v >= 1024.0L && u + 1 < std::size(kUnits)) {
    v /= 1024.0L;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1Lf %s", v, kUnits[u]);
  return buf;
}

}  // namespace claimcheck
