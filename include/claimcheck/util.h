#pragma once
/// Small utilities: size/duration parsing, UUIDs, RFC 3339 time, byte formatting, URL redaction,
/// object-key layout, retry backoff, and the reference demo's synthetic payload generator.

#include <chrono>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>
#include <string_view>

#include "claimcheck/codec.h"
#include "claimcheck/io.h"
#include "claimcheck/result.h"

namespace claimcheck {

/// Wall-clock UTC time point used throughout the protocol.
using Timestamp = std::chrono::system_clock::time_point;

/// Current time floored to whole milliseconds (the precision RFC 3339 timestamps travel with).
Timestamp utc_now();

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
/// Errors: InvalidArgument (origin "config") for empty input, bad number, unknown unit, above kMaxSize.
/// Thread-safe.
[[nodiscard]] Result<std::uint64_t> parse_size(std::string_view s);

/// Parse a duration: one or more `<integer><unit>` groups, units d, h, m, s (e.g. "7d", "12h", "1h30m",
/// "45s"); a bare integer means seconds ("90"). At most kMaxDuration. Errors: InvalidArgument (origin
/// "config") for empty input, unknown unit (including "ms": use parse_duration_millis), above kMaxDuration.
/// Thread-safe.
[[nodiscard]] Result<std::chrono::seconds> parse_duration(std::string_view s);

/// As parse_duration(), with the extra unit "ms" (e.g. "50ms", "1s500ms"). At most kMaxDuration.
/// Errors: InvalidArgument (origin "config"). Thread-safe.
[[nodiscard]] Result<std::chrono::milliseconds> parse_duration_millis(std::string_view s);

/// A duration given as (fractional) seconds, e.g. a `--idle-exit 1.5` flag, as whole milliseconds
/// (truncated). Errors: InvalidArgument (origin "config") for NaN, negative or above kMaxDuration.
/// Thread-safe.
[[nodiscard]] Result<std::chrono::milliseconds> duration_from_seconds(double seconds);

/// A random (version 4) UUID in canonical lowercase form, e.g. "3f1e...-4...". Thread-safe (libuuid).
std::string new_uuid_v4();

/// True if `s` is a canonical lowercase UUID: 8-4-4-4-12 of [0-9a-f]. Any version/variant.
[[nodiscard]] bool is_uuid(std::string_view s) noexcept;

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

/// Human-readable binary size: "512 B", "1.5 KiB", "1.0 MiB", "3.2 GiB", "1.0 TiB" (one decimal ≥ 1 KiB).
std::string format_bytes(std::uint64_t bytes);

/// Hide the password in URL userinfo for logs: "amqp://user:secret@host:5672/vh" →
/// "amqp://user:***@host:5672/vh". A list of URLs is redacted element by element (split as split_url_list
/// does, so a ',' inside a password is masked with it). URLs
/// without a password are returned unchanged; in a malformed one (no scheme, or a password holding an
/// unencoded '/', '?' or '#') everything between the first ':' and the last '@' is masked. Never fails.
std::string redact_url(std::string_view url);

/// Split a list of URLs separated by ',' (AMQP failover lists): a ',' separates two URLs only when it is
/// followed (after optional blanks and commas) by "amqp://", "amqps://" or the end, so a password holding a raw ',' stays in its
/// URL: "amqp://u:p,w@h1/,amqps://h2" → {"amqp://u:p,w@h1/", "amqps://h2"}. Items are trimmed, empty ones
/// dropped. Never fails; thread-safe.
std::vector<std::string> split_url_list(std::string_view list);

/// `url` with its userinfo password replaced by `password` (percent-encoded, RFC 3986 userinfo), e.g.
/// ("amqp://app:old@h/%2F", "n,w@") → "amqp://app:n%2Cw%40@h/%2F". Used for secrets read from a file.
/// Errors: InvalidArgument (origin "config") when the URL has no scheme or no user name; the message never
/// contains either password. Thread-safe.
[[nodiscard]] Result<std::string> set_url_password(std::string_view url, std::string_view password);

/// Hide every password of a database DSN for logs and errors: URL userinfo ("postgresql://u:***@h/db"),
/// `password=` query parameters ("...?sslmode=require&password=***") and libpq keyword/value strings
/// ("host=h password=*** dbname=d", single-quoted values included). Never fails; thread-safe.
std::string redact_dsn(std::string_view dsn);

/// The passwords a DSN carries (see redact_dsn), each both as written and percent-decoded, for
/// scrub_secrets(). Empty if none. Thread-safe.
std::vector<std::string> dsn_secrets(std::string_view dsn);

/// `text` with every occurrence of each non-empty secret replaced by "***" (e.g. a libpq error that echoes
/// a malformed password: "invalid percent-encoded token: ..."). Never fails; thread-safe.
std::string scrub_secrets(std::string text, const std::vector<std::string>& secrets);

/// Split a comma-separated list ("a, b,,c") into trimmed, non-empty items, order kept: {"a","b","c"}.
/// Used for recipient ids, bucket allowlists and AMQP URL lists. Never fails; thread-safe.
std::vector<std::string> split_comma_list(std::string_view list);

/// Object key layout: "<prefix>/YYYY/MM/DD/<id><base_ext><encoding ext>" with the UTC date of `tp`, e.g.
/// "claimcheck/2024/05/01/<uuid>.json.zst" (zstd), ".json.gz" (gzip, as the reference demo), ".json"
/// (identity). An empty prefix gives "YYYY/MM/DD/..."; trailing "/" of the prefix are dropped.
std::string make_object_key(std::string_view prefix, Timestamp tp, std::string_view id, Encoding encoding,
                            std::string_view base_ext = ".json");

/// Retry policy: exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
/// Jitter", 2015).
struct BackoffPolicy {
  std::chrono::milliseconds initial{100};  ///< cap of the first retry's delay
  std::chrono::milliseconds max{10000};    ///< cap of any delay
  double multiplier = 2.0;                 ///< growth of the cap per retry (≥ 1)
  int max_attempts = 6;                    ///< total attempts including the first (≥ 1)

  /// Check the fields. Errors: InvalidArgument (origin "config") naming the field.
  [[nodiscard]] Result<void> validate() const;
  /// True if another attempt may follow attempt number `attempts_made` (1-based count of attempts done).
  [[nodiscard]] bool may_retry(int attempts_made) const noexcept { return attempts_made < max_attempts; }
};

/// Delay before retry number `attempt` (1 = the first retry): uniform in [0, min(max, initial ×
/// multiplier^(attempt-1))] ("full jitter"). attempt ≤ 0 is treated as 1. Uses `rng`; not thread-safe
/// with respect to it.
std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, int attempt, std::mt19937_64& rng);

/// Streams the reference demo's synthetic JSON payload of EXACTLY `size_bytes` bytes:
/// `{"schema":"demo-1c-object-v1","id":"<uuid>","idx":N,"ts":"<rfc3339>","data":["<1024 alnum>",...]}`.
///
/// - `data` holds random [A-Za-z0-9] strings of 1024 characters (the last one shorter); up to two spaces
///   are inserted before "]" so the total is exact. If `size_bytes` is smaller than the document with an
///   empty `data` array (~120 bytes), that minimal document is produced (total() > the request).
/// - Deterministic for a given (idx, size_bytes, seed, ts). Memory is O(1): generated on the fly.
/// - Never fails. Not thread-safe.
class SyntheticPayloadSource : public ByteSource {
 public:
  SyntheticPayloadSource(std::uint64_t idx, std::uint64_t size_bytes, std::uint64_t seed,
                         Timestamp ts = utc_now());
  Result<std::size_t> read(std::span<std::byte> buf) override;
  /// Total bytes this source yields.
  [[nodiscard]] std::uint64_t total() const noexcept { return total_; }
  /// The document's "id".
  [[nodiscard]] const std::string& id() const noexcept { return id_; }

 private:
  void refill();
  std::mt19937_64 rng_;
  std::string id_;
  std::string pending_;        // bytes produced but not yet read
  std::size_t pending_pos_ = 0;
  std::uint64_t total_ = 0;
  std::uint64_t emitted_ = 0;  // bytes moved into pending_ so far
  std::uint64_t data_left_ = 0;  // bytes of the "data" array body left to generate
  std::string trailer_;
  bool first_elem_ = true;
  bool trailer_done_ = false;
};

/// The whole synthetic payload (see SyntheticPayloadSource) as a string, seeded from `rng`.
std::string synthetic_payload(std::uint64_t idx, std::uint64_t size_bytes, std::mt19937_64& rng);

}  // namespace claimcheck
