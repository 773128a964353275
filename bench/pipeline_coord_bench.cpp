// Coordinator throughput: parse (parse_coordinator_message) + apply (RefStore::apply_batch, one transaction per
// batch) of s3-store-v1 / s3-ack-v1 messages, as the coordinator's store path does it. Prints acks applied per
// second on SQLite (temp file, WAL) and, when CLAIMCHECK_PG_DSN is set (env or .local/env), on PostgreSQL.
// With AMQP_URL and S3_* set (env or .local/env) it also measures the whole coordinator (Coordinator::run):
// messages pre-published to a private ack queue, time until all are applied (RabbitMQ → parse → SQLite).
// Usage: pipeline_coord_bench [OBJECTS=10000] [BATCH=500]   (3 recipients per object → 3 acks per object)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include <thread>

#include "claimcheck/amqp/client.h"
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

std::vector<amqp::Message> make_messages(std::size_t objects, const std::string& bucket = "bench-bucket",
                                        const std::string& prefix = "claimcheck");

// End to end through RabbitMQ: publish, then run a Coordinator until every message was applied.
int run_amqp(std::size_t objects, std::size_t batch) {
  const std::string url = env_or_file("AMQP_URL"), endpoint = env_or_file("S3_ENDPOINT"),
                    bucket = env_or_file("S3_BUCKET");
  if (url.empty() || endpoint.empty() || bucket.empty()) {
    std::printf("amqp end-to-end: skipped (AMQP_URL / S3_ENDPOINT / S3_BUCKET not set)\n");
    return 0;
  }
  const std::string sfx = new_uuid_v4().substr(0, 8);
  CoordinatorConfig cfg;
  cfg.amqp.urls = {url};
  cfg.amqp.connection_name = "coord-bench";
  cfg.names.ack_exchange = "bench" + sfx + ".ack";
  cfg.names.ack_queue = "bench" + sfx + ".q.ack";
  cfg.names.dlx = "bench" + sfx + ".dlx";
  cfg.names.dead_queue = "bench" + sfx + ".q.dead";
  cfg.s3.endpoint = endpoint;
  cfg.s3.region = env_or_file("S3_REGION").empty() ? "us-east-1" : env_or_file("S3_REGION");
  cfg.s3.access_key = env_or_file("S3_ACCESS_KEY");
  cfg.s3.secret_key = env_or_file("S3_SECRET_KEY");
  cfg.bucket = "";  // no orphan sweep / lifecycle
  cfg.key_prefix = "coord-bench-" + sfx;  // the prefix of the keys make_messages() writes
  cfg.lifecycle_days = 0;
  cfg.batch_size = batch;
  // One administrator publishes everything here: believe its stores and acks (DESIGN.md §9).
  cfg.producer_users = {amqp::url_user(url)};
  cfg.recipient_users = {{"*", amqp::url_user(url)}};
  auto dir = std::filesystem::temp_directory_path() / ("coord-bench-e2e-" + sfx);
  std::filesystem::create_directories(dir);
  cfg.db.dsn = "sqlite:" + (dir / "c.db").string();

  amqp::Client pub(cfg.amqp);
  if (auto r = pub.connect(); !r) return std::fprintf(stderr, "amqp: %s\n", r.error().to_string().c_str()), 1;
  if (auto r = pub.declare(amqp::coordinator_topology(cfg.names)); !r)
    return std::fprintf(stderr, "amqp: %s\n", r.error().to_string().c_str()), 1;
  auto msgs = make_messages(objects, bucket, "coord-bench-" + sfx);  // keys that do not exist: deletes are no-ops
  const auto p0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const bool store = msgs[i].type == kSchemaStore;
    auto id = pub.publish(cfg.names.ack_exchange, store ? "store" : "ack", msgs[i], false);
    if (!id) return std::fprintf(stderr, "publish: %s\n", id.error().to_string().c_str()), 1;
    if (pub.unconfirmed() > 2000) (void)pub.poll(std::chrono::milliseconds(1));
  }
  if (auto r = pub.wait_confirms(std::chrono::seconds(120)); !r)
    return std::fprintf(stderr, "confirms: %s\n", r.error().to_string().c_str()), 1;
  const double pub_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();

  auto coord = Coordinator::create(cfg);
  if (!coord) return std::fprintf(stderr, "coordinator: %s\n", coord.error().to_string().c_str()), 1;
  const auto t0 = std::chrono::steady_clock::now();
  Result<void> result = ok();
  std::thread th([&] { result = (*coord)->run(); });
  const std::uint64_t want_acks = objects * 3;
  while ((*coord)->stats().acks_new < want_acks && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(300))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  (*coord)->stop();
  th.join();
  auto st = (*coord)->stats();
  std::printf("amqp+sqlite batch %4zu: %zu messages pre-published (%.1f s, %.0f msg/s); coordinator applied %llu acks "
              "+ %llu stores in %.2f s → %.0f acks/s, %.0f messages/s (%llu batches)\n",
              batch, msgs.size(), pub_s, static_cast<double>(msgs.size()) / pub_s,
              static_cast<unsigned long long>(st.acks_new), static_cast<unsigned long long>(st.stores_new), secs,
              static_cast<double>(st.acks_new) / secs, static_cast<double>(st.acks_new + st.stores_new) / secs,
              static_cast<unsigned long long>(st.batches));
  (void)pub.delete_queue(cfg.names.ack_queue);
  (void)pub.delete_queue(cfg.names.dead_queue);
  (void)pub.delete_exchange(cfg.names.ack_exchange);
  (void)pub.delete_exchange(cfg.names.dlx);
  pub.close();
  std::filesystem::remove_all(dir);
  return result ? 0 : 1;
}

std::vector<amqp::Message> make_messages(std::size_t objects, const std::string& bucket, const std::string& prefix) {
  std::vector<amqp::Message> out;
  out.reserve(objects * 4);
  const auto now = utc_now();
  for (std::size_t i = 0; i < objects; ++i) {
    StoreRecord s;
    s.pointer_id = new_uuid_v4();
    s.bucket = bucket;
    s.key = prefix + "/2024/01/01/" + s.pointer_id + ".json.zst";
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
      a.sha256 = s.sha256;
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


int run_postgres(std::size_t objects, std::size_t batch) {
  const std::string pg = env_or_file("CLAIMCHECK_PG_DSN");
  if (pg.empty()) {
    std::printf("postgresql: skipped (CLAIMCHECK_PG_DSN not set)\n");
    return 0;
  }
  int rc = 0;
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
  rc |= run_postgres(objects, batch);
  rc |= run_amqp(std::min<std::size_t>(objects, 5000), batch);
  return rc;
}
