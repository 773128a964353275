#pragma once
// Private to the consumer: a pointer's stored (encoded) bytes downloaded into a staged partial file that
// survives retries, requeues and restarts (issue 8 item 5, DESIGN.md §4 "GET (streamed, resumable)").
//
//   <dir>/<pointer_id>.part   the first N bytes of the object, appended as they arrive (flock'ed by its user)
//   <dir>/<pointer_id>.etag   the ETag those bytes belong to, written before the first byte
//
// A later fetch() continues with `Range: bytes=N-` and `If-Match: <etag>`; a changed object (412) or a
// range past its end (416) starts again from byte 0, so bytes of two versions are never stitched. Only a
// complete file is replayed — SHA-256, decoding and the handler run on replay(), never on a partial.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "claimcheck/core/io.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/result.h"
#include "claimcheck/s3/s3_client.h"
#include "detail/fd.h"

namespace claimcheck::detail {

/// One pointer's staged download. Move-only; one thread at a time. Errors of the files are Origin::Io.
/// GETs the object of pointer `p` into `out` (from `opts.offset`, pinned to opts.if_match): with S3 keys
/// GetObject (a pointer's url is ignored: the keys are this recipient's own rights); without them the
/// pointer's presigned `url`, only from the configured endpoint (S3Client::get_presigned checks it).
/// Errors: InvalidArgument (Origin::Consume) when there are no keys and no url; else as get_object().
Result<s3::ObjectInfo> get_pointer_object(s3::S3Client& s3, const Pointer& p, ByteSink& out,
                                          const s3::GetOptions& opts = {});

class StagedDownload {
 public:
  /// Opens (creating) `dir` (mode 0700) and `<dir>/<pointer_id>.part`, locked with flock so that two
  /// consumers sharing the dir never write one file (locked by another → Unavailable, Origin::Consume).
  [[nodiscard]] static Result<StagedDownload> open(const std::filesystem::path& dir, const std::string& pointer_id);

  /// Downloads the rest of the object (`p.bucket`/`p.key`, at most p.size_stored bytes) into the file.
  /// `abort` set → Unavailable ("interrupted"); the bytes so far stay for the next fetch. Errors: the S3
  /// client's (retried there; progress resets its attempt count), DataLoss when the object is larger than
  /// size_stored or ends short of it, io errors of the files.
  [[nodiscard]] Result<void> fetch(s3::S3Client& s3, const Pointer& p, const std::atomic<bool>& abort);

  /// Streams the complete file from byte 0 into `out`, then out.finish(). Errors: io, and `out`'s own.
  [[nodiscard]] Result<void> replay(ByteSink& out);

  /// Removes the staged files (after the handler committed, or a permanent failure). Never fails.
  void remove() noexcept;

  /// Bytes the file already held when fetch() began (0 = a fresh download).
  [[nodiscard]] std::uint64_t resumed_from() const noexcept { return resumed_from_; }
  /// Bytes fetch() downloaded in this call.
  [[nodiscard]] std::uint64_t fetched() const noexcept { return fetched_; }

 private:
  StagedDownload(std::filesystem::path part, std::filesystem::path etag, UniqueFd fd)
      : part_(std::move(part)), etag_path_(std::move(etag)), fd_(std::move(fd)) {}
  Result<void> restart();
  Result<void> fetch_from(s3::S3Client& s3, const Pointer& p, const std::atomic<bool>& abort);

  std::filesystem::path part_, etag_path_;
  UniqueFd fd_;
  std::string etag_;
  std::uint64_t have_ = 0, resumed_from_ = 0, fetched_ = 0;
};

/// Removes staged files in `dir` not modified for `older_than` and not locked by a live download
/// (debris of pointers that never came back). Returns how many. Never fails (logs).
std::size_t prune_staged_downloads(const std::filesystem::path& dir, std::chrono::seconds older_than);

}  // namespace claimcheck::detail
