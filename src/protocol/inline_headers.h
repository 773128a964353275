#pragma once
// Private helper: the AMQP headers of an inline-v1 message (DESIGN.md §2), parsed and validated in one pure
// function so the consumer and the fuzz target (tests/fuzz/inline_headers_fuzz.cpp) run the same code.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "claimcheck/core/codec.h"
#include "claimcheck/core/result.h"

namespace claimcheck::detail {

/// What an inline-v1 message's headers say about its body.
struct InlineHeaders {
  Encoding encoding = Encoding::Zstd;  ///< kHeaderEncoding
  std::string sha256;                  ///< kHeaderSha256: 64 lowercase hex, of the body (the encoded bytes)
  std::uint64_t size_raw = 0;          ///< kHeaderSizeRaw: decoded bytes, ≤ the caller's max_size_raw
  std::optional<std::string> name;     ///< kHeaderName as is, or kHeaderNameB64 decoded; validate_relative_name
                                       ///< rules already checked
};

/// Parse the inline-v1 headers `headers` (AMQP header name → value, as amqp::Message::headers) of the
/// message whose AMQP message_id is `message_id`. Needs kHeaderEncoding, kHeaderSha256 and kHeaderSizeRaw
/// (a decimal integer ≤ `max_size_raw` bytes); kHeaderName or kHeaderNameB64 (not both) is optional, and
/// without a name the message_id must be a UUID (it names the output). Other headers are ignored.
/// Errors: InvalidArgument (Origin::Protocol) with a message naming the header ("header
/// 'x-claimcheck-sha256': must be 64 lowercase hex"), fit for the dead-letter reason. Pure, thread-safe.
[[nodiscard]] Result<InlineHeaders> parse_inline_headers(const std::map<std::string, std::string>& headers,
                                                         std::string_view message_id, std::uint64_t max_size_raw);

}  // namespace claimcheck::detail
