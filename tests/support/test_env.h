#pragma once
/// Test helper: the settings of the local servers (`make up`) for integration tests.
///
/// Lookup order for a name: the process environment, then the file $CLAIMCHECK_SOURCE_DIR/.local/env
/// (ctest sets CLAIMCHECK_SOURCE_DIR to the repo root), then ./.local/env. Lines are `NAME=value`
/// (an optional `export ` prefix, surrounding single/double quotes removed, `#` comments ignored).
/// Integration tests must FAIL, never skip, when a setting is missing: use require_env().
/// Header-only; reads the file on every call (cheap, tests only). Thread-compatible.

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace claimcheck::test {

/// The value of `name` from the environment or .local/env; std::nullopt when not set anywhere.
inline std::optional<std::string> env_value(const std::string& name) {
  if (const char* v = std::getenv(name.c_str()); v != nullptr && *v != '\0') return std::string(v);
  std::string candidates[2];
  if (const char* src = std::getenv("CLAIMCHECK_SOURCE_DIR"); src != nullptr && *src != '\0') {
    candidates[0] = std::string(src) + "/.local/env";
  }
  candidates[1] = ".local/env";
  for (const auto& path : candidates) {
    if (path.empty()) continue;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("export ", 0) == 0) line = line.substr(7);
      if (line.empty() || line[0] == '#') continue;
      const auto eq = line.find('=');
      if (eq == std::string::npos || line.substr(0, eq) != name) continue;
      std::string value = line.substr(eq + 1);
      if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
        value = value.substr(1, value.size() - 2);
      }
      if (!value.empty()) return value;
    }
  }
  return std::nullopt;
}

/// Like env_value(), but records a test failure (not a skip) naming the setting when it is missing,
/// and returns an empty string. Callers should `ASSERT_FALSE(v.empty())` or check HasFailure().
inline std::string require_env(const std::string& name) {
  auto v = env_value(name);
  if (!v) {
    ADD_FAILURE() << name << " is not set (environment or .local/env): start the servers with `make up`"
                  << " (PostgreSQL: `make up PG=1`)";
    return {};
  }
  return *v;
}

/// Path of the claimcheck CLI binary for tests that run it as a subprocess: $CLAIMCHECK_BINARY when set,
/// else the path CMake compiled in (CLAIMCHECK_TEST_BINARY, the build tree's apps/claimcheck/claimcheck).
inline std::string claimcheck_binary() {
  if (const char* v = std::getenv("CLAIMCHECK_BINARY"); v != nullptr && *v != '\0') return v;
#ifdef CLAIMCHECK_TEST_BINARY
  return CLAIMCHECK_TEST_BINARY;
#else
  return {};
#endif
}

}  // namespace claimcheck::test
