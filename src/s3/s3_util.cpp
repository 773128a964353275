// Pure helpers of the S3 client: validation, URL building, hashing, dates.
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "claimcheck/core/base64.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/sha256.h"
#include "claimcheck/core/retry.h"
#include "s3/s3_internal.h"

namespace claimcheck::s3 {
namespace detail {
namespace {

Unexpected bad(std::string msg) { return fail(ErrorCode::InvalidArgument, Origin::S3, std::move(msg)); }

// Digest with EVP; returns the raw digest bytes.
std::string digest(const EVP_MD* md, std::span<const std::byte> data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

/// True if `t` (seconds since 1970) is at or after 1970 and, with up to a second of fraction added, inside
/// system_clock's range (nanoseconds in 64 bits: until 2262-04-11). from_time_t() overflows beyond that: a
/// LastModified in year 4052 wrapped around to a time long past, and an object listed with it looked old.
bool representable(std::time_t t) {
  using Clock = std::chrono::system_clock;
  constexpr auto kMax = std::chrono::duration_cast<std::chrono::seconds>(Clock::duration::max()).count() - 1;
  return t >= 0 && t <= kMax;
}

}  // namespace

Result<Endpoint> parse_endpoint(std::string_view url) {
  Endpoint ep;
  if (url.starts_with("http://")) {
    ep.scheme = "http";
    url.remove_prefix(7);
  } else if (url.starts_with("https://")) {
    ep.scheme = "https";
    url.remove_prefix(8);
  } else {
    return bad("endpoint must start with http:// or https://");
  }
  if (!url.empty() && url.back() == '/') url.remove_suffix(1);
  if (url.empty()) return bad("endpoint has no host");
  if (url.find_first_of("/?#@ ") != std::string_view::npos) {
    return bad("endpoint must be scheme://host[:port] without path, query or userinfo");
  }
  std::string_view host = url;
  std::string_view port;
  bool has_port = false;
  if (url.front() == '[') {  // [IPv6]:port
    auto close = url.find(']');
    if (close == std::string_view::npos) return bad("endpoint has an unterminated [IPv6] host");
    host = url.substr(0, close + 1);
    auto rest = url.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("endpoint: unexpected characters after [IPv6] host");
      port = rest.substr(1);
      has_port = true;
    }
  } else if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    host = url.substr(0, colon);
    port = url.substr(colon + 1);
    has_port = true;
  }
  if (host.empty() || host == "[]") return bad("endpoint has no host");
  ep.host = std::string(host);
  if (has_port) {
    int p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p < 1 || p > 65535) {
      return bad("endpoint: port must be 1..65535");
    }
    ep.port = p;
  }
  return ep;
}

// One rule per name, owned by the protocol (core) and applied here before anything is sent.
Result<void> check_key(std::string_view key) {
  if (auto r = validate_key(key); !r) return bad("object key: " + r.error().message);
  return ok();
}

Result<void> check_bucket(std::string_view b) {
  if (auto r = validate_bucket_name(b); !r) return bad("bucket name: " + r.error().message);
  return ok();
}

Result<void> check_metadata(const std::map<std::string, std::string>& md) {
  for (const auto& [name, value] : md) {
    if (name.empty()) return bad("metadata name is empty");
    for (char c : name) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return bad("metadata name '" + name + "' must match [a-z0-9-]+");
      }
    }
    for (char c : value) {
      if (c < 0x20 || c > 0x7e) return bad("metadata value of '" + name + "' must be printable ASCII");
    }
  }
  return ok();
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string build_url(const Endpoint& ep, bool path_style, std::string_view bucket, std::string_view key,
                      std::string_view query) {
  std::string url = ep.scheme + "://";
  if (!path_style && !bucket.empty()) {
    url += bucket;
    url += '.';
  }
  url += ep.host;
  if (ep.port != 0) url += ":" + std::to_string(ep.port);
  url += '/';
  if (path_style && !bucket.empty()) {
    url += bucket;
    if (!key.empty()) url += '/';
  }
  url += uri_encode(key, true);
  if (!query.empty()) {
    url += '?';
    url += query;
  }
  return url;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out.data(), &len);
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

std::string md5_hex(std::span<const std::byte> data) {
  return claimcheck::to_hex(as_bytes(digest(EVP_md5(), data)));
}

std::string md5_base64(std::span<const std::byte> data) {
  const auto d = digest(EVP_md5(), data);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string unquote_etag(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  // Some servers XML-escape the quotes inside list results; pugixml already unescaped them.
  return std::string(etag);
}

std::chrono::system_clock::time_point parse_iso8601(std::string_view s) {
  std::tm tm{};
  int year = 0, mon = 0, day = 0, hh = 0, mm = 0, ss = 0;
  std::string buf(s);
  if (std::sscanf(buf.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &year, &mon, &day, &hh, &mm, &ss) != 6) return {};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  const std::time_t t = timegm(&tm);
  if (!representable(t)) return {};
  auto tp = std::chrono::system_clock::from_time_t(t);
  // Fractional seconds (milliseconds precision is what S3 returns).
  if (auto dot = s.find('.'); dot != std::string_view::npos && dot > 18) {
    int ms = 0, digits = 0;
    for (std::size_t i = dot + 1; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && digits < 3; ++i) {
      ms = ms * 10 + (s[i] - '0');
      ++digits;
    }
    while (digits++ < 3) ms *= 10;
    tp += std::chrono::milliseconds(ms);
  }
  return tp;
}

std::chrono::system_clock::time_point parse_http_date(std::string_view s) {
  std::string buf(s);
  const std::time_t t = curl_getdate(buf.c_str(), nullptr);
  if (!representable(t)) return {};
  return std::chrono::system_clock::from_time_t(t);
}


}  // namespace detail

Result<void> S3Config::validate() const {
  if (endpoint.empty()) return config_error("s3 endpoint: empty (want http(s)://host:port)");
  if (auto ep = detail::parse_endpoint(endpoint); !ep) return config_error("s3 endpoint: " + ep.error().message);
  if (region.empty()) return config_error("s3 region: empty");
  for (char c : region) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
      return config_error("s3 region: must match [A-Za-z0-9_-]+");
    }
  }
  if (access_key.empty() != secret_key.empty()) {
    return config_error(std::string("s3 ") + (access_key.empty() ? "access_key" : "secret_key") +
                   ": empty (give both keys, or neither for presigned GETs only)");
  }
  if (connect_timeout.count() <= 0) return config_error("s3 connect_timeout: must be > 0 ms");
  if (request_timeout.count() < 0) return config_error("s3 request_timeout: must be >= 0 ms (0 = none)");
  if (stall_timeout.count() < 1000) return config_error("s3 stall_timeout: must be >= 1000 ms");
  if (low_speed_limit < 1) return config_error("s3 low_speed_limit: must be >= 1 byte/s");
  if (part_size < 5 * kMiB || part_size > 5ULL * 1024 * kMiB) {
    return config_error("s3 part_size: must be 5 MiB .. 5 GiB (S3 multipart limits)");
  }
  if (retry.max_attempts < 1 || retry.max_attempts > 100) return config_error("s3 retry: field 'max_attempts': must be 1..100");
  if (auto v = retry.validate(); !v) return config_error("s3 retry: " + v.error().message);
  return ok();
}

}  // namespace claimcheck::s3
