#pragma once
/// Retry: the backoff policy struct embedded in every *Config, its delay, the one classification of a
/// failure (classify) and the one retry loop (retry) used by S3, AMQP, the consumer, the delete worker and
/// the store thread (DESIGN.md §6).
///
/// Example — an S3 request retried on transient errors, logging each retry:
///
///     claimcheck::BackoffPolicy p{std::chrono::milliseconds(100), std::chrono::milliseconds(5000), 2.0, 4};
///     claimcheck::RetryHooks hooks;
///     hooks.before_retry = [](const claimcheck::Error& e, int failures, std::chrono::milliseconds delay) {
///       spdlog::warn("attempt {} failed, again in {} ms: {}", failures, delay.count(), e.to_string());
///     };
///     auto r = claimcheck::retry(p, [&](int /*attempt*/) { return s3.head_object(bucket, key); }, hooks);

#include <chrono>
#include <functional>
#include <limits>
#include <random>
#include <thread>
#include <type_traits>
#include <utility>

#include "claimcheck/core/result.h"

namespace claimcheck {

/// BackoffPolicy::max_attempts meaning "no limit".
inline constexpr int kUnlimitedAttempts = std::numeric_limits<int>::max();

/// Retry policy: exponential backoff with jitter (AWS Architecture Blog, "Exponential Backoff And
/// Jitter", 2015). The delay before retry number k (k ≥ 1) has the cap min(max, initial × multiplier^(k−1))
/// and is uniform in [cap × (1 − jitter), cap]: jitter 1 is "full jitter", 0.5 "equal jitter", 0 none.
/// Plain data, filled by the CLI; copyable.
struct BackoffPolicy {
  std::chrono::milliseconds initial{100};  ///< cap of the first retry's delay (≥ 0)
  std::chrono::milliseconds max{10000};    ///< cap of any delay (≥ initial)
  double multiplier = 2.0;                 ///< growth of the cap per retry (≥ 1)
  int max_attempts = 6;                    ///< total attempts including the first (≥ 1; kUnlimitedAttempts)
  double jitter = 1.0;                     ///< random share of each delay, in [0, 1]

  /// Check the fields. Errors: InvalidArgument (Origin::Config) naming the field.
  [[nodiscard]] Result<void> validate() const;
  /// True if another attempt may follow attempt number `attempts_made` (1-based count of attempts done).
  [[nodiscard]] bool may_retry(int attempts_made) const noexcept { return attempts_made < max_attempts; }
};

/// Delay before retry number `attempt` (1 = the first retry), as BackoffPolicy describes; attempt ≤ 0 is
/// treated as 1. Uses `rng`; not thread-safe with respect to it.
std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, int attempt, std::mt19937_64& rng);

/// The calling thread's generator for backoff jitter, seeded once per thread from std::random_device: what
/// the overloads without an `rng` use. Thread-safe (one generator per thread).
std::mt19937_64& thread_rng();

/// backoff_delay() with the calling thread's generator (thread_rng()). Thread-safe.
inline std::chrono::milliseconds backoff_delay(const BackoffPolicy& policy, int attempt) {
  return backoff_delay(policy, attempt, thread_rng());
}

/// What to do with the job whose step failed with an Error: the one classification (DESIGN.md §6).
enum class FailureAction : std::uint8_t {
  Retry,             ///< transient (network, 5xx, broker down, local disk, object changed): try again later
  RetryTransaction,  ///< a database transaction lost a race (Aborted): run the whole transaction again
  DeadLetter,        ///< this message can never succeed (malformed, missing, corrupt): dead-letter it
  Fatal,             ///< nothing will succeed (credentials refused, bad configuration): stop and report
};

/// Stable name of an action: "retry", "retry-transaction", "dead-letter", "fatal". Thread-safe.
std::string_view to_string(FailureAction action) noexcept;

/// Classifies `e`. Thread-safe, pure.
/// - Origin::Io (local files): InvalidArgument / DataLoss (a bad name, corrupt input) → DeadLetter, anything
///   else (EACCES, ENOSPC, EIO, ...) → Retry.
/// - Origin::Exec (a handler command): InvalidArgument (its reject exit codes) → DeadLetter, else → Retry.
/// - otherwise by code: Unavailable, FailedPrecondition → Retry; Aborted → RetryTransaction;
///   PermissionDenied → Fatal; InvalidArgument → Fatal from Origin::Config or Origin::Amqp (our own
///   settings or frames), DeadLetter from anywhere else; NotFound, DataLoss, Internal → DeadLetter.
/// FailedPrecondition (the object changed under a resumed GET) retries the job, not the request: retry()
/// repeats one request only for Error::is_retryable() errors.
[[nodiscard]] FailureAction classify(const Error& e) noexcept;

/// Optional hooks of retry(). Every hook is called on the retrying thread, synchronously.
struct RetryHooks {
  /// Whether a failed attempt may be repeated; empty = Error::is_retryable() (Unavailable, Aborted).
  std::function<bool(const Error&)> retryable;
  /// Called after a failed attempt: true if it made progress (e.g. bytes delivered), which resets the count
  /// of failures in a row and makes the next attempt immediate. Empty = never.
  std::function<bool()> progressed;
  /// Called before each wait: the error, failures in a row so far (≥ 1, 0 after progress), the delay.
  /// Use it to log, count or reopen a connection.
  std::function<void(const Error&, int failures, std::chrono::milliseconds delay)> before_retry;
  /// True to stop retrying now (shutdown): the last error is returned. Checked after each failure.
  std::function<bool()> stop;
  /// Waits `delay`; empty = std::this_thread::sleep_for. An interruptible wait checks its own stop flag.
  std::function<void(std::chrono::milliseconds)> sleep;
};

/// Runs `op(attempt)` (attempt = 1, 2, …; returns a Result<T>) until it succeeds, fails with an error that
/// `hooks.retryable` refuses, `policy.max_attempts` failures in a row without progress have been made, or
/// `hooks.stop()` is true; waits backoff_delay(policy, failures in a row) between attempts. Returns the
/// last result. Thread-safe if `op`, the hooks and `rng` are not shared with another thread.
template <typename Op>
auto retry(const BackoffPolicy& policy, std::mt19937_64& rng, Op&& op, const RetryHooks& hooks = {})
    -> std::invoke_result_t<Op&, int> {
  int failures = 0;  // failed attempts in a row without progress
  for (int attempt = 1;; ++attempt) {
    auto r = op(attempt);
    if (r) return r;
    const Error& e = r.error();
    failures = (hooks.progressed && hooks.progressed()) ? 0 : failures + 1;
    const bool retryable = hooks.retryable ? hooks.retryable(e) : e.is_retryable();
    if (!retryable || !policy.may_retry(failures) || (hooks.stop && hooks.stop())) return r;
    const auto delay = failures == 0 ? std::chrono::milliseconds(0) : backoff_delay(policy, failures, rng);
    if (hooks.before_retry) hooks.before_retry(e, failures, delay);
    if (hooks.sleep) {
      hooks.sleep(delay);
    } else if (delay.count() > 0) {
      std::this_thread::sleep_for(delay);
    }
  }
}

/// retry() with the calling thread's generator (thread_rng()): for callers that need no reproducible jitter.
template <typename Op>
auto retry(const BackoffPolicy& policy, Op&& op, const RetryHooks& hooks = {}) -> std::invoke_result_t<Op&, int> {
  return retry(policy, thread_rng(), std::forward<Op>(op), hooks);
}

}  // namespace claimcheck
