#include "claimcheck/core/credentials.h"

#include <algorithm>
#include <cctype>

#include "claimcheck/core/text.h"

namespace claimcheck {

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

}  // namespace claimcheck
