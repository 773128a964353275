#pragma once
/// Streaming byte interfaces used by codecs, the S3 client and the pipeline.
///
/// Every stage moves data in bounded chunks (typically 64 KiB – 16 MiB) so memory never grows with the
/// payload size. Sources are pulled, sinks are pushed. Implementations are single-threaded: one
/// thread uses a given source or sink at a time.

#include <cstddef>
#include <span>

#include "claimcheck/core/result.h"

namespace claimcheck {

/// A pull source of bytes (a file, stdin, a generator, a compressor's output).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  /// Fill up to `buf.size()` bytes. Returns the number of bytes written into `buf`; 0 means end of
  /// stream (and every later call returns 0). A short read does not mean end of stream.
  /// Errors: whatever the underlying medium reports (io: Unavailable/Internal, codec: DataLoss).
  virtual Result<std::size_t> read(std::span<std::byte> buf) = 0;
};

/// A push sink of bytes (a file, a decompressor's input, a hasher, memory).
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  /// Consume all of `data` (bytes). Errors from the medium; after an error the sink is unusable.
  virtual Result<void> write(std::span<const std::byte> data) = 0;
  /// Signal end of stream: flush, verify, commit. Called at most once, after the last write.
  virtual Result<void> finish() { return ok(); }
};

}  // namespace claimcheck
