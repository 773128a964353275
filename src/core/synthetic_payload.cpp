#include "claimcheck/core/synthetic_payload.h"

#include <uuid/uuid.h>

#include <algorithm>
#include <cstring>

#include "claimcheck/core/file_io.h"
#include "claimcheck/core/time.h"

namespace claimcheck {

// ---------------------------------------------------------------- synthetic payload

namespace {
constexpr std::size_t kSyntheticChunk = 1024;
constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::string uuid_from_rng(std::mt19937_64& rng) {
  std::uint64_t a = rng(), b = rng();
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(a >> (8 * i));
    bytes[8 + i] = static_cast<unsigned char>(b >> (8 * i));
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0F) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3F) | 0x80);
  char buf[37];
  uuid_unparse_lower(bytes, buf);
  return std::string(buf, 36);
}
}  // namespace

SyntheticPayloadSource::SyntheticPayloadSource(std::uint64_t idx, std::uint64_t size_bytes, std::uint64_t seed,
                                               Timestamp ts)
    : rng_(seed) {
  id_ = uuid_from_rng(rng_);
  pending_ = R"({"schema":"demo-1c-object-v1","id":")" + id_ + R"(","idx":)" + std::to_string(idx) +
             R"(,"ts":")" + format_rfc3339(ts) + R"(","data":[)";
  trailer_ = "]}";
  const std::uint64_t fixed = pending_.size() + trailer_.size();
  data_left_ = size_bytes > fixed ? size_bytes - fixed : 0;
  total_ = fixed + data_left_;
  emitted_ = pending_.size();
}

void SyntheticPayloadSource::refill() {
  pending_.clear();
  pending_pos_ = 0;
  if (data_left_ == 0) {
    if (!trailer_done_) {
      pending_ = trailer_;
      trailer_done_ = true;
    }
  } else {
    const std::uint64_t overhead = first_elem_ ? 2 : 3;
    if (data_left_ < overhead) {
      pending_.assign(static_cast<std::size_t>(data_left_), ' ');
      data_left_ = 0;
    } else {
      const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(kSyntheticChunk, data_left_ - overhead));
      if (!first_elem_) pending_ += ',';
      pending_ += '"';
      const std::size_t base = pending_.size();
      pending_.resize(base + len);
      char* out = pending_.data() + base;
      std::size_t done = 0;
      while (done < len) {
        std::uint64_t r = rng_();
        // 8 characters per 64-bit draw (byte % 62: a slight bias is irrelevant for synthetic data).
        for (int k = 0; k < 8 && done < len; ++k, ++done) {
          out[done] = kAlnum[(r & 0xFFu) % 62];
          r >>= 8;
        }
      }
      pending_ += '"';
      data_left_ -= len + overhead;
      first_elem_ = false;
    }
  }
  emitted_ += pending_.size();
}

Result<std::size_t> SyntheticPayloadSource::read(std::span<std::byte> buf) {
  std::size_t n = 0;
  while (n < buf.size()) {
    if (pending_pos_ >= pending_.size()) {
      refill();
      if (pending_.empty()) break;
    }
    const std::size_t k = std::min(buf.size() - n, pending_.size() - pending_pos_);
    std::memcpy(buf.data() + n, pending_.data() + pending_pos_, k);
    pending_pos_ += k;
    n += k;
  }
  return n;
}

std::string synthetic_payload(std::uint64_t idx, std::uint64_t size_bytes, std::mt19937_64& rng) {
  SyntheticPayloadSource src(idx, size_bytes, rng());
  auto r = read_all(src);
  return r ? std::move(r).value() : std::string();
}

}  // namespace claimcheck
