// Acks applied per second by RefStore::apply_batch on SQLite (temp file, WAL, synchronous=NORMAL) and,
// when a DSN is given (argv[1] or CLAIMCHECK_PG_DSN), PostgreSQL (in a throwaway schema), for batch
// sizes 1, 100 and 1000. Each object has 3 recipients; store records are applied first (not timed), then
// every ack is applied once, shuffled, in batches; the last ack of each object completes it.
// Usage: refstore_ack_rate_bench [postgresql://...]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "pg_schema.h"
#include "claimcheck/refstore/ref_store.h"

namespace rs = claimcheck::refstore;
using namespace std::chrono_literals;

namespace {

bool run_one(const std::string& label, const std::string& dsn, std::size_t batch, std::size_t acks_total) {
  rs::RefStoreConfig cfg;
  cfg.dsn = dsn;
  auto opened = rs::open_ref_store(cfg);
  if (!opened) {
    std::fprintf(stderr, "%s: open failed: %s\n", label.c_str(), opened.error().to_string().c_str());
    return false;
  }
  auto& store = **opened;
  const rs::TimePoint t0 = rs::Clock::now();
  const std::size_t objects = acks_total / 3;
  const std::vector<std::string> recipients{"branch1", "branch2", "branch3"};
  std::vector<rs::Command> stores, acks;
  for (std::size_t i = 0; i < objects; ++i) {
    rs::StoreInput s;
    s.pointer_id = "bench-" + std::to_string(batch) + "-" + std::to_string(i);
    s.bucket = "bench";
    s.key = "claimcheck/" + s.pointer_id;
    s.recipients = recipients;
    s.size_stored = 1 << 20;
    s.sha256 = std::string(64, 'f');
    s.created_at = t0;
    s.expires_at = t0 + 24h;
    s.producer_id = "bench";
    for (const auto& r : recipients) {
      rs::AckInput a;
      a.pointer_id = s.pointer_id;
      a.recipient_id = r;
      a.processed = true;
      a.processed_at = t0;
      acks.emplace_back(std::move(a));
    }
    stores.emplace_back(std::move(s));
  }
  std::mt19937 rng(7);
  std::shuffle(acks.begin(), acks.end(), rng);
  for (std::size_t off = 0; off < stores.size(); off += 1000) {
    std::vector<rs::Command> b(stores.begin() + static_cast<std::ptrdiff_t>(off),
                               stores.begin() + static_cast<std::ptrdiff_t>(std::min(stores.size(), off + 1000)));
    if (auto r = store.apply_batch(b, t0); !r) {
      std::fprintf(stderr, "%s: store batch failed: %s\n", label.c_str(), r.error().to_string().c_str());
      return false;
    }
  }
  std::size_t completed = 0;
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  for (std::size_t off = 0; off < acks.size(); off += batch) {
    std::vector<rs::Command> b(acks.begin() + static_cast<std::ptrdiff_t>(off),
                               acks.begin() + static_cast<std::ptrdiff_t>(std::min(acks.size(), off + batch)));
    auto r = store.apply_batch(b, t0);
    if (!r) {
      std::fprintf(stderr, "%s: ack batch failed: %s\n", label.c_str(), r.error().to_string().c_str());
      return false;
    }
    completed += r->completed.size();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf("%-10s batch=%-5zu acks=%-6zu objects_completed=%-6zu %8.3f s wall %8.3f s cpu  %9.0f acks/s"
              " (%9.0f acks per cpu-s of this process)\n",
              label.c_str(), batch, acks.size(), completed, secs, cpu, static_cast<double>(acks.size()) / secs,
              cpu > 0 ? static_cast<double>(acks.size()) / cpu : 0.0);
  std::fflush(stdout);
  return completed == objects;
}

}  // namespace

int main(int argc, char** argv) {
  bool ok = true;
  const auto dir = std::filesystem::temp_directory_path() / ("refstore-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::printf("RefStore apply_batch ack rate (3 recipients per object, acks shuffled)\n");
  for (std::size_t batch : {std::size_t{1}, std::size_t{100}, std::size_t{1000}}) {
    const auto path = dir / ("bench-" + std::to_string(batch) + ".db");
    ok = run_one("sqlite", "sqlite:" + path.string(), batch, batch == 1 ? 6000 : 60000) && ok;
  }
  std::filesystem::remove_all(dir);

  std::string pg;
  if (argc > 1) pg = argv[1];
  else if (const char* e = std::getenv("CLAIMCHECK_PG_DSN"); e != nullptr) pg = e;
  if (pg.empty()) {
    std::printf("postgres   skipped (pass a postgresql:// DSN as argv[1] or set CLAIMCHECK_PG_DSN)\n");
    return ok ? 0 : 1;
  }
  const std::string schema = "cc_bench_" + std::to_string(getpid());
  const std::string dsn = pg + (pg.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
  for (std::size_t batch : {std::size_t{1}, std::size_t{100}, std::size_t{1000}}) {
    ok = run_one("postgres", dsn, batch, batch == 1 ? 3000 : 30000) && ok;
  }
  if (const std::string err = claimcheck::test::drop_pg_schemas(pg, {schema}); !err.empty())
    std::fprintf(stderr, "cannot drop schema %s: %s\n", schema.c_str(), err.c_str());
  return ok ? 0 : 1;
}
