// The consumer's one classify(Error): local file-system errors are local, never S3 refusals (issue 8 item 6).
#include <gtest/gtest.h>

#include "claimcheck/consume/consumer.h"

namespace cc = claimcheck;
using cc::ErrorCode;
using cc::FailureKind;

TEST(ClassifyFailure, HandlerSideFileSystemErrorsAreLocalNotS3Denied) {
  // What a read-only / immutable / full output dir produces (detail::fail_errno, claimcheck::Origin::Io).
  for (const char* what : {"EACCES", "EPERM", "EROFS"}) {
    const auto e = cc::make_error(ErrorCode::PermissionDenied, claimcheck::Origin::Io, std::string("cannot create '/out/a': ") + what);
    EXPECT_EQ(cc::classify_failure(e), FailureKind::Local) << what;
  }
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::Unavailable, claimcheck::Origin::Io, "cannot write '/out/a': No space left")),
            FailureKind::Local);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::NotFound, claimcheck::Origin::Io, "cannot rename '/out/a'")),
            FailureKind::Local);  // a local ENOENT is not "object not found"
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::Internal, claimcheck::Origin::Io, "cannot rename: EXDEV")), FailureKind::Local);
  // A name the handler refuses (symlinked component) is permanent.
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::InvalidArgument, claimcheck::Origin::Io, "'/out/evil' is a symbolic link")),
            FailureKind::Permanent);
}

TEST(ClassifyFailure, S3AndOtherOrigins) {
  auto e403 = cc::make_error(ErrorCode::PermissionDenied, claimcheck::Origin::S3, "Access Denied", "AccessDenied");
  e403.http_status = 403;
  EXPECT_EQ(cc::classify_failure(e403), FailureKind::Denied);
  // A presigned url S3 refuses for good is dead-lettered, not requeued as a credentials problem.
  for (auto code : {cc::s3::kPresignedUrlExpired, cc::s3::kPresignedUrlRejected}) {
    auto e = cc::make_error(ErrorCode::PermissionDenied, claimcheck::Origin::S3, "presigned url", std::string(code));
    e.http_status = 403;
    EXPECT_EQ(cc::classify_failure(e), FailureKind::Permanent) << code;
  }
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::PermissionDenied, claimcheck::Origin::S3, "x", "SignatureDoesNotMatch")),
            FailureKind::Denied);  // with the recipient's own keys: a credentials problem
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::InvalidArgument, claimcheck::Origin::S3, "presigned url points at ...")),
            FailureKind::Permanent);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::NotFound, claimcheck::Origin::S3, "NoSuchKey")), FailureKind::Permanent);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::DataLoss, claimcheck::Origin::Codec, "sha256 mismatch")), FailureKind::Permanent);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::Unavailable, claimcheck::Origin::Curl, "timeout")), FailureKind::Transient);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::FailedPrecondition, claimcheck::Origin::S3, "changed")), FailureKind::Transient);
  EXPECT_EQ(cc::classify_failure(cc::make_error(ErrorCode::Unavailable, claimcheck::Origin::Consume, "interrupted")),
            FailureKind::Transient);
}
