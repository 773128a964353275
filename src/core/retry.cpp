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
  if (!(jitter >= 0.0 && jitter <= 1.0)) return config_error("field 'jitter': must be in [0, 1]");
  return ok();
}

std::mt19937_64& thread_rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, int attempt, std::mt19937_64& rng) {
  const int k = std::max(attempt, 1) - 1;
  const double maxd = static_cast<double>(policy.max.count());
  double cap = static_cast<double>(policy.initial.count()) * std::pow(policy.multiplier, k);
  if (!std::isfinite(cap) || cap > maxd) cap = maxd;
  if (cap < 0) cap = 0;
  const double jitter = std::clamp(policy.jitter, 0.0, 1.0);
  const auto top = static_cast<std::int64_t>(cap);
  const auto bottom = static_cast<std::int64_t>(std::ceil(cap * (1.0 - jitter)));
  if (bottom >= top) return std::chrono::milliseconds(top);
  std::uniform_int_distribution<std::int64_t> dist(bottom, top);
  return std::chrono::milliseconds(dist(rng));
}

// ---------------------------------------------------------------- classification

std::string_view to_string(FailureAction action) noexcept {
  switch (action) {
    case FailureAction::Retry: return "retry";
    case FailureAction::RetryTransaction: return "retry-transaction";
    case FailureAction::DeadLetter: return "dead-letter";
    case FailureAction::Fatal: return "fatal";
  }
  return "fatal";
}

FailureAction classify(const Error& e) noexcept {
  const bool refused = e.code == ErrorCode::InvalidArgument;
  if (e.origin == Origin::Io)  // local files: never an answer of a server
    return refused || e.code == ErrorCode::DataLoss ? FailureAction::DeadLetter : FailureAction::Retry;
  if (e.origin == Origin::Exec)  // a handler command: its reject exit codes are refusals
    return refused ? FailureAction::DeadLetter : FailureAction::Retry;
  switch (e.code) {
    case ErrorCode::Aborted: return FailureAction::RetryTransaction;
    case ErrorCode::PermissionDenied: return FailureAction::Fatal;
    case ErrorCode::InvalidArgument:
      return e.origin == Origin::Config || e.origin == Origin::Amqp ? FailureAction::Fatal : FailureAction::DeadLetter;
    case ErrorCode::NotFound:
    case ErrorCode::DataLoss:
    case ErrorCode::Internal: return FailureAction::DeadLetter;
    case ErrorCode::Ok:
    case ErrorCode::Unavailable:
    case ErrorCode::FailedPrecondition: return FailureAction::Retry;
  }
  return FailureAction::Retry;
}

}  // namespace claimcheck
