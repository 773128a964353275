// End-to-end: failover of the 3-node RabbitMQ cluster (`scripts/infra up CLUSTER=1`: r1..r3 + HAProxy with
// `balance first`, quorum queues replicated to all three). A coordinator (SQLite), two consumers and a producer
// run while the node that holds the connections AND leads every quorum queue — r1, where HAProxy sends
// everyone while it is up — is taken away mid-run: gracefully (`infra stop-node 1`) in one test, by SIGKILL
// (`infra kill-node 1`, a crash) in the other. Both ways of finding the cluster are covered in the same run:
//   - producer and consumer `a` use the HAProxy URL (AMQP_CLUSTER_URL): HAProxy cuts r1's sessions and sends
//     the reconnects to r2;
//   - consumer `b` and the coordinator use the node list (AMQP_CLUSTER_URLS, the client's own failover order
//     r1,r2,r3): they move to r2 themselves.
// Asserts: the producer exits 0 with every payload published, both recipients' outputs complete and
// byte-identical, the coordinator deleted every object (status --json), nothing dead-lettered, every process
// logged its reconnect, the queues elected a new leader off r1; then r1 is started again and must rejoin
// (running, and back as an online member of the quorum queues).
//
// The cluster is started by the test when it is not up (`scripts/infra up CLUSTER=1`, ~30 s) and left up
// afterwards (a later run then costs nothing). ctest runs it serially (RUN_SERIAL + RESOURCE_LOCK cluster, see
// tests/CMakeLists.txt): stopping r1 breaks every connection to it.
//
// Pacing: the payloads are fed through named pipes (`--file FIFO`, as in pipeline_restart_test.cpp), so the
// stop of r1 falls at a known point: payloads 1..15 flow and are consumed; then r1 is stopped while 16..30 are
// fed one every 200 ms (publishes during the failover); 31..40 after the stop completed.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>

#include "claimcheck/amqp/client.h"
#include "cli_harness.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kPayloads = 40;
constexpr std::size_t kPayloadBytes = 256 * 1024;
constexpr auto kTestBudget = 240s;  // the run itself; the cluster start (SetUp) comes on top

using claimcheck::test::Clock;
using claimcheck::test::CliRun;
using claimcheck::test::Proc;
using claimcheck::test::slurp;
using claimcheck::test::visible_files;
using claimcheck::test::wait_for;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) return out;
    start = p + 1;
  }
}

/// Wall-clock seconds of the first log line containing `needle` (the CLI's "YYYY-mm-ddTHH:MM:SS.mmm level ..."
/// local-time format), or nullopt.
std::optional<double> log_time(const fs::path& log, const std::string& needle) {
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) == std::string::npos) continue;
    std::tm tm{};
    int ms = 0;
    if (std::sscanf(line.c_str(), "%d-%d-%dT%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec, &ms) != 7)
      return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_isdst = -1;
    return static_cast<double>(std::mktime(&tm)) + ms / 1000.0;
  }
  return std::nullopt;
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class PipelineCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(run_.start("c", "cluster", {}));  // the settings come after `infra up CLUSTER=1`
    ::signal(SIGPIPE, SIG_IGN);  // a dead producer must not kill the test while it writes a pipe
    fifos_.set_dir(run_.work() / "fifo");

    // Start what is missing of the cluster (all of it at first, ~30 s; a no-op when it runs). Never skip.
    const auto t0 = Clock::now();
    Proc up = run_.infra({"up", "CLUSTER=1"}, "infra-up");
    ASSERT_GT(up.pid, 0);
    const int rc = up.wait_until(Clock::now() + 300s);
    if (rc == -2) up.kill_now();
    ASSERT_EQ(rc, 0) << "scripts/infra up CLUSTER=1 failed\n" << up.logs();
    std::fprintf(stderr, "cluster test: scripts/infra up CLUSTER=1 took %.1f s\n",
                 std::chrono::duration<double>(Clock::now() - t0).count());

    // .local/env was just (re)written: read the settings from it, not from a stale environment.
    ASSERT_NO_FATAL_FAILURE(run_.export_env({"AMQP_CLUSTER_URL", "AMQP_CLUSTER_URLS", "RABBITMQ_CLUSTER_MGMT_URLS",
                                             "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET"},
                                            true));
    haproxy_url_ = std::getenv("AMQP_CLUSTER_URL");
    node_urls_ = std::getenv("AMQP_CLUSTER_URLS");
    mgmt_ = split(std::getenv("RABBITMQ_CLUSTER_MGMT_URLS"), ',');
    ASSERT_EQ(mgmt_.size(), 3u);
    ASSERT_EQ(split(node_urls_, ',').size(), 3u);

    // curl config with the management credentials (the user:password of the AMQP URL), mode 600.
    const auto at = haproxy_url_.find('@');
    const auto scheme = haproxy_url_.find("://");
    ASSERT_TRUE(at != std::string::npos && scheme != std::string::npos);
    curl_cfg_ = run_.work() / "curl.cfg";
    {
      std::ofstream c(curl_cfg_);
      c << "user = \"" << haproxy_url_.substr(scheme + 3, at - scheme - 3) << "\"\n";
    }
    fs::permissions(curl_cfg_, fs::perms::owner_read | fs::perms::owner_write);
  }

  claimcheck::amqp::AmqpConfig admin_config() const {
    return claimcheck::test::admin_amqp_config(node_urls_, "claimcheck-cluster-test-admin");
  }

  void TearDown() override {
    if (!run_.started()) return;
    for (Proc* p : {&producer_, &cons_[0], &cons_[1], &coord_, &infra_}) p->kill_now();
    // Leave the cluster complete: r1 back up whatever happened above.
    if (!node_urls_.empty() && !amqp_answers(split(node_urls_, ',')[0])) {
      Proc p = run_.infra({"start-node", "1"}, "infra-start-teardown");
      int rc = p.wait_until(Clock::now() + 200s);
      if (rc != 0) {
        p.kill_now();
        ADD_FAILURE() << "scripts/infra start-node 1 failed in TearDown (" << rc << "):\n" << p.logs();
      }
    }
    // The coordinator should have deleted everything; clean_up removes whatever a failed run left.
    if (!node_urls_.empty()) {
      const auto admin = admin_config();
      run_.clean_up({"a", "b"}, {}, &admin);
    }
    run_.finish(HasFailure());
  }

  /// True when `url` (a single node) accepts an AMQP login.
  bool amqp_answers(const std::string& url) const {
    claimcheck::amqp::AmqpConfig c = admin_config();
    c.urls = {url};
    claimcheck::amqp::Client probe(c);
    return probe.connect().has_value();
  }

  /// GET `path` from node `n`'s (0-based) management API; nullopt when it does not answer 200 with JSON.
  std::optional<nlohmann::json> mgmt_get(std::size_t n, const std::string& path) {
    const fs::path body = run_.work() / "log/mgmt.json";
    Proc p = run_.spawn({"curl", "-s", "-f", "--max-time", "10", "-K", curl_cfg_.string(), "-o", body.string(),
                         mgmt_[n] + path},
                        "curl");
    if (p.wait_until(Clock::now() + 15s) != 0) {
      p.kill_now();
      return std::nullopt;
    }
    auto j = nlohmann::json::parse(slurp(body), nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }

  /// Spawns with AMQP_URL = `url` (the env var, so the password stays out of `ps`).
  Proc spawn_with_url(const std::string& url, const std::vector<std::string>& args, const std::string& log) {
    setenv("AMQP_URL", url.c_str(), 1);
    Proc p = run_.spawn(args, log);
    unsetenv("AMQP_URL");
    return p;
  }

  ::testing::AssertionResult feed(std::size_t i, Clock::time_point deadline) {
    return fifos_.feed(i, producer_, deadline);
  }

  CliRun run_;
  claimcheck::test::FifoPayloads fifos_;
  std::string haproxy_url_, node_urls_;
  std::vector<std::string> mgmt_;
  fs::path curl_cfg_;
  Proc producer_, cons_[2], coord_, infra_;

  void run_failover(const std::string& how);
};

/// The whole scenario; `how` is the infra command that takes r1 away: "stop-node" (graceful) or "kill-node"
/// (SIGKILL, a crash).
void PipelineCluster::run_failover(const std::string& how) {
  const auto deadline = Clock::now() + kTestBudget;
  const std::string rcpt[2] = {"a", "b"};
  const fs::path out[2] = {run_.work() / "out-a", run_.work() / "out-b"};
  const std::string db = "sqlite:" + (run_.work() / "coord.db").string();
  const std::string r1 = "r1@localhost";

  std::mt19937_64 rng(std::random_device{}());
  for (std::size_t i = 0; i < kPayloads; ++i)
    ASSERT_NO_FATAL_FAILURE(fifos_.add(claimcheck::test::random_bytes(kPayloadBytes, rng())));

  // Coordinator and consumer b find the cluster through the node list; producer and consumer a through HAProxy.
  {
    auto a = run_.common("coordinator");
    CliRun::add(a, {"--db", db, "--key-prefix", run_.key_prefix(), "--no-orphan-sweep", "--lifecycle-days", "0",
                    "--batch-delay", "20ms"});
    // Every party runs as the cluster's administrator until per-party users exist (issue 9 item 1).
    const std::string admin = claimcheck::amqp::url_user(haproxy_url_);
    CliRun::add(a, {"--producer-users", admin, "--recipient-users", "*=" + admin});
    coord_ = spawn_with_url(node_urls_, a, "coordinator");
    ASSERT_GT(coord_.pid, 0);
  }
  for (int c = 0; c < 2; ++c) {
    auto a = run_.common("consume");
    CliRun::add(a, {"--recipient", rcpt[c], "--out-dir", out[c].string(), "--prefetch", "8", "--idle-exit", "20"});
    cons_[c] = spawn_with_url(c == 0 ? haproxy_url_ : node_urls_, a, "consume-" + rcpt[c]);
    ASSERT_GT(cons_[c].pid, 0);
  }
  auto pa = run_.common("produce");
  CliRun::add(pa, {"--recipients", "a,b", "--concurrency", "2", "--key-prefix", run_.key_prefix()});
  fifos_.add_file_flags(pa);
  producer_ = spawn_with_url(haproxy_url_, pa, "produce");
  ASSERT_GT(producer_.pid, 0);

  // 1. Payloads 1..15 flow and are consumed by both recipients.
  for (std::size_t i = 0; i < 15; ++i) ASSERT_TRUE(feed(i, deadline));
  ASSERT_TRUE(wait_for(deadline, [&] { return visible_files(out[0]).size() >= 15 && visible_files(out[1]).size() >= 15; }))
      << "the first 15 payloads did not arrive\n" << producer_.logs() << cons_[0].logs() << cons_[1].logs();

  // The quorum queues have a member on each of the three nodes, and r1 (where every client is) leads them.
  const std::vector<std::string> queues = {run_.queue("a"), run_.queue("b"), run_.ack_queue(), run_.dead_queue()};
  for (const auto& q : queues) {
    auto j = mgmt_get(1, "/api/queues/%2F/" + q);
    ASSERT_TRUE(j) << "management API of node 2: no queue " << q;
    EXPECT_EQ((*j).value("type", ""), "quorum") << q;
    std::set<std::string> members;
    for (const auto& m : (*j)["members"]) members.insert(m.get<std::string>());
    EXPECT_EQ(members, (std::set<std::string>{"r1@localhost", "r2@localhost", "r3@localhost"})) << q;
    EXPECT_EQ((*j).value("leader", ""), r1) << q;
  }

  // 2. Take r1 away (stop or kill) while payloads 16..30 are fed, one every 200 ms.
  const double t_stop = wall_now();
  const auto t_stop_mono = Clock::now();
  infra_ = run_.infra({how, "1"}, "infra-stop");
  ASSERT_GT(infra_.pid, 0);
  for (std::size_t i = 15; i < 30; ++i) {
    ASSERT_TRUE(feed(i, deadline));
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(infra_.wait_until(deadline), 0) << infra_.logs();
  const double stop_secs = std::chrono::duration<double>(Clock::now() - t_stop_mono).count();

  // 3. The rest, on the surviving two nodes.
  for (std::size_t i = 30; i < kPayloads; ++i) ASSERT_TRUE(feed(i, deadline));

  // Nothing lost: every payload published once and written byte-identical by both recipients.
  ASSERT_NO_FATAL_FAILURE(
      claimcheck::test::expect_outage_survived(producer_, cons_, rcpt, out, fifos_, deadline, {}));

  // The coordinator deleted every object: status --json counts DELETED == kPayloads, nothing else left.
  nlohmann::json status;
  const bool all_deleted = wait_for(
      deadline,
      [&] {
        status = run_.status(db);
        return status.is_object() && status.value("not_deleted", -1) == 0 &&
               status["counts"].value("DELETED", 0) == static_cast<int>(kPayloads);
      },
      500ms);
  EXPECT_TRUE(all_deleted) << "status: " << status.dump() << "\n" << coord_.logs();
  EXPECT_NE(slurp(coord_.err).find("coordinator: reconnected"), std::string::npos) << coord_.logs();
  ASSERT_TRUE(coord_.running()) << coord_.logs();
  ::kill(coord_.pid, SIGTERM);
  // A coordinator stopped by SIGTERM exits 130 (kExitInterrupted) after a clean shutdown.
  EXPECT_EQ(coord_.wait_until(Clock::now() + 30s), 130) << coord_.logs();
  EXPECT_NE(slurp(coord_.err).find(std::to_string(kPayloads) + " deleted (0 expired), 0 orphans, 0 dead-lettered"),
            std::string::npos)
      << coord_.logs();

  // Broker side, through the survivors: nothing dead-lettered or left over; leaders moved off r1.
  {
    claimcheck::amqp::Client admin(admin_config());
    auto conn = admin.connect();
    ASSERT_TRUE(conn) << conn.error().to_string();
    auto dead = admin.queue_message_count(run_.dead_queue());
    ASSERT_TRUE(dead) << dead.error().to_string();
    EXPECT_EQ(*dead, 0u) << "messages were dead-lettered";
    for (const auto& r : rcpt) {
      auto n = admin.queue_message_count(run_.queue(r));
      ASSERT_TRUE(n) << n.error().to_string();
      EXPECT_EQ(*n, 0u) << run_.queue(r) << " not drained";
    }
  }
  for (const auto& q : queues) {
    auto j = mgmt_get(1, "/api/queues/%2F/" + q);
    ASSERT_TRUE(j) << q;
    const std::string leader = (*j).value("leader", "");
    EXPECT_TRUE(leader == "r2@localhost" || leader == "r3@localhost") << q << " leader " << leader;
  }

  // Failover figures: per process, from r1's stop to "connection lost" and to the reconnect.
  struct Who {
    const char* name;
    const Proc* p;
    const char* reconnected;
  };
  for (const Who& w : {Who{"producer (HAProxy)", &producer_, "produce: AMQP reconnected"},
                       Who{"consumer a (HAProxy)", &cons_[0], "consume: AMQP reconnected"},
                       Who{"consumer b (node list)", &cons_[1], "consume: AMQP reconnected"},
                       Who{"coordinator (node list)", &coord_, "coordinator: reconnected"}}) {
    auto lost = log_time(w.p->err, "amqp: connection lost");
    auto back = log_time(w.p->err, w.reconnected);
    if (lost && back) {
      std::fprintf(stderr, "cluster test: %-24s lost after %.2f s, reconnected after %.2f s (outage %.2f s)\n", w.name,
                   *lost - t_stop, *back - t_stop, *back - *lost);
    }
  }
  std::fprintf(stderr, "cluster test: 'infra %s 1' took %.1f s\n", how.c_str(), stop_secs);

  // 4. r1 comes back and rejoins: running, and an online member of every quorum queue again.
  const auto t_start = Clock::now();
  infra_ = run_.infra({"start-node", "1"}, "infra-start");
  ASSERT_EQ(infra_.wait_until(Clock::now() + 200s), 0) << infra_.logs();
  std::fprintf(stderr, "cluster test: 'infra start-node 1' (rejoined) took %.1f s\n",
               std::chrono::duration<double>(Clock::now() - t_start).count());
  ASSERT_TRUE(amqp_answers(split(node_urls_, ',')[0])) << "r1 does not accept AMQP logins after start-node";
  auto nodes = mgmt_get(0, "/api/nodes");
  ASSERT_TRUE(nodes) << "management API of r1 does not answer";
  std::set<std::string> running;
  for (const auto& n : *nodes)
    if (n.value("running", false)) running.insert(n.value("name", ""));
  EXPECT_EQ(running, (std::set<std::string>{"r1@localhost", "r2@localhost", "r3@localhost"}));
  for (const auto& q : queues) {
    bool online = wait_for(Clock::now() + 60s, [&] {
      auto j = mgmt_get(0, "/api/queues/%2F/" + q);
      if (!j || !(*j).contains("online")) return false;
      for (const auto& m : (*j)["online"])
        if (m.get<std::string>() == r1) return true;
      return false;
    }, 500ms);
    EXPECT_TRUE(online) << q << ": r1 is not back as an online member";
  }
}

TEST_F(PipelineCluster, GracefulStopOfLeaderNodeLosesNothingAndNodeRejoins) { run_failover("stop-node"); }

// A crash: connections die with the node and the quorum queues elect a leader while publishes are in flight
// (RabbitMQ 3.10 then nacks them on the reconnected channel: the client re-sends on a new connection).
TEST_F(PipelineCluster, CrashOfLeaderNodeLosesNothingAndNodeRejoins) { run_failover("kill-node"); }

}  // namespace
