#include "claimcheck/core/retry.h"

#include <algorithm>
#include <cmath>

namespace claimcheck {

// ---------------------------------------------------------------- backoff

Result<void> BackoffPolicy::validate() const {
  if (initial.count() < 0) return config_error("field 'initial': must be >= 0 ms");
  if (max < initial) return config_error("field 'max': must be >= initial");
  if (!(multiplier >= 1.0) || !std::isfinite(multiplier)) return config_error("field 'multiplier': must be >= 1");
  if (max_attempts < 1) return config_error("field 'max_attempts': must be >= 1");
  return ok();
}

std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, int attempt, std::mt19937_64& rng) {
  const int k = std::max(attempt, 1) - 1;
  const double maxd = static_cast<double>(policy.max.count());
  double cap = static_cast<double>(policy.initial.count()) * std::pow(policy.multiplier, k);
  if (!std::isfinite(cap) || cap > maxd) cap = maxd;
  if (cap < 0) cap = 0;
  std::uniform_int_distribution<std::int64_t> dist(0, static_cast<std::int64_t>(cap));
  return std::chrono::milliseconds(dist(rng));
}

}  // namespace claimcheck
