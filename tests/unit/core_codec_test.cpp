// Codec round trips, hashing in the same pass, interop with gunzip/zstd CLIs, corruption detection.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "test_data.h"
#include "claimcheck/core/codec.h"
#include "claimcheck/core/file_io.h"
#include "claimcheck/core/sha256.h"

namespace cc = claimcheck;
namespace fs = std::filesystem;

using claimcheck::test::random_bytes;
namespace {

std::string compressible(std::size_t n) {
  std::string s;
  s.reserve(n);
  std::size_t i = 0;
  while (s.size() < n) s += "{\"idx\":" + std::to_string(i++) + ",\"text\":\"hello claim check\"},";
  s.resize(n);
  return s;
}

struct Encoded {
  std::string bytes;
  std::uint64_t size_raw = 0;
  std::uint64_t size_stored = 0;
  std::string sha;
};

// Encode with a small internal buffer and odd read sizes to exercise chunk boundaries.
Encoded encode_streaming(cc::Encoding e, const std::string& raw, std::size_t buffer = 4096, std::size_t chunk = 7777,
                         int level = 1) {
  cc::ViewSource src(raw);
  cc::EncodeOptions opt;
  opt.encoding = e;
  opt.buffer_bytes = buffer;
  opt.level = level;
  auto enc = cc::EncodingSource::create(src, opt);
  EXPECT_TRUE(enc.has_value());
  Encoded out;
  std::vector<std::byte> buf(chunk);
  for (;;) {
    auto n = enc->read(buf);
    EXPECT_TRUE(n.has_value()) << n.error().to_string();
    if (!n || *n == 0) break;
    out.bytes.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  EXPECT_TRUE(enc->done());
  auto again = enc->read(buf);
  EXPECT_TRUE(again.has_value());
  EXPECT_EQ(*again, 0u);
  out.size_raw = enc->size_raw();
  out.size_stored = enc->size_stored();
  out.sha = enc->sha256_hex();
  return out;
}

// Decode feeding odd-sized chunks; returns the raw output or the error.
cc::Result<std::string> decode_streaming(cc::Encoding e, const std::string& stored, cc::DecodeOptions opt = {},
                                         std::size_t chunk = 5003) {
  cc::StringSink sink;
  opt.encoding = e;
  CC_TRY(dec, cc::DecodingSink::create(sink, opt));
  for (std::size_t off = 0; off < stored.size(); off += chunk) {
    CC_TRY_VOID(dec->write(cc::as_bytes(std::string_view(stored).substr(off, chunk))));
  }
  CC_TRY_VOID(dec->finish());
  EXPECT_TRUE(sink.finished());
  EXPECT_EQ(dec->size_stored(), stored.size());
  EXPECT_EQ(dec->sha256_hex(), cc::sha256_hex(stored));
  return sink.take();
}

std::string run_capture(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  if (rc != 0) out = "<command failed: " + cmd + ">";
  return out;
}

fs::path temp_dir() {
  auto d = fs::temp_directory_path() / ("cc_codec_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

void write_file(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f.write(s.data(), static_cast<std::streamsize>(s.size()));
}

const cc::Encoding kAll[] = {cc::Encoding::Zstd, cc::Encoding::Gzip, cc::Encoding::Identity};

}  // namespace

TEST(Encoding, NamesRoundTrip) {
  for (auto e : kAll) {
    auto p = cc::parse_encoding(cc::to_string(e));
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(*p, e);
  }
  EXPECT_EQ(cc::to_string(cc::Encoding::Zstd), "zstd");
  EXPECT_EQ(cc::to_string(cc::Encoding::Gzip), "gzip");
  EXPECT_EQ(cc::to_string(cc::Encoding::Identity), "identity");
  auto bad = cc::parse_encoding("br");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_FALSE(cc::parse_encoding("ZSTD").has_value());
}

TEST(EncodeOptions, Validate) {
  cc::EncodeOptions o;
  EXPECT_TRUE(o.validate().has_value());
  o.buffer_bytes = 100;
  EXPECT_FALSE(o.validate().has_value());
  o.buffer_bytes = 65536;
  o.encoding = cc::Encoding::Gzip;
  o.level = 9;
  EXPECT_FALSE(o.validate().has_value());
  o.level = 1;
  EXPECT_TRUE(o.validate().has_value());
}

class CodecRoundTrip : public ::testing::TestWithParam<std::tuple<cc::Encoding, std::size_t, bool>> {};

TEST_P(CodecRoundTrip, EncodesHashesAndDecodes) {
  const auto [enc, size, random] = GetParam();
  const std::string raw = random ? random_bytes(size, size * 31 + 7) : compressible(size);
  const Encoded e = encode_streaming(enc, raw);
  EXPECT_EQ(e.size_raw, raw.size());
  EXPECT_EQ(e.size_stored, e.bytes.size());
  EXPECT_EQ(e.sha, cc::sha256_hex(e.bytes));
  if (enc == cc::Encoding::Identity) {
    EXPECT_TRUE(e.bytes == raw);
  }
  if (enc != cc::Encoding::Identity && !random && size >= 65536) {
    EXPECT_LT(e.bytes.size(), raw.size() / 4);
  }

  cc::DecodeOptions opt;
  opt.expected_sha256 = e.sha;
  opt.expected_size_raw = raw.size();
  auto d = decode_streaming(enc, e.bytes, opt);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_TRUE(*d == raw);

  // Whole-buffer helpers agree.
  auto all = cc::encode_all(enc, raw);
  ASSERT_TRUE(all.has_value());
  auto back = cc::decode_all(enc, *all, cc::sha256_hex(*all));
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_TRUE(*back == raw);
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, CodecRoundTrip,
    ::testing::Combine(::testing::ValuesIn(kAll),
                       ::testing::Values(std::size_t{0}, std::size_t{1}, std::size_t{1} << 20,
                                         std::size_t{3 * 4096 + 17}, std::size_t{3 * 256 * 1024 + 1},
                                         std::size_t{5} << 20),
                       ::testing::Bool()),
    [](const auto& pinfo) {
      return std::string(cc::to_string(std::get<0>(pinfo.param))) + "_" + std::to_string(std::get<1>(pinfo.param)) +
             (std::get<2>(pinfo.param) ? "_random" : "_text");
    });

TEST(Codec, DefaultBufferLargeReads) {
  const std::string raw = compressible(3 * 1024 * 1024 + 5);
  for (auto e : kAll) {
    const Encoded enc = encode_streaming(e, raw, 256 * 1024, 1 << 20);
    auto d = decode_streaming(e, enc.bytes, {}, 1 << 20);
    ASSERT_TRUE(d.has_value()) << d.error().to_string();
    EXPECT_TRUE(*d == raw) << cc::to_string(e);
  }
}

TEST(Codec, GzipOutputReadableByGunzip) {
  const auto dir = temp_dir();
  const std::string raw = compressible(1 << 20) + random_bytes(100000, 3);
  const Encoded e = encode_streaming(cc::Encoding::Gzip, raw);
  write_file(dir / "a.gz", e.bytes);
  const std::string out = run_capture("gunzip -c " + (dir / "a.gz").string());
  EXPECT_EQ(out.size(), raw.size());
  EXPECT_TRUE(out == raw);
  // And the empty payload.
  write_file(dir / "empty.gz", encode_streaming(cc::Encoding::Gzip, "").bytes);
  EXPECT_EQ(run_capture("gunzip -c " + (dir / "empty.gz").string() + " && echo ok"), "ok\n");
  fs::remove_all(dir);
}

TEST(Codec, ZstdOutputReadableByZstdCli) {
  ASSERT_EQ(std::system("command -v zstd >/dev/null"), 0) << "zstd CLI missing: run scripts/bootstrap";
  const auto dir = temp_dir();
  const std::string raw = compressible(1 << 20) + random_bytes(100000, 4);
  const Encoded e = encode_streaming(cc::Encoding::Zstd, raw);
  write_file(dir / "a.zst", e.bytes);
  const std::string out = run_capture("zstd -q -d -c " + (dir / "a.zst").string());
  EXPECT_TRUE(out == raw);
  fs::remove_all(dir);
}

TEST(Codec, DecodesSystemGzipIncludingConcatenatedMembers) {
  const auto dir = temp_dir();
  const std::string a = compressible(300000), b = random_bytes(70000, 9);
  write_file(dir / "a", a);
  write_file(dir / "b", b);
  const std::string ga = run_capture("gzip -c " + (dir / "a").string());
  const std::string gb = run_capture("gzip -9 -c " + (dir / "b").string());
  fs::remove_all(dir);
  auto d = decode_streaming(cc::Encoding::Gzip, ga + gb);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_TRUE(*d == a + b);
  // Our own members concatenated, fed in one chunk.
  const std::string ours = encode_streaming(cc::Encoding::Gzip, a).bytes + encode_streaming(cc::Encoding::Gzip, b).bytes;
  auto d2 = decode_streaming(cc::Encoding::Gzip, ours, {}, ours.size());
  ASSERT_TRUE(d2.has_value()) << d2.error().to_string();
  EXPECT_TRUE(*d2 == a + b);
}

TEST(Codec, DecodesConcatenatedZstdFrames) {
  const std::string a = compressible(200000), b = random_bytes(5000, 2);
  const std::string s = encode_streaming(cc::Encoding::Zstd, a).bytes + encode_streaming(cc::Encoding::Zstd, b).bytes;
  auto d = decode_streaming(cc::Encoding::Zstd, s);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_TRUE(*d == a + b);
}

// Found by the codec fuzz target (corpus seed regress_zstd_declared_size): a frame whose header declares
// 16,928 content bytes (single segment, 2-byte content size) but whose only block is an empty last raw block.
// libzstd rejects it when the frame arrives in one piece and accepted it, as 0 bytes, when it came a byte at a
// time; however it is split, it must be DataLoss. A frame without a declared size that holds nothing decodes.
TEST(Codec, ZstdFrameShorterThanItsDeclaredSizeIsDataLoss) {
  const std::string lying("\x28\xb5\x2f\xfd\x60\x20\x41\x01\x00\x00", 10);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{7}, lying.size()}) {
    auto d = decode_streaming(cc::Encoding::Zstd, lying, {}, chunk);
    ASSERT_FALSE(d.has_value()) << "chunk " << chunk;
    EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
    if (chunk == 1) {  // our own check; in one piece libzstd's "Data corruption detected" comes first
      EXPECT_NE(d.error().message.find("declares 16928 content bytes but holds 0"), std::string::npos);
    }
    EXPECT_NE(d.error().message.find("corrupt zstd stream"), std::string::npos) << d.error().message;
  }
  // The same frame declaring no content size (descriptor 0x00: no single segment, window byte 0x00).
  const std::string empty("\x28\xb5\x2f\xfd\x00\x00\x01\x00\x00", 9);
  for (std::size_t chunk : {std::size_t{1}, empty.size()}) {
    auto d = decode_streaming(cc::Encoding::Zstd, empty, {}, chunk);
    ASSERT_TRUE(d.has_value()) << d.error().to_string();
    EXPECT_EQ(*d, "");
  }
  // Two honest frames fed a byte at a time: the per-frame count starts over at each frame.
  const std::string a = compressible(3000), b = random_bytes(700, 9);
  const std::string two = encode_streaming(cc::Encoding::Zstd, a).bytes + encode_streaming(cc::Encoding::Zstd, b).bytes;
  auto d = decode_streaming(cc::Encoding::Zstd, two, {}, 1);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_TRUE(*d == a + b);
}

// Found by the codec fuzz target (seed regress_zstd_legacy_magic): libzstd also decodes pre-1.0 "legacy" frames
// (here magic 0xFD2FB526, v0.6), and not the same way in one piece as in pieces. Only RFC 8878 frames are data.
TEST(Codec, ZstdLegacyFrameIsDataLoss) {
  const std::string legacy("\x26\xb5\x2f\xfd\x00\xdd\x26\xb5", 8);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{5}, legacy.size()}) {
    auto d = decode_streaming(cc::Encoding::Zstd, legacy, {}, chunk);
    ASSERT_FALSE(d.has_value()) << "chunk " << chunk;
    EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
    if (chunk >= 4) {  // a byte at a time, libzstd refuses the first byte on its own ("Unknown frame descriptor")
      EXPECT_NE(d.error().message.find("frame magic 0xFD2FB526"), std::string::npos) << d.error().message;
    }
  }
  // A legacy frame after a good one is refused too; a skippable frame (RFC 8878 §3.1.2) is not.
  const std::string good = encode_streaming(cc::Encoding::Zstd, "hello").bytes;
  EXPECT_FALSE(decode_streaming(cc::Encoding::Zstd, good + legacy, {}, 3).has_value());
  const std::string skippable("\x50\x2a\x4d\x18\x02\x00\x00\x00zz", 10);
  auto d = decode_streaming(cc::Encoding::Zstd, skippable + good, {}, 1);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_EQ(*d, "hello");
}

// Found by the codec fuzz target (seed regress_zstd_window): a frame asking for a 512 MiB window (descriptor
// 0x98) that declares 0 content bytes. libzstd enforces ZSTD_d_windowLogMax only when it buffers, so it
// decoded in one piece and failed in pieces; the window limit (128 MiB) now holds however it is split.
TEST(Codec, ZstdWindowAboveTheLimitIsDataLoss) {
  const std::string wide("\x28\xb5\x2f\xfd\xd0\x98\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00", 17);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{6}, wide.size()}) {
    auto d = decode_streaming(cc::Encoding::Zstd, wide, {}, chunk);
    ASSERT_FALSE(d.has_value()) << "chunk " << chunk;
    EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
    EXPECT_NE(d.error().message.find("needs a window of 536870912 bytes"), std::string::npos) << d.error().message;
  }
  // The highest level claimcheck accepts (22: window 2^27) still decodes, in one piece and in pieces.
  const std::string raw = compressible(200000);
  const std::string at22 = encode_streaming(cc::Encoding::Zstd, raw, 4096, 7777, 22).bytes;
  for (std::size_t chunk : {std::size_t{1}, at22.size()}) {
    auto d = decode_streaming(cc::Encoding::Zstd, at22, {}, chunk);
    ASSERT_TRUE(d.has_value()) << d.error().to_string();
    EXPECT_TRUE(*d == raw);
  }
}

// Found by the codec fuzz target (seed regress_zstd_empty_compressed_block): a frame declaring 0 content bytes
// whose last block is a compressed block of size 0. libzstd's one-pass path refused it while its streaming
// path takes it as an empty block, so the outcome depended on how the bytes were split into writes. Every
// frame now goes through the streaming path: the same outcome for every split (0 bytes, as the declared size
// says; the stored bytes' SHA-256 is checked as for any payload).
TEST(Codec, ZstdEmptyCompressedBlockDecodesTheSameHoweverSplit) {
  const std::string frame("\x28\xb5\x2f\xfd\x20\x00\x05\x00\x00", 9);
  auto whole = cc::decode_all(cc::Encoding::Zstd, frame);
  ASSERT_TRUE(whole.has_value()) << whole.error().to_string();
  EXPECT_EQ(*whole, "");
  for (std::size_t chunk = 1; chunk <= frame.size(); ++chunk) {
    auto d = decode_streaming(cc::Encoding::Zstd, frame, {}, chunk);
    ASSERT_TRUE(d.has_value()) << "chunk " << chunk << ": " << d.error().to_string();
    EXPECT_EQ(*d, "");
  }
  // Declaring 1 content byte, the same frame is DataLoss, however split.
  const std::string lying("\x28\xb5\x2f\xfd\x20\x01\x05\x00\x00", 9);
  for (std::size_t chunk = 1; chunk <= lying.size(); ++chunk) {
    auto d = decode_streaming(cc::Encoding::Zstd, lying, {}, chunk);
    ASSERT_FALSE(d.has_value()) << "chunk " << chunk;
    EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
  }
}

// Found by the codec fuzz target (seed regress_zstd_bad_header_legacy_piece): a frame header with an impossible
// window (descriptor 0xfc: 2^41 bytes) written as 6 + 9 bytes, where the second piece starts with a legacy v0.7
// magic (27 b5 2f fd). libzstd's streaming decoder, failing to parse the header, looked for a legacy frame at
// the start of that piece and "decoded" it as an empty one. A header that does not parse is now DataLoss.
TEST(Codec, ZstdBadFrameHeaderIsDataLossHoweverSplit) {
  const std::string bad("\x28\xb5\x2f\xfd\xd0\xfc\x27\xb5\x2f\xfd\x30\x2f\xfd\xfd\x00", 15);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{6}, std::size_t{7}, bad.size()}) {
    auto d = decode_streaming(cc::Encoding::Zstd, bad, {}, chunk);
    ASSERT_FALSE(d.has_value()) << "chunk " << chunk;
    EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
  }
  cc::StringSink sink;
  cc::DecodeOptions opt;
  auto dec = cc::DecodingSink::create(sink, opt);
  ASSERT_TRUE(dec.has_value());
  ASSERT_TRUE(dec->write(cc::as_bytes(std::string_view(bad).substr(0, 6))).has_value());
  auto w = dec->write(cc::as_bytes(std::string_view(bad).substr(6)));
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().message.find("bad frame header"), std::string::npos) << w.error().message;
}

// zstd contexts are kept per thread from one payload to the next (codec.cpp): nothing of the last payload may
// carry over — not its level (the same input encodes to the same bytes as with a fresh context), not a frame
// abandoned half way (the next decode starts clean).
TEST(Codec, ReusedZstdContextsCarryNothingOver) {
  std::thread t([] {  // a thread of its own: starts without spare contexts
    const std::string a = compressible(300000), b = compressible(150000) + random_bytes(20000, 3);
    const std::string fresh = encode_streaming(cc::Encoding::Zstd, b).bytes;
    const std::string at19 = encode_streaming(cc::Encoding::Zstd, a, 4096, 7777, 19).bytes;
    const std::string reused = encode_streaming(cc::Encoding::Zstd, b).bytes;
    EXPECT_TRUE(reused == fresh);
    {
      cc::StringSink sink;
      cc::DecodeOptions opt;
      auto half = cc::DecodingSink::create(sink, opt);
      ASSERT_TRUE(half.has_value());
      ASSERT_TRUE(half->write(cc::as_bytes(std::string_view(at19).substr(0, at19.size() / 2))).has_value());
    }  // destroyed mid-frame: its context becomes the spare
    auto d = decode_streaming(cc::Encoding::Zstd, reused);
    ASSERT_TRUE(d.has_value()) << d.error().to_string();
    EXPECT_TRUE(*d == b);
    auto d19 = decode_streaming(cc::Encoding::Zstd, at19);
    ASSERT_TRUE(d19.has_value()) << d19.error().to_string();
    EXPECT_TRUE(*d19 == a);
  });
  t.join();
}

class CodecCorruption : public ::testing::TestWithParam<cc::Encoding> {};

TEST_P(CodecCorruption, FlippedByteIsDataLoss) {
  const auto e = GetParam();
  const std::string raw = compressible(400000);
  std::string stored = encode_streaming(e, raw).bytes;
  const std::string good_sha = cc::sha256_hex(stored);
  stored[stored.size() / 2] = static_cast<char>(stored[stored.size() / 2] ^ 0x5A);
  // Without a hash, the codec's own integrity check (zstd content checksum, gzip CRC-32) must catch it —
  // except identity, which has none.
  if (e != cc::Encoding::Identity) {
    auto d = decode_streaming(e, stored);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss) << d.error().to_string();
    EXPECT_EQ(d.error().origin, claimcheck::Origin::Codec);
  }
  cc::DecodeOptions opt;
  opt.expected_sha256 = good_sha;
  auto d = decode_streaming(e, stored, opt);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
}

TEST_P(CodecCorruption, TruncatedStreamIsDataLoss) {
  const auto e = GetParam();
  const std::string stored = encode_streaming(e, compressible(100000)).bytes;
  // Identity has no framing: truncation is caught by the expected raw size (and sha256).
  cc::DecodeOptions opt;
  if (e == cc::Encoding::Identity) opt.expected_size_raw = 100000;
  for (std::size_t cut : {std::size_t{1}, std::size_t{4}, stored.size() / 2, stored.size() - 1}) {
    auto d = decode_streaming(e, stored.substr(0, cut), opt);
    ASSERT_FALSE(d.has_value()) << "cut at " << cut;
    EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
  }
  auto empty = decode_streaming(e, "", opt);
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, cc::ErrorCode::DataLoss);
  const char* word = e == cc::Encoding::Identity ? "size_raw" : "truncated";
  EXPECT_NE(empty.error().message.find(word), std::string::npos) << empty.error().message;
}

TEST_P(CodecCorruption, TrailingGarbageIsDataLoss) {
  const auto e = GetParam();
  const std::string stored = encode_streaming(e, compressible(10000)).bytes;
  // Identity has no framing: trailing bytes are caught by the expected sha256.
  cc::DecodeOptions opt;
  if (e == cc::Encoding::Identity) opt.expected_sha256 = cc::sha256_hex(stored);
  for (const std::string& garbage : {std::string("x"), std::string(16, '\0'), std::string("garbage after stream")}) {
    auto d = decode_streaming(e, stored + garbage, opt);
    ASSERT_FALSE(d.has_value()) << "garbage size " << garbage.size();
    EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
  }
}

TEST_P(CodecCorruption, WrongExpectedShaNamesBoth) {
  const auto e = GetParam();
  const std::string stored = encode_streaming(e, "hello").bytes;
  const std::string wrong(64, 'a');
  cc::DecodeOptions opt;
  opt.expected_sha256 = wrong;
  cc::StringSink sink;
  opt.encoding = e;
  auto dec = cc::DecodingSink::create(sink, opt);
  ASSERT_TRUE(dec.has_value());
  ASSERT_TRUE(dec->write(cc::as_bytes(stored)).has_value());
  auto f = dec->finish();
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code, cc::ErrorCode::DataLoss);
  EXPECT_NE(f.error().message.find(wrong), std::string::npos);
  EXPECT_NE(f.error().message.find(cc::sha256_hex(stored)), std::string::npos);
  EXPECT_FALSE(sink.finished()) << "downstream must not be finished after a failed check";
  // The sink stays failed.
  EXPECT_FALSE(dec->finish().has_value());
}

TEST_P(CodecCorruption, SizeLimits) {
  const auto e = GetParam();
  const std::string raw = compressible(100000);
  const std::string stored = encode_streaming(e, raw).bytes;
  cc::DecodeOptions bomb;
  bomb.max_raw_bytes = 50000;
  auto d = decode_streaming(e, stored, bomb);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
  EXPECT_NE(d.error().message.find("max_raw_bytes"), std::string::npos);

  cc::DecodeOptions exact;
  exact.max_raw_bytes = raw.size();
  EXPECT_TRUE(decode_streaming(e, stored, exact).has_value());

  cc::DecodeOptions shorter;
  shorter.expected_size_raw = raw.size() + 1;
  auto s = decode_streaming(e, stored, shorter);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, cc::ErrorCode::DataLoss);
  EXPECT_NE(s.error().message.find("size_raw"), std::string::npos);

  cc::DecodeOptions longer;
  longer.expected_size_raw = raw.size() - 1;
  EXPECT_FALSE(decode_streaming(e, stored, longer).has_value());
}

INSTANTIATE_TEST_SUITE_P(All, CodecCorruption, ::testing::ValuesIn(kAll),
                         [](const auto& pinfo) { return std::string(cc::to_string(pinfo.param)); });

TEST(Codec, RandomGarbageNeverCrashes) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200; ++i) {
    const std::string junk = random_bytes(rng() % 5000, rng());
    for (auto e : {cc::Encoding::Zstd, cc::Encoding::Gzip}) {
      auto d = decode_streaming(e, junk);
      ASSERT_FALSE(d.has_value());
      EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
    }
  }
  // Valid gzip header followed by junk deflate data.
  std::string hdr("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  auto d = decode_streaming(cc::Encoding::Gzip, hdr + random_bytes(1000, 5));
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, cc::ErrorCode::DataLoss);
}

TEST(Codec, DownstreamErrorPassesThrough) {
  cc::StringSink small(1000);
  cc::DecodeOptions opt;
  opt.encoding = cc::Encoding::Zstd;
  auto dec = cc::DecodingSink::create(small, opt);
  ASSERT_TRUE(dec.has_value());
  const std::string stored = encode_streaming(cc::Encoding::Zstd, compressible(100000)).bytes;
  auto w = dec->write(cc::as_bytes(stored));
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().origin, claimcheck::Origin::Io);
  EXPECT_EQ(w.error().code, cc::ErrorCode::InvalidArgument);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(cc::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(cc::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  cc::Sha256 h;
  h.update(std::string_view("ab"));
  h.update(std::string_view("c"));
  const std::string d = h.hex_digest();
  EXPECT_EQ(d, cc::sha256_hex("abc"));
  EXPECT_EQ(h.hex_digest(), d);  // idempotent once finished
  cc::Sha256 moved = std::move(h);
  EXPECT_EQ(moved.hex_digest(), d);
  moved.reset();
  moved.update(std::string_view("abc"));
  EXPECT_EQ(moved.hex_digest(), d);
  EXPECT_TRUE(cc::is_sha256_hex(d));
  EXPECT_FALSE(cc::is_sha256_hex(std::string(64, 'A')));
  EXPECT_FALSE(cc::is_sha256_hex(d.substr(1)));
}
