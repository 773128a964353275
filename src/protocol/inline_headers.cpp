// claimcheck::detail::parse_inline_headers — see inline_headers.h.
#include "protocol/inline_headers.h"

#include <charconv>

#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/sha256.h"
#include "claimcheck/core/ids.h"

namespace claimcheck::detail {
namespace {

Unexpected bad(std::string msg) { return fail(ErrorCode::InvalidArgument, Origin::Protocol, std::move(msg)); }

std::string header_rule(std::string_view header, std::string_view rule) {
  return "header '" + std::string(header) + "': " + std::string(rule);
}

const std::string* find(const std::map<std::string, std::string>& h, std::string_view k) {
  auto it = h.find(std::string(k));
  return it == h.end() ? nullptr : &it->second;
}

/// A decimal integer without sign, blanks or other bytes; nullopt if not that or above 2^64-1.
std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

Result<std::optional<std::string>> parse_name(const std::map<std::string, std::string>& h) {
  const std::string* n = find(h, kHeaderName);
  const std::string* n64 = find(h, kHeaderNameB64);
  if (n && n64) {
    return bad("headers '" + std::string(kHeaderName) + "' and '" + std::string(kHeaderNameB64) +
               "' must not both be given");
  }
  std::optional<std::string> name;
  if (n64) {
    auto bytes = decode_name_b64(*n64);
    if (!bytes) return bad(header_rule(kHeaderNameB64, bytes.error().message));
    name = std::move(*bytes);
  } else if (n) {
    name = *n;  // AMQP header strings carry bytes as they are
  }
  if (name) {
    if (auto v = validate_relative_name(*name); !v) return bad(v.error().message);
  }
  return name;
}

}  // namespace

Result<InlineHeaders> parse_inline_headers(const std::map<std::string, std::string>& headers,
                                           std::string_view message_id, std::uint64_t max_size_raw) {
  const std::string* enc_s = find(headers, kHeaderEncoding);
  const std::string* sha = find(headers, kHeaderSha256);
  const std::string* size_s = find(headers, kHeaderSizeRaw);
  if (!enc_s || !sha || !size_s) return bad("missing header (need encoding, sha256, size-raw)");
  InlineHeaders out;
  auto enc = parse_encoding(*enc_s);
  if (!enc) return bad(header_rule(kHeaderEncoding, enc.error().message));
  out.encoding = *enc;
  if (!is_sha256_hex(*sha)) return bad(header_rule(kHeaderSha256, "must be 64 lowercase hex"));
  out.sha256 = *sha;
  auto size = parse_u64(*size_s);
  if (!size || *size > max_size_raw) return bad(header_rule(kHeaderSizeRaw, "invalid or over the limit"));
  out.size_raw = *size;
  auto name = parse_name(headers);
  if (!name) return fail(std::move(name.error()));
  out.name = std::move(*name);
  if (!out.name && !is_uuid(message_id)) return bad("message_id must be a UUID when no name is given");
  return out;
}

}  // namespace claimcheck::detail
