#pragma once
/// SHA-256 (FIPS 180-4) hashing, streaming, backed by OpenSSL EVP.

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace claimcheck {

/// Incremental SHA-256 hasher (FIPS 180-4) using OpenSSL's EVP interface.
///
/// - Feed bytes with update() any number of times, then call hex_digest() (or digest()) once to finish.
///   After finishing, digest()/hex_digest() return the same value again; update() after finishing is a
///   programming error (asserts in debug builds, ignored in release builds). reset() starts over.
/// - RAII owner of an `EVP_MD_CTX`; move-only. A moved-from object may only be destroyed or assigned.
/// - Construction throws std::bad_alloc if OpenSSL cannot allocate a context (out of memory); nothing
///   else ever fails.
/// - Not thread-safe: one thread uses a given instance at a time.
class Sha256 {
 public:
  /// Length of a digest in bytes.
  static constexpr std::size_t kDigestBytes = 32;
  /// Length of a hex digest in characters (64, lowercase).
  static constexpr std::size_t kHexDigestChars = 64;

  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  /// Hash `data` (bytes). Any length, including 0.
  void update(std::span<const std::byte> data);
  /// Hash the bytes of `data` (no terminator, no encoding conversion).
  void update(std::string_view data);

  /// Finish (first call) and return the 32-byte digest. Idempotent once finished.
  std::array<std::byte, kDigestBytes> digest();
  /// Finish (first call) and return the digest as 64 lowercase hex characters. Idempotent once finished.
  std::string hex_digest();

  /// Discard all state and start a new hash.
  void reset();

  /// True once digest()/hex_digest() has been called (and reset() has not).
  [[nodiscard]] bool finished() const noexcept { return finished_; }

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  std::array<std::byte, kDigestBytes> digest_{};
  bool finished_ = false;
};

/// SHA-256 of `data` as 64 lowercase hex characters. Thread-safe, never fails.
std::string sha256_hex(std::string_view data);

/// SHA-256 of `data` (bytes) as 64 lowercase hex characters. Thread-safe, never fails.
std::string sha256_hex(std::span<const std::byte> data);

/// True if `s` is exactly 64 lowercase hex characters `[0-9a-f]` (the wire form of a SHA-256).
[[nodiscard]] bool is_sha256_hex(std::string_view s) noexcept;

/// Lowercase hex of `data` (2 characters per byte). Never fails.
std::string to_hex(std::span<const std::byte> data);

}  // namespace claimcheck
