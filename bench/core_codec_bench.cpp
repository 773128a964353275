// Codec throughput and memory: encode+hash and decode+verify per codec on a 64 MiB synthetic payload
// (streamed, never held in memory), plus peak RSS (getrusage ru_maxrss) to confirm fixed memory.
// With --file PATH: zstd level 1 (the producer's settings) on that file instead: encode+hash (file -> encoder ->
// discard, seconds), then the encoded bytes are written to OUT (not timed), then decode+verify (OUT -> decoder
// with the SHA-256 and size check -> discard, seconds). bench/codec_vs_cli.sh compares these with the zstd CLI.
// Usage: core_codec_bench [size, default 64MiB]
//        core_codec_bench --file PATH OUT   (prints "encode_s=... decode_s=... raw=... stored=...")
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "claimcheck/core/codec.h"
#include "claimcheck/core/file_io.h"
#include "claimcheck/core/synthetic_payload.h"
#include "claimcheck/core/time.h"
#include "claimcheck/core/units.h"

namespace cc = claimcheck;

namespace {

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Feeds the encoded stream straight into a DecodingSink, so nothing payload-sized is ever buffered.
int run(cc::Encoding e, std::uint64_t size) {
  const auto ts = *cc::parse_rfc3339("2024-01-01T00:00:00Z");
  // Pass 1: encode + hash only.
  cc::SyntheticPayloadSource gen(1, size, 42, ts);
  cc::EncodeOptions opt;
  opt.encoding = e;
  auto enc = cc::EncodingSource::create(gen, opt);
  if (!enc) return std::fprintf(stderr, "%s\n", enc.error().to_string().c_str()), 1;
  cc::DiscardSink discard;
  auto t0 = std::chrono::steady_clock::now();
  auto n = cc::copy_stream(*enc, discard);
  auto t1 = std::chrono::steady_clock::now();
  if (!n) return std::fprintf(stderr, "%s\n", n.error().to_string().c_str()), 1;
  const double enc_s = std::chrono::duration<double>(t1 - t0).count();
  const std::string sha = enc->sha256_hex();
  const std::uint64_t stored = enc->size_stored();

  // Pass 2: decode + verify (re-encode on the fly as the stored-bytes source; time only the decoder side by
  // subtracting the encode time measured above).
  cc::SyntheticPayloadSource gen2(1, size, 42, ts);
  auto enc2 = cc::EncodingSource::create(gen2, opt);
  cc::DiscardSink raw_out;
  cc::DecodeOptions dopt;
  dopt.encoding = e;
  dopt.expected_sha256 = sha;
  dopt.expected_size_raw = size;
  auto dec = cc::DecodingSink::create(raw_out, dopt);
  if (!enc2 || !dec) return 1;
  t0 = std::chrono::steady_clock::now();
  auto m = cc::copy_stream(*enc2, *dec);
  auto fin = m ? dec->finish() : cc::Result<void>(cc::Unexpected{m.error()});
  t1 = std::chrono::steady_clock::now();
  if (!fin) return std::fprintf(stderr, "decode failed: %s\n", fin.error().to_string().c_str()), 1;
  const double both_s = std::chrono::duration<double>(t1 - t0).count();
  const double dec_s = std::max(both_s - enc_s, 1e-9);
  const double mib = static_cast<double>(size) / (1024.0 * 1024.0);
  std::printf("%-9s raw=%s stored=%s ratio=%.3f  encode+sha256: %8.1f MiB/s  decode+verify: %8.1f MiB/s  "
              "peak_rss=%ld KiB\n",
              std::string(cc::to_string(e)).c_str(), cc::format_bytes(size).c_str(), cc::format_bytes(stored).c_str(),
              static_cast<double>(stored) / static_cast<double>(size), mib / enc_s, mib / dec_s, peak_rss_kib());
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Encodes `path` (zstd -1, the producer's buffer size) into `sink`; returns the encoder's SHA-256 and sizes.
cc::Result<std::pair<std::string, std::pair<std::uint64_t, std::uint64_t>>> encode_file(const std::string& path,
                                                                                       cc::ByteSink& sink) {
  CC_TRY(in, cc::FileSource::open(path));
  cc::EncodeOptions opt;
  opt.encoding = cc::Encoding::Zstd;
  opt.level = 1;
  opt.buffer_bytes = 128 * 1024;  // as the producer (src/pipeline/producer.cpp)
  CC_TRY(enc, cc::EncodingSource::create(*in, opt));
  CC_TRY_VOID(cc::copy_stream(*enc, sink));
  CC_TRY_VOID(sink.finish());
  return std::pair{enc->sha256_hex(), std::pair{enc->size_raw(), enc->size_stored()}};
}

/// File mode (see the top of this file): encode+hash and decode+verify seconds of one real file.
int run_file(const std::string& path, const std::string& out_path) {
  cc::DiscardSink discard;
  auto t0 = std::chrono::steady_clock::now();
  auto enc = encode_file(path, discard);
  const double enc_s = seconds_since(t0);
  if (!enc) return std::fprintf(stderr, "encode: %s\n", enc.error().to_string().c_str()), 1;
  {
    auto out = cc::AtomicFileSink::open(out_path);
    if (!out) return std::fprintf(stderr, "%s\n", out.error().to_string().c_str()), 1;
    if (auto r = encode_file(path, *out); !r) return std::fprintf(stderr, "%s\n", r.error().to_string().c_str()), 1;
  }
  auto stored = cc::FileSource::open(out_path);
  cc::DecodeOptions dopt;
  dopt.encoding = cc::Encoding::Zstd;
  dopt.expected_sha256 = enc->first;
  dopt.expected_size_raw = enc->second.first;
  cc::DiscardSink raw_out;
  auto dec = cc::DecodingSink::create(raw_out, dopt);
  if (!stored || !dec) return std::fprintf(stderr, "decode: cannot open\n"), 1;
  t0 = std::chrono::steady_clock::now();
  auto n = cc::copy_stream(*stored, *dec);
  auto fin = n ? dec->finish() : cc::Result<void>(cc::Unexpected{n.error()});
  const double dec_s = seconds_since(t0);
  if (!fin) return std::fprintf(stderr, "decode+verify: %s\n", fin.error().to_string().c_str()), 1;
  std::printf("encode_s=%.3f decode_s=%.3f raw=%llu stored=%llu peak_rss_kib=%ld\n", enc_s, dec_s,
              static_cast<unsigned long long>(enc->second.first), static_cast<unsigned long long>(enc->second.second),
              peak_rss_kib());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--file") return run_file(argv[2], argv[3]);
  std::uint64_t size = 64ull << 20;
  if (argc > 1) {
    auto s = cc::parse_size(argv[1]);
    if (!s) return std::fprintf(stderr, "%s\n", s.error().to_string().c_str()), 2;
    size = *s;
  }
  // Generator-only baseline so the codec figures can be judged against the payload source's own cost.
  {
    cc::SyntheticPayloadSource gen(1, size, 42);
    cc::DiscardSink d;
    const auto t0 = std::chrono::steady_clock::now();
    (void)cc::copy_stream(gen, d);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("generator  %s: %.1f MiB/s (included in the figures below)\n", cc::format_bytes(size).c_str(),
                static_cast<double>(size) / (1024.0 * 1024.0) / s);
  }
  int rc = 0;
  for (auto e : {cc::Encoding::Identity, cc::Encoding::Zstd, cc::Encoding::Gzip}) rc |= run(e, size);
  std::printf("peak RSS after all runs: %ld KiB (payload size %s; fixed buffers => RSS independent of size)\n",
              peak_rss_kib(), cc::format_bytes(size).c_str());
  return rc;
}
