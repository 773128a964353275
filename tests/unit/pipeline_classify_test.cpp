// The consumer's one classify(Error): local file-system errors are local, never S3 refusals (issue 8 item 6).
#include <gtest/gtest.h>

#include "claimcheck/consume/consumer.h"

namespace cc = claimcheck;
using cc::ErrorCode;
using cc::FailureKind;

TEST(ClassifyFailure, HandlerSideFileSystemErrorsAreLocalNotS3Denied) {
  // What a read-only / immutable / full output dir produces (detail::fail_errno, origin "io").
  for (const char* what : {"EACCES", "EPERM", "EROFS"}) {
    const auto e = cc::make_error(ErrorCode::PermissionDenied, "io", std::string("cannot create '/out/a': ") + what);
    EXPECT_EQ(cc::classify_failure(e), FailureKind::Local) << what;
  }
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::Unavailable, "io", "cannot write '/out/a': No space left")),
            FailureKind::Local);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::NotFound, "io", "cannot rename '/out/a'")),
            FailureKind::Local);  // a local ENOENT is not "object not found"
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::Internal, "io", "cannot rename: EXDEV")), FailureKind::Local);
  // A name the handler refuses (symlinked component) is permanent.
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::InvalidArgument, "io", "'/out/evil' is a symbolic link")),
            FailureKind::Permanent);
}

TEST(ClassifyFailure, S3AndOtherOrigins) {
  auto e403 = cc::make_error(ErrorCode::PermissionDenied, "s3", "Access Denied", "AccessDenied");
  e403.http_status = 403;
  EXPECT_EQ(cc::classify_failure(e403), FailureKind::Denied);
  // A presigned url S3 refuses for good is dead-lettered, not requeued as a credentials problem.
  for (auto code : {cc::s3::kPresignedUrlExpired, cc::s3::kPresignedUrlRejected}) {
    auto e = cc::make_error(ErrorCode::PermissionDenied, "s3", "presigned url", std::string(code));
    e.http_status = 403;
    EXPECT_EQ(cc::classify_failure(e), FailureKind::Permanent) << code;
  }
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::PermissionDenied, "s3", "x", "SignatureDoesNotMatch")),
            FailureKind::Denied);  // with the recipient's own keys: a credentials problem
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::InvalidArgument, "s3", "presigned url points at ...")),
            FailureKind::Permanent);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::NotFound, "s3", "NoSuchKey")), FailureKind::Permanent);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::DataLoss, "codec", "sha256 mismatch")), FailureKind::Permanent);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::Unavailable, "curl", "timeout")), FailureKind::Transient);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::FailedPrecondition, "s3", "changed")), FailureKind::Transient);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::Unavailable, "consume", "interrupted")),
            FailureKind::Transient);
}
