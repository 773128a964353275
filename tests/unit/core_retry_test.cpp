// core/retry.h: the one backoff formula (jitter modes), the one retry loop (progress, limits, stop, hooks)
// and the one classification of errors, driven without any server.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "claimcheck/core/retry.h"

namespace cc = claimcheck;
using cc::ErrorCode;
using cc::FailureAction;
using cc::Origin;
using namespace std::chrono_literals;

namespace {

cc::Error err(ErrorCode code, Origin origin = Origin::S3, std::string detail = {}) {
  return cc::make_error(code, origin, "x", std::move(detail));
}

// An op that fails `failures` times with `code`, then succeeds with its attempt number.
struct Flaky {
  explicit Flaky(int f, ErrorCode c = ErrorCode::Unavailable) : failures(f), code(c) {}
  int failures;
  ErrorCode code;
  std::vector<int> attempts;
  cc::Result<int> operator()(int attempt) {
    attempts.push_back(attempt);
    if (static_cast<int>(attempts.size()) <= failures) return cc::fail(code, Origin::S3, "down");
    return attempt;
  }
};

}  // namespace

// The S3 request policy (S3Config::retry's default): full jitter, cap 100 ms × 2^(k-1) up to 5 s.
TEST(Backoff, FullJitterBoundedAndSpread) {
  const cc::BackoffPolicy p{100ms, 5000ms, 2.0, 5, 1.0};
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200; ++i) {
    auto d1 = cc::backoff_delay(p, 1, rng);
    EXPECT_GE(d1, 0ms);
    EXPECT_LE(d1, 100ms);
    EXPECT_LE(cc::backoff_delay(p, 3, rng), 400ms);
    EXPECT_LE(cc::backoff_delay(p, 19, rng), 5000ms);
  }
  std::set<long long> seen;
  for (int i = 0; i < 50; ++i) seen.insert(cc::backoff_delay(p, 9, rng).count());
  EXPECT_GT(seen.size(), 10U) << "jitter should really spread the values";
}

// The AMQP reconnect / consumer requeue policies: equal jitter, never below half the cap.
TEST(Backoff, EqualJitterStaysInTheUpperHalf) {
  const cc::BackoffPolicy p{200ms, 10000ms, 2.0, cc::kUnlimitedAttempts, 0.5};
  std::mt19937_64 rng(7);
  for (int k = 1; k <= 8; ++k) {
    const long long cap = std::min<long long>(10000, 200LL << (k - 1));
    for (int i = 0; i < 200; ++i) {
      const auto d = cc::backoff_delay(p, k, rng).count();
      ASSERT_GE(d, cap / 2) << "retry " << k;
      ASSERT_LE(d, cap) << "retry " << k;
    }
  }
}

// The delete worker's policy: no jitter, exactly initial × 2^(k-1), capped.
TEST(Backoff, NoJitterIsExact) {
  const cc::BackoffPolicy p{1000ms, 300000ms, 2.0, cc::kUnlimitedAttempts, 0.0};
  std::mt19937_64 rng(1);
  EXPECT_EQ(cc::backoff_delay(p, 1, rng), 1000ms);
  EXPECT_EQ(cc::backoff_delay(p, 4, rng), 8000ms);
  EXPECT_EQ(cc::backoff_delay(p, 12, rng), 300000ms);
  EXPECT_EQ(cc::backoff_delay(p, 0, rng), 1000ms) << "attempt <= 0 counts as the first retry";
  cc::BackoffPolicy bad = p;
  bad.jitter = 1.5;
  EXPECT_FALSE(bad.validate().has_value());
  bad.jitter = -0.1;
  EXPECT_FALSE(bad.validate().has_value());
}

TEST(Retry, SucceedsAfterTransientFailuresWithGrowingDelays) {
  const cc::BackoffPolicy p{10ms, 1000ms, 2.0, 5, 0.0};
  std::mt19937_64 rng(1);
  Flaky op{3};
  std::vector<long long> slept;
  std::vector<int> failures_seen;
  cc::RetryHooks h;
  h.sleep = [&](std::chrono::milliseconds d) { slept.push_back(d.count()); };
  h.before_retry = [&](const cc::Error& e, int failures, std::chrono::milliseconds) {
    EXPECT_EQ(e.code, ErrorCode::Unavailable);
    failures_seen.push_back(failures);
  };
  auto r = cc::retry(p, rng, std::ref(op), h);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 4);
  EXPECT_EQ(op.attempts, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(slept, (std::vector<long long>{10, 20, 40}));
  EXPECT_EQ(failures_seen, (std::vector<int>{1, 2, 3}));
}

TEST(Retry, GivesUpAfterMaxAttemptsAndReturnsTheLastError) {
  const cc::BackoffPolicy p{1ms, 1ms, 2.0, 3, 0.0};
  std::mt19937_64 rng(1);
  Flaky op{100};
  cc::RetryHooks h;
  h.sleep = [](std::chrono::milliseconds) {};
  auto r = cc::retry(p, rng, std::ref(op), h);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(op.attempts.size(), 3U);
}

TEST(Retry, NonRetryableErrorsAreReturnedAtOnce) {
  const cc::BackoffPolicy p{1ms, 1ms, 2.0, 5, 0.0};
  std::mt19937_64 rng(1);
  for (ErrorCode code : {ErrorCode::NotFound, ErrorCode::PermissionDenied, ErrorCode::InvalidArgument,
                         ErrorCode::DataLoss, ErrorCode::FailedPrecondition}) {
    Flaky op{100, code};
    auto r = cc::retry(p, rng, std::ref(op));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(op.attempts.size(), 1U) << cc::to_string(code);
  }
  Flaky aborted{1, ErrorCode::Aborted};  // a lost transaction race is retryable
  EXPECT_TRUE(cc::retry(p, rng, std::ref(aborted)).has_value());
}

// An attempt that made progress (a GET that delivered bytes) resets the count and the next try is
// immediate: with max_attempts 2, five failures each with progress still end in success.
TEST(Retry, ProgressResetsTheCountAndTheDelay) {
  const cc::BackoffPolicy p{50ms, 50ms, 2.0, 2, 0.0};
  std::mt19937_64 rng(1);
  Flaky op{5};
  std::vector<long long> slept;
  cc::RetryHooks h;
  h.progressed = [] { return true; };
  h.sleep = [&](std::chrono::milliseconds d) { slept.push_back(d.count()); };
  auto r = cc::retry(p, rng, std::ref(op), h);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(op.attempts.size(), 6U);
  EXPECT_EQ(slept, (std::vector<long long>(5, 0)));
}

TEST(Retry, StopAndCustomRetryable) {
  const cc::BackoffPolicy p{1ms, 1ms, 2.0, cc::kUnlimitedAttempts, 0.0};
  std::mt19937_64 rng(1);
  Flaky op{100};
  cc::RetryHooks h;
  h.sleep = [](std::chrono::milliseconds) {};
  h.stop = [&] { return op.attempts.size() >= 4; };
  EXPECT_FALSE(cc::retry(p, rng, std::ref(op), h).has_value());
  EXPECT_EQ(op.attempts.size(), 4U);

  Flaky denied{2, ErrorCode::NotFound};
  cc::RetryHooks any;
  any.sleep = [](std::chrono::milliseconds) {};
  any.retryable = [](const cc::Error& e) { return cc::classify(e) != FailureAction::Fatal; };
  EXPECT_TRUE(cc::retry(p, rng, std::ref(denied), any).has_value());
  EXPECT_EQ(denied.attempts.size(), 3U);
}

TEST(Classify, EveryCodeAndTheOriginsWithTheirOwnRules) {
  EXPECT_EQ(cc::classify(err(ErrorCode::Unavailable)), FailureAction::Retry);
  EXPECT_EQ(cc::classify(err(ErrorCode::FailedPrecondition)), FailureAction::Retry);
  EXPECT_EQ(cc::classify(err(ErrorCode::Aborted, Origin::Postgres)), FailureAction::RetryTransaction);
  EXPECT_EQ(cc::classify(err(ErrorCode::PermissionDenied)), FailureAction::Fatal);
  EXPECT_EQ(cc::classify(err(ErrorCode::PermissionDenied, Origin::Amqp)), FailureAction::Fatal);
  EXPECT_EQ(cc::classify(err(ErrorCode::InvalidArgument, Origin::Config)), FailureAction::Fatal);
  EXPECT_EQ(cc::classify(err(ErrorCode::InvalidArgument, Origin::Amqp)), FailureAction::Fatal);
  EXPECT_EQ(cc::classify(err(ErrorCode::InvalidArgument, Origin::Protocol)), FailureAction::DeadLetter);
  EXPECT_EQ(cc::classify(err(ErrorCode::InvalidArgument, Origin::Handler)), FailureAction::DeadLetter);
  EXPECT_EQ(cc::classify(err(ErrorCode::NotFound)), FailureAction::DeadLetter);
  EXPECT_EQ(cc::classify(err(ErrorCode::DataLoss, Origin::Codec)), FailureAction::DeadLetter);
  EXPECT_EQ(cc::classify(err(ErrorCode::Internal)), FailureAction::DeadLetter);
  // Local files: a refused name or corrupt input is the message's fault, the rest is the disk's.
  EXPECT_EQ(cc::classify(err(ErrorCode::InvalidArgument, Origin::Io)), FailureAction::DeadLetter);
  EXPECT_EQ(cc::classify(err(ErrorCode::DataLoss, Origin::Io)), FailureAction::DeadLetter);
  EXPECT_EQ(cc::classify(err(ErrorCode::PermissionDenied, Origin::Io)), FailureAction::Retry);
  EXPECT_EQ(cc::classify(err(ErrorCode::NotFound, Origin::Io)), FailureAction::Retry);
  // A handler command: its reject exit codes are refusals, anything else (crash, timeout) is retried.
  EXPECT_EQ(cc::classify(err(ErrorCode::InvalidArgument, Origin::Exec)), FailureAction::DeadLetter);
  EXPECT_EQ(cc::classify(err(ErrorCode::Internal, Origin::Exec)), FailureAction::Retry);
  EXPECT_EQ(cc::to_string(FailureAction::RetryTransaction), "retry-transaction");
  EXPECT_EQ(cc::to_string(FailureAction::DeadLetter), "dead-letter");
}

TEST(Origin, NamesAreTheErrorPrefix) {
  EXPECT_EQ(cc::to_string(Origin::S3), "s3");
  EXPECT_EQ(cc::to_string(Origin::Postgres), "postgres");
  EXPECT_EQ(cc::to_string(Origin::Unknown), "error");
  EXPECT_EQ(err(ErrorCode::NotFound, Origin::Curl, "CURLE_X").to_string(), "curl: NotFound: x [CURLE_X]");
  cc::Error blank;
  blank.message = "m";
  EXPECT_EQ(blank.to_string(), "error: Internal: m");
}
