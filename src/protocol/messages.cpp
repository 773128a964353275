#include "claimcheck/protocol/messages.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <unordered_set>

#include "claimcheck/core/base64.h"
#include "claimcheck/core/sha256.h"
#include "claimcheck/core/ids.h"
#include "claimcheck/core/time.h"

namespace claimcheck {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

constexpr std::size_t kMaxProducerIdBytes = 256;
constexpr std::size_t kMaxContentTypeBytes = 256;
constexpr std::size_t kMaxReasonBytes = 4096;

Unexpected field_error(std::string_view field, std::string_view rule) {
  std::string msg = "field '";
  msg += field;
  msg += "': ";
  msg += rule;
  return fail(ErrorCode::InvalidArgument, Origin::Protocol, std::move(msg));
}

Unexpected message_error(std::string_view rule) {
  return fail(ErrorCode::InvalidArgument, Origin::Protocol, "message: " + std::string(rule));
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// ---- JSON field readers. Optional fields: absent or null → nullopt.

Result<std::optional<std::string>> get_string(const json& o, std::string_view field, bool required) {
  const auto it = o.find(std::string(field));
  if (it == o.end() || (!required && it->is_null())) {
    if (required) return field_error(field, "is required");
    return std::optional<std::string>{};
  }
  if (!it->is_string()) return field_error(field, "must be a string");
  return std::optional<std::string>{it->get<std::string>()};
}

Result<std::string> req_string(const json& o, std::string_view field) {
  CC_TRY(v, get_string(o, field, true));
  return std::move(**v);
}

Result<std::optional<std::int64_t>> get_int(const json& o, std::string_view field, bool required) {
  const auto it = o.find(std::string(field));
  if (it == o.end() || (!required && it->is_null())) {
    if (required) return field_error(field, "is required");
    return std::optional<std::int64_t>{};
  }
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return field_error(field, "integer out of range");
    }
    return std::optional<std::int64_t>{static_cast<std::int64_t>(u)};
  }
  if (it->is_number_integer()) return std::optional<std::int64_t>{it->get<std::int64_t>()};
  return field_error(field, "must be an integer");
}

Result<std::int64_t> req_int(const json& o, std::string_view field) {
  CC_TRY(v, get_int(o, field, true));
  return **v;
}

Result<std::vector<std::string>> req_string_array(const json& o, std::string_view field) {
  const auto it = o.find(std::string(field));
  if (it == o.end()) return field_error(field, "is required");
  if (!it->is_array()) return field_error(field, "must be an array of strings");
  std::vector<std::string> out;
  out.reserve(it->size());
  for (const auto& e : *it) {
    if (!e.is_string()) return field_error(field, "must be an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<Timestamp> req_time(const json& o, std::string_view field) {
  CC_TRY(s, req_string(o, field));
  auto t = parse_rfc3339(*s);
  if (!t) return field_error(field, "must be an RFC 3339 UTC timestamp like 2024-05-01T12:00:00.000Z");
  return *t;
}

// read_field(o, "name", out): the required field `name` of `o` into `out`, by the type of `out` (the req_*
// rule of that type); `out` is untouched on error.
Result<void> read_field(const json& o, std::string_view field, std::string& out) {
  CC_TRY(v, req_string(o, field));
  out = std::move(*v);
  return ok();
}
Result<void> read_field(const json& o, std::string_view field, std::int64_t& out) {
  CC_TRY(v, req_int(o, field));
  out = *v;
  return ok();
}
Result<void> read_field(const json& o, std::string_view field, std::vector<std::string>& out) {
  CC_TRY(v, req_string_array(o, field));
  out = std::move(*v);
  return ok();
}
Result<void> read_field(const json& o, std::string_view field, Timestamp& out) {
  CC_TRY(v, req_time(o, field));
  out = *v;
  return ok();
}

Result<json> parse_object(std::string_view text) {
  if (text.size() > kMaxMessageBytes) return message_error("body larger than 1 MiB");
  json j;
  try {
    j = json::parse(text.begin(), text.end(), nullptr, false);
  } catch (const std::exception&) {
    return message_error("not valid JSON");
  }
  if (j.is_discarded()) return message_error("not valid JSON");
  if (!j.is_object()) return message_error("must be a JSON object");
  return j;
}

Result<void> expect_schema(const json& o, std::string_view schema) {
  CC_TRY(s, req_string(o, "schema"));
  if (*s != schema) {
    return field_error("schema", "unknown schema '" + s->substr(0, 64) + "', expected '" + std::string(schema) + "'");
  }
  return ok();
}

// A pointer's optional name: `name` (UTF-8 text) or `name_b64` (base64 of bytes that are not valid
// UTF-8), never both. Returns the raw bytes.
Result<std::optional<std::string>> read_name(const json& o) {
  CC_TRY(text, get_string(o, "name", false));
  CC_TRY(b64, get_string(o, "name_b64", false));
  if (*text && *b64) return field_error("name_b64", "must not be given together with 'name'");
  if (!*b64) return std::move(*text);
  CC_TRY(bytes, decode_name_b64(**b64));
  return std::optional<std::string>{std::move(*bytes)};
}

// ---- value rules shared by validate() overloads

Result<void> check_recipient(std::string_view field, std::string_view id) {
  if (id.empty() || id.size() > 64) return field_error(field, "must match [A-Za-z0-9._-]{1,64}");
  for (char c : id) {
    const bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                     c == '_' || c == '-';
    if (!okc) return field_error(field, "must match [A-Za-z0-9._-]{1,64}");
  }
  return ok();
}

Result<void> check_recipients(const std::vector<std::string>& r, std::int64_t total) {
  if (r.empty()) return field_error("recipients", "must not be empty");
  std::unordered_set<std::string_view> seen;
  for (std::size_t i = 0; i < r.size(); ++i) {
    auto v = check_recipient("recipients", r[i]);
    if (!v) {
      return field_error("recipients", "element " + std::to_string(i) + " must match [A-Za-z0-9._-]{1,64}");
    }
    if (!seen.insert(r[i]).second) return field_error("recipients", "must be unique ('" + r[i] + "' repeats)");
  }
  if (total < 1) return field_error("recipients_total", "must be >= 1");
  if (total != static_cast<std::int64_t>(r.size())) {
    return field_error("recipients_total", "must equal the number of recipients (" + std::to_string(r.size()) + ")");
  }
  return ok();
}

Result<void> check_bucket(std::string_view bucket, const ValidationLimits& limits) {
  CC_TRY_VOID(validate_bucket_name(bucket));
  if (!limits.allowed_buckets.empty() &&
      std::find(limits.allowed_buckets.begin(), limits.allowed_buckets.end(), bucket) == limits.allowed_buckets.end()) {
    return field_error("bucket", "'" + std::string(bucket) + "' is not an allowed bucket");
  }
  return ok();
}

Result<void> check_size(std::string_view field, std::int64_t v, std::int64_t max) {
  if (v < 0) return field_error(field, "must be >= 0");
  if (v > max) return field_error(field, "exceeds the maximum of " + std::to_string(max) + " bytes");
  return ok();
}

Result<void> check_sha(std::string_view sha) {
  if (!is_sha256_hex(sha)) return field_error("sha256", "must be 64 lowercase hex characters");
  return ok();
}

Result<void> check_times(Timestamp created, Timestamp expires) {
  if (expires < created) return field_error("expires_at", "must not be before created_at");
  return ok();
}

Result<void> check_producer_id(std::string_view p) {
  if (p.size() > kMaxProducerIdBytes || has_control(p)) {
    return field_error("producer_id", "must be at most 256 bytes without control characters");
  }
  return ok();
}

/// An S3 version id as it travels in XML and in a `versionId=` query: bounded, printable, nothing to escape.
Result<void> check_version_id(const std::string& v) {
  const bool ok_chars = std::all_of(v.begin(), v.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != '<' && c != '>' && c != '&' && c != '"';
  });
  if (v.empty() || v.size() > 1024 || !ok_chars)
    return field_error("version_id", "must be 1..1024 printable ASCII bytes without space, <, >, & or \"");
  return ok();
}

}  // namespace

// ====================================================================== validators

Result<void> validate_key(std::string_view key) {
  if (key.empty()) return field_error("key", "must not be empty");
  if (key.size() > kMaxKeyBytes) return field_error("key", "must be at most 1024 bytes");
  for (char c : key) {
    const bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                     c == '_' || c == '~' || c == '/' || c == '-';
    if (!okc) return field_error("key", "characters must be in [A-Za-z0-9._~/-]");
  }
  if (key.front() == '/') return field_error("key", "must not start with '/'");
  if (key.find("..") != std::string_view::npos) return field_error("key", "must not contain '..'");
  if (key == "." || key.starts_with("./") || key.ends_with("/.") || key.find("/./") != std::string_view::npos)
    return field_error("key", "must not contain a '.' path segment");
  return ok();
}

bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte (RFC 3629 §4)
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }  // no UTF-16 surrogates
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }  // not above U+10FFFF
    else return false;                            // 0x80..0xC1 (continuation or overlong), 0xF5..0xFF
    if (i + len > n) return false;
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      const auto ck = static_cast<unsigned char>(s[i + k]);
      if (ck < 0x80 || ck > 0xBF) return false;
    }
    i += len;
  }
  return true;
}

Result<std::string> decode_name_b64(std::string_view b64) {
  if (b64.size() > 4 * ((kMaxNameBytes + 2) / 3)) return field_error("name_b64", "must encode at most 4096 bytes");
  auto bytes = base64_decode(b64);
  if (!bytes) return field_error("name_b64", "must be padded standard base64 (RFC 4648)");
  if (is_valid_utf8(*bytes)) return field_error("name_b64", "is only for names that are not valid UTF-8 (use 'name')");
  return std::move(*bytes);
}

Result<void> validate_recipient_id(std::string_view id) { return check_recipient("recipient_id", id); }

Result<void> validate_relative_name(std::string_view name) {
  if (name.empty()) return field_error("name", "must not be empty");
  if (name.size() > kMaxNameBytes) return field_error("name", "must be at most 4096 bytes");
  if (name.find('\0') != std::string_view::npos) return field_error("name", "must not contain NUL");
  if (has_control(name)) return field_error("name", "must not contain control characters");
  if (name.find('\\') != std::string_view::npos) return field_error("name", "must not contain '\\'");
  if (name.front() == '/') return field_error("name", "must be a relative path (no leading '/')");
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = name.find('/', start);
    const std::string_view comp =
        name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (comp.empty()) return field_error("name", "must not contain empty path components ('//' or trailing '/')");
    if (comp == "..") return field_error("name", "must not contain a '..' path component");
    if (comp == ".") return field_error("name", "must not contain a '.' path component");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return ok();
}

Result<void> validate_bucket_name(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return field_error("bucket", "must be 3 to 63 characters long");
  for (char c : b) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) {
      return field_error("bucket", "characters must be in [a-z0-9.-]");
    }
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(b.front()) || !alnum(b.back())) return field_error("bucket", "must start and end with a letter or digit");
  if (b.find("..") != std::string_view::npos) return field_error("bucket", "must not contain '..'");
  const bool ipish = std::all_of(b.begin(), b.end(), [](char c) { return c == '.' || (c >= '0' && c <= '9'); }) &&
                     std::count(b.begin(), b.end(), '.') == 3;
  if (ipish) return field_error("bucket", "must not be formatted like an IP address");
  return ok();
}

Result<void> validate_pointer_url(std::string_view url) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    return field_error("url", "must start with http:// or https://");
  }
  if (url.size() > kMaxUrlBytes) return field_error("url", "must be at most 4096 bytes");
  for (char c : url) {
    if (c <= 0x20 || c >= 0x7f) return field_error("url", "must be printable ASCII without spaces");
  }
  const auto q = url.find('?');
  if (q == std::string_view::npos || url.find("X-Amz-Signature=", q) == std::string_view::npos) {
    return field_error("url", "must be a SigV4 presigned URL (no X-Amz-Signature in its query)");
  }
  return ok();
}

Result<void> validate_pointer_id(std::string_view id) {
  if (!is_uuid(id)) return field_error("pointer_id", "must be a lowercase UUID (8-4-4-4-12 hex)");
  return ok();
}

// ====================================================================== validate(struct)

Result<void> validate(const Pointer& p, const ValidationLimits& limits) {
  CC_TRY_VOID(validate_pointer_id(p.pointer_id));
  CC_TRY_VOID(check_bucket(p.bucket, limits));
  CC_TRY_VOID(validate_key(p.key));
  if (p.content_type.empty() || p.content_type.size() > kMaxContentTypeBytes || has_control(p.content_type)) {
    return field_error("content_type", "must be 1 to 256 bytes without control characters");
  }
  CC_TRY_VOID(check_size("size_raw", p.size_raw, limits.max_size_raw));
  CC_TRY_VOID(check_size("size_stored", p.size_stored, limits.max_size_stored));
  CC_TRY_VOID(check_sha(p.sha256));
  CC_TRY_VOID(check_recipients(p.recipients, p.recipients_total));
  CC_TRY_VOID(check_times(p.created_at, p.expires_at));
  CC_TRY_VOID(check_producer_id(p.producer_id));
  if (p.name) CC_TRY_VOID(validate_relative_name(*p.name));
  if (p.url) CC_TRY_VOID(validate_pointer_url(*p.url));
  return ok();
}

Result<void> validate(const StoreRecord& s, const ValidationLimits& limits) {
  CC_TRY_VOID(validate_pointer_id(s.pointer_id));
  CC_TRY_VOID(check_bucket(s.bucket, limits));
  CC_TRY_VOID(validate_key(s.key));
  CC_TRY_VOID(check_recipients(s.recipients, s.recipients_total));
  CC_TRY_VOID(check_size("size_stored", s.size_stored, limits.max_size_stored));
  if (s.size_raw) CC_TRY_VOID(check_size("size_raw", *s.size_raw, limits.max_size_raw));
  CC_TRY_VOID(check_sha(s.sha256));
  CC_TRY_VOID(check_times(s.created_at, s.expires_at));
  CC_TRY_VOID(check_producer_id(s.producer_id));
  if (s.version_id) CC_TRY_VOID(check_version_id(*s.version_id));
  return ok();
}

Result<void> validate(const Ack& a, const ValidationLimits& limits) {
  CC_TRY_VOID(validate_pointer_id(a.pointer_id));
  CC_TRY_VOID(validate_recipient_id(a.recipient_id));
  if (a.reason && (a.reason->size() > kMaxReasonBytes)) return field_error("reason", "must be at most 4096 bytes");
  CC_TRY_VOID(check_bucket(a.bucket, limits));
  CC_TRY_VOID(validate_key(a.key));
  if (a.recipients_total < 1) return field_error("recipients_total", "must be >= 1");
  if (a.sha256) CC_TRY_VOID(check_sha(*a.sha256));
  return ok();
}

// ====================================================================== enums / ids

std::string_view to_string(AckStatus s) noexcept { return s == AckStatus::Processed ? "processed" : "rejected"; }

Result<AckStatus> parse_ack_status(std::string_view s) {
  if (s == "processed") return AckStatus::Processed;
  if (s == "rejected") return AckStatus::Rejected;
  return field_error("status", "must be 'processed' or 'rejected'");
}

std::string ack_message_id(std::string_view pointer_id, std::string_view recipient_id) {
  std::string id(pointer_id);
  id += ':';
  id += recipient_id;
  return id;
}

std::string Ack::message_id() const { return ack_message_id(pointer_id, recipient_id); }

// ====================================================================== to_json

namespace {
std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }
}  // namespace

std::string to_json(const Pointer& p) {
  ojson j;
  j["schema"] = kSchemaPointer;
  j["pointer_id"] = p.pointer_id;
  j["bucket"] = p.bucket;
  j["key"] = p.key;
  j["encoding"] = to_string(p.encoding);
  j["content_type"] = p.content_type;
  j["size_raw"] = p.size_raw;
  j["size_stored"] = p.size_stored;
  if (p.encoding == Encoding::Gzip) j["size_gz"] = p.size_stored;
  j["sha256"] = p.sha256;
  j["recipients"] = p.recipients;
  j["recipients_total"] = p.recipients_total;
  j["created_at"] = format_rfc3339(p.created_at);
  j["expires_at"] = format_rfc3339(p.expires_at);
  j["producer_id"] = p.producer_id;
  if (p.name) {
    if (is_valid_utf8(*p.name)) {
      j["name"] = *p.name;
    } else {
      j["name_b64"] = base64_encode(*p.name);  // lossless: the exact bytes (docs/protocol.md "Names")
    }
  }
  if (p.url) j["url"] = *p.url;
  return dump(j);
}

std::string to_json(const StoreRecord& s) {
  ojson j;
  j["schema"] = kSchemaStore;
  j["pointer_id"] = s.pointer_id;
  j["bucket"] = s.bucket;
  j["key"] = s.key;
  j["recipients"] = s.recipients;
  j["recipients_total"] = s.recipients_total;
  j["size_stored"] = s.size_stored;
  j["sha256"] = s.sha256;
  j["created_at"] = format_rfc3339(s.created_at);
  j["expires_at"] = format_rfc3339(s.expires_at);
  j["producer_id"] = s.producer_id;
  if (s.encoding) j["encoding"] = to_string(*s.encoding);
  if (s.size_raw) j["size_raw"] = *s.size_raw;
  if (s.version_id) j["version_id"] = *s.version_id;
  return dump(j);
}

std::string to_json(const Ack& a) {
  ojson j;
  j["schema"] = kSchemaAck;
  j["pointer_id"] = a.pointer_id;
  j["recipient_id"] = a.recipient_id;
  j["status"] = to_string(a.status);
  if (a.reason) {
    j["reason"] = *a.reason;
  } else if (a.status == AckStatus::Rejected) {
    j["reason"] = "unspecified";
  }
  j["processed_at"] = format_rfc3339(a.processed_at);
  j["bucket"] = a.bucket;
  j["key"] = a.key;
  j["recipients_total"] = a.recipients_total;
  if (a.sha256) j["sha256"] = *a.sha256;
  return dump(j);
}

// ====================================================================== parse

namespace {

/// The fields every pointer has (claimcheck's and the reference demo's): ids, location, encoding, sizes,
/// sha256, name, url — all but the addressing (recipients, expiry, producer).
Result<Pointer> read_pointer_payload(const json& o, const ValidationLimits& limits) {
  Pointer p;
  CC_TRY_VOID(read_field(o, "pointer_id", p.pointer_id));
  CC_TRY_VOID(read_field(o, "bucket", p.bucket));
  CC_TRY_VOID(read_field(o, "key", p.key));
  CC_TRY(enc, req_string(o, "encoding"));
  auto e = parse_encoding(*enc);
  if (!e) return field_error("encoding", "must be one of zstd, gzip, identity");
  p.encoding = *e;
  CC_TRY_VOID(read_field(o, "content_type", p.content_type));
  CC_TRY_VOID(read_field(o, "size_raw", p.size_raw));
  CC_TRY(size_gz, get_int(o, "size_gz", false));
  CC_TRY(size_stored, get_int(o, "size_stored", false));
  if (*size_stored) {
    p.size_stored = **size_stored;
    if (*size_gz && **size_gz != p.size_stored) return field_error("size_gz", "must equal size_stored");
  } else if (*size_gz && p.encoding == Encoding::Gzip) {
    p.size_stored = **size_gz;  // reference-demo pointers carry only size_gz
  } else {
    return field_error("size_stored", "is required");
  }
  if (*size_gz) CC_TRY_VOID(check_size("size_gz", **size_gz, limits.max_size_stored));
  CC_TRY_VOID(read_field(o, "sha256", p.sha256));
  CC_TRY(name, read_name(o));
  p.name = std::move(*name);
  CC_TRY(url, get_string(o, "url", false));
  p.url = std::move(*url);
  return p;
}

/// claimcheck's addressing fields: recipients, recipients_total, created_at, expires_at, producer_id.
Result<void> read_pointer_addressing(const json& o, Pointer& p) {
  CC_TRY_VOID(read_field(o, "recipients", p.recipients));
  CC_TRY_VOID(read_field(o, "recipients_total", p.recipients_total));
  CC_TRY_VOID(read_field(o, "created_at", p.created_at));
  CC_TRY_VOID(read_field(o, "expires_at", p.expires_at));
  CC_TRY_VOID(read_field(o, "producer_id", p.producer_id));
  return ok();
}

/// parse_pointer and parse_pointer_or_reference: `ref` null = claimcheck pointers only.
Result<Pointer> parse_any_pointer(std::string_view text, const ValidationLimits& limits,
                                  const ReferencePointerDefaults* ref) {
  CC_TRY(j, parse_object(text));
  const json& o = *j;
  CC_TRY_VOID(expect_schema(o, kSchemaPointer));
  CC_TRY(p, read_pointer_payload(o, limits));
  if (ref == nullptr || o.contains("recipients")) {
    CC_TRY_VOID(read_pointer_addressing(o, *p));
  } else {  // the reference demo's producer: addressed to this recipient alone, expiring after ref->ttl
    p->recipients = {ref->recipient};
    p->recipients_total = 1;
    p->created_at = ref->now;
    if (o.contains("created_at")) {
      CC_TRY(created, req_time(o, "created_at"));
      p->created_at = *created;
    }
    if (p->created_at > ref->now) p->created_at = ref->now;  // a clock ahead must not stretch the expiry
    p->expires_at = p->created_at + ref->ttl;
    CC_TRY(producer, get_string(o, "producer_id", false));
    p->producer_id = producer->value_or("");
  }
  CC_TRY_VOID(validate(*p, limits));
  return std::move(*p);
}

}  // namespace

Result<Pointer> parse_pointer(std::string_view text, const ValidationLimits& limits) {
  return parse_any_pointer(text, limits, nullptr);
}

Result<Pointer> parse_pointer_or_reference(std::string_view text, const ValidationLimits& limits,
                                           const ReferencePointerDefaults& ref) {
  return parse_any_pointer(text, limits, &ref);
}

Result<StoreRecord> parse_store_record(std::string_view text, const ValidationLimits& limits) {
  CC_TRY(j, parse_object(text));
  const json& o = *j;
  CC_TRY_VOID(expect_schema(o, kSchemaStore));
  StoreRecord s;
  CC_TRY_VOID(read_field(o, "pointer_id", s.pointer_id));
  CC_TRY_VOID(read_field(o, "bucket", s.bucket));
  CC_TRY_VOID(read_field(o, "key", s.key));
  CC_TRY_VOID(read_field(o, "recipients", s.recipients));
  CC_TRY_VOID(read_field(o, "recipients_total", s.recipients_total));
  CC_TRY_VOID(read_field(o, "size_stored", s.size_stored));
  CC_TRY_VOID(read_field(o, "sha256", s.sha256));
  CC_TRY_VOID(read_field(o, "created_at", s.created_at));
  CC_TRY_VOID(read_field(o, "expires_at", s.expires_at));
  CC_TRY(producer, get_string(o, "producer_id", false));
  s.producer_id = producer->value_or("");
  CC_TRY(enc, get_string(o, "encoding", false));
  if (*enc) {
    auto e = parse_encoding(**enc);
    if (!e) return field_error("encoding", "must be one of zstd, gzip, identity");
    s.encoding = *e;
  }
  CC_TRY(size_raw, get_int(o, "size_raw", false));
  s.size_raw = *size_raw;
  CC_TRY(version, get_string(o, "version_id", false));
  s.version_id = std::move(*version);
  CC_TRY_VOID(validate(s, limits));
  return s;
}

Result<Ack> parse_ack(std::string_view text, const ValidationLimits& limits) {
  CC_TRY(j, parse_object(text));
  const json& o = *j;
  CC_TRY_VOID(expect_schema(o, kSchemaAck));
  Ack a;
  CC_TRY_VOID(read_field(o, "pointer_id", a.pointer_id));
  CC_TRY_VOID(read_field(o, "recipient_id", a.recipient_id));
  CC_TRY(status, req_string(o, "status"));
  CC_TRY(st, parse_ack_status(*status));
  a.status = *st;
  CC_TRY(reason, get_string(o, "reason", a.status == AckStatus::Rejected));
  a.reason = std::move(*reason);
  CC_TRY_VOID(read_field(o, "processed_at", a.processed_at));
  CC_TRY_VOID(read_field(o, "bucket", a.bucket));
  CC_TRY_VOID(read_field(o, "key", a.key));
  CC_TRY_VOID(read_field(o, "recipients_total", a.recipients_total));
  CC_TRY(sha, get_string(o, "sha256", false));
  a.sha256 = std::move(*sha);
  CC_TRY_VOID(validate(a, limits));
  return a;
}

Result<std::string> peek_schema(std::string_view text) {
  CC_TRY(j, parse_object(text));
  return req_string(*j, "schema");
}

StoreRecord store_record_from(const Pointer& p) {
  StoreRecord s;
  s.pointer_id = p.pointer_id;
  s.bucket = p.bucket;
  s.key = p.key;
  s.recipients = p.recipients;
  s.recipients_total = p.recipients_total;
  s.size_stored = p.size_stored;
  s.sha256 = p.sha256;
  s.created_at = p.created_at;
  s.expires_at = p.expires_at;
  s.producer_id = p.producer_id;
  s.encoding = p.encoding;
  s.size_raw = p.size_raw;
  return s;
}

Ack ack_for(const Pointer& p, const std::string& recipient, AckStatus status, std::optional<std::string> reason) {
  Ack a;
  a.pointer_id = p.pointer_id;
  a.recipient_id = recipient;
  a.status = status;
  a.reason = std::move(reason);
  a.processed_at = utc_now();
  a.bucket = p.bucket;
  a.key = p.key;
  a.recipients_total = p.recipients_total;
  a.sha256 = p.sha256;  // the sha256 this recipient verified (processed) or was asked to verify (rejected)
  return a;
}

}  // namespace claimcheck
