// Benchmark: streaming put and get of one large object through S3Client (default 256 MiB) from a generator
// source to a discarding sink. Prints MiB/s of each direction and the process's peak RSS, which must stay
// under 64 MiB (memory is O(part_size), not O(object size)). Exit code 1 when the RSS bound is exceeded.
//
// Usage: s3_stream_bench [MiB]   (settings from the environment or .local/env: S3_ENDPOINT, S3_REGION,
//                                 S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET — written by `make up`)
#include <sys/resource.h>
#include <uuid/uuid.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "claimcheck/s3/s3_client.h"

using namespace claimcheck;
using namespace claimcheck::s3;

namespace {

std::optional<std::string> setting(const std::string& name) {
  if (const char* v = std::getenv(name.c_str()); v != nullptr && *v != '\0') return std::string(v);
  std::vector<std::string> files;
  if (const char* src = std::getenv("CLAIMCHECK_SOURCE_DIR"); src != nullptr) files.push_back(std::string(src) + "/.local/env");
  files.emplace_back(".local/env");
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq != std::string::npos && line.compare(0, eq, name) == 0 && eq == name.size()) return line.substr(eq + 1);
    }
  }
  return std::nullopt;
}

/// Endless pseudo-random bytes (a 1 MiB block, rotated per read so parts differ), `size` bytes in total.
class GeneratorSource final : public ByteSource {
 public:
  explicit GeneratorSource(std::uint64_t size) : size_(size), block_(1 << 20) {
    std::uint64_t x = 88172645463325252ULL;
    for (auto& b : block_) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b = static_cast<std::byte>(x);
    }
  }
  Result<std::size_t> read(std::span<std::byte> buf) override {
    std::size_t done = 0;
    while (done < buf.size() && pos_ < size_) {
      std::size_t off = static_cast<std::size_t>(pos_ % block_.size());
      std::size_t n = std::min({buf.size() - done, block_.size() - off, static_cast<std::size_t>(size_ - pos_)});
      std::memcpy(buf.data() + done, block_.data() + off, n);
      done += n;
      pos_ += n;
    }
    return done;
  }

 private:
  std::uint64_t size_, pos_ = 0;
  std::vector<std::byte> block_;
};

class DiscardSink final : public ByteSink {
 public:
  Result<void> write(std::span<const std::byte> data) override {
    bytes_ += data.size();
    return ok();
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::uint64_t bytes_ = 0;
};

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 256;
  const std::uint64_t size = mib * kMiB;
  S3Config cfg;
  cfg.endpoint = setting("S3_ENDPOINT").value_or("");
  cfg.region = setting("S3_REGION").value_or("us-east-1");
  cfg.access_key = setting("S3_ACCESS_KEY").value_or("");
  cfg.secret_key = setting("S3_SECRET_KEY").value_or("");
  const std::string bucket = setting("S3_BUCKET").value_or("");
  if (cfg.endpoint.empty() || bucket.empty()) {
    std::fprintf(stderr, "s3_stream_bench: S3_ENDPOINT/S3_BUCKET not set (run `make up`)\n");
    return 2;
  }
  auto client = S3Client::create(cfg);
  if (!client) {
    std::fprintf(stderr, "s3_stream_bench: %s\n", client.error().to_string().c_str());
    return 2;
  }
  uuid_t u;
  uuid_generate_random(u);
  char id[37];
  uuid_unparse_lower(u, id);
  const std::string key = std::string("bench/s3-stream/") + id;

  using Clock = std::chrono::steady_clock;
  GeneratorSource src(size);
  auto t0 = Clock::now();
  auto put = client->put_object(bucket, key, src);
  const double put_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!put) {
    std::fprintf(stderr, "put failed: %s\n", put.error().to_string().c_str());
    return 2;
  }
  const double rss_after_put = peak_rss_mib();

  DiscardSink sink;
  t0 = Clock::now();
  auto got = client->get_object(bucket, key, sink);
  const double get_s = std::chrono::duration<double>(Clock::now() - t0).count();
  (void)client->delete_object(bucket, key);
  if (!got) {
    std::fprintf(stderr, "get failed: %s\n", got.error().to_string().c_str());
    return 2;
  }
  if (sink.bytes() != size || got->size != size) {
    std::fprintf(stderr, "get returned %llu bytes, want %llu\n", static_cast<unsigned long long>(sink.bytes()),
                 static_cast<unsigned long long>(size));
    return 2;
  }
  const double rss = peak_rss_mib();
  const auto st = client->stats();
  std::printf("s3_stream_bench: object %llu MiB, part_size %llu MiB, multipart=%s, connections=%llu\n",
              static_cast<unsigned long long>(mib), static_cast<unsigned long long>(cfg.part_size / kMiB),
              put->multipart ? "yes" : "no", static_cast<unsigned long long>(st.connects));
  std::printf("put: %.2f s, %.1f MiB/s\n", put_s, static_cast<double>(mib) / put_s);
  std::printf("get: %.2f s, %.1f MiB/s\n", get_s, static_cast<double>(mib) / get_s);
  std::printf("peak RSS: %.1f MiB after put, %.1f MiB at end (limit 64 MiB): %s\n", rss_after_put, rss,
              rss < 64.0 ? "OK" : "FAIL");
  std::printf("ROW|S3 streaming put+get %llu MiB, peak RSS (MiB)|%.1f|-|MiB|value<=64\n",
              static_cast<unsigned long long>(mib), rss);  // scripts/bench's table
  return rss < 64.0 ? 0 : 1;
}
