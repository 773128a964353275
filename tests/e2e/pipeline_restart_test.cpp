// End-to-end: the RabbitMQ node is restarted while `claimcheck produce` and two `claimcheck consume`
// processes are mid-run (issue 3 item 6). Producer and consumers must reconnect and finish with nothing lost:
// every payload published once confirmed, every recipient's output byte-identical, a `processed` ack per
// (pointer, recipient), nothing dead-lettered.
//
// It restarts the SHARED local node with `scripts/infra stop-rabbit` / `start-rabbit`, so ctest runs it
// serially (RUN_SERIAL + RESOURCE_LOCK rabbitmq, set for *_restart_test in tests/CMakeLists.txt). The node is
// always brought back (TearDown runs `scripts/infra up` when it does not answer).
//
// Pacing: a local producer moves 60 × ≤1 MiB payloads in well under a second, far faster than a node stops.
// So the payloads are fed through named pipes (`--file FIFO`): the producer's workers block on the pipe of
// the next payload until the test writes it. That pins the restart to a known point of the run:
//   1. payloads  1..20 flow; wait until both recipients wrote all 20 (pointers confirmed, consumed);
//   2. SIGSTOP both consumers, payloads 21..30 flow: the broker pushes a prefetch window of deliveries into
//      the frozen consumers' sockets (unacked) — wait until each queue has ready messages left over;
//   3. stop the node (graceful), SIGCONT the consumers: they process deliveries of a dead connection and
//      publish their acks while disconnected;
//   4. start the node again and, WHILE it starts, payloads 31..45 flow: the producer stores them in S3 and
//      must queue their store records and pointers until it has reconnected;
//   5. payloads 46..60 flow after the node is back.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "claimcheck/amqp/client.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/core/sha256.h"
#include "claimcheck/core/credentials.h"
#include "subprocess.h"
#include "test_env.h"

extern char** environ;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kPayloads = 60;
constexpr auto kTestBudget = 180s;  // the whole test, restart included

using claimcheck::test::Proc;
using claimcheck::test::slurp;
using claimcheck::test::source_dir;
using claimcheck::test::spawn;
using claimcheck::test::visible_files;

claimcheck::amqp::AmqpConfig admin_config() {
  claimcheck::amqp::AmqpConfig c;
  c.urls = claimcheck::split_url_list(std::getenv("AMQP_URL"));
  c.connect_attempts = 1;
  c.connect_timeout = 3000ms;
  c.reconnect.max_attempts = 1;
  c.connection_name = "claimcheck-restart-test-admin";
  return c;
}

class PipelineRestart : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = claimcheck::test::claimcheck_binary();
    ASSERT_FALSE(bin_.empty());
    ASSERT_TRUE(fs::exists(bin_)) << "no claimcheck binary at " << bin_ << " (set CLAIMCHECK_BINARY)";
    src_ = source_dir();
    ASSERT_TRUE(!src_.empty() && fs::exists(fs::path(src_) / "scripts/infra"))
        << "cannot find scripts/infra (set CLAIMCHECK_SOURCE_DIR to the repo root)";
    for (const char* n : {"AMQP_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET"}) {
      std::string v = claimcheck::test::require_env(n);
      ASSERT_FALSE(v.empty());
      setenv(n, v.c_str(), 1);
    }
    setenv("S3_REGION", claimcheck::test::env_value("S3_REGION").value_or("us-east-1").c_str(), 1);
    ::signal(SIGPIPE, SIG_IGN);  // a dead producer must not kill the test while it writes a pipe
    tag_ = claimcheck::test::unique_name("r");
    work_ = fs::temp_directory_path() / ("claimcheck-restart-" + tag_);
    fs::create_directories(work_ / "log");
    fs::create_directories(work_ / "fifo");
    setup_done_ = true;
  }

  void TearDown() override {
    if (!setup_done_) return;
    for (Proc* p : {&producer_, &cons_[0], &cons_[1], &infra_}) {
      if (p->pid > 0) ::kill(p->pid, SIGCONT);
      p->kill_now();
    }
    // The node must be up at the end, whatever happened above.
    claimcheck::amqp::Client admin(admin_config());
    bool up = admin.connect().has_value();
    if (!up) {
      ADD_FAILURE() << "RabbitMQ does not answer after the test: running scripts/infra up";
      Proc p = spawn({"bash", src_ + "/scripts/infra", "up"}, work_ / "log/infra-up-teardown", src_);
      int rc = p.wait_until(Clock::now() + 300s);
      if (rc != 0) {
        p.kill_now();
        ADD_FAILURE() << "scripts/infra up failed (" << rc << "):\n" << p.logs();
      }
      up = admin.connect().has_value();
    }
    if (up) {
      for (const auto& r : {"a", "b"}) (void)admin.delete_queue("q." + tag_ + "." + std::string(r));
      for (const auto& q : {"q.ack." + tag_, "q.dead." + tag_, tap_queue()}) (void)admin.delete_queue(q);
      for (const auto& e : {"ex.msg." + tag_, "ex.ack." + tag_, "ex.dlx." + tag_}) (void)admin.delete_exchange(e);
    }
    // No coordinator runs here: delete what the test stored under its key prefix.
    claimcheck::s3::S3Config sc;
    sc.endpoint = std::getenv("S3_ENDPOINT");
    sc.region = std::getenv("S3_REGION");
    sc.access_key = std::getenv("S3_ACCESS_KEY");
    sc.secret_key = std::getenv("S3_SECRET_KEY");
    if (auto s3 = claimcheck::s3::S3Client::create(sc)) {
      const std::string bucket = std::getenv("S3_BUCKET");
      for (int page = 0; page < 10; ++page) {
        auto l = s3->list_objects_v2(bucket, "test-" + tag_ + "/");
        if (!l || l->objects.empty()) break;
        std::vector<std::string> keys;
        for (const auto& o : l->objects) keys.push_back(o.key);
        if (!s3->delete_objects(bucket, keys)) break;
      }
    }
    if (!HasFailure()) {
      std::error_code ec;
      fs::remove_all(work_, ec);
    } else {
      std::fprintf(stderr, "restart test: logs kept in %s\n", (work_ / "log").c_str());
    }
  }

  std::vector<std::string> common(const std::string& sub) {
    return {bin_, sub, "--msg-exchange", "ex.msg." + tag_, "--ack-exchange", "ex.ack." + tag_, "--ack-queue",
            "q.ack." + tag_, "--dlx", "ex.dlx." + tag_, "--dead-queue", "q.dead." + tag_, "--queue-prefix",
            "q." + tag_ + ".", "--log-level", "info"};
  }

  /// Writes payload `i` into its pipe: waits (until `deadline`) for a producer worker to open it.
  ::testing::AssertionResult feed(std::size_t i, Clock::time_point deadline) {
    return claimcheck::test::feed_fifo(fifo(i), payloads_[i], producer_, deadline);
  }

  /// A quorum queue bound to the ack exchange with both routing keys: a copy of every store record and ack,
  /// readable with basic.get (q.ack itself is single-active-consumer, which forbids basic.get).
  std::string tap_queue() const { return "q.tap." + tag_; }

  fs::path fifo(std::size_t i) const {
    char name[32];
    std::snprintf(name, sizeof name, "p%02zu.bin", i + 1);
    return work_ / "fifo" / name;
  }

  /// Polls until `pred` holds or `deadline` passes.
  template <class Pred>
  static bool wait_for(Clock::time_point deadline, Pred pred) {
    while (!pred()) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  bool setup_done_ = false;
  std::string bin_, src_, tag_;
  fs::path work_;
  std::vector<std::string> payloads_;
  Proc producer_, cons_[2], infra_;
};

TEST_F(PipelineRestart, ProducerAndConsumersReconnectAndLoseNothing) {
  const auto deadline = Clock::now() + kTestBudget;
  const std::string rcpt[2] = {"a", "b"};
  const fs::path out[2] = {work_ / "out-a", work_ / "out-b"};

  // 60 random payloads of 256 KiB .. 1 MiB, fed through named pipes.
  std::mt19937_64 rng(std::random_device{}());
  std::map<std::string, std::string> expected_sha;  // name → SHA-256
  for (std::size_t i = 0; i < kPayloads; ++i) {
    std::size_t n = 256 * 1024 + static_cast<std::size_t>(rng() % (768 * 1024 + 1));
    std::string s(n, '\0');
    for (std::size_t k = 0; k + 8 <= n; k += 8) {
      std::uint64_t v = rng();
      std::memcpy(s.data() + k, &v, 8);
    }
    expected_sha[fifo(i).filename().string()] = claimcheck::sha256_hex(s);
    payloads_.push_back(std::move(s));
    ASSERT_EQ(::mkfifo(fifo(i).c_str(), 0600), 0) << std::strerror(errno);
  }

  {
    claimcheck::amqp::Client admin(admin_config());
    ASSERT_TRUE(admin.connect());
    claimcheck::amqp::Topology tap;
    tap.exchanges.push_back({"ex.ack." + tag_, "direct"});
    tap.queues.push_back({tap_queue(), true, "", 0, false});
    for (const char* rk : {"ack", "store"}) tap.bindings.push_back({tap_queue(), "ex.ack." + tag_, rk});
    auto d = admin.declare(tap);
    ASSERT_TRUE(d) << d.error().to_string();
    admin.close();
  }

  for (int c = 0; c < 2; ++c) {
    auto a = common("consume");
    for (const auto& s : {std::string("--recipient"), rcpt[c], std::string("--out-dir"), out[c].string(),
                          std::string("--prefetch"), std::string("8"), std::string("--idle-exit"), std::string("25")})
      a.push_back(s);
    cons_[c] = spawn(a, work_ / ("log/consume-" + rcpt[c]));
    ASSERT_GT(cons_[c].pid, 0);
  }
  auto pa = common("produce");
  for (const auto& s : {std::string("--recipients"), std::string("a,b"), std::string("--concurrency"),
                        std::string("2"), std::string("--key-prefix"), "test-" + tag_})
    pa.push_back(s);
  for (std::size_t i = 0; i < kPayloads; ++i) {
    pa.push_back("--file");
    pa.push_back(fifo(i).string());
  }
  producer_ = spawn(pa, work_ / "log/produce");
  ASSERT_GT(producer_.pid, 0);

  // 1. Payloads 1..20; both recipients write all of them.
  for (std::size_t i = 0; i < 20; ++i) ASSERT_TRUE(feed(i, deadline));
  ASSERT_TRUE(wait_for(deadline, [&] { return visible_files(out[0]).size() >= 20 && visible_files(out[1]).size() >= 20; }))
      << "the first 20 payloads did not arrive\n" << producer_.logs() << cons_[0].logs() << cons_[1].logs();

  // 2. Freeze the consumers, release 21..30: the broker fills their prefetch windows; the rest stays ready.
  for (auto& c : cons_) ASSERT_EQ(::kill(c.pid, SIGSTOP), 0);
  for (std::size_t i = 20; i < 30; ++i) ASSERT_TRUE(feed(i, deadline));
  {
    claimcheck::amqp::Client admin(admin_config());
    ASSERT_TRUE(admin.connect());
    bool windows_full = wait_for(deadline, [&] {
      for (const auto& r : rcpt) {
        auto n = admin.queue_message_count("q." + tag_ + "." + r);
        if (!n || *n == 0) return false;
      }
      return true;
    });
    ASSERT_TRUE(windows_full) << "payloads 21..30 were not published\n" << producer_.logs();
    admin.close();
  }
  ASSERT_TRUE(producer_.running()) << "the producer must be mid-run at the restart\n" << producer_.logs();

  // 3. Stop the node; unfreeze the consumers while it is down.
  infra_ = spawn({"bash", src_ + "/scripts/infra", "stop-rabbit"}, work_ / "log/infra-stop", src_);
  ASSERT_EQ(infra_.wait_until(deadline), 0) << infra_.logs();
  for (auto& c : cons_) ASSERT_EQ(::kill(c.pid, SIGCONT), 0);

  // 4. Start it again; meanwhile the producer stores 31..45 and has to hold their messages.
  infra_ = spawn({"bash", src_ + "/scripts/infra", "start-rabbit"}, work_ / "log/infra-start", src_);
  ASSERT_GT(infra_.pid, 0);
  for (std::size_t i = 30; i < 45; ++i) ASSERT_TRUE(feed(i, deadline));
  EXPECT_TRUE(infra_.running()) << "the node came back before payloads 31..45 were stored (outage not covered)";
  ASSERT_EQ(infra_.wait_until(deadline), 0) << infra_.logs();

  // 5. The rest, after the restart.
  for (std::size_t i = 45; i < kPayloads; ++i) ASSERT_TRUE(feed(i, deadline));

  const int prc = producer_.wait_until(deadline);
  ASSERT_EQ(prc, 0) << producer_.logs();
  EXPECT_NE(slurp(producer_.out).find(std::to_string(kPayloads) + " published, 0 failed"), std::string::npos)
      << producer_.logs();
  EXPECT_NE(slurp(producer_.err).find("produce: AMQP reconnected"), std::string::npos) << producer_.logs();

  for (int c = 0; c < 2; ++c) {
    const int rc = cons_[c].wait_until(deadline);
    ASSERT_EQ(rc, 0) << "consumer " << rcpt[c] << "\n" << cons_[c].logs();
    EXPECT_NE(slurp(cons_[c].err).find("consume: AMQP reconnected"), std::string::npos) << cons_[c].logs();
    EXPECT_NE(slurp(cons_[c].out).find("stop: idle"), std::string::npos) << cons_[c].logs();

    // Every payload, byte-identical (SHA-256), and nothing else (no temp files left).
    std::map<std::string, std::string> got;
    std::error_code ec;
    for (auto& e : fs::directory_iterator(out[c], ec)) got[e.path().filename().string()] = claimcheck::sha256_hex(slurp(e.path()));
    EXPECT_EQ(got.size(), kPayloads) << "recipient " << rcpt[c];
    for (const auto& [name, sha] : expected_sha) {
      auto it = got.find(name);
      if (it == got.end()) {
        ADD_FAILURE() << "recipient " << rcpt[c] << " lacks " << name;
      } else {
        EXPECT_EQ(it->second, sha) << "recipient " << rcpt[c] << ": " << name << " differs";
      }
    }
  }

  // Broker side: nothing dead-lettered or left over; a store record per pointer and a `processed` ack per
  // (pointer, recipient) reached the ack queue (duplicates are allowed: downstream is idempotent).
  claimcheck::amqp::Client admin(admin_config());
  ASSERT_TRUE(admin.connect());
  auto dead = admin.queue_message_count("q.dead." + tag_);
  ASSERT_TRUE(dead) << dead.error().to_string();
  EXPECT_EQ(*dead, 0u) << "messages were dead-lettered";
  for (const auto& r : rcpt) {
    auto n = admin.queue_message_count("q." + tag_ + "." + r);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 0u) << "q." << tag_ << "." << r << " not drained";
  }
  std::set<std::string> stored;
  std::map<std::string, std::set<std::string>> processed;  // pointer id → recipients
  std::size_t rejected = 0, acks = 0;
  for (;;) {
    auto m = admin.basic_get(tap_queue());
    ASSERT_TRUE(m) << m.error().to_string();
    if (!*m) break;
    const std::string& body = (*m)->message.body;
    auto schema = claimcheck::peek_schema(body);
    ASSERT_TRUE(schema) << body;
    if (*schema == claimcheck::kSchemaStore) {
      auto s = claimcheck::parse_store_record(body);
      ASSERT_TRUE(s) << body;
      stored.insert(s->pointer_id);
    } else {
      auto a = claimcheck::parse_ack(body);
      ASSERT_TRUE(a) << body;
      ++acks;
      if (a->status == claimcheck::AckStatus::Processed) processed[a->pointer_id].insert(a->recipient_id);
      else ++rejected;
    }
  }
  EXPECT_EQ(stored.size(), kPayloads);
  EXPECT_EQ(rejected, 0u);
  EXPECT_GE(acks, 2 * kPayloads);
  for (const auto& id : stored) {
    EXPECT_EQ(processed[id], (std::set<std::string>{"a", "b"})) << "pointer " << id;
  }
  EXPECT_EQ(processed.size(), kPayloads);
}

}  // namespace
