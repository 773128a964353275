#pragma once
/// Credentials inside URLs and DSNs: split AMQP URL lists, redact passwords for logs and errors, scrub
/// secrets out of third-party messages, and set a password read from a file.

#include <string>
#include <string_view>
#include <vector>

#include "claimcheck/core/result.h"

namespace claimcheck {

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
/// Errors: InvalidArgument (Origin::Config) when the URL has no scheme or no user name; the message never
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

}  // namespace claimcheck
