// Peak RSS of `claimcheck produce` and `claimcheck consume` moving one large file (default 1 GiB) through
// the local servers (`make up`). Prints figures; asserts nothing about time.
//
// Usage: pipeline_flow_rss_bench [SIZE_MIB=1024] [CODEC=zstd]
// Env: CLAIMCHECK_BINARY (default build/apps/claimcheck/claimcheck), server settings from the environment or
// ./.local/env (AMQP_URL, S3_*).
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "claimcheck/amqp/client.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/core/credentials.h"

extern char** environ;
namespace fs = std::filesystem;

namespace {

void load_env_file(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
    setenv(k.c_str(), v.c_str(), 0);
  }
}

struct Run {
  int status = -1;
  long max_rss_kib = 0;
  double seconds = 0;
};

Run run(const std::vector<std::string>& args, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = -1;
  Run r;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) return r;
  posix_spawn_file_actions_destroy(&fa);
  int st = 0;
  struct rusage ru {};
  wait4(pid, &st, 0, &ru);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.max_rss_kib = ru.ru_maxrss;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
  const std::string codec = argc > 2 ? argv[2] : "zstd";
  load_env_file(".local/env");
  const char* bin_env = std::getenv("CLAIMCHECK_BINARY");
  const std::string bin = bin_env ? bin_env : "build/apps/claimcheck/claimcheck";
  for (const char* n : {"AMQP_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET"}) {
    if (!std::getenv(n)) {
      std::fprintf(stderr, "pipeline_flow_rss: %s not set (run `make up`)\n", n);
      return 2;
    }
  }
  std::random_device rd;
  const std::string tag = "rss" + std::to_string(rd() % 1000000);
  fs::path work = fs::temp_directory_path() / ("claimcheck-rss-" + tag);
  fs::create_directories(work / "out");
  const fs::path file = work / "payload.bin";
  {
    // Half random bytes, half text: compressible enough to exercise the codec, big enough to matter.
    std::ofstream out(file, std::ios::binary);
    std::mt19937_64 rng(42);
    std::string chunk(1 << 20, '\0');
    for (std::uint64_t i = 0; i < mib; ++i) {
      for (std::size_t j = 0; j < chunk.size(); j += 8) {
        std::uint64_t v = rng();
        std::memcpy(&chunk[j], &v, 8);
      }
      if (i % 2 == 1)
        for (std::size_t j = 0; j < chunk.size(); ++j) chunk[j] = static_cast<char>('a' + (static_cast<unsigned char>(chunk[j]) % 4));
      out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    }
  }
  std::vector<std::string> topo{"--msg-exchange", "ex.msg." + tag, "--ack-exchange", "ex.ack." + tag,
                                "--ack-queue",    "q.ack." + tag,  "--dlx",          "ex.dlx." + tag,
                                "--dead-queue",   "q.dead." + tag, "--queue-prefix", "q." + tag + "."};
  std::vector<std::string> p{bin, "produce", "--file", file.string(), "--recipients", "r", "--codec", codec,
                             "--key-prefix", "bench-" + tag};
  p.insert(p.end(), topo.begin(), topo.end());
  Run pr = run(p, (work / "produce.log").string());
  std::vector<std::string> c{bin, "consume", "--recipient", "r", "--out-dir", (work / "out").string(),
                             "--max-messages", "1", "--idle-exit", "120"};
  c.insert(c.end(), topo.begin(), topo.end());
  Run cr = pr.status == 0 ? run(c, (work / "consume.log").string()) : Run{};
  int cmp = cr.status == 0 ? std::system(("cmp -s '" + file.string() + "' '" + (work / "out/payload.bin").string() + "'").c_str()) : -1;

  const double size_mib = static_cast<double>(mib);
  std::printf("pipeline_flow_rss: payload %llu MiB, codec %s\n", static_cast<unsigned long long>(mib), codec.c_str());
  std::printf("  produce: exit %d, %.2f s, %.1f MiB/s, peak RSS %.1f MiB\n", pr.status, pr.seconds,
              size_mib / pr.seconds, static_cast<double>(pr.max_rss_kib) / 1024.0);
  std::printf("  consume: exit %d, %.2f s, %.1f MiB/s, peak RSS %.1f MiB\n", cr.status, cr.seconds,
              size_mib / cr.seconds, static_cast<double>(cr.max_rss_kib) / 1024.0);
  std::printf("  copy identical: %s\n", cmp == 0 ? "yes" : "NO");
  // ROW lines for scripts/bench's table (bench/bench_lib.sh): the figure alone against its bound.
  std::printf("ROW|produce %llu MiB file, peak RSS (MiB)|%.1f|-|MiB|value<=128\n", static_cast<unsigned long long>(mib),
              static_cast<double>(pr.max_rss_kib) / 1024.0);
  std::printf("ROW|consume %llu MiB file, peak RSS (MiB)|%.1f|-|MiB|value<=128\n", static_cast<unsigned long long>(mib),
              static_cast<double>(cr.max_rss_kib) / 1024.0);
  if (pr.status != 0 || cr.status != 0) std::printf("  logs: %s\n", work.c_str());

  // Clean up: the object (no coordinator here), the topology, the files.
  claimcheck::s3::S3Config sc;
  sc.endpoint = std::getenv("S3_ENDPOINT");
  sc.region = std::getenv("S3_REGION") ? std::getenv("S3_REGION") : "us-east-1";
  sc.access_key = std::getenv("S3_ACCESS_KEY");
  sc.secret_key = std::getenv("S3_SECRET_KEY");
  if (auto s3 = claimcheck::s3::S3Client::create(sc)) {
    const std::string bucket = std::getenv("S3_BUCKET");
    if (auto page = s3->list_objects_v2(bucket, "bench-" + tag + "/")) {
      std::vector<std::string> keys;
      for (const auto& o : page->objects) keys.push_back(o.key);
      if (!keys.empty()) (void)s3->delete_objects(bucket, keys);
    }
  }
  claimcheck::amqp::AmqpConfig ac;
  ac.urls = claimcheck::split_url_list(std::getenv("AMQP_URL"));
  claimcheck::amqp::Client admin(ac);
  if (admin.connect()) {
    for (const auto& q : {"q." + tag + ".r", "q.ack." + tag, "q.dead." + tag}) (void)admin.delete_queue(q);
    for (const auto& e : {"ex.msg." + tag, "ex.ack." + tag, "ex.dlx." + tag}) (void)admin.delete_exchange(e);
  }
  if (pr.status == 0 && cr.status == 0) {
    std::error_code ec;
    fs::remove_all(work, ec);
  }
  return (pr.status == 0 && cr.status == 0 && cmp == 0) ? 0 : 1;
}
