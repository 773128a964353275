// Fuzz target: every S3 XML response parser of the client (src/s3/s3_xml.cpp, s3_error.cpp) on the same
// input: error bodies (map_s3_error, with the HTTP status from the first byte), ListObjectsV2,
// ListMultipartUploads, CreateMultipartUpload, CompleteMultipartUpload, DeleteObjects and lifecycle.
// Invariants beyond "no crash, no UB": map_s3_error always yields claimcheck::Origin::S3 and a non-OK code; a
// truncated ListObjectsV2 page has a continuation token; an initiate result has a non-empty UploadId.
#include "claimcheck/s3/s3_error.h"
#include "fuzz_check.h"
#include "s3/s3_internal.h"

namespace cc = claimcheck;
namespace d = claimcheck::s3::detail;

namespace {
constexpr long kStatuses[] = {200, 400, 403, 404, 409, 412, 500, 501, 503, 301};
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const long status = kStatuses[data[0] % std::size(kStatuses)];
  const std::string_view xml = fuzz::text(data + 1, size - 1);
  const cc::Error e = cc::s3::map_s3_error(status, xml, (data[0] & 0x80) ? "tx-header" : "");
  FUZZ_CHECK(e.origin == claimcheck::Origin::S3, "map_s3_error origin");
  FUZZ_CHECK(e.code != cc::ErrorCode::Ok, "map_s3_error code");
  auto list = d::parse_list_v2(xml);
  if (list && list->truncated) FUZZ_CHECK(!list->next_continuation_token.empty(), "truncated without a token");
  (void)d::parse_list_uploads(xml);
  auto init = d::parse_initiate(xml);
  if (init) FUZZ_CHECK(!init->empty(), "empty UploadId accepted");
  (void)d::parse_complete(xml, "");
  (void)d::parse_delete_result(xml);
  (void)d::parse_lifecycle(xml);
  return 0;
}
