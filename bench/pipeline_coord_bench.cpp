// Coordinator throughput: parse (parse_coordinator_message) + apply (RefStore::apply_batch, one transaction per
// batch) of s3-store-v1 / s3-ack-v1 messages, as the coordinator's store path does it, each figure next to a
// baseline measured in the same run on the same server (the machine is shared: only ratios compare):
// - SQLite (temp file, WAL): claimcheck vs a plain sqlite3 client inserting the same rows per batch;
// - PostgreSQL (CLAIMCHECK_PG_DSN, env or .local/env; fresh schemas): claimcheck's set-based batches vs a plain
//   libpqxx client writing the same rows with `INSERT ... SELECT unnest(...)`, and the per-statement path
//   (what apply_batch did before the set-based one) vs the set-based one. Round trips per batch are counted
//   (statements + BEGIN + COMMIT).
// With AMQP_URL and S3_* set (env or .local/env) it also measures the whole coordinator (Coordinator::run) on
// SQLite and on PostgreSQL: messages pre-published to a private ack queue, time until all are applied
// (RabbitMQ → parse → database), next to a minimal rabbitmq-c consumer (plain_drain: no claimcheck code)
// draining and acking the same messages from the same queue. ROW| lines feed scripts/bench's table.
// Usage: pipeline_coord_bench [OBJECTS=10000] [BATCH=500]   (3 recipients per object → 3 acks per object)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pqxx/pqxx>
#include <sqlite3.h>

#include <thread>

#include "pg_schema.h"
#include "claimcheck/amqp/client.h"
#include "claimcheck/amqp/types.h"
#include "claimcheck/coordinate/coordinator.h"
#include "claimcheck/core/ids.h"
#include "claimcheck/core/time.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/protocol/topology.h"
#include "claimcheck/refstore/ref_store.h"
#include "refstore/sql_db.h"
#include "refstore/staged_batch.h"

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

void print_row(const std::string& name, double cc, double base, const char* unit, const char* check) {
  std::printf("ROW|%s|%.0f|%s|%s|%s\n", name.c_str(), cc, base < 0 ? "-" : std::to_string(std::lround(base)).c_str(),
              unit, check);
}

/// A coordinator on a private topology (bench<sfx>.*) over `dsn` that believes the one administrator user
/// who publishes everything here (DESIGN.md §9); no orphan sweep, no lifecycle rule.
CoordinatorConfig amqp_bench_config(const std::string& sfx, const std::string& dsn, std::size_t batch) {
  const std::string url = env_or_file("AMQP_URL");
  CoordinatorConfig cfg;
  cfg.amqp.urls = {url};
  cfg.amqp.connection_name = "coord-bench";
  cfg.names.ack_exchange = "bench" + sfx + ".ack";
  cfg.names.ack_queue = "bench" + sfx + ".q.ack";
  cfg.names.dlx = "bench" + sfx + ".dlx";
  cfg.names.dead_queue = "bench" + sfx + ".q.dead";
  cfg.s3.endpoint = env_or_file("S3_ENDPOINT");
  cfg.s3.region = env_or_file("S3_REGION").empty() ? "us-east-1" : env_or_file("S3_REGION");
  cfg.s3.access_key = env_or_file("S3_ACCESS_KEY");
  cfg.s3.secret_key = env_or_file("S3_SECRET_KEY");
  cfg.bucket = "";                        // no orphan sweep / lifecycle
  cfg.key_prefix = "coord-bench-" + sfx;  // the prefix of the keys make_messages() writes
  cfg.lifecycle_days = 0;
  cfg.batch_size = batch;
  cfg.producer_users = {amqp::url_user(url)};
  cfg.recipient_users = {{"*", amqp::url_user(url)}};
  cfg.db.dsn = dsn;
  return cfg;
}

/// Publishes `msgs` (stores with routing key "store", acks with "ack") to the ack exchange, all confirmed.
Result<double> publish_all(amqp::Client& pub, const CoordinatorConfig& cfg, const std::vector<amqp::Message>& msgs) {
  const auto p0 = std::chrono::steady_clock::now();
  for (const auto& m : msgs) {
    CC_TRY_VOID(pub.publish(cfg.names.ack_exchange, m.type == kSchemaStore ? "store" : "ack", m, false));
    if (pub.unconfirmed() > 2000) (void)pub.poll(std::chrono::milliseconds(1));
  }
  CC_TRY_VOID(pub.wait_confirms(std::chrono::seconds(120)));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();
}

/// Publisher-confirm latency to the ack queue (quorum): `n` messages one at a time, each waited for; prints
/// p50 / p90 / p99 in ms (what every produce and consume step waits for at least once per payload).
Result<void> confirm_latency(amqp::Client& pub, const CoordinatorConfig& cfg, const std::vector<amqp::Message>& msgs,
                             std::size_t n) {
  std::vector<double> ms;
  for (std::size_t i = 0; i < n && i < msgs.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    CC_TRY_VOID(pub.publish(cfg.names.ack_exchange, msgs[i].type == kSchemaStore ? "store" : "ack", msgs[i], false));
    CC_TRY_VOID(pub.wait_confirms(std::chrono::seconds(10)));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  auto q = [&](double f) { return ms.empty() ? 0.0 : ms[static_cast<std::size_t>(f * static_cast<double>(ms.size() - 1))]; };
  std::printf("publisher confirm latency to a quorum queue, one message at a time (%zu): p50 %.2f ms, p90 %.2f ms, "
              "p99 %.2f ms\n", ms.size(), q(0.5), q(0.9), q(0.99));
  return ok();
}

/// Baseline: a minimal rabbitmq-c consumer (no claimcheck code) draining `n` messages from `queue` with the
/// coordinator's prefetch and acking with `multiple` every `batch` deliveries (the coordinator acks each
/// batch after its commit). Returns the seconds from connect to the last ack.
Result<double> plain_drain(const std::string& url, const std::string& queue, std::size_t n, int prefetch,
                           std::size_t batch) {
  std::string buf = url;  // amqp_parse_url points into its buffer
  amqp_connection_info ci;
  if (amqp_parse_url(buf.data(), &ci) != AMQP_STATUS_OK) return fail(ErrorCode::Internal, claimcheck::Origin::Bench, "bad AMQP_URL");
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<amqp_connection_state_t_, decltype(&amqp_destroy_connection)> conn(amqp_new_connection(),
                                                                                    amqp_destroy_connection);
  amqp_connection_state_t c = conn.get();
  amqp_socket_t* sock = amqp_tcp_socket_new(c);
  if (sock == nullptr || amqp_socket_open(sock, ci.host, ci.port) != AMQP_STATUS_OK ||
      amqp_login(c, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password).reply_type !=
          AMQP_RESPONSE_NORMAL) {
    return fail(ErrorCode::Unavailable, claimcheck::Origin::Bench, "plain drain: cannot connect and log in");
  }
  amqp_channel_open(c, 1);
  amqp_basic_qos(c, 1, 0, static_cast<std::uint16_t>(prefetch), false);
  amqp_basic_consume(c, 1, amqp_cstring_bytes(queue.c_str()), amqp_empty_bytes, false, false, false, amqp_empty_table);
  if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
    return fail(ErrorCode::Unavailable, claimcheck::Origin::Bench, "plain drain: basic.consume refused");
  std::size_t got = 0, unacked = 0;
  while (got < n) {
    amqp_maybe_release_buffers(c);
    amqp_envelope_t env;
    timeval tv{30, 0};
    if (amqp_consume_message(c, &env, &tv, 0).reply_type != AMQP_RESPONSE_NORMAL)
      return fail(ErrorCode::Unavailable, claimcheck::Origin::Bench, "plain drain: " + std::to_string(got) + " of " + std::to_string(n));
    const std::uint64_t tag = env.delivery_tag;
    amqp_destroy_envelope(&env);
    if (++got, ++unacked >= batch || got == n) {
      amqp_basic_ack(c, 1, tag, 1);
      unacked = 0;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  return secs;
}

/// Runs a Coordinator on `cfg` until it applied `want_acks` acks (at most 300 s); returns its stats, seconds.
Result<std::pair<CoordinatorStats, double>> coordinate_until(const CoordinatorConfig& cfg, std::uint64_t want_acks) {
  CC_TRY(coord, Coordinator::create(cfg));
  const auto t0 = std::chrono::steady_clock::now();
  Result<void> result = ok();
  std::thread th([&] { result = (*coord)->run(); });
  while ((*coord)->stats().acks_new < want_acks && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(300))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  (*coord)->stop();
  th.join();
  if (!result) return Unexpected{result.error()};
  return std::pair{(*coord)->stats(), secs};
}

// The whole coordinator (Coordinator::run) through RabbitMQ on `dsn`, next to the plain drain of the same queue:
// the messages are pre-published to the coordinator's ack queue and drained by plain_drain(), then published
// again and applied by the coordinator; both times count from connect to the last message.
int run_amqp(std::size_t objects, std::size_t batch, const char* label, const std::string& dsn) {
  if (env_or_file("AMQP_URL").empty() || env_or_file("S3_ENDPOINT").empty()) {
    std::printf("amqp end-to-end: skipped (AMQP_URL / S3_ENDPOINT not set)\n");
    return 0;
  }
  const std::string sfx = new_uuid_v4().substr(0, 8);
  const CoordinatorConfig cfg = amqp_bench_config(sfx, dsn, batch);
  amqp::Client pub(cfg.amqp);
  auto msgs = make_messages(objects, env_or_file("S3_BUCKET"), cfg.key_prefix);  // no such keys: deletes are no-ops
  auto body = [&]() -> Result<std::string> {
    CC_TRY_VOID(pub.connect());
    CC_TRY_VOID(pub.declare(coordinator_topology(cfg.names)));
    if (std::string(label) == "sqlite") {  // once per run: the queue is drained by plain_drain() below
      CC_TRY_VOID(confirm_latency(pub, cfg, msgs, 200));
      CC_TRY_VOID(pub.delete_queue(cfg.names.ack_queue));
      CC_TRY_VOID(pub.declare(coordinator_topology(cfg.names)));
    }
    // The baseline is the fastest of 3 drains: one drain of 40,000 messages takes ~0.2 s, short enough for a
    // scheduling hiccup on this shared machine to move it by 10 %.
    const int prefetch = static_cast<int>(std::min<std::size_t>(batch * 4, 65535));  // the coordinator's default
    double best_plain = 0;
    for (int k = 0; k < 3; ++k) {
      CC_TRY_VOID(publish_all(pub, cfg, msgs));
      CC_TRY(secs, plain_drain(cfg.amqp.urls[0], cfg.names.ack_queue, msgs.size(), prefetch, batch));
      if (k == 0 || *secs < best_plain) best_plain = *secs;
    }
    const double* plain_s = &best_plain;
    CC_TRY(pub_s, publish_all(pub, cfg, msgs));
    CC_TRY(run, coordinate_until(cfg, objects * 3));
    const auto& [st, secs] = *run;
    const double n = static_cast<double>(msgs.size()), cc_rate = static_cast<double>(st.acks_new + st.stores_new) / secs;
    std::printf("amqp+%s batch %4zu: %zu messages pre-published (%.1f s, %.0f msg/s); plain rabbitmq-c drain (best of 3) %.2f s → "
                "%.0f msg/s; coordinator applied %llu acks + %llu stores in %.2f s → %.0f acks/s, %.0f messages/s "
                "(%llu batches)\n", label, batch, msgs.size(), *pub_s, n / *pub_s, *plain_s, n / *plain_s,
                static_cast<unsigned long long>(st.acks_new), static_cast<unsigned long long>(st.stores_new), secs,
                static_cast<double>(st.acks_new) / secs, cc_rate, static_cast<unsigned long long>(st.batches));
    const std::string what = std::string("coordinator via RabbitMQ + ") + label + ", " + std::to_string(objects) +
                             " x 3 acks";
    print_row(what + " (messages/s)", cc_rate, n / *plain_s, "msg/s", "ratio>=0.8");
    if (std::string(label) == "postgresql")
      print_row(what + " (acks/s)", static_cast<double>(st.acks_new) / secs, -1, "acks/s", "value>=20000");
    return std::string();
  };
  auto r = body();
  (void)pub.delete_queue(cfg.names.ack_queue);
  (void)pub.delete_queue(cfg.names.dead_queue);
  (void)pub.delete_exchange(cfg.names.ack_exchange);
  (void)pub.delete_exchange(cfg.names.dlx);
  pub.close();
  if (!r) return std::fprintf(stderr, "amqp+%s: %s\n", label, r.error().to_string().c_str()), 1;
  return 0;
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

/// Counts the round trips a RefStore makes: every statement, BEGIN and COMMIT is one (libpq, libpqxx 6.4 do
/// not pipeline single statements), except that exec_all() is one in all (PostgreSQL sends its statements,
/// and the deferred BEGIN / a COMMIT it includes, as one query string). For SQLite the same count is the
/// number of statements (in-process, no network).
class CountingDb final : public refstore::detail::SqlDb {
 public:
  CountingDb(std::unique_ptr<refstore::detail::SqlDb> db, std::shared_ptr<std::size_t> n)
      : db_(std::move(db)), n_(std::move(n)) {}
  refstore::detail::Backend backend() const noexcept override { return db_->backend(); }
  Result<void> begin(bool write) override { return fresh_ = open_ = true, db_->begin(write); }
  Result<void> commit() override {
    if (open_ && !fresh_) ++*n_;
    open_ = fresh_ = false;
    return db_->commit();
  }
  void rollback() noexcept override { open_ = fresh_ = false, db_->rollback(); }
  Result<refstore::detail::Rows> exec(refstore::detail::Stmt s,
                                      const std::vector<refstore::detail::Param>& params) override {
    *n_ += fresh_ ? 2 : 1;  // the deferred BEGIN goes first, on its own
    fresh_ = false;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = db_->exec(s, params);
    if (std::getenv("BENCH_PROFILE") != nullptr)
      prof_[static_cast<int>(s)] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
  Result<std::vector<refstore::detail::Rows>> exec_all(const std::vector<refstore::detail::Call>& calls,
                                                       bool then_commit) override {
    ++*n_;  // one round trip on PostgreSQL (BEGIN and COMMIT included)
    fresh_ = false;
    open_ = open_ && !then_commit;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = db_->exec_all(calls, then_commit);
    if (std::getenv("BENCH_PROFILE") != nullptr && !calls.empty())
      prof_[100 + static_cast<int>(calls.front().stmt)] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
  ~CountingDb() override {
    for (const auto& [s, secs] : prof_) std::fprintf(stderr, "  stmt %2d: %.3f s\n", s, secs);
  }
  Result<void> exec_script(std::string_view sql) override {
    *n_ += fresh_ ? 2 : 1;
    fresh_ = false;
    return db_->exec_script(sql);
  }
  Result<void> prepare_migration() override { return db_->prepare_migration(); }

 private:
  std::unique_ptr<refstore::detail::SqlDb> db_;
  std::shared_ptr<std::size_t> n_;
  bool open_ = false, fresh_ = false;  // a transaction is open / nothing ran in it yet (BEGIN deferred)
  std::map<int, double> prof_;  // seconds per statement, 100 + first statement for exec_all (BENCH_PROFILE set)
};

/// One measured run: acks applied per second and round trips per batch.
struct Figure {
  double acks_per_s = 0, round_trips_per_batch = 0;
  std::size_t batches = 0;
};

/// Opens the engine over `dsn` with a round-trip counter (the same engine open_ref_store builds).
Result<std::unique_ptr<refstore::RefStore>> open_counted(const std::string& dsn, refstore::detail::BatchMode mode,
                                                         std::shared_ptr<std::size_t> n) {
  refstore::RefStoreConfig cfg;
  cfg.dsn = dsn;
  Result<std::unique_ptr<refstore::detail::SqlDb>> db =
      dsn.rfind("sqlite:", 0) == 0 ? refstore::detail::open_sqlite(dsn.substr(7), cfg.busy_timeout)
                                   : refstore::detail::open_postgres(dsn, cfg.busy_timeout);
  if (!db) return Unexpected{db.error()};
  return refstore::detail::make_sql_ref_store(std::make_unique<CountingDb>(std::move(*db), std::move(n)), cfg, mode);
}

/// Parses `msgs` in batches of `batch` and hands each batch to `apply` (which retries Aborted itself).
/// Returns the number of acks applied (as apply reports them) and the seconds taken, parse included.
template <typename Apply>
Result<std::pair<std::size_t, double>> drive(const std::vector<amqp::Message>& msgs, std::size_t batch, Apply&& apply) {
  std::size_t acks = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<refstore::Command> cmds;
  cmds.reserve(batch);
  for (std::size_t i = 0; i < msgs.size();) {
    cmds.clear();
    for (; i < msgs.size() && cmds.size() < batch; ++i) {
      CC_TRY(c, parse_coordinator_message(msgs[i]));
      cmds.push_back(std::move(*c));
    }
    CC_TRY(n, apply(cmds));
    acks += *n;
  }
  return std::pair<std::size_t, double>{acks, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

/// claimcheck's RefStore on `dsn` in `mode`: parse + apply_batch of every message.
Result<Figure> run_refstore(const std::string& dsn, refstore::detail::BatchMode mode,
                            const std::vector<amqp::Message>& msgs, std::size_t batch) {
  auto trips = std::make_shared<std::size_t>(0);
  CC_TRY(store, open_counted(dsn, mode, trips));
  std::size_t batches = 0, completed = 0;
  *trips = 0;
  CC_TRY(done, drive(msgs, batch, [&](const std::vector<refstore::Command>& cmds) -> Result<std::size_t> {
    ++batches;
    for (;;) {
      auto r = (*store)->apply_batch(cmds, refstore::Clock::now());
      if (r) return completed += r->completed.size(), r->acks_new;
      if (r.error().code != ErrorCode::Aborted) return Unexpected{r.error()};
    }
  }));
  if (completed * 4 != msgs.size()) {
    return fail(ErrorCode::Internal, claimcheck::Origin::Bench, std::to_string(completed) + " objects completed, expected " +
                                                  std::to_string(msgs.size() / 4));
  }
  return Figure{static_cast<double>(done->first) / done->second,
                static_cast<double>(*trips) / static_cast<double>(batches), batches};
}

/// The columns of a batch as PostgreSQL array literals: stores (pointer_id, bucket, key, sha256) and acks
/// (pointer_id, recipient_id, sha256).
std::pair<std::vector<std::string>, std::vector<std::string>> batch_arrays(const std::vector<refstore::Command>& cmds) {
  std::vector<std::vector<std::optional<std::string>>> st(4), ak(3);
  for (const auto& c : cmds) {
    if (const auto* s = std::get_if<refstore::StoreInput>(&c)) {
      for (const auto& [col, v] : {std::pair{0, &s->pointer_id}, {1, &s->bucket}, {2, &s->key}, {3, &s->sha256}})
        st[static_cast<std::size_t>(col)].emplace_back(*v);
    } else {
      const auto& a = std::get<refstore::AckInput>(c);
      ak[0].emplace_back(a.pointer_id);
      ak[1].emplace_back(a.recipient_id);
      ak[2].emplace_back(a.sha256);
    }
  }
  std::pair<std::vector<std::string>, std::vector<std::string>> out;
  for (const auto& col : st) out.first.push_back(refstore::detail::pg_array_literal(col));
  for (const auto& col : ak) out.second.push_back(refstore::detail::pg_array_literal(col));
  return out;
}

/// Baseline: a plain libpqxx client writing the same rows (stores, acks) per batch, one transaction, two
/// `INSERT ... SELECT unnest($n::text[]...)` statements (the floor of any set-based schema on this server).
Result<Figure> run_plain_pg(const std::string& pg, const std::string& schema, const std::vector<amqp::Message>& msgs,
                            std::size_t batch) {
  try {
    pqxx::connection c(pg);
    {
      pqxx::work w(c);
      w.exec("CREATE SCHEMA IF NOT EXISTS \"" + schema + "\"");
      w.exec("CREATE TABLE \"" + schema + "\".plain_objects (pointer_id TEXT PRIMARY KEY, bucket TEXT, object_key TEXT, "
             "sha256 TEXT)");
      w.exec("CREATE TABLE \"" + schema + "\".plain_acks (pointer_id TEXT, recipient_id TEXT, sha256 TEXT, "
             "PRIMARY KEY (pointer_id, recipient_id))");
      w.commit();
    }
    c.prepare("objs", "INSERT INTO \"" + schema + "\".plain_objects SELECT * FROM unnest($1::text[], $2::text[], "
                      "$3::text[], $4::text[])");
    c.prepare("acks", "INSERT INTO \"" + schema + "\".plain_acks SELECT * FROM unnest($1::text[], $2::text[], $3::text[])");
    std::size_t batches = 0;
    CC_TRY(done, drive(msgs, batch, [&](const std::vector<refstore::Command>& cmds) -> Result<std::size_t> {
      const auto [st, ak] = batch_arrays(cmds);
      pqxx::work w(c);
      w.exec_prepared("objs", st[0], st[1], st[2], st[3]);
      const auto r = w.exec_prepared("acks", ak[0], ak[1], ak[2]);
      w.commit();
      ++batches;
      return static_cast<std::size_t>(r.affected_rows());
    }));
    return Figure{static_cast<double>(done->first) / done->second, 4.0, batches};
  } catch (const std::exception& e) {
    return fail(ErrorCode::Internal, claimcheck::Origin::Bench, e.what());
  }
}

/// Baseline: plain SQLite (same file settings: WAL, synchronous=NORMAL) inserting the same rows per batch
/// with prepared INSERTs in one transaction.
Result<Figure> run_plain_sqlite(const std::string& path, const std::vector<amqp::Message>& msgs, std::size_t batch) {
  sqlite3* raw = nullptr;
  if (sqlite3_open(path.c_str(), &raw) != SQLITE_OK) return fail(ErrorCode::Internal, claimcheck::Origin::Bench, "sqlite open");
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, sqlite3_close);
  sqlite3_exec(raw, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE o (pointer_id TEXT PRIMARY KEY, "
               "bucket TEXT, object_key TEXT, sha256 TEXT); CREATE TABLE a (pointer_id TEXT, recipient_id TEXT, sha256 "
               "TEXT, PRIMARY KEY (pointer_id, recipient_id))", nullptr, nullptr, nullptr);
  sqlite3_stmt *so = nullptr, *sa = nullptr;
  sqlite3_prepare_v2(raw, "INSERT INTO o VALUES (?, ?, ?, ?)", -1, &so, nullptr);
  sqlite3_prepare_v2(raw, "INSERT INTO a VALUES (?, ?, ?)", -1, &sa, nullptr);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> fo(so, sqlite3_finalize), fa(sa, sqlite3_finalize);
  auto step = [](sqlite3_stmt* st, std::initializer_list<const std::string*> vals) {
    int i = 0;
    for (const auto* v : vals) sqlite3_bind_text(st, ++i, v->c_str(), static_cast<int>(v->size()), SQLITE_STATIC);
    const int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE;
  };
  std::size_t batches = 0;
  CC_TRY(done, drive(msgs, batch, [&](const std::vector<refstore::Command>& cmds) -> Result<std::size_t> {
    std::size_t acks = 0;
    sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (const auto& c : cmds) {
      const auto* s = std::get_if<refstore::StoreInput>(&c);
      const auto* a = std::get_if<refstore::AckInput>(&c);
      const bool okay = s ? step(so, {&s->pointer_id, &s->bucket, &s->key, &s->sha256})
                          : step(sa, {&a->pointer_id, &a->recipient_id, &a->sha256});
      if (!okay) return fail(ErrorCode::Internal, claimcheck::Origin::Bench, sqlite3_errmsg(raw));
      acks += a ? 1 : 0;
    }
    sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr);
    ++batches;
    return acks;
  }));
  return Figure{static_cast<double>(done->first) / done->second, 0.0, batches};
}

/// One report line: claimcheck's figure, a reference figure, their ratio (and, given `row`, a ROW line).
void report(const char* store, std::size_t batch, const char* what, const Figure& f, const char* base_name,
            const Figure& base, const char* target, const char* row = nullptr) {
  if (row != nullptr)
    std::printf("ROW|%s, batch %zu (acks/s)|%.0f|%.0f|acks/s|info\n", row, batch, f.acks_per_s, base.acks_per_s);
  std::printf("%-10s batch %4zu  %-28s %8.0f acks/s  %6.1f round trips/batch | %-34s %8.0f acks/s | ratio %5.2f%s\n",
              store, batch, what, f.acks_per_s, f.round_trips_per_batch, base_name, base.acks_per_s,
              base.acks_per_s > 0 ? f.acks_per_s / base.acks_per_s : 0.0, target);
}

std::string with_schema(const std::string& pg, const std::string& schema) {
  return pg + (pg.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
}

void drop_schemas(const std::string& pg, const std::vector<std::string>& schemas) {
  if (const std::string err = claimcheck::test::drop_pg_schemas(pg, schemas); !err.empty())
    std::fprintf(stderr, "cannot drop bench schemas: %s\n", err.c_str());
}

/// PostgreSQL side by side, each on its own fresh schema and messages: claimcheck (set-based), the old
/// per-statement path, and the plain unnest client.
int run_postgres(std::size_t objects, std::size_t batch) {
  const std::string pg = env_or_file("CLAIMCHECK_PG_DSN");
  if (pg.empty()) {
    std::printf("postgresql: skipped (CLAIMCHECK_PG_DSN not set)\n");
    return 0;
  }
  const std::string sfx = new_uuid_v4().substr(0, 8);
  const std::vector<std::string> schemas{"cc_bench_set_" + sfx, "cc_bench_stmt_" + sfx, "cc_bench_plain_" + sfx};
  using refstore::detail::BatchMode;
  auto set = run_refstore(with_schema(pg, schemas[0]), BatchMode::Staged, make_messages(objects), batch);
  auto old = run_refstore(with_schema(pg, schemas[1]), BatchMode::PerStatement,
                          make_messages(std::max<std::size_t>(objects / 4, 1)), batch);
  auto plain = run_plain_pg(pg, schemas[2], make_messages(objects), batch);
  drop_schemas(pg, schemas);
  for (const auto* r : {&set, &old, &plain}) {
    if (!*r) return std::fprintf(stderr, "postgresql: %s\n", r->error().to_string().c_str()), 1;
  }
  report("postgresql", batch, "claimcheck (set-based)", *set, "plain INSERT..SELECT unnest client", *plain,
         "  (target >= 20000 acks/s)", "refstore parse+apply PostgreSQL vs plain unnest INSERTs");
  report("postgresql", batch, "per-statement path (before)", *old, "claimcheck (set-based)", *set, "  (old/new)");
  return 0;
}

/// SQLite side by side: claimcheck (per statement: in-process, no round trips) vs plain prepared INSERTs.
int run_sqlite(std::size_t objects, std::size_t batch) {
  const auto dir = std::filesystem::temp_directory_path() / ("coord-bench-" + new_uuid_v4());
  std::filesystem::create_directories(dir);
  auto cc = run_refstore("sqlite:" + (dir / "cc.db").string(), refstore::detail::BatchMode::Staged,
                         make_messages(objects), batch);
  auto plain = run_plain_sqlite((dir / "plain.db").string(), make_messages(objects), batch);
  std::filesystem::remove_all(dir);
  for (const auto* r : {&cc, &plain}) {
    if (!*r) return std::fprintf(stderr, "sqlite: %s\n", r->error().to_string().c_str()), 1;
  }
  report("sqlite", batch, "claimcheck", *cc, "plain sqlite3 prepared INSERTs", *plain, "",
         batch > 1 ? "refstore parse+apply SQLite vs plain prepared INSERTs" : nullptr);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t objects = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  const std::size_t batch = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 500;
  std::printf("coordinator parse + apply: %zu objects x 3 recipients (1 store + 3 acks each, in arrival order), each "
              "figure next to a baseline measured in this run on the same server\n", objects);
  int rc = 0;
  for (std::size_t b : {std::size_t{1}, batch}) rc |= run_sqlite(b == 1 ? std::min<std::size_t>(objects, 2000) : objects, b);
  rc |= run_postgres(objects, batch);
  const std::size_t amqp_objects = std::min<std::size_t>(objects, 10000);  // ~1 s of coordinator work
  const auto dir = std::filesystem::temp_directory_path() / ("coord-bench-e2e-" + new_uuid_v4().substr(0, 8));
  std::filesystem::create_directories(dir);
  rc |= run_amqp(amqp_objects, batch, "sqlite", "sqlite:" + (dir / "c.db").string());
  std::filesystem::remove_all(dir);
  if (const std::string pg = env_or_file("CLAIMCHECK_PG_DSN"); !pg.empty()) {
    const std::string schema = "cc_bench_amqp_" + new_uuid_v4().substr(0, 8);
    rc |= run_amqp(amqp_objects, batch, "postgresql", with_schema(pg, schema));
    drop_schemas(pg, {schema});
  }
  return rc;
}
