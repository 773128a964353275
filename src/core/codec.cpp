#include "claimcheck/core/codec.h"

#include <isa-l/igzip_lib.h>
// ZSTD_getFrameHeader() (frame header fields) is in libzstd's "static" API section; Debian 12's libzstd 1.5.4
// exports it from the shared library.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "claimcheck/core/sha256.h"

namespace claimcheck {

namespace {

constexpr std::size_t kMinBuffer = 4096;
constexpr std::size_t kMaxBuffer = 64u * 1024 * 1024;  // ISA-L counts in uint32_t; keep far below
constexpr int kZstdWindowLogMax = 27;                  // 128 MiB: refuse frames needing more memory

Unexpected codec_error(ErrorCode code, std::string msg) { return fail(code, Origin::Codec, std::move(msg)); }

std::uint32_t u32(std::size_t n) { return static_cast<std::uint32_t>(n); }

// One spare zstd context of each kind per thread, kept from one payload to the next (issue 11 item 3): a fresh
// context per payload allocates its workspace anew, which with the CLI's 64 KiB mmap threshold is a fresh mmap
// whose every 4 KiB page faults on first use and an munmap at the end — a fifth of the producer's CPU for 1 MiB
// payloads. A context comes back reset (ZSTD_reset_session_and_parameters: no state or parameter of the last
// payload survives) and is kept only up to kMaxSpareZstdBytes (a level-19 workspace is not worth holding).
constexpr std::size_t kMaxSpareZstdBytes = 4u * 1024 * 1024;

struct SpareZstd {
  ZSTD_CCtx* c = nullptr;
  ZSTD_DCtx* d = nullptr;
  SpareZstd() = default;
  SpareZstd(const SpareZstd&) = delete;
  SpareZstd& operator=(const SpareZstd&) = delete;
  ~SpareZstd() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};
thread_local SpareZstd t_spare_zstd;

/// A zstd context from this thread's spare `Slot` if any, else a new one from `Create` (nullptr: out of memory).
template <typename Ctx, Ctx* SpareZstd::*Slot, Ctx* (*Create)()>
Ctx* take_spare() noexcept {
  Ctx* x = std::exchange(t_spare_zstd.*Slot, nullptr);
  return x != nullptr ? x : Create();
}

/// unique_ptr deleter: keeps the context as this thread's spare `Slot` (reset; at most kMaxSpareZstdBytes) or
/// frees it.
template <typename Ctx, Ctx* SpareZstd::*Slot, std::size_t (*Size)(const Ctx*),
          std::size_t (*Reset)(Ctx*, ZSTD_ResetDirective), std::size_t (*Free)(Ctx*)>
struct ZstdRecycler {
  void operator()(Ctx* x) const noexcept {
    if (t_spare_zstd.*Slot == nullptr && Size(x) <= kMaxSpareZstdBytes &&
        !ZSTD_isError(Reset(x, ZSTD_reset_session_and_parameters))) {
      t_spare_zstd.*Slot = x;
    } else {
      (void)Free(x);
    }
  }
};
using ZstdCCtxDeleter = ZstdRecycler<ZSTD_CCtx, &SpareZstd::c, ZSTD_sizeof_CCtx, ZSTD_CCtx_reset, ZSTD_freeCCtx>;
using ZstdDCtxDeleter = ZstdRecycler<ZSTD_DCtx, &SpareZstd::d, ZSTD_sizeof_DCtx, ZSTD_DCtx_reset, ZSTD_freeDCtx>;

std::size_t isal_level_buf_size(int level) {
  switch (level) {
    case 1: return ISAL_DEF_LVL1_DEFAULT;
    case 2: return ISAL_DEF_LVL2_DEFAULT;
    case 3: return ISAL_DEF_LVL3_DEFAULT;
    default: return 0;
  }
}

}  // namespace

std::string_view to_string(Encoding e) noexcept {
  switch (e) {
    case Encoding::Zstd: return "zstd";
    case Encoding::Gzip: return "gzip";
    case Encoding::Identity: return "identity";
  }
  return "unknown";
}

Result<Encoding> parse_encoding(std::string_view s) {
  if (s == "zstd") return Encoding::Zstd;
  if (s == "gzip") return Encoding::Gzip;
  if (s == "identity") return Encoding::Identity;
  return codec_error(ErrorCode::InvalidArgument,
                     "unknown encoding '" + std::string(s) + "': must be one of zstd, gzip, identity");
}

std::string_view file_extension(Encoding e) noexcept {
  switch (e) {
    case Encoding::Zstd: return ".zst";
    case Encoding::Gzip: return ".gz";
    case Encoding::Identity: return "";
  }
  return "";
}

Result<void> EncodeOptions::validate() const {
  if (buffer_bytes < kMinBuffer || buffer_bytes > kMaxBuffer) {
    return fail(ErrorCode::InvalidArgument, Origin::Config,
                "field 'buffer_bytes': must be between 4096 and 67108864 bytes");
  }
  switch (encoding) {
    case Encoding::Zstd:
      if (level < -5 || level > ZSTD_maxCLevel()) {
        return fail(ErrorCode::InvalidArgument, Origin::Config,
                    "field 'level': zstd level must be between -5 and " + std::to_string(ZSTD_maxCLevel()));
      }
      break;
    case Encoding::Gzip:
      if (level < 0 || level > 3) {
        return fail(ErrorCode::InvalidArgument, Origin::Config, "field 'level': gzip (ISA-L) level must be 0..3");
      }
      break;
    case Encoding::Identity: break;
  }
  return ok();
}

Result<void> DecodeOptions::validate() const {
  if (buffer_bytes < kMinBuffer || buffer_bytes > kMaxBuffer) {
    return fail(ErrorCode::InvalidArgument, Origin::Config,
                "field 'buffer_bytes': must be between 4096 and 67108864 bytes");
  }
  if (expected_sha256 && !is_sha256_hex(*expected_sha256)) {
    return fail(ErrorCode::InvalidArgument, Origin::Config,
                "field 'expected_sha256': must be 64 lowercase hex characters");
  }
  return ok();
}

// ====================================================================== EncodingSource

struct EncodingSource::Impl {
  ByteSource* raw = nullptr;
  EncodeOptions opt;
  std::vector<std::byte> in_buf;
  std::vector<std::byte> out_buf;
  std::size_t out_pos = 0;
  std::size_t out_len = 0;
  bool raw_eof = false;
  bool encoder_done = false;
  bool done = false;
  bool failed = false;
  Sha256 sha;
  std::uint64_t size_raw = 0;
  std::uint64_t size_stored = 0;
  std::string hex;

  // zstd
  std::unique_ptr<ZSTD_CCtx, ZstdCCtxDeleter> zc;
  ZSTD_inBuffer zin{nullptr, 0, 0};
  // gzip
  isal_zstream gz{};
  std::vector<std::uint8_t> level_buf;

  bool input_empty() const {
    switch (opt.encoding) {
      case Encoding::Zstd: return zin.pos >= zin.size;
      case Encoding::Gzip: return gz.avail_in == 0;
      case Encoding::Identity: return true;
    }
    return true;
  }

  Result<void> refill() {
    CC_TRY(n, raw->read(in_buf));
    if (*n == 0) {
      raw_eof = true;
    }
    size_raw += *n;
    if (opt.encoding == Encoding::Zstd) {
      zin = ZSTD_inBuffer{in_buf.data(), *n, 0};
    } else {
      gz.next_in = reinterpret_cast<std::uint8_t*>(in_buf.data());
      gz.avail_in = u32(*n);
    }
    return ok();
  }

  // Run the compressor once into out_buf (which is empty).
  Result<void> step() {
    out_pos = 0;
    out_len = 0;
    if (opt.encoding == Encoding::Zstd) {
      ZSTD_outBuffer out{out_buf.data(), out_buf.size(), 0};
      const bool end = raw_eof && zin.pos >= zin.size;
      const std::size_t rc = ZSTD_compressStream2(zc.get(), &out, &zin, end ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(rc)) {
        return codec_error(ErrorCode::Internal, std::string("zstd compression failed: ") + ZSTD_getErrorName(rc));
      }
      out_len = out.pos;
      if (end && rc == 0) encoder_done = true;
    } else {
      gz.end_of_stream = (raw_eof && gz.avail_in == 0) ? 1 : 0;
      gz.flush = NO_FLUSH;
      gz.next_out = reinterpret_cast<std::uint8_t*>(out_buf.data());
      gz.avail_out = u32(out_buf.size());
      const int rc = isal_deflate(&gz);
      if (rc != COMP_OK) {
        return codec_error(ErrorCode::Internal, "gzip (ISA-L) compression failed: code " + std::to_string(rc));
      }
      out_len = out_buf.size() - gz.avail_out;
      if (gz.internal_state.state == ZSTATE_END) encoder_done = true;
    }
    if (out_len > 0) {
      sha.update(std::span<const std::byte>(out_buf.data(), out_len));
      size_stored += out_len;
    }
    return ok();
  }

  Result<std::size_t> read_identity(std::span<std::byte> buf) {
    if (done) return std::size_t{0};
    CC_TRY(n, raw->read(buf));
    if (*n == 0) {
      done = true;
      hex = sha.hex_digest();
      return std::size_t{0};
    }
    sha.update(std::span<const std::byte>(buf.data(), *n));
    size_raw += *n;
    size_stored += *n;
    return *n;
  }

  Result<std::size_t> read(std::span<std::byte> buf) {
    if (failed) return codec_error(ErrorCode::Internal, "EncodingSource used after an error");
    if (buf.empty()) return std::size_t{0};
    if (opt.encoding == Encoding::Identity) {
      auto r = read_identity(buf);
      if (!r) failed = true;
      return r;
    }
    for (;;) {
      if (out_pos < out_len) {
        const std::size_t n = std::min(buf.size(), out_len - out_pos);
        std::memcpy(buf.data(), out_buf.data() + out_pos, n);
        out_pos += n;
        return n;
      }
      if (encoder_done) {
        if (!done) {
          done = true;
          hex = sha.hex_digest();
        }
        return std::size_t{0};
      }
      if (input_empty() && !raw_eof) {
        auto r = refill();
        if (!r) {
          failed = true;
          return Unexpected{std::move(r).error()};
        }
      }
      auto s = step();
      if (!s) {
        failed = true;
        return Unexpected{std::move(s).error()};
      }
    }
  }
};

EncodingSource::EncodingSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EncodingSource::EncodingSource(EncodingSource&&) noexcept = default;
EncodingSource& EncodingSource::operator=(EncodingSource&&) noexcept = default;
EncodingSource::~EncodingSource() = default;

Result<EncodingSource> EncodingSource::create(ByteSource& raw, const EncodeOptions& options) {
  CC_TRY_VOID(options.validate());
  auto impl = std::make_unique<Impl>();
  impl->raw = &raw;
  impl->opt = options;
  if (options.encoding != Encoding::Identity) {
    impl->in_buf.resize(options.buffer_bytes);
    impl->out_buf.resize(options.buffer_bytes);
  }
  if (options.encoding == Encoding::Zstd) {
    impl->zc.reset(take_spare<ZSTD_CCtx, &SpareZstd::c, ZSTD_createCCtx>());
    if (!impl->zc) return codec_error(ErrorCode::Internal, "cannot allocate a zstd compression context");
    std::size_t rc = ZSTD_CCtx_setParameter(impl->zc.get(), ZSTD_c_compressionLevel, options.level);
    if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_setParameter(impl->zc.get(), ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(rc)) {
      return codec_error(ErrorCode::Internal, std::string("zstd setup failed: ") + ZSTD_getErrorName(rc));
    }
  } else if (options.encoding == Encoding::Gzip) {
    isal_deflate_init(&impl->gz);
    impl->gz.gzip_flag = IGZIP_GZIP;
    impl->gz.level = u32(static_cast<std::size_t>(options.level));
    const std::size_t lb = isal_level_buf_size(options.level);
    if (lb > 0) {
      impl->level_buf.resize(lb);
      impl->gz.level_buf = impl->level_buf.data();
      impl->gz.level_buf_size = u32(lb);
    }
  }
  return EncodingSource(std::move(impl));
}

Result<std::size_t> EncodingSource::read(std::span<std::byte> buf) { return impl_->read(buf); }
std::uint64_t EncodingSource::size_raw() const noexcept { return impl_->size_raw; }
std::uint64_t EncodingSource::size_stored() const noexcept { return impl_->size_stored; }
const std::string& EncodingSource::sha256_hex() const noexcept { return impl_->hex; }
bool EncodingSource::done() const noexcept { return impl_->done; }
Encoding EncodingSource::encoding() const noexcept { return impl_->opt.encoding; }

// ====================================================================== DecodingSink

struct DecodingSink::Impl {
  ByteSink* down = nullptr;
  DecodeOptions opt;
  std::vector<std::byte> out_buf;
  Sha256 sha;
  std::uint64_t size_stored = 0;
  std::uint64_t size_raw = 0;
  std::string hex;
  std::optional<Error> error;
  bool finished = false;
  // true when the input so far ends exactly at the end of a complete frame/member
  bool stream_complete = false;
  // zstd: the first bytes of the current frame (its header is at most ZSTD_FRAMEHEADERSIZE_MAX bytes) and the
  // raw bytes it has produced so far, to hold each frame to the content size its header declares
  std::string frame_head;
  std::uint64_t frame_raw = 0;
  bool frame_header_checked = false;
  bool frame_started = false;  // libzstd has taken at least the first byte of the current frame
  std::optional<std::uint64_t> frame_declared;  // content size the current frame's header declares, if any

  std::unique_ptr<ZSTD_DCtx, ZstdDCtxDeleter> zd;
  inflate_state gz{};

  Unexpected failure(Error e) {
    error = e;
    return Unexpected{std::move(e)};
  }
  Unexpected data_loss(std::string msg) { return failure(make_error(ErrorCode::DataLoss, Origin::Codec, std::move(msg))); }
  /// DataLoss "corrupt zstd stream at stored byte ~N: <what>" (N: stored bytes written so far).
  Unexpected zstd_corrupt(const std::string& what) {
    return data_loss("corrupt zstd stream at stored byte ~" + std::to_string(size_stored) + ": " + what);
  }

  Result<void> emit(const std::byte* p, std::size_t n) {
    if (n == 0) return ok();
    const std::uint64_t after = size_raw + n;
    if (opt.max_raw_bytes && after > *opt.max_raw_bytes) {
      return data_loss("decoded size exceeds the limit of " + std::to_string(*opt.max_raw_bytes) +
                       " bytes (max_raw_bytes)");
    }
    if (opt.expected_size_raw && after > *opt.expected_size_raw) {
      return data_loss("decoded size exceeds the expected size_raw of " + std::to_string(*opt.expected_size_raw) +
                       " bytes");
    }
    auto r = down->write(std::span<const std::byte>(p, n));
    if (!r) return failure(std::move(r).error());
    size_raw = after;
    return ok();
  }

  /// Keep the start of the current zstd frame, from `in.pos` on, until it holds a whole frame header
  /// (at most 18 bytes: magic 4, descriptor 1, window 1, dictionary ID 4, content size 8; RFC 8878 §3.1.1).
  void note_frame_head(const ZSTD_inBuffer& in) {
    constexpr std::size_t kMaxFrameHeader = 18;
    const std::size_t want = std::min(kMaxFrameHeader - std::min(frame_head.size(), kMaxFrameHeader), in.size - in.pos);
    frame_head.append(static_cast<const char*>(in.src) + in.pos, want);
  }

  /// Checks the current frame's header as soon as frame_head holds it, before libzstd decodes the frame. Only
  /// the frames of RFC 8878 §3.1: a zstd frame (magic 0xFD2FB528) or a skippable frame (0x184D2A50 to
  /// 0x184D2A5F); libzstd also decodes pre-1.0 "legacy" frames (0xFD2FB51E..0xFD2FB527), but not the same way in
  /// one piece and in pieces, and no claimcheck producer writes them. A frame's window must fit
  /// kZstdWindowLogMax: libzstd checks ZSTD_d_windowLogMax only when it buffers, not when a whole frame with a
  /// declared size arrives in one call. A header libzstd cannot parse is refused here: when a header arrives in
  /// pieces, libzstd's streaming decoder looks for a legacy frame at the start of the piece that completes it,
  /// not at the frame's start, and may "decode" the rest as one. The declared content size is kept for
  /// end_frame(). Errors: DataLoss.
  Result<void> check_frame_header() {
    if (frame_header_checked || frame_head.size() < 4) return ok();
    const auto b = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(frame_head[i])); };
    const std::uint32_t magic = b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
    if (magic != ZSTD_MAGICNUMBER && (magic & ZSTD_MAGIC_SKIPPABLE_MASK) != ZSTD_MAGIC_SKIPPABLE_START) {
      char magic_hex[9];
      std::snprintf(magic_hex, sizeof magic_hex, "%08X", magic);
      return zstd_corrupt(std::string("frame magic 0x") + magic_hex + " is not a zstd (RFC 8878) or skippable frame");
    }
    ZSTD_frameHeader fh{};
    const std::size_t rc = ZSTD_getFrameHeader(&fh, frame_head.data(), frame_head.size());
    if (!ZSTD_isError(rc) && rc > 0) return ok();  // the header is longer: more bytes to come
    frame_header_checked = true;
    if (ZSTD_isError(rc)) {  // refused here, not left to libzstd: see below
      return zstd_corrupt(std::string("bad frame header: ") + ZSTD_getErrorName(rc));
    }
    if (fh.frameType == ZSTD_skippableFrame) {
      frame_declared = 0;
      return ok();
    }
    if (fh.windowSize > (std::uint64_t{1} << kZstdWindowLogMax)) {
      return data_loss("zstd frame at stored byte ~" + std::to_string(size_stored) + " needs a window of " +
                       std::to_string(fh.windowSize) + " bytes, more than the limit of " +
                       std::to_string(std::uint64_t{1} << kZstdWindowLogMax));
    }
    if (fh.frameContentSize != ZSTD_CONTENTSIZE_UNKNOWN) frame_declared = fh.frameContentSize;
    return ok();
  }

  /// At the end of a zstd frame: the frame produced exactly the content size its header declares, if any
  /// (RFC 8878 §3.1.1.1.4). libzstd checks this when it decodes a frame in one call but not when a frame
  /// whose last block is empty arrives in pieces, so the result would depend on how the bytes were split.
  Result<void> end_frame() {
    if (frame_declared && *frame_declared != frame_raw) {
      return zstd_corrupt("frame declares " + std::to_string(*frame_declared) + " content bytes but holds " +
                          std::to_string(frame_raw));
    }
    frame_head.clear();
    frame_raw = 0;
    frame_header_checked = false;
    frame_started = false;
    frame_declared.reset();
    return ok();
  }

  /// Decodes `data` through ZSTD_decompressStream. The first byte of each frame goes to libzstd in a call of
  /// its own: when a call holds a whole frame from its first byte, libzstd decodes it in one pass, and that
  /// path checks a frame differently from its streaming path (a zero-size compressed block, the window limit,
  /// the declared content size); so the outcome would depend on how the stored bytes were split into writes.
  Result<void> write_zstd(std::span<const std::byte> data) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    note_frame_head(in);
    CC_TRY_VOID(check_frame_header());
    for (;;) {
      ZSTD_outBuffer out{out_buf.data(), out_buf.size(), 0};
      const std::size_t in_before = in.pos;
      ZSTD_inBuffer view{in.src, frame_started ? in.size : std::min(in.size, in.pos + 1), in.pos};
      const std::size_t rc = ZSTD_decompressStream(zd.get(), &out, &view);
      in.pos = view.pos;
      if (ZSTD_isError(rc)) return zstd_corrupt(ZSTD_getErrorName(rc));
      if (in.pos > in_before) frame_started = true;
      CC_TRY_VOID(emit(out_buf.data(), out.pos));
      frame_raw += out.pos;
      if (rc == 0) {
        stream_complete = true;
        CC_TRY_VOID(end_frame());
        note_frame_head(in);  // ZSTD_decompressStream stops at a frame's end: the next frame starts at in.pos
        CC_TRY_VOID(check_frame_header());
      } else if (in.pos > in_before || out.pos > 0) {
        stream_complete = false;
      }
      if (in.pos >= in.size && out.pos < out.size) return ok();
    }
  }

  Result<void> write_gzip(std::span<const std::byte> data) {
    gz.next_in = const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(data.data()));
    gz.avail_in = u32(data.size());
    for (;;) {
      if (gz.block_state == ISAL_BLOCK_FINISH) {
        if (gz.avail_in == 0) return ok();
        // Another gzip member follows (RFC 1952 §2.2): start over.
        isal_inflate_reset(&gz);
        gz.crc_flag = ISAL_GZIP;
        stream_complete = false;
      }
      gz.next_out = reinterpret_cast<std::uint8_t*>(out_buf.data());
      gz.avail_out = u32(out_buf.size());
      const int rc = isal_inflate(&gz);
      const std::size_t produced = out_buf.size() - gz.avail_out;
      if (rc < 0) {
        std::string what = rc == ISAL_INCORRECT_CHECKSUM ? "CRC-32 mismatch"
                           : rc == ISAL_INVALID_WRAPPER  ? "invalid gzip header"
                                                         : "invalid deflate data";
        return data_loss("corrupt gzip stream at stored byte ~" + std::to_string(size_stored) + ": " + what +
                         " (ISA-L code " + std::to_string(rc) + ")");
      }
      CC_TRY_VOID(emit(out_buf.data(), produced));
      if (gz.block_state == ISAL_BLOCK_FINISH) {
        stream_complete = true;
        continue;
      }
      stream_complete = false;
      if (gz.avail_in == 0 && gz.avail_out > 0) return ok();
    }
  }

  Result<void> write(std::span<const std::byte> data) {
    if (error) return Unexpected{*error};
    if (finished) return failure(make_error(ErrorCode::Internal, Origin::Codec, "DecodingSink::write after finish()"));
    if (data.empty()) return ok();
    sha.update(data);
    size_stored += data.size();
    switch (opt.encoding) {
      case Encoding::Zstd: return write_zstd(data);
      case Encoding::Gzip: return write_gzip(data);
      case Encoding::Identity: return emit(data.data(), data.size());
    }
    return ok();
  }

  Result<void> finish() {
    if (error) return Unexpected{*error};
    if (finished) return failure(make_error(ErrorCode::Internal, Origin::Codec, "DecodingSink::finish called twice"));
    finished = true;
    if (opt.encoding != Encoding::Identity && !stream_complete) {
      return data_loss(std::string("truncated ") + std::string(to_string(opt.encoding)) + " stream: ended after " +
                       std::to_string(size_stored) + " stored bytes without a complete " +
                       (opt.encoding == Encoding::Zstd ? "frame" : "member"));
    }
    hex = sha.hex_digest();
    if (opt.expected_sha256 && hex != *opt.expected_sha256) {
      return data_loss("sha256 mismatch: expected " + *opt.expected_sha256 + ", actual " + hex);
    }
    if (opt.expected_size_raw && size_raw != *opt.expected_size_raw) {
      return data_loss("size_raw mismatch: expected " + std::to_string(*opt.expected_size_raw) + " bytes, actual " +
                       std::to_string(size_raw));
    }
    auto r = down->finish();
    if (!r) return failure(std::move(r).error());
    return ok();
  }
};

DecodingSink::DecodingSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DecodingSink::DecodingSink(DecodingSink&&) noexcept = default;
DecodingSink& DecodingSink::operator=(DecodingSink&&) noexcept = default;
DecodingSink::~DecodingSink() = default;

Result<DecodingSink> DecodingSink::create(ByteSink& downstream, const DecodeOptions& options) {
  CC_TRY_VOID(options.validate());
  auto impl = std::make_unique<Impl>();
  impl->down = &downstream;
  impl->opt = options;
  if (options.encoding != Encoding::Identity) impl->out_buf.resize(options.buffer_bytes);
  if (options.encoding == Encoding::Zstd) {
    impl->zd.reset(take_spare<ZSTD_DCtx, &SpareZstd::d, ZSTD_createDCtx>());
    if (!impl->zd) return codec_error(ErrorCode::Internal, "cannot allocate a zstd decompression context");
    const std::size_t rc = ZSTD_DCtx_setParameter(impl->zd.get(), ZSTD_d_windowLogMax, kZstdWindowLogMax);
    if (ZSTD_isError(rc)) {
      return codec_error(ErrorCode::Internal, std::string("zstd setup failed: ") + ZSTD_getErrorName(rc));
    }
  } else if (options.encoding == Encoding::Gzip) {
    isal_inflate_init(&impl->gz);
    impl->gz.crc_flag = ISAL_GZIP;
  }
  return DecodingSink(std::move(impl));
}

Result<void> DecodingSink::write(std::span<const std::byte> data) { return impl_->write(data); }
Result<void> DecodingSink::finish() { return impl_->finish(); }
std::uint64_t DecodingSink::size_stored() const noexcept { return impl_->size_stored; }
std::uint64_t DecodingSink::size_raw() const noexcept { return impl_->size_raw; }
const std::string& DecodingSink::sha256_hex() const noexcept { return impl_->hex; }

// ====================================================================== convenience

namespace {
class StrSink final : public ByteSink {
 public:
  Result<void> write(std::span<const std::byte> data) override {
    s.append(reinterpret_cast<const char*>(data.data()), data.size());
    return ok();
  }
  std::string s;
};
}  // namespace

Result<std::string> encode_all(Encoding encoding, std::string_view raw, int level) {
  class View final : public ByteSource {
   public:
    explicit View(std::string_view d) : d_(d) {}
    Result<std::size_t> read(std::span<std::byte> buf) override {
      const std::size_t n = std::min(buf.size(), d_.size() - pos_);
      if (n > 0) std::memcpy(buf.data(), d_.data() + pos_, n);
      pos_ += n;
      return n;
    }

   private:
    std::string_view d_;
    std::size_t pos_ = 0;
  } src(raw);
  EncodeOptions opt;
  opt.encoding = encoding;
  opt.level = level;
  opt.buffer_bytes = std::clamp<std::size_t>(raw.size() + 64, 16 * 1024, 256 * 1024);
  CC_TRY(enc, EncodingSource::create(src, opt));
  std::string out;
  std::vector<std::byte> buf(opt.buffer_bytes);
  for (;;) {
    CC_TRY(n, enc->read(buf));
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  return out;
}

Result<std::string> decode_all(Encoding encoding, std::string_view stored, std::optional<std::string> expected_sha256,
                               std::optional<std::uint64_t> max_raw_bytes) {
  StrSink sink;
  DecodeOptions opt;
  opt.encoding = encoding;
  opt.expected_sha256 = std::move(expected_sha256);
  opt.max_raw_bytes = max_raw_bytes;
  opt.buffer_bytes = 64 * 1024;
  CC_TRY(dec, DecodingSink::create(sink, opt));
  CC_TRY_VOID(dec->write(std::span<const std::byte>(reinterpret_cast<const std::byte*>(stored.data()), stored.size())));
  CC_TRY_VOID(dec->finish());
  return std::move(sink.s);
}

}  // namespace claimcheck
