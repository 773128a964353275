// SigV4 query-string signing (presigned GET URLs) and the recipient's checks of such URLs.
#include "claimcheck/s3/presign.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <map>

#include "claimcheck/core/sha256.h"
#include "s3/s3_internal.h"

namespace claimcheck::s3 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

Unexpected bad(std::string msg) { return fail(ErrorCode::InvalidArgument, Origin::S3, std::move(msg)); }

/// `yyyymmddThhmmssZ` (SigV4 ISO 8601 basic format, UTC).
std::string amz_date(std::chrono::system_clock::time_point tp) {
  const std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Result<std::chrono::system_clock::time_point> parse_amz_date(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return bad("presigned url: X-Amz-Date must be yyyymmddThhmmssZ");
  for (std::size_t i = 0; i < 15; ++i) {
    if (i != 8 && !std::isdigit(static_cast<unsigned char>(s[i]))) {
      return bad("presigned url: X-Amz-Date must be yyyymmddThhmmssZ");
    }
  }
  auto num = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    std::from_chars(s.data() + pos, s.data() + pos + len, v);
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return bad("presigned url: X-Amz-Date is not a valid UTC time");
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string lower_ascii(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return s;
}

/// The port a connection to `ep` uses (the scheme's default when the endpoint names none).
int effective_port(const detail::Endpoint& ep) {
  if (ep.port != 0) return ep.port;
  return ep.scheme == "https" ? 443 : 80;
}

/// Host as it goes into the signed `host` header: the port only when it is not the scheme's default
/// (what libcurl sends).
std::string signed_host(const detail::Endpoint& ep, bool path_style, std::string_view bucket) {
  std::string host = path_style ? ep.host : std::string(bucket) + "." + ep.host;
  if (ep.port != 0 && ep.port != effective_port(detail::Endpoint{ep.scheme, ep.host, 0})) {
    host += ":" + std::to_string(ep.port);
  }
  return host;
}

/// The encoded path of bucket/key under `ep`, exactly as detail::build_url() writes it.
std::string object_path(const detail::Endpoint& ep, bool path_style, std::string_view bucket, std::string_view key) {
  const std::string url = detail::build_url(ep, path_style, bucket, key, "");
  return url.substr(url.find('/', ep.scheme.size() + 3));
}

Result<void> check_request(const PresignRequest& r) {
  auto clean = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  };
  if (!clean(r.access_key) || !clean(r.secret_key)) return bad("presign: access key and secret key are required");
  if (!clean(r.region)) return bad("presign: region must be non-empty printable ASCII");
  if (r.expires < std::chrono::seconds(1) || r.expires > kMaxPresignExpiry) {
    return bad("presign: expires must be 1 s .. 604800 s (7 days, the SigV4 maximum)");
  }
  if (r.signing_time < std::chrono::system_clock::time_point{}) return bad("presign: signing time before 1970");
  CC_TRY_VOID(detail::check_bucket(r.bucket));
  return detail::check_key(r.key);
}

}  // namespace

Result<std::string> presign_get(const PresignRequest& req) {
  CC_TRY_VOID(check_request(req));
  CC_TRY(ep, detail::parse_endpoint(req.endpoint));
  const std::string date_time = amz_date(req.signing_time);
  const std::string date = date_time.substr(0, 8);
  const std::string scope = date + "/" + req.region + "/s3/aws4_request";
  // Parameters in byte order of their names, values URI-encoded (SigV4 canonical query string).
  const std::string query = "X-Amz-Algorithm=" + std::string(kAlgorithm) +
                            "&X-Amz-Credential=" + detail::uri_encode(req.access_key + "/" + scope, false) +
                            "&X-Amz-Date=" + date_time + "&X-Amz-Expires=" + std::to_string(req.expires.count()) +
                            "&X-Amz-SignedHeaders=host";
  const std::string canonical = "GET\n" + object_path(*ep, req.path_style, req.bucket, req.key) + "\n" + query +
                                "\nhost:" + signed_host(*ep, req.path_style, req.bucket) + "\n\nhost\nUNSIGNED-PAYLOAD";
  const std::string to_sign = std::string(kAlgorithm) + "\n" + date_time + "\n" + scope + "\n" +
                              sha256_hex(canonical);
  std::string k = detail::hmac_sha256("AWS4" + req.secret_key, date);
  k = detail::hmac_sha256(k, req.region);
  k = detail::hmac_sha256(k, "s3");
  k = detail::hmac_sha256(k, "aws4_request");
  const std::string signature = to_hex(detail::as_bytes(detail::hmac_sha256(k, to_sign)));
  return detail::build_url(*ep, req.path_style, req.bucket, req.key, query + "&X-Amz-Signature=" + signature);
}

Result<std::string> presign_get(const S3Config& cfg, const std::string& bucket, const std::string& key,
                                std::chrono::seconds expires, std::chrono::system_clock::time_point signing_time) {
  if (!cfg.has_credentials()) return bad("presign: the S3 configuration has no credentials");
  PresignRequest r;
  r.endpoint = cfg.endpoint;
  r.region = cfg.region;
  r.access_key = cfg.access_key;
  r.secret_key = cfg.secret_key;
  r.bucket = bucket;
  r.key = key;
  r.expires = expires;
  r.signing_time = signing_time;
  r.path_style = cfg.path_style;
  return presign_get(r);
}

namespace {

/// The query of a presigned URL as name → value; a repeated or empty name → InvalidArgument.
Result<std::map<std::string, std::string, std::less<>>> split_query(std::string_view q) {
  std::map<std::string, std::string, std::less<>> out;
  while (!q.empty()) {
    const auto amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    const auto eq = part.find('=');
    const std::string_view name = part.substr(0, eq);
    if (name.empty()) return bad("presigned url: empty query parameter name");
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (!out.emplace(std::string(name), std::string(value)).second) {
      return bad("presigned url: query parameter '" + std::string(name) + "' repeats");
    }
  }
  return out;
}

Result<void> check_query(const std::map<std::string, std::string, std::less<>>& q, PresignedUrl& out) {
  for (const char* need : {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                           "X-Amz-SignedHeaders", "X-Amz-Signature"}) {
    if (!q.contains(need)) return bad(std::string("presigned url: no ") + need + " query parameter");
  }
  if (q.find("X-Amz-Algorithm")->second != kAlgorithm) return bad("presigned url: X-Amz-Algorithm must be AWS4-HMAC-SHA256");
  const std::string& sig = q.find("X-Amz-Signature")->second;
  if (sig.size() != 64 || !std::all_of(sig.begin(), sig.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return bad("presigned url: X-Amz-Signature must be 64 lowercase hex characters");
  }
  CC_TRY(signed_at, parse_amz_date(q.find("X-Amz-Date")->second));
  out.signed_at = *signed_at;
  const std::string& ex = q.find("X-Amz-Expires")->second;
  long long secs = 0;
  auto [p, ec] = std::from_chars(ex.data(), ex.data() + ex.size(), secs);
  if (ec != std::errc() || p != ex.data() + ex.size() || secs < 1 || secs > kMaxPresignExpiry.count()) {
    return bad("presigned url: X-Amz-Expires must be 1..604800 seconds");
  }
  out.expires = std::chrono::seconds(secs);
  return ok();
}

}  // namespace

Result<PresignedUrl> parse_presigned_url(std::string_view url) {
  if (url.size() > kMaxPresignedUrlBytes) return bad("presigned url: longer than 4096 bytes");
  for (char c : url) {
    if (c <= 0x20 || c >= 0x7f || c == '#' || c == '@' || c == '\\') {
      return bad("presigned url: only printable ASCII without space, '#', '@' or '\\'");
    }
  }
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return bad("presigned url: must start with http:// or https://");
  const auto path_start = url.find('/', scheme_end + 3);
  const auto query_start = url.find('?');
  if (path_start == std::string_view::npos || query_start == std::string_view::npos || query_start < path_start) {
    return bad("presigned url: must be scheme://host[:port]/path?query");
  }
  auto ep = detail::parse_endpoint(url.substr(0, path_start));
  if (!ep) return bad("presigned url: " + ep.error().message);
  PresignedUrl out;
  out.scheme = ep->scheme;
  out.host = lower_ascii(ep->host);
  out.port = effective_port(*ep);
  out.path = std::string(url.substr(path_start, query_start - path_start));
  CC_TRY(q, split_query(url.substr(query_start + 1)));
  CC_TRY_VOID(check_query(*q, out));
  return out;
}

Result<void> check_presigned_target(const PresignedUrl& url, std::string_view endpoint, std::string_view bucket,
                                    std::string_view key) {
  CC_TRY(ep, detail::parse_endpoint(endpoint));
  const std::string host = lower_ascii(ep->host);
  const int port = effective_port(*ep);
  const bool path_style = url.host == host;
  const bool virtual_hosted = url.host == std::string(bucket) + "." + host;
  if (url.scheme != ep->scheme || url.port != port || (!path_style && !virtual_hosted)) {
    return bad("presigned url points at " + url.scheme + "://" + url.host + ":" + std::to_string(url.port) +
               ", not at the configured S3 endpoint " + ep->scheme + "://" + host + ":" + std::to_string(port) +
               " (refused without a request)");
  }
  if (url.path != object_path(*ep, path_style, bucket, key)) {
    return bad("presigned url path is not the pointer's object " + std::string(bucket) + "/" + std::string(key));
  }
  return ok();
}

}  // namespace claimcheck::s3
