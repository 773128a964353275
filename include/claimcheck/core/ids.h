#pragma once
/// Random identifiers: UUID v4 generation (libuuid) and the canonical-form check.

#include <string>
#include <string_view>

namespace claimcheck {

/// A random (version 4) UUID in canonical lowercase form, e.g. "3f1e...-4...". Thread-safe (libuuid).
std::string new_uuid_v4();

/// True if `s` is a canonical lowercase UUID: 8-4-4-4-12 of [0-9a-f]. Any version/variant.
[[nodiscard]] bool is_uuid(std::string_view s) noexcept;

}  // namespace claimcheck
