// Fuzz target: the consumer's inline-v1 message handling without a broker — the AMQP headers parsed by
// detail::parse_inline_headers (src/protocol/inline_headers.h, what Consumer::handle_inline runs), then the
// body decoded and verified as the consumer does (DecodingSink with the headers' SHA-256 and size-raw).
// Input: lines "name=value" for headers (the header names are chosen by an index byte, so the fuzzer hits the
// real ones), a line "id=..." for the message_id, an empty line, then the body.
// Invariants: an accepted header set has a 64-hex sha256, size_raw ≤ the cap, a name (if any) that passes
// validate_relative_name, and a UUID message_id when unnamed; a decoded body has exactly size_raw bytes and
// the SHA-256 of the header.
#include <map>
#include <string>

#include "claimcheck/core/codec.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/sha256.h"
#include "claimcheck/core/ids.h"
#include "claimcheck/core/io.h"
#include "protocol/inline_headers.h"
#include "fuzz_check.h"

namespace cc = claimcheck;

namespace {

constexpr std::uint64_t kMaxRaw = 1 << 20;

constexpr std::string_view kNames[] = {cc::kHeaderEncoding, cc::kHeaderSha256, cc::kHeaderSizeRaw,
                                       cc::kHeaderName,     cc::kHeaderNameB64, cc::kHeaderError};

struct Parsed {
  std::map<std::string, std::string> headers;
  std::string message_id;
  std::string_view body;
};

/// Splits the input into header lines, the id line and the body (see the file comment). A header line is
/// "<index byte><value>": the index picks a real header name (or, past the list, the value is "name=value").
Parsed split(std::string_view in) {
  Parsed p;
  while (!in.empty()) {
    const auto nl = in.find('\n');
    const std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
    if (line.empty()) break;
    if (line.substr(0, 3) == "id=") {
      p.message_id = line.substr(3);
      continue;
    }
    const std::size_t idx = static_cast<unsigned char>(line[0]) % 8u;
    const std::string_view rest = line.substr(1);
    if (idx < std::size(kNames)) {
      p.headers[std::string(kNames[idx])] = std::string(rest);
    } else {
      const auto eq = rest.find('=');
      p.headers[std::string(rest.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(rest.substr(eq + 1));
    }
  }
  p.body = in;
  return p;
}

class CountingSink final : public cc::ByteSink {
 public:
  cc::Result<void> write(std::span<const std::byte> d) override {
    bytes += d.size();
    return cc::ok();
  }
  std::uint64_t bytes = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Parsed in = split(fuzz::text(data, size));
  auto h = cc::detail::parse_inline_headers(in.headers, in.message_id, kMaxRaw);
  if (!h) return 0;
  FUZZ_CHECK(cc::is_sha256_hex(h->sha256), "sha256");
  FUZZ_CHECK(h->size_raw <= kMaxRaw, "size_raw cap");
  if (h->name) FUZZ_CHECK(cc::validate_relative_name(*h->name).has_value(), "name");
  if (!h->name) FUZZ_CHECK(cc::is_uuid(in.message_id), "unnamed needs a UUID message_id");
  CountingSink sink;
  cc::DecodeOptions opt;
  opt.encoding = h->encoding;
  opt.expected_sha256 = h->sha256;
  opt.expected_size_raw = h->size_raw;
  opt.max_raw_bytes = kMaxRaw;
  opt.buffer_bytes = 4096;
  auto dec = cc::DecodingSink::create(sink, opt);
  FUZZ_CHECK(dec.has_value(), "DecodingSink::create");
  auto w = dec->write({reinterpret_cast<const std::byte*>(in.body.data()), in.body.size()});
  if (w && dec->finish()) {
    FUZZ_CHECK(sink.bytes == h->size_raw, "decoded size differs from the size-raw header");
    FUZZ_CHECK(cc::sha256_hex(in.body) == h->sha256, "body accepted with another SHA-256");
  }
  return 0;
}
