#pragma once
/// Test helper: a fresh temporary directory per test, removed with everything in it at scope exit.
/// Named after the prefix, the pid and the running gtest's name. Header-only; not thread-safe.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace claimcheck::test {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "cc_test_") {
    path = std::filesystem::temp_directory_path() /
           (prefix + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  /// Number of entries directly in `dir`.
  std::size_t entries(const std::filesystem::path& dir) const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
    return n;
  }
};

}  // namespace claimcheck::test
