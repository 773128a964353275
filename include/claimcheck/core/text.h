#pragma once
/// Small text helpers shared by the parsers: blanks, trimming, comma lists.

#include <string>
#include <string_view>
#include <vector>

namespace claimcheck {

/// True for ' ', '\t', '\n', '\r'. Thread-safe.
bool is_blank(char c) noexcept;

/// `v` without leading and trailing blanks (see is_blank); a view into `v`. Thread-safe.
std::string_view trim_blanks(std::string_view v) noexcept;

/// `items` joined with `sep` between them ({"a","b"}, ", " → "a, b"; {} → ""). Thread-safe.
std::string join(const std::vector<std::string>& items, std::string_view sep);

/// Split a comma-separated list ("a, b,,c") into trimmed, non-empty items, order kept: {"a","b","c"}.
/// Used for recipient ids, bucket allowlists and AMQP URL lists. Never fails; thread-safe.
std::vector<std::string> split_comma_list(std::string_view list);

}  // namespace claimcheck
