#include "claimcheck/util.h"

#include <uuid/uuid.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "claimcheck/file_io.h"

namespace claimcheck {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

Unexpected config_error(std::string msg) { return fail(ErrorCode::InvalidArgument, "config", std::move(msg)); }
Unexpected time_error(std::string_view s, std::string why) {
  return fail(ErrorCode::InvalidArgument, "protocol",
              "invalid RFC 3339 UTC timestamp '" + std::string(s.substr(0, 64)) + "': " + std::move(why));
}

}  // namespace

Timestamp utc_now() {
  return std::chrono::time_point_cast<Timestamp::duration>(
      std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()));
}

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

// ---------------------------------------------------------------- UUID

std::string new_uuid_v4() {
  uuid_t u;
  uuid_generate_random(u);
  char buf[37];
  uuid_unparse_lower(u, buf);
  return std::string(buf, 36);
}

bool is_uuid(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!(is_digit(c) || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
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

namespace {
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_blanks(std::string_view v) {
  while (!v.empty() && is_blank(v.front())) v.remove_prefix(1);
  while (!v.empty() && is_blank(v.back())) v.remove_suffix(1);
  return v;
}

std::string redact_one(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  const std::size_t auth_begin = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  std::size_t auth_end = url.find_first_of("/?#", auth_begin);
  if (auth_end == std::string_view::npos) auth_end = url.size();
  std::size_t at = url.substr(auth_begin, auth_end - auth_begin).rfind('@');
  if (at == std::string_view::npos) {
    // No userinfo in a well-formed authority; but a password holding an unencoded '/', '?' or '#' ends
    // the authority early (the URL is then malformed and shown in an error): mask up to the last '@'.
    at = url.substr(auth_begin).rfind('@');
    if (at == std::string_view::npos) return std::string(url);
  }
  const std::size_t colon = url.substr(auth_begin, at).find(':');
  if (colon == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, auth_begin + colon + 1));
  out += "***";
  out += url.substr(auth_begin + at);
  return out;
}
}  // namespace

std::vector<std::string> split_comma_list(std::string_view list) {
  std::vector<std::string> out;
  while (true) {
    auto comma = list.find(',');
    std::string_view item = trim_blanks(list.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

namespace {

/// Positions of the ',' that separate URLs in a list (see split_url_list).
std::vector<std::size_t> url_list_commas(std::string_view list) {
  std::vector<std::size_t> out;
  for (std::size_t c = list.find(','); c != std::string_view::npos; c = list.find(',', c + 1)) {
    std::size_t j = c + 1;
    while (j < list.size() && (is_blank(list[j]) || list[j] == ',')) ++j;
    const std::string_view rest = list.substr(j);
    if (rest.empty() || rest.substr(0, 7) == "amqp://" || rest.substr(0, 8) == "amqps://") out.push_back(c);
  }
  return out;
}

/// Percent-encode everything but RFC 3986 unreserved characters.
std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> split_url_list(std::string_view list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  auto commas = url_list_commas(list);
  commas.push_back(list.size());
  for (const std::size_t c : commas) {
    const std::string_view item = trim_blanks(list.substr(start, c - start));
    if (!item.empty()) out.emplace_back(item);
    start = c + 1;
  }
  return out;
}

std::string redact_url(std::string_view url) {
  std::string out;
  std::size_t start = 0;
  auto commas = url_list_commas(url);
  commas.push_back(url.size());
  for (const std::size_t c : commas) {
    out += redact_one(url.substr(start, c - start));
    if (c == url.size()) break;
    out += ',';
    start = c + 1;
  }
  return out;
}

Result<std::string> set_url_password(std::string_view url, std::string_view password) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return config_error("URL has no scheme://: cannot set its password");
  const std::size_t auth_begin = scheme_end + 3;
  std::size_t auth_end = url.find_first_of("/?#", auth_begin);
  if (auth_end == std::string_view::npos) auth_end = url.size();
  // The last '@' before the path ends the userinfo (an old password may hold raw '/', '?' or '#').
  const std::size_t at = url.substr(auth_begin).rfind('@');
  if (at == std::string_view::npos || at == 0) return config_error("URL has no user name: cannot set a password");
  const std::string_view userinfo = url.substr(auth_begin, at);
  const std::string_view user = userinfo.substr(0, userinfo.find(':'));
  if (user.empty()) return config_error("URL has no user name: cannot set a password");
  std::string out(url.substr(0, auth_begin));
  out += user;
  out += ':';
  out += percent_encode(password);
  out += url.substr(auth_begin + at);
  return out;
}

namespace {

/// Calls `on_value(begin, length)` for each password value in `dsn` (URL userinfo, query parameter or
/// keyword/value), positions into `dsn`.
template <typename F>
void for_each_dsn_password(std::string_view dsn, F&& on_value) {
  const std::size_t scheme_end = dsn.find("://");
  if (scheme_end != std::string_view::npos) {
    const std::size_t auth_begin = scheme_end + 3;
    const std::size_t q = dsn.find('?', auth_begin);
    const std::string_view auth = dsn.substr(auth_begin, (q == std::string_view::npos ? dsn.size() : q) - auth_begin);
    const std::size_t at = auth.rfind('@');
    const std::size_t colon = at == std::string_view::npos ? std::string_view::npos : auth.substr(0, at).find(':');
    if (colon != std::string_view::npos) on_value(auth_begin + colon + 1, at - colon - 1);
    if (q == std::string_view::npos) return;
    for (std::size_t p = q + 1; p < dsn.size();) {
      std::size_t amp = dsn.find_first_of("&#", p);
      if (amp == std::string_view::npos) amp = dsn.size();
      const std::string_view part = dsn.substr(p, amp - p);
      if (part.substr(0, 9) == "password=") on_value(p + 9, part.size() - 9);
      p = amp + 1;
    }
    return;
  }
  // libpq keyword/value: password = value | password = 'quoted \' value'
  for (std::size_t k = dsn.find("password"); k != std::string_view::npos; k = dsn.find("password", k + 1)) {
    if (k > 0 && std::isspace(static_cast<unsigned char>(dsn[k - 1])) == 0) continue;
    std::size_t i = k + 8;
    while (i < dsn.size() && dsn[i] == ' ') ++i;
    if (i >= dsn.size() || dsn[i] != '=') continue;
    ++i;
    while (i < dsn.size() && dsn[i] == ' ') ++i;
    std::size_t j = i;
    if (j < dsn.size() && dsn[j] == '\'') {
      for (++j; j < dsn.size() && dsn[j] != '\''; ++j)
        if (dsn[j] == '\\') ++j;
      on_value(i + 1, std::min(j, dsn.size()) - i - 1);
    } else {
      while (j < dsn.size() && std::isspace(static_cast<unsigned char>(dsn[j])) == 0) ++j;
      on_value(i, j - i);
    }
  }
}

}  // namespace

std::string redact_dsn(std::string_view dsn) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for_each_dsn_password(dsn, [&](std::size_t b, std::size_t n) { spans.emplace_back(b, n); });
  std::sort(spans.begin(), spans.end());
  std::string out;
  std::size_t pos = 0;
  for (const auto& [b, n] : spans) {
    if (b < pos) continue;
    out += dsn.substr(pos, b - pos);
    out += "***";
    pos = b + n;
  }
  out += dsn.substr(std::min(pos, dsn.size()));
  return out;
}

std::vector<std::string> dsn_secrets(std::string_view dsn) {
  std::vector<std::string> out;
  for_each_dsn_password(dsn, [&](std::size_t b, std::size_t n) {
    if (n == 0) return;
    out.emplace_back(dsn.substr(b, n));
    out.push_back(percent_decode(dsn.substr(b, n)));
  });
  return out;
}

std::string scrub_secrets(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.empty()) continue;
    for (std::size_t p = text.find(s); p != std::string::npos; p = text.find(s, p + 3)) text.replace(p, s.size(), "***");
  }
  return text;
}

// ---------------------------------------------------------------- object key

std::string make_object_key(std::string_view prefix, Timestamp tp, std::string_view id, Encoding encoding,
                            std::string_view base_ext) {
  using namespace std::chrono;
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  const year_month_day ymd{floor<days>(tp)};
  char date[16];
  std::snprintf(date, sizeof date, "%04d/%02u/%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  std::string key;
  if (!prefix.empty()) {
    key += prefix;
    key += '/';
  }
  key += date;
  key += '/';
  key += id;
  key += base_ext;
  key += file_extension(encoding);
  return key;
}

// ---------------------------------------------------------------- backoff

Result<void> BackoffPolicy::validate() const {
  if (initial.count() < 0) return config_error("field 'initial': must be >= 0 ms");
  if (max < initial) return config_error("field 'max': must be >= initial");
  if (!(multiplier >= 1.0) || !std::isfinite(multiplier)) return config_error("field 'multiplier': must be >= 1");
  if (max_attempts < 1) return config_error("field 'max_attempts': must be >= 1");
  return ok();
}

std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, int attempt, std::mt19937_64& rng) {
  const int k = std::max(attempt, 1) - 1;
  const double maxd = static_cast<double>(policy.max.count());
  double cap = static_cast<double>(policy.initial.count()) * std::pow(policy.multiplier, k);
  if (!std::isfinite(cap) || cap > maxd) cap = maxd;
  if (cap < 0) cap = 0;
  std::uniform_int_distribution<std::int64_t> dist(0, static_cast<std::int64_t>(cap));
  return std::chrono::milliseconds(dist(rng));
}

// ---------------------------------------------------------------- synthetic payload

namespace {
constexpr std::size_t kSyntheticChunk = 1024;
constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::string uuid_from_rng(std::mt19937_64& rng) {
  std::uint64_t a = rng(), b = rng();
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(a >> (8 * i));
    bytes[8 + i] = static_cast<unsigned char>(b >> (8 * i));
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);
  char buf[37];
  uuid_unparse_lower(bytes, buf);
  return std::string(buf, 36);
}
}  // namespace

SyntheticPayloadSource::SyntheticPayloadSource(std::uint64_t idx, std::uint64_t size_bytes, std::uint64_t seed,
                                               Timestamp ts)
    : rng_(seed) {
  id_ = uuid_from_rng(rng_);
  pending_ = R"({"schema":"demo-1c-object-v1","id":")" + id_ + R"(","idx":)" + std::to_string(idx) +
             R"(,"ts":")" + format_rfc3339(ts) + R"(","data":[)";
  trailer_ = "]}";
  const std::uint64_t fixed = pending_.size() + trailer_.size();
  data_left_ = size_bytes > fixed ? size_bytes - fixed : 0;
  total_ = fixed + data_left_;
  emitted_ = pending_.size();
}

void SyntheticPayloadSource::refill() {
  pending_.clear();
  pending_pos_ = 0;
  if (data_left_ == 0) {
    if (!trailer_done_) {
      pending_ = trailer_;
      trailer_done_ = true;
    }
  } else {
    const std::uint64_t overhead = first_elem_ ? 2 : 3;
    if (data_left_ < overhead) {
      pending_.assign(static_cast<std::size_t>(data_left_), ' ');
      data_left_ = 0;
    } else {
      const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kSyntheticChunk, data_left_ - overhead));
      if (!first_elem_) pending_ += ',';
      pending_ += '"';
      const std::size_t base = pending_.size();
      pending_.resize(base + len);
      char* out = pending_.data() + base;
      std::size_t done = 0;
      while (done < len) {
        std::uint64_t r = rng_();
        // 8 characters per 64-bit draw (byte % 62: a slight bias is irrelevant for synthetic data).
        for (int k = 0; k < 8 && done < len; ++k, ++done) {
          out[done] = kAlnum[(r & 0xFFu) % 62];
          r >>= 8;
        }
      }
      pending_ += '"';
      data_left_ -= len + overhead;
      first_elem_ = false;
    }
  }
  emitted_ += pending_.size();
}

Result<std::size_t> SyntheticPayloadSource::read(std::span<std::byte> buf) {
  std::size_t n = 0;
  while (n < buf.size()) {
    if (pending_pos_ >= pending_.size()) {
      refill();
      if (pending_.empty()) break;
    }
    const std::size_t k = std::min(buf.size() - n, pending_.size() - pending_pos_);
    std::memcpy(buf.data() + n, pending_.data() + pending_pos_, k);
    pending_pos_ += k;
    n += k;
  }
  return n;
}

std::string synthetic_payload(std::uint64_t idx, std::uint64_t size_bytes, std::mt19937_64& rng) {
  SyntheticPayloadSource src(idx, size_bytes, rng());
  auto r = read_all(src);
  return r ? std::move(r).value() : std::string();
}

}  // namespace claimcheck
