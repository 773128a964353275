// Coordinator throughput: parse (parse_coordinator_message) + apply (RefStore::apply_batch, one transaction per
// batch) of s3-store-v1 / s3-ack-v1 messages, as the coordinator's store path does it. Prints acks applied per
// second on SQLite (temp file, WAL) and, when CLAIMCHECK_PG_DSN is set (env or .local/env), on PostgreSQL.
// Usage: pipeline_coord_bench [OBJECTS=10000] [BATCH=500]   (3 recipients per object → 3 acks per object)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "claimcheck/amqp/types.h"
#include "claimcheck/coordinator.h"
#include "claimcheck/protocol.h"
#include "claimcheck/refstore/ref_store.h"
#include "claimcheck/util.h"

using namespace claimcheck;

namespace {

std::string env_or_file(const std::string& name) {
  if (const char* v = std::getenv(name.c_str()); v && *v) return v;
  for (const char* path : {".local/env", "../.local/env", "../../.local/env"}) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(name + "=", 0) == 0) return line.substr(name.size() + 1);
  }
  return {};
}

std::vector<amqp::Message> make_messages(std::size_t objects) {
  std::vector<amqp::Message> out;
  out.reserve(objects * 4);
  const auto now = utc_now();
  for (std::size_t i = 0; i < objects; ++i) {
    StoreRecord s;
    s.pointer_id = new_uuid_v4();
    s.bucket = "bench-bucket";
    s.key = "claimcheck/2024/01/01/" + s.pointer_id + ".json.zst";
    s.recipients = {"branch1", "branch2", "branch3"};
    s.recipients_total = 3;
    s.size_stored = 1048576;
    s.sha256 = std::string(64, 'c');
    s.created_at = now;
    s.expires_at = now + std::chrono::hours(24);
    s.producer_id = "bench";
    amqp::Message m;
    m.body = to_json(s);
    m.type = std::string(kSchemaStore);
    out.push_back(m);
    for (const auto& r : s.recipients) {
      Ack a;
      a.pointer_id = s.pointer_id;
      a.recipient_id = r;
      a.processed_at = now;
      a.bucket = s.bucket;
      a.key = s.key;
      a.recipients_total = 3;
      amqp::Message am;
      am.body = to_json(a);
      am.type = std::string(kSchemaAck);
      out.push_back(std::move(am));
    }
  }
  return out;
}

int run(const char* label, const std::string& dsn, const std::vector<amqp::Message>& msgs, std::size_t batch) {
  refstore::RefStoreConfig cfg;
  cfg.dsn = dsn;
  auto store = refstore::open_ref_store(cfg);
  if (!store) {
    std::fprintf(stderr, "%s: %s\n", label, store.error().to_string().c_str());
    return 1;
  }
  std::size_t acks = 0, completed = 0, batches = 0;
  double parse_s = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<refstore::Command> cmds;
  cmds.reserve(batch);
  for (std::size_t i = 0; i < msgs.size();) {
    cmds.clear();
    auto p0 = std::chrono::steady_clock::now();
    for (; i < msgs.size() && cmds.size() < batch; ++i) {
      auto c = parse_coordinator_message(msgs[i]);
      if (!c) {
        std::fprintf(stderr, "parse: %s\n", c.error().to_string().c_str());
        return 1;
      }
      cmds.push_back(std::move(*c));
    }
    parse_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();
    for (;;) {
      auto r = (*store)->apply_batch(cmds, refstore::Clock::now());
      if (r) {
        acks += r->acks_new;
        completed += r->completed.size();
        break;
      }
      if (r.error().code != ErrorCode::Aborted) {
        std::fprintf(stderr, "%s: apply: %s\n", label, r.error().to_string().c_str());
        return 1;
      }
    }
    ++batches;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%-10s batch %4zu: %zu messages (%zu acks, %zu completed) in %.2f s (parse %.2f s) → %.0f acks/s, %.0f "
              "messages/s, %.2f ms/batch\n",
              label, batch, msgs.size(), acks, completed, secs, parse_s, static_cast<double>(acks) / secs,
              static_cast<double>(msgs.size()) / secs, secs * 1000.0 / static_cast<double>(batches));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t objects = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  const std::size_t batch = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 500;
  std::printf("coordinator parse + apply: %zu objects x 3 recipients (1 store + 3 acks each)\n", objects);
  int rc = 0;
  auto dir = std::filesystem::temp_directory_path() / ("coord-bench-" + new_uuid_v4());
  std::filesystem::create_directories(dir);
  for (std::size_t b : {std::size_t{1}, batch}) {
    auto msgs = make_messages(b == 1 ? std::min<std::size_t>(objects, 2000) : objects);
    rc |= run("sqlite", "sqlite:" + (dir / ("b" + std::to_string(b) + ".db")).string(), msgs, b);
  }
  std::filesystem::remove_all(dir);
  const std::string pg = env_or_file("CLAIMCHECK_PG_DSN");
  if (pg.empty()) {
    std::printf("postgresql: skipped (CLAIMCHECK_PG_DSN not set)\n");
    return rc;
  }
  const std::string schema = "cc_bench_" + new_uuid_v4().substr(0, 8);
  for (std::size_t b : {std::size_t{1}, batch}) {
    auto msgs = make_messages(b == 1 ? std::min<std::size_t>(objects, 2000) : objects);
    rc |= run("postgresql", pg + (pg.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema, msgs, b);
  }
  try {
    pqxx::connection c(pg);
    pqxx::work w(c);
    w.exec("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
    w.commit();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cannot drop bench schema %s: %s\n", schema.c_str(), e.what());
  }
  return rc;
}
