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
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "claimcheck/amqp/client.h"
#include "claimcheck/core/sha256.h"
#include "claimcheck/core/time.h"
#include "cli_harness.h"

namespace fs = std::filesystem;
using claimcheck::test::CliRun;
using claimcheck::test::Clock;
using claimcheck::test::Proc;
using claimcheck::test::random_bytes;
using claimcheck::test::slurp;
using claimcheck::test::wait_for;
using namespace std::chrono_literals;

namespace {

/// Relative path → SHA-256 of every regular file under `dir` (hidden entries skipped).
std::map<std::string, std::string> tree(const fs::path& dir) { return claimcheck::test::tree_sha256(dir); }

class PipelineOutboxCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(run_.start("o", "outbox"));
    outbox_ = run_.work() / "outbox";
    fs::create_directories(outbox_);
    admin_ = claimcheck::amqp::url_user(std::getenv("AMQP_URL"));
    start_parties();
  }

  void TearDown() override {
    for (Proc* p : {&watcher_, &coord_, &cons_[0], &cons_[1], &cons_[2]}) p->kill_now();
    run_.clean_up(kRecipients);
    run_.finish(HasFailure());
  }

  void start_parties() {
    auto a = run_.common("coordinator");
    // Every party runs as the administrator of .local/env (see README, "Trust").
    CliRun::add(a, {"--db", db(), "--key-prefix", run_.key_prefix(), "--no-orphan-sweep", "--lifecycle-days", "0",
                    "--batch-delay", "20ms", "--producer-users", admin_, "--recipient-users", "*=" + admin_});
    coord_ = run_.spawn(a, "coordinator");
    ASSERT_GT(coord_.pid, 0);
    for (std::size_t i = 0; i < kRecipients.size(); ++i) {
      auto c = run_.common("consume");
      CliRun::add(c, {"--recipient", kRecipients[i], "--out-dir", out(i).string(), "--state-dir",
                      (run_.work() / ("state-" + kRecipients[i])).string()});
      cons_[i] = run_.spawn(c, "consume-" + kRecipients[i]);
      ASSERT_GT(cons_[i].pid, 0);
    }
  }

  Proc start_watcher(const std::string& log) {
    auto a = run_.common("produce");
    CliRun::add(a, {"--watch", outbox_.string(), "--recipients", "a,b,c", "--key-prefix", run_.key_prefix(),
                    "--quiet-period", "1s", "--concurrency", "2"});
    return run_.spawn(a, log);
  }

  fs::path out(std::size_t i) const { return run_.work() / ("out-" + kRecipients[i]); }
  std::string db() const { return "sqlite:" + (run_.work() / "coordinator.db").string(); }
  fs::path sent_dir() const {
    return outbox_ / ".sent" / claimcheck::format_rfc3339(claimcheck::utc_now()).substr(0, 10);
  }
  nlohmann::json status() const { return run_.status(db()); }

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
  CliRun run_;
  std::string admin_;
  fs::path outbox_;
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
  auto a = run_.common("produce");
  CliRun::add(a, {"--watch", outbox_.string(), "--once", "--recipients", "a,b,c", "--key-prefix", run_.key_prefix(),
                  "--quiet-period", "0s"});
  watcher_ = run_.spawn(a, "once");
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
  EXPECT_TRUE(run_.stored_keys().empty()) << "objects left under " << run_.key_prefix() << "/";
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
