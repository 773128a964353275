#pragma once
// Shared by the libFuzzer targets in tests/fuzz: an invariant check that aborts (libFuzzer then saves the
// input as a crash artifact), and a view of the fuzzer's bytes as text.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

/// Abort with `what` on stderr unless `cond` holds: a broken invariant is a finding, like a crash.
#define FUZZ_CHECK(cond, what)                                                          \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s) at %s:%d\n", #cond, what, __FILE__, __LINE__); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace fuzz {
/// The input bytes as a string_view (no copy).
inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}
}  // namespace fuzz
