#pragma once
/// The reference demo's synthetic JSON payload generator (`make demo`, benchmarks): exact size, O(1) memory.

#include <cstdint>
#include <random>
#include <span>
#include <string>

#include "claimcheck/core/io.h"
#include "claimcheck/core/time.h"

namespace claimcheck {

/// Streams the reference demo's synthetic JSON payload of EXACTLY `size_bytes` bytes:
/// `{"schema":"demo-1c-object-v1","id":"<uuid>","idx":N,"ts":"<rfc3339>","data":["<1024 alnum>",...]}`.
///
/// - `data` holds random [A-Za-z0-9] strings of 1024 characters (the last one shorter); up to two spaces
///   are inserted before "]" so the total is exact. If `size_bytes` is smaller than the document with an
///   empty `data` array (~120 bytes), that minimal document is produced (total() > the request).
/// - Deterministic for a given (idx, size_bytes, seed, ts). Memory is O(1): generated on the fly.
/// - Never fails. Not thread-safe.
class SyntheticPayloadSource : public ByteSource {
 public:
  SyntheticPayloadSource(std::uint64_t idx, std::uint64_t size_bytes, std::uint64_t seed,
                         Timestamp ts = utc_now());
  Result<std::size_t> read(std::span<std::byte> buf) override;
  /// Total bytes this source yields.
  [[nodiscard]] std::uint64_t total() const noexcept { return total_; }
  /// The document's "id".
  [[nodiscard]] const std::string& id() const noexcept { return id_; }

 private:
  void refill();
  std::mt19937_64 rng_;
  std::string id_;
  std::string pending_;        // bytes produced but not yet read
  std::size_t pending_pos_ = 0;
  std::uint64_t total_ = 0;
  std::uint64_t emitted_ = 0;  // bytes moved into pending_ so far
  std::uint64_t data_left_ = 0;  // bytes of the "data" array body left to generate
  std::string trailer_;
  bool first_elem_ = true;
  bool trailer_done_ = false;
};

/// The whole synthetic payload (see SyntheticPayloadSource) as a string, seeded from `rng`.
std::string synthetic_payload(std::uint64_t idx, std::uint64_t size_bytes, std::mt19937_64& rng);

}  // namespace claimcheck
