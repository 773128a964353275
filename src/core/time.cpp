#include "claimcheck/core/time.h"

#include <cstdio>
#include <cstring>
#include <limits>

namespace claimcheck {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

Unexpected time_error(std::string_view s, std::string why) {
  return fail(ErrorCode::InvalidArgument, Origin::Protocol,
              "invalid RFC 3339 UTC timestamp '" + std::string(s.substr(0, 64)) + "': " + std::move(why));
}


}  // namespace

Timestamp utc_now() {
  return std::chrono::time_point_cast<Timestamp::duration>(
      std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()));
}

// ---------------------------------------------------------------- RFC 3339

namespace {
std::string format_time(Timestamp tp, bool millis) {
  using namespace std::chrono;
  const auto ms_tp = floor<milliseconds>(tp);
  const auto day = floor<days>(ms_tp);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms_tp - day};
  char buf[48];
  if (millis) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
  }
  return buf;
}
}  // namespace

std::string format_rfc3339(Timestamp tp) { return format_time(tp, true); }
std::string format_rfc3339_seconds(Timestamp tp) { return format_time(tp, false); }

Result<Timestamp> parse_rfc3339(std::string_view s) {
  using namespace std::chrono;
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > s.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (!is_digit(s[i])) return false;
      v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
  };
  int Y = 0, M = 0, D = 0, h = 0, m = 0, sec = 0;
  if (s.size() < 20 || !num(0, 4, Y) || s[4] != '-' || !num(5, 2, M) || s[7] != '-' || !num(8, 2, D) ||
      (s[10] != 'T' && s[10] != 't') || !num(11, 2, h) || s[13] != ':' || !num(14, 2, m) || s[16] != ':' ||
      !num(17, 2, sec)) {
    return time_error(s, "expected YYYY-MM-DDTHH:MM:SS[.fraction]Z");
  }
  std::size_t i = 19;
  std::int64_t nanos = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::size_t nd = 0;
    std::int64_t scale = 100000000;
    for (; i < s.size() && is_digit(s[i]); ++i, ++nd) {
      if (nd >= 9) return time_error(s, "more than 9 fraction digits");
      nanos += (s[i] - '0') * scale;
      scale /= 10;
    }
    if (nd == 0) return time_error(s, "expected digits after '.'");
  }
  const std::string_view zone = s.substr(i);
  if (!(zone == "Z" || zone == "z" || zone == "+00:00" || zone == "-00:00")) {
    return time_error(s, "must end in 'Z' (UTC)");
  }
  const year_month_day ymd{year{Y}, month{static_cast<unsigned>(M)}, day{static_cast<unsigned>(D)}};
  if (!ymd.ok()) return time_error(s, "invalid date");
  if (h > 23 || m > 59 || sec > 59) return time_error(s, "invalid time of day");
  // Whole seconds first (64-bit seconds hold any 4-digit year), then check the Timestamp range before
  // adding the fraction, so an instant past 2262 is refused instead of wrapping around.
  const sys_seconds secs = sys_days{ymd} + hours{h} + minutes{m} + seconds{sec};
  const auto lo = ceil<seconds>(Timestamp::min().time_since_epoch());
  const auto hi = floor<seconds>(Timestamp::max().time_since_epoch()) - seconds{1};
  if (secs.time_since_epoch() < lo || secs.time_since_epoch() > hi)
    return time_error(s, "outside the representable range (about 1677-09-22 to 2262-04-10)");
  return Timestamp{duration_cast<Timestamp::duration>(secs.time_since_epoch()) + duration_cast<Timestamp::duration>(nanoseconds{nanos})};
}

}  // namespace claimcheck
