#pragma once
/// Base64 (RFC 4648 §4, standard alphabet, with '=' padding), backed by OpenSSL's EVP_EncodeBlock /
/// EVP_DecodeBlock. Used for byte strings that must travel inside JSON (DESIGN.md §2: lossless names).
///
/// Usage:
///   std::string b = base64_encode("r\xe9.txt");   // "cukudHh0"
///   auto back = base64_decode(b);                  // Result<std::string>{"r\xe9.txt"}

#include <string>
#include <string_view>

#include "claimcheck/core/result.h"

namespace claimcheck {

/// Encode `bytes` (any bytes, any length) as padded standard base64; 4 output characters per 3 input
/// bytes, rounded up. Never fails. Pure, thread-safe.
std::string base64_encode(std::string_view bytes);

/// Decode padded standard base64 (RFC 4648 §4) back to bytes. Strict: the length must be a multiple of
/// 4, only [A-Za-z0-9+/] with at most two trailing '=' are accepted, no whitespace, and the padding bits
/// must be zero (so every byte string has exactly one encoding). Errors: InvalidArgument (origin
/// "protocol") "not valid base64". Pure, thread-safe.
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

}  // namespace claimcheck
