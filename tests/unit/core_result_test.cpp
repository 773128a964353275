#include <gtest/gtest.h>

#include "claimcheck/core/result.h"

using namespace claimcheck;

namespace {
Result<int> half(int x) {
  if (x % 2 != 0) return fail(ErrorCode::InvalidArgument, claimcheck::Origin::Test, "odd number " + std::to_string(x));
  return x / 2;
}
Result<int> quarter(int x) {
  CC_TRY(h, half(x));
  return half(*h);
}
}  // namespace

TEST(Result, ValueAndErrorPropagate) {
  auto r = quarter(8);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 2);
  auto e = quarter(6);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(e.error().message, "odd number 3");
  EXPECT_EQ(e.error().to_string(), "test: InvalidArgument: odd number 3");
}

TEST(Result, Retryable) {
  EXPECT_TRUE(make_error(ErrorCode::Unavailable, claimcheck::Origin::S3, "x").is_retryable());
  EXPECT_TRUE(make_error(ErrorCode::Aborted, claimcheck::Origin::Postgres, "x").is_retryable());
  EXPECT_FALSE(make_error(ErrorCode::NotFound, claimcheck::Origin::S3, "x").is_retryable());
  EXPECT_FALSE(make_error(ErrorCode::PermissionDenied, claimcheck::Origin::S3, "x").is_retryable());
}
