#include "claimcheck/util.h"

#include <uuid/uuid.h>

#include <algorithm>
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
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  std::uint64_t whole = 0;
  std::size_t digits = 0;
  for (; i < s.size() && is_digit(s[i]); ++i, ++digits) {
    const auto d = static_cast<std::uint64_t>(s[i] - '0');
    if (whole > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return bad("too large");
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
  if (whole > std::numeric_limits<std::uint64_t>::max() / mult) return bad("too large");
  const std::uint64_t base = whole * mult;
  const auto extra = static_cast<std::uint64_t>(std::floor(frac * static_cast<long double>(mult)));
  if (extra > std::numeric_limits<std::uint64_t>::max() - base) return bad("too large");
  return base + extra;
}

// ---------------------------------------------------------------- parse_duration

Result<std::chrono::seconds> parse_duration(std::string_view s) {
  const std::string in(s);
  auto bad = [&](const std::string& why) { return config_error("invalid duration '" + in + "': " + why); };
  if (s.empty()) return bad("empty");
  std::int64_t total = 0;
  std::size_t i = 0;
  bool bare_allowed = true;
  while (i < s.size()) {
    std::int64_t n = 0;
    std::size_t digits = 0;
    for (; i < s.size() && is_digit(s[i]); ++i, ++digits) {
      const int d = s[i] - '0';
      if (n > (std::numeric_limits<std::int64_t>::max() - d) / 10) return bad("too large");
      n = n * 10 + d;
    }
    if (digits == 0) return bad("expected <integer><unit> groups with units d, h, m, s (e.g. 7d, 1h30m, 90)");
    std::int64_t mult = 1;
    if (i == s.size()) {
      if (!bare_allowed) return bad("missing unit after the last number");
    } else {
      switch (s[i]) {
        case 'd': mult = 86400; break;
        case 'h': mult = 3600; break;
        case 'm': mult = 60; break;
        case 's': mult = 1; break;
        default: return bad(std::string("unknown unit '") + s[i] + "' (use d, h, m, s)");
      }
      ++i;
    }
    bare_allowed = false;
    if (n > (std::numeric_limits<std::int64_t>::max() - total) / mult) return bad("too large");
    total += n * mult;
  }
  return std::chrono::seconds(total);
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
  const auto tp = sys_days{ymd} + hours{h} + minutes{m} + seconds{sec} + nanoseconds{nanos};
  return time_point_cast<Timestamp::duration>(tp);
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
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\n' || v.front() == '\r')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\n' || v.back() == '\r')) v.remove_suffix(1);
    return v;
  };
  std::vector<std::string> out;
  while (true) {
    auto comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

std::string redact_url(std::string_view url) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = url.find(',', start);
    out += redact_one(url.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    out += ',';
    start = comma + 1;
  }
  return out;
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
