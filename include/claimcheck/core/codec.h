#pragma once
/// Streaming compression codecs (zstd, gzip, identity) with SHA-256 of the stored bytes in the same pass.
///
/// Encoding side: EncodingSource pulls raw payload bytes from a ByteSource and yields the stored (encoded)
/// bytes, counting both sizes and hashing the stored bytes — ready to be streamed into an S3 PUT.
/// Decoding side: DecodingSink receives stored bytes (e.g. from an S3 GET), hashes them, decompresses and
/// pushes raw bytes downstream, verifying stream integrity, hash and size on finish().
/// Both use fixed-size buffers: memory does not grow with the payload size.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "claimcheck/core/io.h"
#include "claimcheck/core/result.h"

namespace claimcheck {

/// How stored bytes are compressed (wire values of the pointer's `encoding` field, DESIGN.md §2).
enum class Encoding : std::uint8_t {
  Zstd,      ///< Zstandard frame(s) (RFC 8878), libzstd streaming API
  Gzip,      ///< gzip member(s) (RFC 1952), ISA-L igzip; readable by `gunzip`
  Identity,  ///< stored bytes are the raw bytes
};

/// Wire name: "zstd", "gzip" or "identity". Never fails.
std::string_view to_string(Encoding e) noexcept;

/// Parse a wire name (exact, lowercase: "zstd" | "gzip" | "identity").
/// Errors: InvalidArgument (Origin::Codec) naming the value and the allowed ones.
[[nodiscard]] Result<Encoding> parse_encoding(std::string_view s);

/// Object-key suffix for an encoding: ".zst", ".gz", "" (identity).
std::string_view file_extension(Encoding e) noexcept;

/// Options for EncodingSource.
struct EncodeOptions {
  /// Codec to apply.
  Encoding encoding = Encoding::Zstd;
  /// Compression level: zstd 1..19 (negative = fast modes allowed, ≥ -5), gzip 0..3 (ISA-L levels; 1 default).
  int level = 1;
  /// Size in bytes of each of the two internal buffers (raw input chunk, encoded output chunk). ≥ 4096.
  std::size_t buffer_bytes = 256 * 1024;

  /// Check the ranges above. Errors: InvalidArgument (Origin::Config) naming the field.
  [[nodiscard]] Result<void> validate() const;
};

/// A ByteSource that yields the ENCODED form of a raw payload source, computing sizes and SHA-256 on the fly.
///
/// - `raw` is borrowed: it must outlive this object. Do not read `raw` directly while encoding.
/// - read() fills the caller's buffer with stored bytes; 0 means the encoded stream is complete, after which
///   size_raw(), size_stored() and sha256_hex() are final (done() is true).
/// - Errors: those of `raw.read()` unchanged; Internal (Origin::Codec) if the compressor fails. After an
///   error the object is unusable.
/// - Memory: two buffers of `buffer_bytes` plus the compressor state (zstd level 1 ≈ 1-2 MiB, ISA-L level 1
///   ≈ 300 KiB) — independent of payload size.
/// - Move-only (pimpl); not thread-safe.
///
/// Example — compress and hash in one pass, then decode and verify:
///
///     claimcheck::MemorySource raw(std::string(payload));
///     CC_TRY(enc, claimcheck::EncodingSource::create(raw, {}));        // zstd level 1 by default
///     claimcheck::StringSink stored;
///     CC_TRY(n, claimcheck::copy_stream(*enc, stored));                  // or hand *enc to S3Client
///     claimcheck::DecodeOptions d;
///     d.expected_sha256 = enc->sha256_hex();
///     claimcheck::StringSink back;
///     CC_TRY(dec, claimcheck::DecodingSink::create(back, d));
///     CC_TRY_VOID(dec->write(claimcheck::as_bytes(stored.str())));
///     CC_TRY_VOID(dec->finish());                                        // DataLoss on any mismatch
class EncodingSource : public ByteSource {
 public:
  /// Create an encoder over `raw`. Errors: InvalidArgument from options.validate(); Internal if the
  /// compressor cannot be initialized.
  [[nodiscard]] static Result<EncodingSource> create(ByteSource& raw, const EncodeOptions& options = {});

  EncodingSource(EncodingSource&&) noexcept;
  EncodingSource& operator=(EncodingSource&&) noexcept;
  EncodingSource(const EncodingSource&) = delete;
  EncodingSource& operator=(const EncodingSource&) = delete;
  ~EncodingSource() override;

  /// Yield up to buf.size() encoded bytes; 0 = end of the encoded stream.
  Result<std::size_t> read(std::span<std::byte> buf) override;

  /// Raw (payload) bytes consumed from the source so far; final once done().
  [[nodiscard]] std::uint64_t size_raw() const noexcept;
  /// Encoded (stored) bytes produced so far; final once done().
  [[nodiscard]] std::uint64_t size_stored() const noexcept;
  /// SHA-256 of the stored bytes as 64 lowercase hex; empty string until done().
  [[nodiscard]] const std::string& sha256_hex() const noexcept;
  /// True once read() has returned 0.
  [[nodiscard]] bool done() const noexcept;
  /// The encoding applied.
  [[nodiscard]] Encoding encoding() const noexcept;

  struct Impl;

 private:
  explicit EncodingSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Options for DecodingSink.
struct DecodeOptions {
  /// Codec of the stored bytes.
  Encoding encoding = Encoding::Zstd;
  /// If set, finish() fails with DataLoss unless SHA-256(stored bytes) equals this (64 lowercase hex).
  std::optional<std::string> expected_sha256;
  /// If set, the raw size must equal this: exceeding it fails at once, falling short fails in finish()
  /// (DataLoss).
  std::optional<std::uint64_t> expected_size_raw;
  /// If set, producing more than this many raw bytes fails at once with DataLoss (decompression-bomb guard).
  std::optional<std::uint64_t> max_raw_bytes;
  /// Size in bytes of the decompression output buffer. ≥ 4096.
  std::size_t buffer_bytes = 256 * 1024;

  /// Check the fields above. Errors: InvalidArgument (Origin::Config) naming the field.
  [[nodiscard]] Result<void> validate() const;
};

/// A ByteSink that receives STORED bytes, hashes them, decompresses them and writes the RAW bytes to a
/// downstream sink; finish() verifies everything and then calls downstream.finish().
///
/// - `downstream` is borrowed and must outlive this object. Raw bytes reach it BEFORE the hash can be
///   checked (streaming), so the downstream must itself be transactional (e.g. AtomicFileSink, which only
///   commits in finish(), which is only called after every check passed) or be discarded on error.
/// - Errors (Origin::Codec), all DataLoss: corrupt compressed data, trailing bytes after the last complete
///   zstd frame / gzip member, truncated stream (finish() before the stream ended), SHA-256 mismatch
///   (message names expected and actual), raw size ≠ expected_size_raw, raw size > max_raw_bytes.
///   Errors from downstream.write()/finish() are passed through unchanged. After an error the sink is
///   unusable and downstream.finish() is never called.
/// - Concatenated zstd frames / gzip members are accepted (as `zstd -d` / `gunzip` do). zstd: only the
///   frames of RFC 8878 (zstd and skippable frames; pre-1.0 legacy frames are DataLoss), each holding exactly
///   the content size its header declares; the outcome never depends on how the stored bytes are split
///   into write() calls (checked by the codec fuzz target).
/// - Memory: one output buffer of `buffer_bytes` plus the decompressor state (zstd: the frame's window,
///   ≤ 1 MiB at level 1; frames declaring a window above 128 MiB are refused with DataLoss; gzip ≈ 40 KiB).
/// - Move-only (pimpl); not thread-safe.
class DecodingSink : public ByteSink {
 public:
  /// Create a decoder writing raw bytes to `downstream`. Errors: InvalidArgument from options.validate();
  /// Internal if the decompressor cannot be initialized.
  [[nodiscard]] static Result<DecodingSink> create(ByteSink& downstream, const DecodeOptions& options);

  DecodingSink(DecodingSink&&) noexcept;
  DecodingSink& operator=(DecodingSink&&) noexcept;
  DecodingSink(const DecodingSink&) = delete;
  DecodingSink& operator=(const DecodingSink&) = delete;
  ~DecodingSink() override;

  /// Consume stored bytes (any chunking).
  Result<void> write(std::span<const std::byte> data) override;
  /// Verify end of stream, SHA-256 and raw size, then call downstream.finish().
  Result<void> finish() override;

  /// Stored bytes received so far.
  [[nodiscard]] std::uint64_t size_stored() const noexcept;
  /// Raw bytes written downstream so far.
  [[nodiscard]] std::uint64_t size_raw() const noexcept;
  /// SHA-256 of the stored bytes (64 lowercase hex); empty until finish() ran.
  [[nodiscard]] const std::string& sha256_hex() const noexcept;

  struct Impl;

 private:
  explicit DecodingSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Encode a whole in-memory payload (for tests and small inline payloads). Errors as EncodingSource.
[[nodiscard]] Result<std::string> encode_all(Encoding encoding, std::string_view raw, int level = 1);

/// Decode a whole in-memory stored payload, optionally verifying SHA-256 of `stored` and capping the output
/// size (bytes). Errors as DecodingSink (DataLoss on corrupt/truncated input, hash mismatch, over the cap).
[[nodiscard]] Result<std::string> decode_all(Encoding encoding, std::string_view stored,
                                             std::optional<std::string> expected_sha256 = std::nullopt,
                                             std::optional<std::uint64_t> max_raw_bytes = std::nullopt);

}  // namespace claimcheck
