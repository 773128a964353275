// Fuzz target: zstd / gzip / identity decoding with SHA-256 verification (include/claimcheck/core/codec.h).
// Input: 1 byte mode (encoding, whether the expected SHA-256 is right), 1 byte chunking seed, then the
// stored bytes. Invariants beyond "no crash, no UB":
// - DecodingSink fed in random chunks agrees with decode_all() in one piece (same success, same bytes);
// - with the right SHA-256 it never fails where decode_all() without a hash succeeds, with a wrong one it
//   always fails; raw bytes never exceed max_raw_bytes;
// - what was decoded encodes and decodes back to the same bytes.
#include <random>
#include <string>

#include "claimcheck/core/codec.h"
#include "claimcheck/core/sha256.h"
#include "fuzz_check.h"

namespace cc = claimcheck;

namespace {

constexpr std::uint64_t kMaxRaw = 64 << 10;  // a decompression bomb stops here, as a consumer's cap would (64 KiB:
// with 1 MiB every input that decoded to the cap was re-encoded in full, and the target ran at 0.9 k exec/s)

class StrSink final : public cc::ByteSink {
 public:
  cc::Result<void> write(std::span<const std::byte> d) override {
    s.append(reinterpret_cast<const char*>(d.data()), d.size());
    FUZZ_CHECK(s.size() <= kMaxRaw, "raw bytes above max_raw_bytes reached the sink");
    return cc::ok();
  }
  cc::Result<void> finish() override {
    finished = true;
    return cc::ok();
  }
  std::string s;
  bool finished = false;
};

/// Decode `stored` through a DecodingSink in chunks of 1..1024 bytes drawn from `chunks`; the raw bytes, or
/// nullopt on error.
std::optional<std::string> decode_chunked(cc::Encoding enc, std::string_view stored, std::string sha,
                                          std::minstd_rand& chunks) {
  StrSink sink;
  cc::DecodeOptions opt;
  opt.encoding = enc;
  opt.expected_sha256 = std::move(sha);
  opt.max_raw_bytes = kMaxRaw;
  opt.buffer_bytes = 4096;
  auto dec = cc::DecodingSink::create(sink, opt);
  FUZZ_CHECK(dec.has_value(), "DecodingSink::create");
  std::size_t pos = 0;
  while (pos < stored.size()) {
    std::size_t n = std::min<std::size_t>(stored.size() - pos, 1 + chunks() % 1024);
    auto w = dec->write({reinterpret_cast<const std::byte*>(stored.data() + pos), n});
    if (!w) return std::nullopt;
    pos += n;
  }
  auto f = dec->finish();
  FUZZ_CHECK(f.has_value() == sink.finished, "downstream finish() iff every check passed");
  if (!f) return std::nullopt;
  FUZZ_CHECK(dec->size_stored() == stored.size() && dec->size_raw() == sink.s.size(), "sizes");
  return std::move(sink.s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  const auto enc = static_cast<cc::Encoding>(mode % 3);
  const bool right_hash = (mode & 0x80) == 0;
  std::minstd_rand chunks(data[1] + 1u);  // chunk sizes, reproducible from the input
  const std::string_view stored = fuzz::text(data + 2, size - 2);
  std::string sha = cc::sha256_hex(stored);
  if (!right_hash) sha[0] = sha[0] == '0' ? '1' : '0';

  auto whole = cc::decode_all(enc, stored, std::nullopt, kMaxRaw);
  auto chunked = decode_chunked(enc, stored, sha, chunks);
  if (!right_hash) {
    FUZZ_CHECK(!chunked, "a wrong SHA-256 was accepted");
    return 0;
  }
  FUZZ_CHECK(whole.has_value() == chunked.has_value(), "chunked and one-piece decoding disagree on success");
  if (!whole) return 0;
  FUZZ_CHECK(*whole == *chunked, "chunked and one-piece decoding disagree on bytes");
  if (enc == cc::Encoding::Identity) FUZZ_CHECK(*whole == stored, "identity changed the bytes");
  auto again = cc::encode_all(enc, *whole);
  FUZZ_CHECK(again.has_value(), "encode_all");
  auto back = cc::decode_all(enc, *again, cc::sha256_hex(*again), kMaxRaw);
  FUZZ_CHECK(back.has_value() && *back == *whole, "re-encoded payload does not decode to the same bytes");
  return 0;
}
