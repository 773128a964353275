// End-to-end: `claimcheck produce --watch DIR` (the outbox) with the real binary against the local RabbitMQ
// + Ceph RGW, a coordinator (SQLite) and three consumers with --out-dir (each with its own journal).
//   1. a file copied into the outbox reaches the three recipients byte-identical and moves to .sent/<date>/;
//   2. 30 files are dropped while the watcher is SIGKILLed after some were sent and restarted: each
//      recipient has each file exactly once, every file ends in .sent/, the coordinator deleted each
//      object once (DELETED == 30, its summary says "30 deleted") and the bucket holds none of them.
// Each test uses its own topology names and key prefix (t<random>).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "test_data.h"
#include "claimcheck/amqp/client.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/core/sha256.h"
#include "claimcheck/core/time.h"
#include "claimcheck/core/credentials.h"
#include "subprocess.h"
#include "test_env.h"

namespace fs = std::filesystem;
using claimcheck::test::Clock;
using claimcheck::test::Proc;
using claimcheck::test::slurp;
using claimcheck::test::spawn;
using namespace std::chrono_literals;

using claimcheck::test::random_bytes;
namespace {

template <class Pred>
bool wait_for(Clock::time_point deadline, Pred pred, std::chrono::milliseconds step = 50ms) {
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

/// Relative path → SHA-256 of every regular file under `dir` (hidden entries skipped).
std::map<std::string, std::string> tree(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) {
    const std::string rel = e.path().lexically_relative(dir).generic_string();
    if (rel.front() == '.' || !e.is_regular_file(ec) || e.path().filename().string().front() == '.') continue;
    out[rel] = claimcheck::sha256_hex(slurp(e.path()));
  }
  return out;
}

class PipelineOutboxCli : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = claimcheck::test::claimcheck_binary();
    ASSERT_TRUE(fs::exists(bin_)) << "no claimcheck binary at " << bin_ << " (set CLAIMCHECK_BINARY)";
    for (const char* n : {"AMQP_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET"}) {
      std::string v = claimcheck::test::require_env(n);
      ASSERT_FALSE(v.empty());
      setenv(n, v.c_str(), 1);
    }
    setenv("S3_REGION", claimcheck::test::env_value("S3_REGION").value_or("us-east-1").c_str(), 1);
    tag_ = claimcheck::test::unique_name("o");
    work_ = fs::temp_directory_path() / ("claimcheck-outbox-" + tag_);
    outbox_ = work_ / "outbox";
    fs::create_directories(work_ / "log");
    fs::create_directories(outbox_);
    admin_ = claimcheck::amqp::url_user(std::getenv("AMQP_URL"));
    start_parties();
  }

  void TearDown() override {
    for (Proc* p : {&watcher_, &coord_, &cons_[0], &cons_[1], &cons_[2]}) p->kill_now();
    claimcheck::amqp::AmqpConfig c;
    c.urls = claimcheck::split_url_list(std::getenv("AMQP_URL"));
    claimcheck::amqp::Client admin(c);
    if (admin.connect()) {
      for (const auto& r : kRecipients) (void)admin.delete_queue("q." + tag_ + "." + r);
      for (const auto& q : {"q.ack." + tag_, "q.dead." + tag_}) (void)admin.delete_queue(q);
      for (const auto& e : {"ex.msg." + tag_, "ex.ack." + tag_, "ex.dlx." + tag_}) (void)admin.delete_exchange(e);
    }
    if (auto keys = stored_keys(); !keys.empty()) (void)s3()->delete_objects(std::getenv("S3_BUCKET"), keys);
    std::error_code ec;
    fs::remove_all(work_, ec);
  }

  std::vector<std::string> common(const std::string& sub) const {
    return {bin_, sub, "--msg-exchange", "ex.msg." + tag_, "--ack-exchange", "ex.ack." + tag_, "--ack-queue",
            "q.ack." + tag_, "--dlx", "ex.dlx." + tag_, "--dead-queue", "q.dead." + tag_, "--queue-prefix",
            "q." + tag_ + ".", "--log-level", "info"};
  }

  void start_parties() {
    auto a = common("coordinator");
    // Every party runs as the administrator of .local/env (see README, "Trust").
    for (const auto& s : {std::string("--db"), db(), std::string("--key-prefix"), "test-" + tag_,
                          std::string("--no-orphan-sweep"), std::string("--lifecycle-days"), std::string("0"),
                          std::string("--batch-delay"), std::string("20ms"), std::string("--producer-users"), admin_,
                          std::string("--recipient-users"), "*=" + admin_})
      a.push_back(s);
    coord_ = spawn(a, work_ / "log/coordinator");
    ASSERT_GT(coord_.pid, 0);
    for (std::size_t i = 0; i < kRecipients.size(); ++i) {
      auto c = common("consume");
      for (const auto& s : {std::string("--recipient"), kRecipients[i], std::string("--out-dir"), out(i).string(),
                            std::string("--state-dir"), (work_ / ("state-" + kRecipients[i])).string()})
        c.push_back(s);
      cons_[i] = spawn(c, work_ / ("log/consume-" + kRecipients[i]));
      ASSERT_GT(cons_[i].pid, 0);
    }
  }

  Proc start_watcher(const std::string& log) {
    auto a = common("produce");
    for (const auto& s : {std::string("--watch"), outbox_.string(), std::string("--recipients"), std::string("a,b,c"),
                          std::string("--key-prefix"), "test-" + tag_, std::string("--quiet-period"),
                          std::string("1s"), std::string("--concurrency"), std::string("2")})
      a.push_back(s);
    return spawn(a, work_ / ("log/" + log));
  }

  fs::path out(std::size_t i) const { return work_ / ("out-" + kRecipients[i]); }
  std::string db() const { return "sqlite:" + (work_ / "coordinator.db").string(); }
  fs::path sent_dir() const {
    return outbox_ / ".sent" / claimcheck::format_rfc3339(claimcheck::utc_now()).substr(0, 10);
  }

  std::optional<claimcheck::s3::S3Client> s3() const {
    claimcheck::s3::S3Config sc;
    sc.endpoint = std::getenv("S3_ENDPOINT");
    sc.region = std::getenv("S3_REGION");
    sc.access_key = std::getenv("S3_ACCESS_KEY");
    sc.secret_key = std::getenv("S3_SECRET_KEY");
    auto c = claimcheck::s3::S3Client::create(sc);
    if (!c) return std::nullopt;
    return std::move(*c);
  }

  std::vector<std::string> stored_keys() const {
    std::vector<std::string> keys;
    auto c = s3();
    if (!c) return keys;
    auto page = c->list_objects_v2(std::getenv("S3_BUCKET"), "test-" + tag_ + "/");
    if (page)
      for (const auto& o : page->objects) keys.push_back(o.key);
    return keys;
  }

  nlohmann::json status() {
    Proc s = spawn({bin_, "status", "--db", db(), "--json"}, work_ / "log/status");
    if (s.wait_until(Clock::now() + 30s) != 0) {
      s.kill_now();
      return {};
    }
    auto j = nlohmann::json::parse(slurp(s.out), nullptr, false);
    return j.is_discarded() ? nlohmann::json{} : j;
  }

  void write_file(const std::string& rel, const std::string& bytes) {
    fs::create_directories((outbox_ / rel).parent_path());
    std::ofstream(outbox_ / rel, std::ios::binary) << bytes;  // closed at once: IN_CLOSE_WRITE
    expected_[rel] = claimcheck::sha256_hex(bytes);
  }

  std::string logs() const {
    std::string s = "--- watcher:\n" + slurp(watcher_.err) + "--- coordinator:\n" + slurp(coord_.err);
    for (std::size_t i = 0; i < kRecipients.size(); ++i) s += "--- " + kRecipients[i] + ":\n" + slurp(cons_[i].err);
    return s;
  }

  const std::vector<std::string> kRecipients{"a", "b", "c"};
  std::string bin_, tag_, admin_;
  fs::path work_, outbox_;
  Proc watcher_, coord_;
  Proc cons_[3];
  std::map<std::string, std::string> expected_;  // rel → SHA-256
};

}  // namespace

TEST_F(PipelineOutboxCli, CopiedFileReachesThreeRecipientsAndMovesToSent) {
  const auto deadline = Clock::now() + 90s;
  watcher_ = start_watcher("watch");
  ASSERT_GT(watcher_.pid, 0);
  std::ofstream(outbox_ / "ignored.tmp") << "temporary";
  std::ofstream(outbox_ / ".hidden") << "dot-file";
  write_file("reports/2024 q1.csv", random_bytes(700 * 1024 + 3, 1));
  ASSERT_TRUE(wait_for(deadline, [&] {
    for (std::size_t i = 0; i < 3; ++i)
      if (tree(out(i)) != expected_) return false;
    return fs::exists(sent_dir() / "reports/2024 q1.csv");
  })) << logs();
  EXPECT_FALSE(fs::exists(outbox_ / "reports/2024 q1.csv")) << "moved, not copied";
  EXPECT_EQ(claimcheck::sha256_hex(slurp(sent_dir() / "reports/2024 q1.csv")), expected_["reports/2024 q1.csv"]);
  EXPECT_TRUE(fs::exists(outbox_ / "ignored.tmp"));
  EXPECT_TRUE(fs::exists(outbox_ / ".hidden"));
  EXPECT_TRUE(fs::is_empty(outbox_ / ".claimcheck-outbox")) << "journal cleared after the move";
  EXPECT_NE(slurp(watcher_.err).find("outbox: sent reports/2024 q1.csv as "), std::string::npos) << logs();
  nlohmann::json st;
  EXPECT_TRUE(wait_for(deadline, [&] {
    st = status();
    return st.is_object() && st.contains("counts") && st["counts"].value("DELETED", 0) == 1;
  }, 200ms)) << "the coordinator deletes the object once all three acked; status: " << st.dump() << "\n" << logs();
  EXPECT_TRUE(coord_.running()) << logs();
  ::kill(watcher_.pid, SIGTERM);
  EXPECT_EQ(watcher_.wait_until(Clock::now() + 30s), 0) << "SIGTERM finishes and exits 0\n" << logs();
  EXPECT_NE(slurp(watcher_.out).find("1 sent, 0 failed, 0 pending"), std::string::npos) << slurp(watcher_.out);

  // Cron-style: --once sends what is there now and exits 0.
  write_file("later.bin", random_bytes(5000, 2));
  auto a = common("produce");
  for (const auto& f : {std::string("--watch"), outbox_.string(), std::string("--once"), std::string("--recipients"),
                        std::string("a,b,c"), std::string("--key-prefix"), "test-" + tag_, std::string("--quiet-period"),
                        std::string("0s")})
    a.push_back(f);
  watcher_ = spawn(a, work_ / "log/once");
  EXPECT_EQ(watcher_.wait_until(Clock::now() + 60s), 0) << logs();
  EXPECT_NE(slurp(watcher_.out).find("1 sent, 0 failed, 0 pending"), std::string::npos) << slurp(watcher_.out);
  EXPECT_TRUE(fs::exists(sent_dir() / "later.bin"));
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(wait_for(deadline, [&] { return tree(out(i)) == expected_; })) << kRecipients[i] << "\n" << logs();
}

TEST_F(PipelineOutboxCli, KilledAndRestartedWatcherLosesAndDuplicatesNothing) {
  constexpr std::size_t kFiles = 30;
  const auto deadline = Clock::now() + 240s;
  watcher_ = start_watcher("watch-1");
  ASSERT_GT(watcher_.pid, 0);
  std::this_thread::sleep_for(500ms);  // the watch is set up (files present before it are scanned anyway)
  std::size_t written = 0;
  auto drop = [&](std::size_t n) {
    for (; written < n; ++written) {
      const std::string rel = (written % 3 == 0 ? "sub/" : "") + std::string("f") + std::to_string(written) + ".bin";
      write_file(rel, random_bytes(128 * 1024 + written * 4099, 100 + written));
      std::this_thread::sleep_for(30ms);
    }
  };
  drop(12);
  auto entries = [](const fs::path& d) {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(d, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      n += it->is_regular_file(ec) ? 1 : 0;
    return n;
  };
  // SIGKILL mid-run: some sent, at least one in flight (its journal record exists), some not started.
  ASSERT_TRUE(wait_for(deadline, [&] { return entries(sent_dir()) >= 3 && entries(outbox_ / ".claimcheck-outbox") > 0; }, 1ms))
      << logs();
  watcher_.kill_now();
  const std::size_t sent_before = tree(sent_dir()).size();
  drop(20);  // while no watcher runs
  watcher_ = start_watcher("watch-2");
  ASSERT_GT(watcher_.pid, 0);
  drop(kFiles);
  ASSERT_TRUE(wait_for(deadline, [&] { return tree(sent_dir()) == expected_; }, 100ms))
      << "sent before the kill: " << sent_before << "\n" << logs();
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(wait_for(deadline, [&] { return tree(out(i)) == expected_; })) << kRecipients[i] << "\n" << logs();
  nlohmann::json st;
  EXPECT_TRUE(wait_for(deadline, [&] {
    st = status();
    return st.is_object() && st.value("not_deleted", -1) == 0 && st.contains("counts") &&
           st["counts"].value("DELETED", 0) == static_cast<int>(kFiles);
  }, 500ms)) << "status: " << st.dump() << "\n" << logs();
  EXPECT_TRUE(stored_keys().empty()) << "objects left under test-" << tag_ << "/";
  EXPECT_TRUE(fs::is_empty(outbox_ / ".claimcheck-outbox"));
  ::kill(watcher_.pid, SIGTERM);
  EXPECT_EQ(watcher_.wait_until(Clock::now() + 30s), 0) << logs();
  ::kill(coord_.pid, SIGTERM);
  coord_.wait_until(Clock::now() + 30s);
  EXPECT_NE(slurp(coord_.err).find(std::to_string(kFiles) + " deleted (0 expired), 0 orphans, 0 dead-lettered"),
            std::string::npos)
      << "each object deleted once\n" << logs();
  const std::string second = slurp(watcher_.err);
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto p = second.find(what); p != std::string::npos; p = second.find(what, p + 1)) ++n;
    return n;
  };
  std::cerr << "outbox restart: " << sent_before << " of 12 sent before the SIGKILL; after it the journal named "
            << count("outbox: journal: ") << " file(s), " << count("already stored by an earlier attempt")
            << " object(s) reused (same bytes), " << count("confirmed before the restart") << " only moved\n";
}
