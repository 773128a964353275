#pragma once
/// Test helper: unique names for the resources a test creates on shared servers, deterministic random
/// payloads, and reading a whole file. Header-only; thread-safe (unique_name locks its generator).

#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

namespace claimcheck::test {

/// `prefix` followed by `hex_digits` random lowercase hex digits, e.g. unique_name("t") = "t3f9a0c12": names
/// of queues, exchanges, key prefixes and schemas that no other test (or earlier run) uses.
inline std::string unique_name(std::string_view prefix, int hex_digits = 8) {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  std::string s(prefix);
  for (int i = 0; i < hex_digits; ++i) s += "0123456789abcdef"[rng() % 16];
  return s;
}

/// `n` bytes from a generator seeded with `seed`: the same bytes for the same seed (incompressible).
inline std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

/// The whole content of file `p` ("" if it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace claimcheck::test
