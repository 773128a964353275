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

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "claimcheck/amqp/client.h"
#include "claimcheck/protocol/messages.h"
#include "cli_harness.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kPayloads = 60;
constexpr auto kTestBudget = 180s;  // the whole test, restart included

using claimcheck::test::Clock;
using claimcheck::test::CliRun;
using claimcheck::test::Proc;
using claimcheck::test::slurp;
using claimcheck::test::visible_files;
using claimcheck::test::wait_for;

claimcheck::amqp::AmqpConfig admin_config() {
  return claimcheck::test::admin_amqp_config(claimcheck::test::env_value("AMQP_URL").value_or(""),
                                             "claimcheck-restart-test-admin");
}

class PipelineRestart : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(run_.start("r", "restart"));
    ::signal(SIGPIPE, SIG_IGN);  // a dead producer must not kill the test while it writes a pipe
    fifos_.set_dir(run_.work() / "fifo");
  }

  void TearDown() override {
    if (!run_.started()) return;
    for (Proc* p : {&producer_, &cons_[0], &cons_[1], &infra_}) {
      if (p->pid > 0) ::kill(p->pid, SIGCONT);
      p->kill_now();
    }
    // The node must be up at the end, whatever happened above.
    claimcheck::amqp::Client admin(admin_config());
    if (!admin.connect()) {
      ADD_FAILURE() << "RabbitMQ does not answer after the test: running scripts/infra up";
      Proc p = run_.infra({"up"}, "infra-up-teardown");
      int rc = p.wait_until(Clock::now() + 300s);
      if (rc != 0) {
        p.kill_now();
        ADD_FAILURE() << "scripts/infra up failed (" << rc << "):\n" << p.logs();
      }
    }
    // No coordinator runs here: clean_up deletes what the test stored under its key prefix too.
    run_.clean_up({"a", "b"}, {tap_queue()});
    run_.finish(HasFailure());
  }

  /// A quorum queue bound to the ack exchange with both routing keys: a copy of every store record and ack,
  /// readable with basic.get (q.ack itself is single-active-consumer, which forbids basic.get).
  std::string tap_queue() const { return "q.tap." + run_.tag(); }

  ::testing::AssertionResult feed(std::size_t i, Clock::time_point deadline) {
    return fifos_.feed(i, producer_, deadline);
  }

  CliRun run_;
  claimcheck::test::FifoPayloads fifos_;
  Proc producer_, cons_[2], infra_;
};

TEST_F(PipelineRestart, ProducerAndConsumersReconnectAndLoseNothing) {
  const auto deadline = Clock::now() + kTestBudget;
  const std::string rcpt[2] = {"a", "b"};
  const fs::path out[2] = {run_.work() / "out-a", run_.work() / "out-b"};

  // 60 random payloads of 256 KiB .. 1 MiB, fed through named pipes.
  std::mt19937_64 rng(std::random_device{}());
  for (std::size_t i = 0; i < kPayloads; ++i) {
    const std::size_t n = 256 * 1024 + static_cast<std::size_t>(rng() % (768 * 1024 + 1));
    ASSERT_NO_FATAL_FAILURE(fifos_.add(claimcheck::test::random_bytes(n, rng())));
  }

  {
    claimcheck::amqp::Client admin(admin_config());
    ASSERT_TRUE(admin.connect());
    claimcheck::amqp::Topology tap;
    tap.exchanges.push_back({run_.ack_exchange(), "direct"});
    tap.queues.push_back({tap_queue(), true, "", 0, false});
    for (const char* rk : {"ack", "store"}) tap.bindings.push_back({tap_queue(), run_.ack_exchange(), rk});
    auto d = admin.declare(tap);
    ASSERT_TRUE(d) << d.error().to_string();
    admin.close();
  }

  for (int c = 0; c < 2; ++c) {
    auto a = run_.common("consume");
    CliRun::add(a, {"--recipient", rcpt[c], "--out-dir", out[c].string(), "--prefetch", "8", "--idle-exit", "25"});
    cons_[c] = run_.spawn(a, "consume-" + rcpt[c]);
    ASSERT_GT(cons_[c].pid, 0);
  }
  auto pa = run_.common("produce");
  CliRun::add(pa, {"--recipients", "a,b", "--concurrency", "2", "--key-prefix", run_.key_prefix()});
  fifos_.add_file_flags(pa);
  producer_ = run_.spawn(pa, "produce");
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
        auto n = admin.queue_message_count(run_.queue(r));
        if (!n || *n == 0) return false;
      }
      return true;
    });
    ASSERT_TRUE(windows_full) << "payloads 21..30 were not published\n" << producer_.logs();
    admin.close();
  }
  ASSERT_TRUE(producer_.running()) << "the producer must be mid-run at the restart\n" << producer_.logs();

  // 3. Stop the node; unfreeze the consumers while it is down.
  infra_ = run_.infra({"stop-rabbit"}, "infra-stop");
  ASSERT_EQ(infra_.wait_until(deadline), 0) << infra_.logs();
  for (auto& c : cons_) ASSERT_EQ(::kill(c.pid, SIGCONT), 0);

  // 4. Start it again; meanwhile the producer stores 31..45 and has to hold their messages.
  infra_ = run_.infra({"start-rabbit"}, "infra-start");
  ASSERT_GT(infra_.pid, 0);
  for (std::size_t i = 30; i < 45; ++i) ASSERT_TRUE(feed(i, deadline));
  EXPECT_TRUE(infra_.running()) << "the node came back before payloads 31..45 were stored (outage not covered)";
  ASSERT_EQ(infra_.wait_until(deadline), 0) << infra_.logs();

  // 5. The rest, after the restart.
  for (std::size_t i = 45; i < kPayloads; ++i) ASSERT_TRUE(feed(i, deadline));

  // Nothing lost: every payload published once and written byte-identical by both recipients.
  ASSERT_NO_FATAL_FAILURE(
      claimcheck::test::expect_outage_survived(producer_, cons_, rcpt, out, fifos_, deadline, {"stop: idle"}));

  // Broker side: nothing dead-lettered or left over; a store record per pointer and a `processed` ack per
  // (pointer, recipient) reached the ack queue (duplicates are allowed: downstream is idempotent).
  claimcheck::amqp::Client admin(admin_config());
  ASSERT_TRUE(admin.connect());
  auto dead = admin.queue_message_count(run_.dead_queue());
  ASSERT_TRUE(dead) << dead.error().to_string();
  EXPECT_EQ(*dead, 0u) << "messages were dead-lettered";
  for (const auto& r : rcpt) {
    auto n = admin.queue_message_count(run_.queue(r));
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 0u) << run_.queue(r) << " not drained";
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
