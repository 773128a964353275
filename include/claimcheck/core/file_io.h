#pragma once
/// Concrete ByteSource/ByteSink implementations: files, stdin, memory, counters, hashers, atomic file writes.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "claimcheck/core/io.h"
#include "claimcheck/core/result.h"
#include "claimcheck/core/sha256.h"

namespace claimcheck {

/// Default chunk size (bytes) used by copy_stream(), codecs and file I/O: 256 KiB.
inline constexpr std::size_t kDefaultBufferBytes = 256 * 1024;

/// How FileSource::open treats its path (issue 12 item 6: inputs swapped for a symlink after listing).
struct FileOpenOptions {
  /// open with O_NOFOLLOW: a symbolic link as the last path component is refused (InvalidArgument).
  bool no_follow = false;
  /// fstat on the OPENED descriptor must show a regular file (InvalidArgument otherwise: a FIFO, device,
  /// socket or directory is refused without blocking on it).
  bool regular_only = false;
};

/// Reads a file (or stdin) through a POSIX file descriptor.
///
/// - open("-") reads standard input (fd 0, never closed by this object); any other path is opened
///   O_RDONLY | O_CLOEXEC and closed on destruction.
/// - read() retries EINTR; errors are `io` errors (Unavailable for EIO/EAGAIN-like, Internal otherwise)
///   naming the path and errno text.
/// - Move-only RAII owner of the fd. Not thread-safe.
class FileSource : public ByteSource {
 public:
  /// Open `path` for reading ("-" = stdin).
  /// Errors: NotFound (ENOENT), PermissionDenied (EACCES/EPERM), InvalidArgument (a directory),
  /// Internal (other errno). Origin "io".
  /// `options` may refuse symlinks and non-regular files (see FileOpenOptions), checked on the opened fd.
  [[nodiscard]] static Result<FileSource> open(const std::filesystem::path& path, const FileOpenOptions& options = {});

  /// Open the regular file `rel` (a validate_relative_name() name, "/"-separated) beneath directory `base`
  /// without following any symbolic link below `base`: each directory with openat(O_NOFOLLOW |
  /// O_DIRECTORY), the file with O_NOFOLLOW, then S_ISREG checked with fstat on the descriptor. So an entry
  /// swapped for a symlink after a directory listing cannot make it read a file elsewhere. Errors as
  /// open(); InvalidArgument (Origin::Io) naming the path for a symlink or a non-regular file.
  [[nodiscard]] static Result<FileSource> open_beneath(const std::filesystem::path& base, std::string_view rel);

  FileSource(FileSource&& other) noexcept;
  FileSource& operator=(FileSource&& other) noexcept;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  ~FileSource() override;

  /// See ByteSource::read. Returns 0 at end of file.
  Result<std::size_t> read(std::span<std::byte> buf) override;

  /// Size in bytes if the fd is a regular file (from fstat at open time), else nullopt (pipe, tty, stdin).
  [[nodiscard]] std::optional<std::uint64_t> size() const noexcept { return size_; }
  /// Bytes read so far.
  [[nodiscard]] std::uint64_t bytes_read() const noexcept { return bytes_read_; }
  /// The path given to open().
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  FileSource(int fd, bool owned, std::filesystem::path path, std::optional<std::uint64_t> size);
  static Result<FileSource> adopt(int fd, const std::filesystem::path& path, const FileOpenOptions& options);
  void close_fd() noexcept;
  int fd_ = -1;
  bool owned_ = false;
  std::filesystem::path path_;
  std::optional<std::uint64_t> size_;
  std::uint64_t bytes_read_ = 0;
};

/// A source over an owned in-memory string. Never fails. Copyable and movable.
class MemorySource : public ByteSource {
 public:
  /// Takes ownership of `data`; reads yield its bytes in order, then 0.
  explicit MemorySource(std::string data) : data_(std::move(data)) {}
  Result<std::size_t> read(std::span<std::byte> buf) override;
  /// Total size in bytes.
  [[nodiscard]] std::uint64_t size() const noexcept { return data_.size(); }
  /// Rewind to the first byte (so the same source can be read again, e.g. for a retried upload).
  void rewind() noexcept { pos_ = 0; }

 private:
  std::string data_;
  std::size_t pos_ = 0;
};

/// A source over bytes owned by someone else (the caller keeps them alive while reading). Never fails.
class ViewSource : public ByteSource {
 public:
  /// `data` must outlive this source.
  explicit ViewSource(std::string_view data) : data_(data) {}
  Result<std::size_t> read(std::span<std::byte> buf) override;
  /// Total size in bytes.
  [[nodiscard]] std::uint64_t size() const noexcept { return data_.size(); }
  /// Rewind to the first byte.
  void rewind() noexcept { pos_ = 0; }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

/// A source that forwards another source and SHA-256-hashes (and counts) the bytes it yields.
/// `inner` must outlive this object. sha256_hex() is valid once read() returned 0.
class HashingSource : public ByteSource {
 public:
  explicit HashingSource(ByteSource& inner) : inner_(&inner) {}
  Result<std::size_t> read(std::span<std::byte> buf) override;
  /// Bytes yielded so far.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
  /// SHA-256 (64 lowercase hex) of every byte yielded; empty string until end of stream was reached.
  [[nodiscard]] const std::string& sha256_hex() const noexcept { return hex_; }

 private:
  ByteSource* inner_;
  Sha256 sha_;
  std::uint64_t bytes_ = 0;
  std::string hex_;
};

/// A sink that appends to an in-memory string, with an optional size cap (bytes).
/// write() beyond `max_bytes` fails with InvalidArgument (Origin::Io) and keeps what fit before.
class StringSink : public ByteSink {
 public:
  explicit StringSink(std::size_t max_bytes = std::numeric_limits<std::size_t>::max()) : max_(max_bytes) {}
  Result<void> write(std::span<const std::byte> data) override;
  Result<void> finish() override { finished_ = true; return ok(); }
  /// The bytes written so far.
  [[nodiscard]] const std::string& str() const noexcept { return data_; }
  /// Move the accumulated bytes out (the sink is then empty).
  [[nodiscard]] std::string take() noexcept { return std::move(data_); }
  /// True once finish() was called.
  [[nodiscard]] bool finished() const noexcept { return finished_; }

 private:
  std::string data_;
  std::size_t max_;
  bool finished_ = false;
};

/// A sink that drops the bytes and counts them. Never fails.
class DiscardSink : public ByteSink {
 public:
  Result<void> write(std::span<const std::byte> data) override { bytes_ += data.size(); return ok(); }
  Result<void> finish() override { finished_ = true; return ok(); }
  /// Bytes written so far.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
  /// True once finish() was called.
  [[nodiscard]] bool finished() const noexcept { return finished_; }

 private:
  std::uint64_t bytes_ = 0;
  bool finished_ = false;
};

/// A sink that forwards to another sink and counts the bytes. `inner` must outlive this object.
/// finish() forwards to inner.finish().
class CountingSink : public ByteSink {
 public:
  explicit CountingSink(ByteSink& inner) : inner_(&inner) {}
  Result<void> write(std::span<const std::byte> data) override;
  Result<void> finish() override { return inner_->finish(); }
  /// Bytes successfully forwarded.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  ByteSink* inner_;
  std::uint64_t bytes_ = 0;
};

/// A sink that SHA-256-hashes and counts the bytes, forwarding them to `inner` if given (else dropping).
/// finish() finalizes the hash (sha256_hex() valid afterwards) and forwards finish() to `inner`.
class HashingSink : public ByteSink {
 public:
  explicit HashingSink(ByteSink* inner = nullptr) : inner_(inner) {}
  Result<void> write(std::span<const std::byte> data) override;
  Result<void> finish() override;
  /// Bytes written so far.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
  /// 64 lowercase hex; empty until finish().
  [[nodiscard]] const std::string& sha256_hex() const noexcept { return hex_; }

 private:
  ByteSink* inner_;
  Sha256 sha_;
  std::uint64_t bytes_ = 0;
  std::string hex_;
};

/// Options for AtomicFileSink.
struct AtomicFileOptions {
  /// Permission bits of the final file (set with fchmod; the process umask is NOT applied).
  unsigned mode = 0644;
  /// Create missing parent directories (mode 0755) of the target.
  bool create_parents = true;
  /// Replace an existing target. If false, finish() fails with FailedPrecondition when the target exists
  /// (checked atomically with renameat2(RENAME_NOREPLACE), falling back to link()+unlink()).
  bool overwrite = true;
  /// fsync the file before the rename and the directory after it (durability across power loss).
  bool fsync = true;
};

/// Writes a file atomically: data goes to a hidden temp file in the target's directory
/// (`.<name>.tmp.XXXXXX`), and finish() fsyncs it and renames it onto the target, then fsyncs the directory.
///
/// - Readers see either the old file/no file, or the complete new file — never a partial one.
/// - If finish() is never called successfully (error, exception, early return), the destructor or abort()
///   removes the temp file; the target is untouched.
/// - Errors are Origin::Io: NotFound/PermissionDenied/Unavailable (ENOSPC, EIO)/Internal, messages name
///   the path and errno text. FailedPrecondition when overwrite=false and the target exists.
/// - Move-only RAII owner of the fd. Not thread-safe.
class AtomicFileSink : public ByteSink {
 public:
  /// Create the temp file next to `target` (creating parents if asked).
  [[nodiscard]] static Result<AtomicFileSink> open(const std::filesystem::path& target,
                                                   const AtomicFileOptions& options = {});

  AtomicFileSink(AtomicFileSink&& other) noexcept;
  AtomicFileSink& operator=(AtomicFileSink&& other) noexcept;
  AtomicFileSink(const AtomicFileSink&) = delete;
  AtomicFileSink& operator=(const AtomicFileSink&) = delete;
  /// Removes the temp file if finish() did not succeed.
  ~AtomicFileSink() override;

  /// Append `data` to the temp file (retries EINTR and short writes).
  Result<void> write(std::span<const std::byte> data) override;
  /// fsync, close, rename onto the target, fsync the directory. Called at most once.
  Result<void> finish() override;
  /// Discard: close and remove the temp file. Idempotent; no-op after a successful finish().
  void abort() noexcept;

  /// The final path.
  [[nodiscard]] const std::filesystem::path& target() const noexcept { return target_; }
  /// The temp file's path (exists until finish() or abort()).
  [[nodiscard]] const std::filesystem::path& temp_path() const noexcept { return temp_; }
  /// Bytes written so far.
  [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
  /// True after a successful finish().
  [[nodiscard]] bool committed() const noexcept { return committed_; }

 private:
  AtomicFileSink() = default;
  int fd_ = -1;
  std::filesystem::path target_;
  std::filesystem::path temp_;
  AtomicFileOptions options_;
  std::uint64_t bytes_ = 0;
  bool committed_ = false;
};

/// Pump every byte of `source` into `sink` in chunks of `buffer_bytes` (one heap buffer of that size).
/// Does NOT call sink.finish(). Returns the number of bytes copied; the first error from either side.
[[nodiscard]] Result<std::uint64_t> copy_stream(ByteSource& source, ByteSink& sink,
                                                std::size_t buffer_bytes = kDefaultBufferBytes);

/// Read `source` to its end into a string. Fails with InvalidArgument (Origin::Io) if it yields more than
/// `max_bytes` bytes.
[[nodiscard]] Result<std::string> read_all(ByteSource& source,
                                           std::size_t max_bytes = std::numeric_limits<std::size_t>::max());

/// Read a whole file into memory ("-" = stdin). Errors as FileSource::open / read.
[[nodiscard]] Result<std::string> read_file(const std::filesystem::path& path,
                                            std::size_t max_bytes = std::numeric_limits<std::size_t>::max());

/// Read a secret (password, secret key) from a file given by path, so that it stays out of
/// /proc/*/cmdline and the environment: the whole file, at most 64 KiB, without one trailing "\n" or
/// "\r\n". Errors (Origin::Io, naming the path, never the content): as FileSource::open / read;
/// InvalidArgument when the file is empty or larger than 64 KiB. Thread-safe.
[[nodiscard]] Result<std::string> read_secret_file(const std::filesystem::path& path);

/// Write `data` to `path` atomically (AtomicFileSink). Errors as AtomicFileSink.
[[nodiscard]] Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view data,
                                             const AtomicFileOptions& options = {});

/// View the bytes of a string as a byte span (no copy).
inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// View a byte span as a string_view (no copy).
inline std::string_view as_string_view(std::span<const std::byte> b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace claimcheck
