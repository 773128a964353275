// Integration tests of the coordinator (issue 4) against the local RabbitMQ + Ceph RGW (`make up PG=1`),
// on both RefStores: SQLite (temp file) and PostgreSQL (CLAIMCHECK_PG_DSN, a fresh schema per test).
// Every test uses its own topology names (t<rand>.ack, t<rand>.q.ack, t<rand>.dlx, ...) and its own key
// prefix, so nobody else's messages or objects mix in. The coordinator runs in-process (Coordinator::run on
// a thread), except for the crash test, which runs the CLI binary as a subprocess and SIGKILLs it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "claimcheck/amqp/client.h"
#include "claimcheck/coordinate/coordinator.h"
#include "claimcheck/coordinate/metrics.h"
#include "prometheus_text.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/refstore/ref_store.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/core/codec.h"
#include "claimcheck/core/ids.h"
#include "claimcheck/core/time.h"
#include "claimcheck/protocol/topology.h"
#include "rabbitmq_mgmt.h"
#include "pg_schema.h"
#include "test_env.h"
#include "test_topology.h"

using namespace claimcheck;
using namespace std::chrono_literals;
using refstore::ObjectState;

namespace {

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

// A coordinator running on its own thread.
struct Running {
  std::unique_ptr<Coordinator> coord;
  std::thread thread;
  Result<void> result = ok();
  std::atomic<bool> finished{false};
  ~Running() { stop(); }
  void stop() {
    if (coord) coord->stop();
    if (thread.joinable()) thread.join();
  }
};

class CoordTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    sfx_ = claimcheck::test::unique_name("", 6) + std::to_string(getpid() % 1000);
    names_ = test::test_topology("t" + sfx_);
    prefix_ = "cctest-" + sfx_;

    if (GetParam() == "sqlite") {
      dir_ = std::filesystem::temp_directory_path() / ("coord-test-" + sfx_);
      std::filesystem::create_directories(dir_);
      dsn_ = "sqlite:" + (dir_ / "claimcheck.db").string();
    } else {
      base_dsn_ = test::require_env("CLAIMCHECK_PG_DSN");
      ASSERT_FALSE(base_dsn_.empty());
      schema_ = "cc_coord_" + sfx_;
      dsn_ = base_dsn_ + (base_dsn_.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema_;
    }

    amqp_.urls = {test::require_env("AMQP_URL")};
    amqp_.connection_name = "coord-test-" + sfx_;
    s3_.endpoint = test::require_env("S3_ENDPOINT");
    s3_.region = test::env_value("S3_REGION").value_or("us-east-1");
    s3_.access_key = test::require_env("S3_ACCESS_KEY");
    s3_.secret_key = test::require_env("S3_SECRET_KEY");
    bucket_ = test::require_env("S3_BUCKET");
    ASSERT_FALSE(HasFailure());

    pub_ = std::make_unique<amqp::Client>(amqp_);
    auto c = pub_->connect();
    ASSERT_TRUE(c) << c.error().to_string();
    auto d = pub_->declare(coordinator_topology(names_));
    ASSERT_TRUE(d) << d.error().to_string();
    auto s3 = s3::S3Client::create(s3_);
    ASSERT_TRUE(s3) << s3.error().to_string();
    s3c_ = std::make_unique<s3::S3Client>(std::move(*s3));
    refstore::RefStoreConfig rc;
    rc.dsn = dsn_;
    auto st = refstore::open_ref_store(rc);
    ASSERT_TRUE(st) << st.error().to_string();
    store_ = std::move(*st);
  }

  void TearDown() override {
    running_.clear();
    store_.reset();
    if (pub_) {
      (void)pub_->delete_queue(names_.ack_queue);
      (void)pub_->delete_queue(names_.dead_queue);
      (void)pub_->delete_exchange(names_.ack_exchange);
      (void)pub_->delete_exchange(names_.dlx);
      pub_->close();
    }
    if (s3c_) {
      auto page = s3c_->list_objects_v2(bucket_, prefix_ + "/");
      if (page && !page->objects.empty()) {
        std::vector<std::string> keys;
        for (auto& o : page->objects) keys.push_back(o.key);
        (void)s3c_->delete_objects(bucket_, keys);
      }
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    if (!schema_.empty()) {
      const std::string err = claimcheck::test::drop_pg_schemas(base_dsn_, {schema_});
      if (!err.empty()) ADD_FAILURE() << "cannot drop test schema: " << err;
    }
  }

  CoordinatorConfig config() {
    CoordinatorConfig cfg;
    cfg.amqp = amqp_;
    cfg.amqp.connection_name = "coord-under-test-" + sfx_;
    cfg.names = names_;
    cfg.s3 = s3_;
    cfg.bucket = bucket_;
    cfg.db.dsn = dsn_;
    cfg.key_prefix = prefix_;
    cfg.lifecycle_days = 0;  // leave the shared bucket's lifecycle alone
    cfg.sweep_interval = 1s;
    cfg.batch_delay = 20ms;
    // Every party runs as the administrator of .local/env until per-party users exist (issue 9 item 1).
    cfg.producer_users = {admin_user()};
    cfg.recipient_users = {{"*", admin_user()}};
    return cfg;
  }

  std::string admin_user() const { return amqp::url_user(amqp_.urls[0]); }
  std::string all_recipients_admin() const { return "*=" + admin_user(); }

  /// Forks `claimcheck coordinator` (the CLI, not the library) on this test's topology, key prefix and
  /// database, the servers' settings in its environment, every party the administrator, `--log-level warn`
  /// and `extra` flags. Returns its pid (fatal failure when the binary is unknown or fork fails).
  void fork_cli_coordinator(const std::vector<std::string>& extra, pid_t& pid) {
    const std::string bin = test::claimcheck_binary();
    ASSERT_FALSE(bin.empty()) << "CLAIMCHECK_BINARY not set and no CLAIMCHECK_TEST_BINARY compiled in";
    std::vector<std::string> args = {bin, "coordinator", "--ack-exchange", names_.ack_exchange, "--ack-queue",
                                     names_.ack_queue, "--dlx", names_.dlx, "--dead-queue", names_.dead_queue,
                                     "--key-prefix", prefix_, "--lifecycle-days", "0", "--log-level", "warn",
                                     "--producer-users", admin_user(), "--recipient-users", all_recipients_admin()};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      setenv("AMQP_URL", amqp_.urls[0].c_str(), 1);
      setenv("S3_ENDPOINT", s3_.endpoint.c_str(), 1);
      setenv("S3_REGION", s3_.region.c_str(), 1);
      setenv("S3_ACCESS_KEY", s3_.access_key.c_str(), 1);
      setenv("S3_SECRET_KEY", s3_.secret_key.c_str(), 1);
      setenv("S3_BUCKET", bucket_.c_str(), 1);
      setenv("CLAIMCHECK_DB", dsn_.c_str(), 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }

  Running& start(CoordinatorConfig cfg, std::shared_ptr<CoordinatorMetrics> metrics = {}) {
    auto c = Coordinator::create(std::move(cfg), std::move(metrics));
    EXPECT_TRUE(c) << c.error().to_string();
    auto r = std::make_unique<Running>();
    r->coord = std::move(*c);
    Running* raw = r.get();
    r->thread = std::thread([raw] {
      raw->result = raw->coord->run();
      raw->finished = true;
    });
    running_.push_back(std::move(r));
    return *raw;
  }

  // Creates an object under the test prefix and returns its key.
  std::string put_object(const std::string& id, std::string body = "payload") {
    std::string key = make_object_key(prefix_, utc_now(), id, Encoding::Identity);
    auto r = s3c_->put_object(bucket_, key, std::string_view(body));
    EXPECT_TRUE(r) << r.error().to_string();
    return key;
  }

  bool exists(const std::string& key) {
    auto r = s3c_->head_object(bucket_, key);
    if (r) return true;
    EXPECT_EQ(r.error().code, ErrorCode::NotFound) << r.error().to_string();
    return false;
  }

  StoreRecord store_record(const std::string& id, const std::string& key, std::vector<std::string> recipients,
                           std::chrono::seconds ttl = 3600s) {
    StoreRecord s;
    s.pointer_id = id;
    s.bucket = bucket_;
    s.key = key;
    s.recipients = std::move(recipients);
    s.recipients_total = static_cast<std::int64_t>(s.recipients.size());
    s.size_stored = 7;
    s.sha256 = std::string(64, 'a');
    s.created_at = utc_now();
    s.expires_at = s.created_at + ttl;
    s.producer_id = "coord-test";
    return s;
  }

  void publish_store(const StoreRecord& s) {
    amqp::Message m;
    m.body = to_json(s);
    m.type = std::string(kSchemaStore);
    m.message_id = s.pointer_id;
    publish(names_.store_routing_key, m);
  }

  void publish_ack(const StoreRecord& s, const std::string& recipient, bool processed = true) {
    publish(names_.ack_routing_key, ack_message(s, recipient, processed));
  }

  // The s3-ack-v1 message a recipient publishes for `s`, with the store record's sha256 unless `sha` is given.
  static amqp::Message ack_message(const StoreRecord& s, const std::string& recipient, bool processed = true,
                                   const std::string& sha = {}) {
    Ack a;
    a.pointer_id = s.pointer_id;
    a.recipient_id = recipient;
    a.status = processed ? AckStatus::Processed : AckStatus::Rejected;
    if (!processed) a.reason = "handler refused";
    a.processed_at = utc_now();
    a.bucket = s.bucket;
    a.key = s.key;
    a.recipients_total = s.recipients_total;
    a.sha256 = sha.empty() ? s.sha256 : sha;
    amqp::Message m;
    m.body = to_json(a);
    m.type = std::string(kSchemaAck);
    m.message_id = a.message_id();
    return m;
  }

  static amqp::Message store_message(const StoreRecord& s) {
    amqp::Message m;
    m.body = to_json(s);
    m.type = std::string(kSchemaStore);
    m.message_id = s.pointer_id;
    return m;
  }

  // Publishes (confirmed) as another broker user.
  void publish_as(const test::BrokerUser& user, const std::string& rk, const amqp::Message& m) {
    amqp::AmqpConfig c = amqp_;
    c.urls = {user.url()};
    c.connection_name = "coord-test-" + user.name();
    amqp::Client other(c);
    ASSERT_TRUE(other.connect().has_value());
    ASSERT_TRUE(other.publish(names_.ack_exchange, rk, m, true).has_value());
    auto r = other.wait_confirms(10s);
    ASSERT_TRUE(r) << r.error().to_string();
    other.close();
  }

  struct Dead {
    std::string message_id, reason, rule;  // reason = x-claimcheck-error, rule = x-claimcheck-rule
  };
  // Takes `n` messages from the dead-letter queue.
  std::vector<Dead> take_dead(std::size_t n) {
    std::vector<Dead> out;
    std::size_t got = 0;
    EXPECT_TRUE(wait_until(
        [&] {
          auto g = pub_->basic_get(names_.dead_queue);
          if (g && g->has_value()) {
            auto& h = (**g).message.headers;
            out.push_back({(**g).message.message_id, h[std::string(kHeaderError)], h["x-claimcheck-rule"]});
            (void)pub_->ack(**g);
            ++got;
          }
          return got >= n;
        },
        10s));
    return out;
  }

  void publish(const std::string& rk, const amqp::Message& m) {
    auto id = pub_->publish(names_.ack_exchange, rk, m, true);
    ASSERT_TRUE(id) << id.error().to_string();
  }

  void confirm() {
    auto r = pub_->wait_confirms(10s);
    ASSERT_TRUE(r) << r.error().to_string();
  }

  std::optional<refstore::ObjectStatus> status(const std::string& id) {
    auto r = store_->get(id);
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? *r : std::nullopt;
  }

  bool in_state(const std::string& id, ObjectState s) {
    auto st = status(id);
    return st && st->state == s;
  }

  std::string sfx_, prefix_, dsn_, base_dsn_, schema_, bucket_;
  std::filesystem::path dir_;
  TopologyNames names_;
  amqp::AmqpConfig amqp_;
  s3::S3Config s3_;
  std::unique_ptr<amqp::Client> pub_;
  std::unique_ptr<s3::S3Client> s3c_;
  std::unique_ptr<refstore::RefStore> store_;
  std::vector<std::unique_ptr<Running>> running_;
};

// The reference demo's idempotency scenario through RabbitMQ.
TEST_P(CoordTest, IdempotencyScenarioDeletesOnceAndObjectGone) {
  const std::string id = new_uuid_v4();
  const std::string key = put_object(id);
  auto rec = store_record(id, key, {"branch1", "branch2", "branch3"});
  std::vector<std::string> acks = {"branch1", "branch2", "branch3", "branch1", "branch2", "branch3"};
  std::shuffle(acks.begin(), acks.end(), std::mt19937{42});
  for (auto& r : acks) publish_ack(rec, r);  // every ack twice, shuffled, before the store record
  publish_store(rec);
  publish_store(rec);  // store record twice
  confirm();

  auto& run = start(config());
  ASSERT_TRUE(wait_until([&] { return in_state(id, ObjectState::Deleted); }, 20s));
  EXPECT_FALSE(exists(key));
  // Acks sent again after deletion change nothing.
  for (auto& r : {"branch1", "branch2", "branch3"}) publish_ack(rec, r);
  confirm();
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().deliveries == 11; }, 10s));
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().acks_duplicate == 6; }, 10s));
  auto s = run.coord->stats();
  EXPECT_EQ(s.stores_new, 1u);
  EXPECT_EQ(s.stores_duplicate, 1u);
  EXPECT_EQ(s.acks_new, 3u);
  EXPECT_EQ(s.acks_duplicate, 6u);
  EXPECT_EQ(s.completed, 1u);
  EXPECT_EQ(s.deleted, 1u);
  auto st = status(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, ObjectState::Deleted);
  EXPECT_EQ(st->acks.size(), 3u);
  EXPECT_TRUE(st->missing.empty());
  EXPECT_TRUE(st->deleted_at.has_value());
  // Everything was acked: the queue is empty once the coordinator stopped.
  run.stop();
  ASSERT_TRUE(run.result) << run.result.error().to_string();
  auto n = pub_->queue_message_count(names_.ack_queue);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
}

TEST_P(CoordTest, TwoOfThreeAcksKeepTheObject) {
  const std::string id = new_uuid_v4();
  const std::string key = put_object(id);
  auto rec = store_record(id, key, {"r1", "r2", "r3"});
  publish_store(rec);
  publish_ack(rec, "r1");
  publish_ack(rec, "r3");
  confirm();
  auto& run = start(config());
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().acks_new == 2; }, 10s));
  std::this_thread::sleep_for(1500ms);  // give the delete worker every chance to misbehave
  EXPECT_TRUE(exists(key));
  auto st = status(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, ObjectState::Pending);
  EXPECT_EQ(st->missing, std::vector<std::string>{"r2"});
  EXPECT_EQ(run.coord->stats().deleted, 0u);
}

TEST_P(CoordTest, ForeignAndDuplicateAcksNeverComplete) {
  const std::string id = new_uuid_v4();
  const std::string key = put_object(id);
  auto rec = store_record(id, key, {"r1", "r2"});
  publish_store(rec);
  publish_ack(rec, "r1");
  publish_ack(rec, "r1");        // duplicate from one real recipient
  publish_ack(rec, "intruder");  // foreign recipient: 2 acks "counted" naively, but must not complete
  confirm();
  auto& run = start(config());
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().deliveries == 4 && run.coord->stats().batches >= 1; }, 10s));
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().acks_foreign == 1; }, 10s));
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(exists(key));
  EXPECT_TRUE(in_state(id, ObjectState::Pending));
  auto s = run.coord->stats();
  EXPECT_EQ(s.acks_duplicate, 1u);
  EXPECT_EQ(s.completed, 0u);
  // The missing real recipient completes it.
  publish_ack(rec, "r2");
  confirm();
  ASSERT_TRUE(wait_until([&] { return in_state(id, ObjectState::Deleted); }, 15s));
  EXPECT_FALSE(exists(key));
}

TEST_P(CoordTest, RejectedAckKeepsObjectUntilExpiryThenDeleted) {
  const std::string id = new_uuid_v4();
  const std::string key = put_object(id);
  auto rec = store_record(id, key, {"r1", "r2"}, 4s);
  publish_store(rec);
  publish_ack(rec, "r1");
  publish_ack(rec, "r2", /*processed=*/false);
  confirm();
  auto& run = start(config());
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().acks_new == 2; }, 10s));
  EXPECT_TRUE(exists(key));
  EXPECT_TRUE(in_state(id, ObjectState::Pending));
  ASSERT_TRUE(wait_until([&] { return in_state(id, ObjectState::Deleted); }, 15s));
  EXPECT_FALSE(exists(key));
  EXPECT_EQ(run.coord->stats().expired_deleted, 1u);
  EXPECT_EQ(run.coord->stats().completed, 0u);
}

TEST_P(CoordTest, ExpiryDeletesUnackedObject) {
  const std::string id = new_uuid_v4();
  const std::string key = put_object(id);
  const std::string id2 = new_uuid_v4();
  const std::string key2 = put_object(id2);
  publish_store(store_record(id, key, {"r1"}, 2s));
  publish_store(store_record(id2, key2, {"r1"}, 3600s));  // not expired: stays
  confirm();
  auto& run = start(config());
  ASSERT_TRUE(wait_until([&] { return in_state(id, ObjectState::Deleted); }, 15s));
  EXPECT_FALSE(exists(key));
  EXPECT_TRUE(exists(key2));
  EXPECT_TRUE(in_state(id2, ObjectState::Pending));
  EXPECT_EQ(run.coord->stats().expired_deleted, 1u);
}

TEST_P(CoordTest, OrphanSweepDeletesOldOrphansOnly) {
  const std::string old_orphan = put_object(new_uuid_v4());
  const std::string id = new_uuid_v4();
  const std::string stored_key = put_object(id);  // as old, but has a store record
  std::this_thread::sleep_for(5s);
  const std::string young_orphan = put_object(new_uuid_v4());
  publish_store(store_record(id, stored_key, {"r1"}));
  confirm();
  auto cfg = config();
  cfg.orphan_grace = 4s;
  cfg.sweep_interval = 120s;  // exactly one sweep during the test
  auto& run = start(cfg);
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().orphans_deleted >= 1; }, 10s));
  EXPECT_FALSE(exists(old_orphan));
  EXPECT_TRUE(exists(young_orphan));
  EXPECT_TRUE(exists(stored_key));
  EXPECT_EQ(run.coord->stats().orphans_deleted, 1u);
}

TEST_P(CoordTest, InvalidMessagesAreDeadLetteredWithReason) {
  amqp::Message bad;
  bad.body = "{not json";
  bad.type = "s3-ack-v1";
  bad.message_id = "bad-1";
  publish(names_.ack_routing_key, bad);
  amqp::Message unknown;
  unknown.body = R"({"schema":"s3-pointer-v9","pointer_id":"x"})";
  unknown.message_id = "bad-2";
  publish(names_.ack_routing_key, unknown);
  // A valid ack after them must still be applied and acked (the dead-letters block multiple-acks only briefly).
  const std::string id = new_uuid_v4();
  auto rec = store_record(id, prefix_ + "/none.json", {"r1", "r2"});
  publish_ack(rec, "r1");
  confirm();
  auto& run = start(config());
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().dead_lettered == 2 && run.coord->stats().acks_new == 1; },
                         10s));
  std::vector<amqp::Envelope> dead;
  ASSERT_TRUE(wait_until(
      [&] {
        auto g = pub_->basic_get(names_.dead_queue);
        if (g && g->has_value()) dead.push_back(**g);
        return dead.size() == 2;
      },
      10s));
  std::map<std::string, std::string> reasons;
  for (auto& e : dead) reasons[e.message.message_id] = e.message.headers[std::string(kHeaderError)];
  EXPECT_NE(reasons["bad-1"].find("message"), std::string::npos) << reasons["bad-1"];
  EXPECT_NE(reasons["bad-2"].find("schema"), std::string::npos) << reasons["bad-2"];
  EXPECT_EQ(dead[0].message.headers["x-claimcheck-source-queue"], names_.ack_queue);
  run.stop();
  ASSERT_TRUE(run.result) << run.result.error().to_string();
  auto n = pub_->queue_message_count(names_.ack_queue);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);  // nothing requeued
  EXPECT_TRUE(in_state(id, ObjectState::Placeholder));
}

// A store record the coordinator could never have been sent by its producers (another bucket, or a key
// outside its key prefix) is dead-lettered and never recorded, so it can never make the coordinator delete
// an object that is not its own — even with a past expiry (S1).
TEST_P(CoordTest, StoreRecordsOutsideBucketOrPrefixAreDeadLettered) {
  const std::string victim_key = put_object(new_uuid_v4());  // under prefix_, in bucket_
  const std::string other_prefix_key = "not-" + prefix_ + "/2024/01/01/x.json";
  auto foreign_bucket = store_record(new_uuid_v4(), victim_key, {"evil"});
  foreign_bucket.bucket = "some-other-bucket";
  foreign_bucket.expires_at = foreign_bucket.created_at;  // already expired
  auto outside_prefix = store_record(new_uuid_v4(), other_prefix_key, {"evil"});
  outside_prefix.expires_at = outside_prefix.created_at;
  publish_store(foreign_bucket);
  publish_store(outside_prefix);
  confirm();
  auto& run = start(config());
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().dead_lettered == 2; }, 10s));
  std::map<std::string, std::string> reasons;
  ASSERT_TRUE(wait_until(
      [&] {
        auto g = pub_->basic_get(names_.dead_queue);
        if (g && g->has_value()) reasons[(**g).message.message_id] = (**g).message.headers[std::string(kHeaderError)];
        return reasons.size() == 2;
      },
      10s));
  EXPECT_NE(reasons[foreign_bucket.pointer_id].find("field 'bucket'"), std::string::npos)
      << reasons[foreign_bucket.pointer_id];
  EXPECT_NE(reasons[outside_prefix.pointer_id].find("field 'key'"), std::string::npos)
      << reasons[outside_prefix.pointer_id];
  run.stop();
  ASSERT_TRUE(run.result) << run.result.error().to_string();
  EXPECT_FALSE(status(foreign_bucket.pointer_id).has_value());
  EXPECT_FALSE(status(outside_prefix.pointer_id).has_value());
  EXPECT_EQ(run.coord->stats().deleted, 0u);
  EXPECT_TRUE(exists(victim_key));
}

// SIGKILL after commit, before the S3 delete (and before the deliveries are acked) → deleted after restart.
TEST_P(CoordTest, KilledAfterCommitDeletesAfterRestart) {
  const std::string id = new_uuid_v4();
  const std::string key = put_object(id);
  auto rec = store_record(id, key, {"r1", "r2"});
  publish_store(rec);
  publish_ack(rec, "r1");
  publish_ack(rec, "r2");
  confirm();

  pid_t pid = -1;
  ASSERT_NO_FATAL_FAILURE(fork_cli_coordinator({"--debug-crash-after-commit"}, pid));
  int wstatus = 0;
  bool exited = wait_until([&] { return waitpid(pid, &wstatus, WNOHANG) == pid; }, 30s);
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &wstatus, 0);
    FAIL() << "the coordinator did not crash";
  }
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "exit status " << wstatus;
  EXPECT_EQ(WTERMSIG(wstatus), SIGKILL);
  // Committed but not deleted: COMPLETE in the database, still in S3.
  EXPECT_TRUE(in_state(id, ObjectState::Complete));
  EXPECT_TRUE(exists(key));

  auto& run = start(config());
  ASSERT_TRUE(wait_until([&] { return in_state(id, ObjectState::Deleted); }, 20s));
  EXPECT_FALSE(exists(key));
  // The un-acked deliveries came back and were recognized as duplicates.
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().deliveries == 3; }, 10s));
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().batches >= 1; }, 10s));
  EXPECT_EQ(run.coord->stats().stores_duplicate, 1u);
  EXPECT_EQ(run.coord->stats().acks_duplicate, 2u);
  EXPECT_EQ(run.coord->stats().deleted, 1u);
}

// Two coordinators on one database: hot standby on q.ack; delete workers compete; every object deleted once.
TEST_P(CoordTest, TwoCoordinatorsDeleteEachObjectOnce) {
  constexpr int kN = 40;
  std::vector<StoreRecord> recs;
  for (int i = 0; i < kN; ++i) {
    const std::string id = new_uuid_v4();
    recs.push_back(store_record(id, put_object(id), {"a", "b"}));
  }
  auto& c1 = start(config());
  auto& c2 = start(config());
  for (int i = 0; i < kN / 2; ++i) {
    publish_store(recs[i]);
    publish_ack(recs[i], "a");
    publish_ack(recs[i], "b");
  }
  confirm();
  auto deleted_total = [&] { return c1.coord->stats().deleted + c2.coord->stats().deleted; };
  ASSERT_TRUE(wait_until([&] { return deleted_total() == kN / 2; }, 30s));
  // Stop whichever one is active; the standby takes over the second half.
  Running& active = c1.coord->stats().deliveries > 0 ? c1 : c2;
  Running& standby = &active == &c1 ? c2 : c1;
  active.stop();
  ASSERT_TRUE(active.result) << active.result.error().to_string();
  for (int i = kN / 2; i < kN; ++i) {
    publish_store(recs[i]);
    publish_ack(recs[i], "a");
    publish_ack(recs[i], "b");
  }
  confirm();
  ASSERT_TRUE(wait_until([&] { return deleted_total() == kN; }, 30s));
  std::this_thread::sleep_for(1s);
  auto s1 = c1.coord->stats(), s2 = c2.coord->stats();
  EXPECT_EQ(s1.deleted + s2.deleted, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(s1.stores_new + s2.stores_new, static_cast<std::uint64_t>(kN));
  EXPECT_EQ(s1.acks_new + s2.acks_new, static_cast<std::uint64_t>(2 * kN));
  EXPECT_EQ(s1.completed + s2.completed, static_cast<std::uint64_t>(kN));
  EXPECT_GT(standby.coord->stats().deliveries, 0u);
  for (auto& r : recs) {
    EXPECT_TRUE(in_state(r.pointer_id, ObjectState::Deleted)) << r.pointer_id;
    EXPECT_FALSE(exists(r.key));
  }
  auto sum = store_->summary(5, refstore::Clock::now());
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->counts[ObjectState::Deleted], kN);
}

// S3 unreachable for the deletes → failures recorded with backoff, object kept COMPLETE; S3 back → deleted.
TEST_P(CoordTest, FailedDeletesAreRetriedFromTheDatabase) {
  const std::string id = new_uuid_v4();
  const std::string key = put_object(id);
  auto rec = store_record(id, key, {"r1"});
  publish_store(rec);
  publish_ack(rec, "r1");
  confirm();
  auto cfg = config();
  cfg.s3.endpoint = "http://127.0.0.1:1";  // nothing listens there
  cfg.s3.retry.max_attempts = 1;
  cfg.s3.connect_timeout = 200ms;
  cfg.delete_retry.initial = 200ms;
  cfg.orphan_sweep = false;
  auto& broken = start(cfg);
  ASSERT_TRUE(wait_until([&] { return broken.coord->stats().delete_failures >= 2; }, 15s));
  broken.stop();
  ASSERT_TRUE(broken.result) << broken.result.error().to_string();
  auto st = status(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, ObjectState::Complete);
  EXPECT_GE(st->delete_attempts, 2);
  EXPECT_FALSE(st->last_error.empty());
  EXPECT_EQ(st->last_error.find(s3_.secret_key), std::string::npos);
  EXPECT_TRUE(exists(key));
  auto& fixed = start(config());
  ASSERT_TRUE(wait_until([&] { return in_state(id, ObjectState::Deleted); }, 15s));
  EXPECT_FALSE(exists(key));
  EXPECT_EQ(fixed.coord->stats().deleted, 1u);
}

// SIGKILL at an arbitrary point of a backlog (mid-batch, between commit and ack, between claim and delete)
// then restart → every object deleted exactly once, nothing left in S3, nothing completed early.
TEST_P(CoordTest, KilledMidStreamConverges) {
  constexpr int kN = 60;
  std::vector<StoreRecord> recs;
  for (int i = 0; i < kN; ++i) {
    const std::string id = new_uuid_v4();
    recs.push_back(store_record(id, put_object(id), {"a", "b", "c"}));
  }
  // Object i gets only 2 of 3 acks when i % 5 == 0: those must survive.
  for (int i = 0; i < kN; ++i) {
    publish_ack(recs[i], "a");
    publish_store(recs[i]);
    publish_ack(recs[i], "b");
    if (i % 5 != 0) publish_ack(recs[i], "c");
  }
  confirm();
  pid_t pid = -1;
  ASSERT_NO_FATAL_FAILURE(
      fork_cli_coordinator({"--batch-size", "7", "--batch-delay", "1ms", "--delete-lease", "2s"}, pid));
  // Kill as soon as the first batch committed: the backlog is typically mid-way (some batches applied but not
  // acked, some objects COMPLETE but not deleted, some deletions claimed but not marked).
  ASSERT_TRUE(wait_until(
      [&] {
        auto sum = store_->summary(0, refstore::Clock::now());
        if (!sum) return false;
        std::int64_t rows = 0;
        for (auto& [state, count] : sum->counts) rows += count;
        return rows > 0;
      },
      20s));
  kill(pid, SIGKILL);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  ASSERT_TRUE(WIFSIGNALED(wstatus));
  auto cfg = config();
  cfg.delete_lease = 2s;
  auto& run = start(cfg);
  const int expect_deleted = kN - kN / 5;
  ASSERT_TRUE(wait_until(
      [&] {
        auto sum = store_->summary(0, refstore::Clock::now());
        return sum && sum->counts[ObjectState::Deleted] == expect_deleted &&
               sum->counts[ObjectState::Complete] == 0;
      },
      30s));
  for (int i = 0; i < kN; ++i) {
    auto st = status(recs[i].pointer_id);
    ASSERT_TRUE(st);
    if (i % 5 == 0) {
      EXPECT_EQ(st->state, ObjectState::Pending) << i;
      EXPECT_TRUE(exists(recs[i].key)) << i;
      EXPECT_EQ(st->missing, std::vector<std::string>{"c"});
    } else {
      EXPECT_EQ(st->state, ObjectState::Deleted) << i;
      EXPECT_FALSE(exists(recs[i].key)) << i;
      EXPECT_EQ(st->acks.size(), 3u);
    }
  }
  run.stop();
  auto n = pub_->queue_message_count(names_.ack_queue);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
}

// The bucket lifecycle safety rule is ensured at start-up, merged with existing rules (default prefix).
TEST_P(CoordTest, LifecycleSafetyNetRuleEnsured) {
  auto before = s3c_->get_bucket_lifecycle(bucket_);
  ASSERT_TRUE(before) << before.error().to_string();
  auto cfg = config();
  cfg.key_prefix = "claimcheck";  // the production default, so the shared bucket keeps its usual rule
  cfg.lifecycle_days = 30;
  cfg.orphan_sweep = false;
  auto& run = start(cfg);
  bool found = wait_until(
      [&] {
        auto rules = s3c_->get_bucket_lifecycle(bucket_);
        if (!rules) return false;
        for (auto& r : *rules)
          // Expiration for objects, and abort of incomplete multipart uploads (a producer killed mid-upload
          // leaves parts that no object listing shows, so the orphan sweep cannot remove them).
          if (r.id == "claimcheck-safety-net" && r.prefix == "claimcheck/" && r.expiration_days == 30 &&
              r.abort_incomplete_multipart_days == 1)
            return true;
        return false;
      },
      10s);
  EXPECT_TRUE(found);
  auto after = s3c_->get_bucket_lifecycle(bucket_);
  ASSERT_TRUE(after);
  for (auto& r : *before) {
    bool kept = std::any_of(after->begin(), after->end(), [&](const s3::LifecycleRule& x) { return x.id == r.id; });
    EXPECT_TRUE(kept) << "rule " << r.id << " was lost";
  }
  run.stop();
}

// Issue 8.7: coordinators with different key prefixes on one bucket keep each other's safety-net rule
// (one rule per prefix) and any pre-existing rule; a store record whose TTL (60 d) exceeds
// --lifecycle-days (30) raises its prefix's rule beyond the TTL instead of letting it fire first.
TEST_P(CoordTest, LifecycleRulePerPrefixRaisedAboveTheLongestTtl) {
  const std::string p1 = prefix_ + "/p1", p2 = prefix_ + "/p2";
  const std::string pre_id = "cc-test-pre-" + sfx_, id1 = "claimcheck-safety-net:" + p1 + "/",
                    id2 = "claimcheck-safety-net:" + p2 + "/";
  ASSERT_TRUE(s3c_->ensure_lifecycle_rule(bucket_, {pre_id, "other-" + sfx_ + "/", 5, 0, true}));
  auto rule_days = [&](const std::string& id) {
    auto rules = s3c_->get_bucket_lifecycle(bucket_);
    if (!rules) return -1;
    for (const auto& r : *rules)
      if (r.id == id) return r.expiration_days;
    return 0;
  };
  auto run_with_prefix = [&](const std::string& prefix, const std::function<void()>& work,
                             const std::function<bool()>& done) {
    auto cfg = config();
    cfg.key_prefix = prefix;
    cfg.lifecycle_days = 30;
    cfg.orphan_sweep = false;
    auto& run = start(cfg);
    work();
    EXPECT_TRUE(wait_until(done, 20s)) << prefix;
    run.stop();
  };
  const std::string id = new_uuid_v4();
  run_with_prefix(
      p1, [&] { publish_store(store_record(id, make_object_key(p1, utc_now(), id, Encoding::Identity), {"r1"},
                                           std::chrono::hours(24 * 60))); },
      [&] { return rule_days(id1) > 60; });
  EXPECT_EQ(rule_days(id1), 61) << "ceil(60 d) + 1 day of slack";
  run_with_prefix(p2, [] {}, [&] { return rule_days(id2) == 30; });
  EXPECT_EQ(rule_days(id1), 61) << "the second coordinator kept the first one's rule";
  EXPECT_EQ(rule_days(pre_id), 5) << "the pre-existing rule survived both";
  // Remove this test's rules again, keeping everybody else's.
  auto rules = s3c_->get_bucket_lifecycle(bucket_);
  ASSERT_TRUE(rules);
  std::vector<s3::LifecycleRule> keep;
  for (const auto& r : *rules)
    if (r.id != pre_id && r.id != id1 && r.id != id2) keep.push_back(r);
  if (!keep.empty()) {
    EXPECT_TRUE(s3c_->put_bucket_lifecycle(bucket_, keep));
  }
}

// `claimcheck status`: one object (text and JSON), summary, unknown id → exit 1.
TEST_P(CoordTest, StatusCommandShowsStateAndMissingRecipients) {
  const std::string bin = test::claimcheck_binary();
  ASSERT_FALSE(bin.empty());
  const std::string id = new_uuid_v4();
  refstore::StoreInput in;
  in.pointer_id = id;
  in.bucket = bucket_;
  in.key = prefix_ + "/x.json";
  in.recipients = {"r1", "r2"};
  in.size_stored = 1;
  in.sha256 = std::string(64, 'a');
  in.created_at = refstore::Clock::now();
  in.expires_at = in.created_at + 3600s;
  refstore::AckInput ack;
  ack.pointer_id = id;
  ack.recipient_id = "r2";
  ack.processed_at = refstore::Clock::now();
  auto applied = store_->apply_batch({in, ack}, refstore::Clock::now());
  ASSERT_TRUE(applied) << applied.error().to_string();
  auto run_cli = [&](const std::string& args, std::string& out) {
    out.clear();
    FILE* f = popen((bin + " status --db '" + dsn_ + "' --log-level error " + args + " 2>/dev/null").c_str(), "r");
    if (f == nullptr) return -1;
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  };
  std::string out;
  ASSERT_EQ(run_cli(id + " --json", out), 0) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["state"], "PENDING");
  EXPECT_EQ(j["missing"], nlohmann::json::array({"r1"}));
  ASSERT_EQ(j["acks"].size(), 1u);
  EXPECT_EQ(j["acks"][0]["recipient_id"], "r2");
  ASSERT_EQ(run_cli(id, out), 0);
  EXPECT_NE(out.find("missing:     r1"), std::string::npos) << out;
  ASSERT_EQ(run_cli("--json", out), 0);
  auto sum = nlohmann::json::parse(out);
  EXPECT_EQ(sum["counts"]["PENDING"], 1);
  EXPECT_EQ(sum["counts"]["DELETED"], 0);
  ASSERT_EQ(sum["oldest_pending"].size(), 1u);
  EXPECT_EQ(sum["oldest_pending"][0]["pointer_id"], id);
  EXPECT_EQ(run_cli(new_uuid_v4(), out), 1);
}

// DESIGN.md §9 through RabbitMQ with a second real broker user: the coordinator believes an ack only from the
// user mapped to its recipient and with the store record's sha256, and a store record only from a producer
// user. Forged acks (by another user, by the administrator for a recipient mapped to another user, with a
// wrong sha256) and a forged store record never complete anything and are dead-lettered with the reason.
TEST_P(CoordTest, ForgedAcksAndStoresAreDeadLetteredNamingRuleAndUser) {
  test::BrokerUser branch("cc-it-branch-" + sfx_);
  const std::string admin = admin_user();
  const std::string id = new_uuid_v4();
  const std::string key = put_object(id);
  const auto rec = store_record(id, key, {"r1", "r2"});
  publish_store(rec);
  publish_ack(rec, "r1");  // admin acks for r1: mapped to `branch`
  publish_as(branch, names_.ack_routing_key, ack_message(rec, "r2"));  // branch acks for r2 (admin's)
  publish_as(branch, names_.ack_routing_key, ack_message(rec, "r1", true, std::string(64, 'f')));
  const std::string forged_id = new_uuid_v4();
  const auto forged = store_record(forged_id, put_object(forged_id), {"r1"}, 0s);  // would expire at once
  publish_as(branch, names_.store_routing_key, store_message(forged));
  confirm();
  auto cfg = config();
  cfg.recipient_users = {{"r1", branch.name()}, {"*", admin}};
  prometheus::Registry registry;
  auto metrics = std::shared_ptr<CoordinatorMetrics>(std::move(*CoordinatorMetrics::create(registry)));
  auto& run = start(cfg, metrics);
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().refused == 4; }, 15s)) << run.coord->stats().refused;
  const auto dead = take_dead(4);
  auto has = [&](const std::string& mid, const std::string& rule, const std::string& reason) {
    for (const auto& d : dead)
      if (d.message_id == mid && d.rule == rule && d.reason.find(reason) != std::string::npos) return true;
    std::string all;
    for (const auto& d : dead) all += d.message_id + " [" + d.rule + "] " + d.reason + "\n";
    ADD_FAILURE() << "no dead letter " << mid << " [" << rule << "] " << reason << " in:\n" << all;
    return false;
  };
  const std::string ack1 = ack_message_id(id, "r1"), ack2 = ack_message_id(id, "r2");
  has(ack1, "ack_user_id",
      "ack for recipient 'r1' published by user '" + admin + "' (expected '" + branch.name() + "')");
  has(ack2, "ack_user_id",
      "ack for recipient 'r2' published by user '" + branch.name() + "' (expected '" + admin + "')");
  has(ack1, "ack_sha256", "ack sha256 does not match the store record (recipient 'r1', user '" + branch.name());
  has(forged_id, "store_user_id", "store record published by user '" + branch.name() + "'");
  const std::string text = claimcheck::test::prometheus_text(registry);
  EXPECT_NE(text.find(R"(claimcheck_coordinator_refused_total{rule="ack_user_id"} 2)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(claimcheck_coordinator_refused_total{rule="ack_sha256"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(claimcheck_coordinator_refused_total{rule="store_user_id"} 1)"), std::string::npos) << text;
  // The audit `claimcheck status` shows: counts per rule and sender, in the database.
  std::map<std::string, std::int64_t> audit;  // "rule sender" → count
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = store_->refusals();
        if (!r) return false;
        audit.clear();
        for (const auto& a : *r) audit[a.rule + " " + a.sender] = a.count;
        return audit.size() == 4;
      },
      10s))
      << audit.size();
  EXPECT_EQ(audit["ack_user_id " + admin], 1);
  EXPECT_EQ(audit["ack_user_id " + branch.name()], 1);
  EXPECT_EQ(audit["ack_sha256 " + branch.name()], 1);
  EXPECT_EQ(audit["store_user_id " + branch.name()], 1);
  auto st = status(id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, ObjectState::Pending);
  EXPECT_TRUE(st->acks.empty()) << "no forged ack is recorded";
  EXPECT_FALSE(status(forged_id).has_value()) << "a forged store record is never recorded";
  std::this_thread::sleep_for(1500ms);  // a sweep (1 s) later: nothing deleted
  EXPECT_TRUE(exists(key));
  EXPECT_TRUE(exists(forged.key));
  // The right parties finish the job: r1's own user, then the administrator for r2.
  publish_as(branch, names_.ack_routing_key, ack_message(rec, "r1"));
  publish_ack(rec, "r2");
  confirm();
  ASSERT_TRUE(wait_until([&] { return in_state(id, ObjectState::Deleted); }, 20s));
  EXPECT_FALSE(exists(key));
  EXPECT_EQ(run.coord->stats().refused, 4u);
  (void)s3c_->delete_object(bucket_, forged.key);
}

// Strict is the default: an ack without sha256 is dead-lettered; with the compatibility flag it counts.
TEST_P(CoordTest, AcksWithoutSha256NeedTheCompatibilityFlag) {
  const std::string id = new_uuid_v4();
  const auto rec = store_record(id, put_object(id), {"r1"});
  publish_store(rec);
  amqp::Message bare = ack_message(rec, "r1");
  auto j = nlohmann::json::parse(bare.body);
  j.erase("sha256");
  bare.body = j.dump();
  publish(names_.ack_routing_key, bare);
  confirm();
  auto& strict = start(config());
  ASSERT_TRUE(wait_until([&] { return strict.coord->stats().refused == 1; }, 10s));
  const auto dead = take_dead(1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].rule, "ack_sha256");
  EXPECT_NE(dead[0].reason.find("has no sha256"), std::string::npos) << dead[0].reason;
  strict.stop();
  ASSERT_TRUE(strict.result) << strict.result.error().to_string();
  EXPECT_TRUE(in_state(id, ObjectState::Pending));
  publish(names_.ack_routing_key, bare);
  confirm();
  auto cfg = config();
  cfg.accept_unauthenticated_acks = true;
  start(cfg);
  ASSERT_TRUE(wait_until([&] { return in_state(id, ObjectState::Deleted); }, 20s));
}

// B1 through RabbitMQ: acks for unknown pointers beyond the per-user cap are dead-lettered with the reason.
TEST_P(CoordTest, PlaceholderFloodBeyondTheCapIsDeadLettered) {
  for (int i = 0; i < 5; ++i) {
    const std::string id = new_uuid_v4();
    publish_ack(store_record(id, prefix_ + "/nothing-" + id, {"r1"}), "r1");  // never a store record
  }
  confirm();
  auto cfg = config();
  cfg.db.max_placeholder_acks_per_sender = 3;
  auto& run = start(cfg);
  ASSERT_TRUE(wait_until([&] { return run.coord->stats().refused == 2 && run.coord->stats().acks_new == 3; }, 10s));
  const auto dead = take_dead(2);
  ASSERT_EQ(dead.size(), 2u);
  for (const auto& d : dead) {
    EXPECT_EQ(d.rule, "placeholder_cap");
    EXPECT_NE(d.reason.find("user '" + admin_user() + "' already has 3 acks for unknown pointers"), std::string::npos)
        << d.reason;
  }
  auto sum = store_->summary(0, refstore::Clock::now());
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->counts[ObjectState::Placeholder], 3);
}

// Coordinator::status() (the status page's data) on both stores: per-recipient lag, counts, health.
TEST_P(CoordTest, StatusShowsTheRecipientThatStoppedAckingAsLagging) {
  std::vector<StoreRecord> recs;
  for (int i = 0; i < 3; ++i) {
    const std::string id = new_uuid_v4();
    recs.push_back(store_record(id, put_object(id), {"r1", "r2"}));
    publish_store(recs.back());
    publish_ack(recs.back(), "r1");  // r1 keeps up, r2 never acks
  }
  confirm();
  auto cfg = config();
  cfg.status_interval = 200ms;
  cfg.lag_warn = 1s;
  auto& run = start(cfg);
  StatusSnapshot st;
  ASSERT_TRUE(wait_until(
      [&] {
        st = run.coord->status();
        return st.queried_at && !st.recipients.empty() && st.recipients[0].lagging;
      },
      15s))
      << render_status_json(st, refstore::Clock::now()).dump();
  EXPECT_EQ(st.counts[ObjectState::Pending], 3);
  ASSERT_EQ(st.recipients.size(), 2u);
  EXPECT_EQ(st.recipients[0].recipient_id, "r2");
  EXPECT_EQ(st.recipients[0].pending, 3);
  ASSERT_TRUE(st.recipients[0].oldest_pending_age.has_value());
  EXPECT_GT(*st.recipients[0].oldest_pending_age, 1s);
  EXPECT_LT(*st.recipients[0].oldest_pending_age, 30s);
  EXPECT_EQ(st.recipients[1].recipient_id, "r1");
  EXPECT_EQ(st.recipients[1].pending, 0);
  EXPECT_FALSE(st.recipients[1].lagging);
  EXPECT_TRUE(st.health.broker_connected);
  EXPECT_TRUE(st.health.store_reachable);
  EXPECT_TRUE(st.health.started_at.has_value());
  EXPECT_TRUE(st.health.last_batch_at.has_value());
  EXPECT_EQ(st.health.deliveries, 6u);
  for (const auto& rec : recs) publish_ack(rec, "r2");
  confirm();
  ASSERT_TRUE(wait_until([&] { return run.coord->status().recipients.empty(); }, 15s))
      << "every object completed: no PENDING object expects anyone";
  EXPECT_EQ(run.coord->status().counts[ObjectState::Pending], 0);
  run.stop();
  EXPECT_FALSE(run.coord->status().health.broker_connected);
}

INSTANTIATE_TEST_SUITE_P(Stores, CoordTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& p) { return p.param; });

TEST(CoordinatorParseTest, DispatchesBySchemaAndRejectsMismatch) {
  StoreRecord s;
  s.pointer_id = new_uuid_v4();
  s.bucket = "bucket-a";
  s.key = "claimcheck/2024/01/01/x.json";
  s.recipients = {"r1"};
  s.recipients_total = 1;
  s.size_stored = 1;
  s.sha256 = std::string(64, 'b');
  s.created_at = utc_now();
  s.expires_at = s.created_at + 60s;
  amqp::Message m;
  m.body = to_json(s);
  m.type = "s3-store-v1";
  auto c = parse_coordinator_message(m);
  ASSERT_TRUE(c) << c.error().to_string();
  ASSERT_TRUE(std::holds_alternative<refstore::StoreInput>(*c));
  EXPECT_EQ(std::get<refstore::StoreInput>(*c).pointer_id, s.pointer_id);
  m.type = "s3-ack-v1";
  auto mismatch = parse_coordinator_message(m);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, ErrorCode::InvalidArgument);
}

}  // namespace

// DESIGN.md §9 rules as a pure function (no broker): who may publish what.
TEST(CoordinatorTrust, CheckSenderRules) {
  CoordinatorConfig cfg;
  cfg.producer_users = {"producer"};
  cfg.recipient_users = {{"branch9", "head-office"}};
  refstore::AckInput a;
  a.recipient_id = "branch2";
  a.sha256 = std::string(64, 'a');
  amqp::Message m;
  m.user_id = "branch2";
  EXPECT_FALSE(check_sender(cfg, m, a)) << "default mapping: the user of the same name";
  m.user_id = "branch1";
  auto r = check_sender(cfg, m, a);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rule, "ack_user_id");
  EXPECT_EQ(r->reason, "ack for recipient 'branch2' published by user 'branch1' (expected 'branch2')");
  a.recipient_id = "branch9";
  m.user_id = "branch9";
  EXPECT_EQ(check_sender(cfg, m, a)->reason,
            "ack for recipient 'branch9' published by user 'branch9' (expected 'head-office')");
  m.user_id = "head-office";
  EXPECT_FALSE(check_sender(cfg, m, a));
  a.sha256.clear();
  EXPECT_EQ(check_sender(cfg, m, a)->rule, "ack_sha256");
  m.user_id.clear();
  EXPECT_EQ(check_sender(cfg, m, a)->rule, "ack_user_id");
  cfg.accept_unauthenticated_acks = true;  // neither user_id nor sha256: accepted in compatibility mode
  EXPECT_FALSE(check_sender(cfg, m, a));
  m.user_id = "branch1";  // a user_id that is present is still checked
  EXPECT_EQ(check_sender(cfg, m, a)->rule, "ack_user_id");
  EXPECT_EQ(recipient_user({{"*", "admin"}, {"r1", "u1"}}, "r2"), "admin");
  EXPECT_EQ(recipient_user({{"*", "admin"}, {"r1", "u1"}}, "r1"), "u1");

  refstore::StoreInput s;
  m.user_id = "producer";
  EXPECT_FALSE(check_sender(cfg, m, s));
  m.user_id = "branch1";
  r = check_sender(cfg, m, s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rule, "store_user_id");
  EXPECT_EQ(r->reason, "store record published by user 'branch1' (expected one of the producer users 'producer')");
  m.user_id.clear();
  EXPECT_NE(check_sender(cfg, m, s)->reason.find("no AMQP user_id"), std::string::npos);
  cfg.producer_users.clear();
  EXPECT_FALSE(cfg.validate()) << "producer_users must not be empty";
}
