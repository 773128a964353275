#pragma once
/// Retry backoff: the policy struct embedded in configs and its full-jitter delay.

#include <chrono>
#include <random>

#include "claimcheck/core/result.h"

namespace claimcheck {

/// Retry policy: exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
/// Jitter", 2015).
struct BackoffPolicy {
  std::chrono::milliseconds initial{100};  ///< cap of the first retry's delay
  std::chrono::milliseconds max{10000};    ///< cap of any delay
  double multiplier = 2.0;                 ///< growth of the cap per retry (≥ 1)
  int max_attempts = 6;                    ///< total attempts including the first (≥ 1)

  /// Check the fields. Errors: InvalidArgument (origin "config") naming the field.
  [[nodiscard]] Result<void> validate() const;
  /// True if another attempt may follow attempt number `attempts_made` (1-based count of attempts done).
  [[nodiscard]] bool may_retry(int attempts_made) const noexcept { return attempts_made < max_attempts; }
};

/// Delay before retry number `attempt` (1 = the first retry): uniform in [0, min(max, initial ×
/// multiplier^(attempt-1))] ("full jitter"). attempt ≤ 0 is treated as 1. Uses `rng`; not thread-safe
/// with respect to it.
std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, int attempt, std::mt19937_64& rng);

}  // namespace claimcheck
