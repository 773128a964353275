#pragma once
/// Test helpers for the S3 client: config from the local servers (.local/env), memory/discard sinks,
/// a deterministic generator source, unique key prefixes. Header-only.

#include <uuid/uuid.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "claimcheck/core/io.h"
#include "claimcheck/s3/s3_client.h"
#include "test_env.h"

namespace claimcheck::test {

/// S3Config for the local RGW (S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY). Records a test failure
/// (never a skip) when a setting is missing.
inline s3::S3Config s3_config_from_env() {
  s3::S3Config c;
  c.endpoint = require_env("S3_ENDPOINT");
  c.region = env_value("S3_REGION").value_or("us-east-1");
  c.access_key = require_env("S3_ACCESS_KEY");
  c.secret_key = require_env("S3_SECRET_KEY");
  return c;
}

/// A fresh random lowercase UUID string (for unique key prefixes per test run).
inline std::string uuid_string() {
  uuid_t u;
  uuid_generate_random(u);
  char buf[37];
  uuid_unparse_lower(u, buf);
  return buf;
}

/// Collects everything written into a string.
class StringSink final : public ByteSink {
 public:
  Result<void> write(std::span<const std::byte> data) override {
    data_.append(reinterpret_cast<const char*>(data.data()), data.size());
    ++writes_;
    return ok();
  }
  Result<void> finish() override {
    finished_ = true;
    return ok();
  }
  const std::string& data() const { return data_; }
  bool finished() const { return finished_; }
  std::size_t writes() const { return writes_; }

 private:
  std::string data_;
  bool finished_ = false;
  std::size_t writes_ = 0;
};

/// Deterministic byte at offset `i` (cheap pattern that is not periodic over small ranges).
inline std::byte pattern_byte(std::uint64_t i) {
  std::uint64_t x = i * 0x9E3779B97F4A7C15ULL;
  x ^= x >> 29;
  return static_cast<std::byte>(x & 0xFF);
}

/// Generates `size` pattern bytes, in reads of at most `max_read` bytes. Optionally fails after `fail_at` bytes.
class PatternSource final : public ByteSource {
 public:
  explicit PatternSource(std::uint64_t size, std::size_t max_read = 1 << 20, std::uint64_t fail_at = UINT64_MAX)
      : size_(size), max_read_(max_read), fail_at_(fail_at) {}
  Result<std::size_t> read(std::span<std::byte> buf) override {
    if (pos_ >= fail_at_) return fail(ErrorCode::Unavailable, claimcheck::Origin::Io, "injected source failure");
    std::uint64_t left = std::min(size_, fail_at_) - pos_;
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>({left, buf.size(), max_read_}));
    for (std::size_t i = 0; i < n; ++i) buf[i] = pattern_byte(pos_ + i);
    pos_ += n;
    return n;
  }

 private:
  std::uint64_t size_, pos_ = 0;
  std::size_t max_read_;
  std::uint64_t fail_at_;
};

/// Checks that written bytes equal the pattern starting at `start`; keeps count, never buffers.
class PatternCheckSink final : public ByteSink {
 public:
  explicit PatternCheckSink(std::uint64_t start = 0) : pos_(start) {}
  Result<void> write(std::span<const std::byte> data) override {
    for (auto b : data) {
      if (b != pattern_byte(pos_) && mismatches_++ == 0) first_mismatch_ = pos_;
      ++pos_;
      ++count_;
    }
    return ok();
  }
  std::uint64_t count() const { return count_; }
  std::uint64_t mismatches() const { return mismatches_; }
  std::uint64_t first_mismatch() const { return first_mismatch_; }

 private:
  std::uint64_t pos_, count_ = 0, mismatches_ = 0, first_mismatch_ = 0;
};

}  // namespace claimcheck::test
