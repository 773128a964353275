#pragma once
/// The harness of the e2e tests that run the `claimcheck` CLI as subprocesses on the local servers
/// (`make up`): one CliRun per test owns the binary's path, a namespace of its own on the shared servers (a
/// unique tag naming its exchanges, queues and S3 key prefix), a work directory with every process's log,
/// and the clean-up of all of it; FifoPayloads feeds payloads through named pipes; wait_for, files_sha256,
/// tree_sha256 and expect_same_files are the waits and output checks the tests share.
///
/// Example — one producer and one consumer in a namespace of their own:
///
///     claimcheck::test::CliRun run_;                      // a fixture member
///     void SetUp() override { ASSERT_NO_FATAL_FAILURE(run_.start("t", "cli")); }
///     void TearDown() override { run_.clean_up({"a"}); run_.finish(HasFailure()); }
///     ...
///     auto pa = run_.common("produce");
///     run_.add(pa, {"--file", path, "--recipients", "a", "--key-prefix", run_.key_prefix()});
///     Proc prod = run_.spawn(pa, "produce");
///     ASSERT_EQ(prod.wait_exit(), 0) << prod.logs();
///
/// Header-only, POSIX. Not thread-safe: one test thread owns a CliRun. Failures are gtest failures, never skips:
/// a missing setting fails the test (start() uses ASSERT_*, so call it in ASSERT_NO_FATAL_FAILURE).

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "claimcheck/amqp/client.h"
#include "claimcheck/core/credentials.h"
#include "claimcheck/core/sha256.h"
#include "claimcheck/s3/s3_client.h"
#include "subprocess.h"
#include "test_data.h"
#include "test_env.h"
#include "test_topology.h"

namespace claimcheck::test {

/// Polls `pred` every `step` until it holds (true) or `deadline` passes (false).
template <class Pred>
bool wait_for(Clock::time_point deadline, Pred pred, std::chrono::milliseconds step = 20ms) {
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

/// File name → SHA-256 (hex) of every entry directly in `dir`, hidden ones included (a consumer's temp
/// file left behind shows up). Empty when `dir` does not exist.
inline std::map<std::string, std::string> files_sha256(const fs::path& dir) {
  std::map<std::string, std::string> got;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) got[e.path().filename().string()] = sha256_hex(slurp(e.path()));
  return got;
}

/// Relative path → SHA-256 (hex) of every regular file below `dir`, skipping hidden files and everything
/// below a hidden top-level directory (the outbox's .sent/ and journal). Empty when `dir` does not exist.
inline std::map<std::string, std::string> tree_sha256(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) {
    const std::string rel = e.path().lexically_relative(dir).generic_string();
    if (rel.front() == '.' || !e.is_regular_file(ec) || e.path().filename().string().front() == '.') continue;
    out[rel] = sha256_hex(slurp(e.path()));
  }
  return out;
}

/// Expects `got` (name → SHA-256) to be exactly `expected`: the same count, no name missing, every digest
/// equal; each difference is one failure naming `who` and the file.
inline void expect_same_files(const std::map<std::string, std::string>& got,
                              const std::map<std::string, std::string>& expected, const std::string& who) {
  EXPECT_EQ(got.size(), expected.size()) << who;
  for (const auto& [name, sha] : expected) {
    auto it = got.find(name);
    if (it == got.end()) {
      ADD_FAILURE() << who << " lacks " << name;
    } else {
      EXPECT_EQ(it->second, sha) << who << ": " << name << " differs";
    }
  }
}

/// Waits until `deadline` for `p` (named `who` in failures) to exit; fatal failure unless it exits 0. Then
/// expects its stdout to contain every string of `out_has` and its stderr every string of `err_has`.
inline void expect_clean_exit(Proc& p, Clock::time_point deadline, const std::string& who,
                              std::initializer_list<std::string> out_has, std::initializer_list<std::string> err_has) {
  const int rc = p.wait_until(deadline);
  ASSERT_EQ(rc, 0) << who << "\n" << p.logs();
  const std::string out = slurp(p.out), err = slurp(p.err);
  for (const auto& s : out_has) EXPECT_NE(out.find(s), std::string::npos) << who << ": no '" << s << "'\n" << p.logs();
  for (const auto& s : err_has) EXPECT_NE(err.find(s), std::string::npos) << who << ": no '" << s << "'\n" << p.logs();
}

/// An AmqpConfig for a test's own admin connection to `urls` (comma-separated): one connect attempt of at
/// most 3 s and no reconnect, so a test step fails fast when the broker is away.
inline amqp::AmqpConfig admin_amqp_config(const std::string& urls, const std::string& connection_name) {
  amqp::AmqpConfig c;
  c.urls = split_url_list(urls);
  c.connect_attempts = 1;
  c.connect_timeout = 3000ms;
  c.reconnect.max_attempts = 1;
  c.connection_name = connection_name;
  return c;
}

/// Payloads a producer reads from named pipes (`produce --file FIFO`), so the test decides when each one
/// exists: pipe i is `dir/pNN.bin` (NN = i + 1).
class FifoPayloads {
 public:
  /// Remembers `dir` (made by the first add()); no pipe yet.
  explicit FifoPayloads(fs::path dir = {}) : dir_(std::move(dir)) {}
  void set_dir(fs::path dir) { dir_ = std::move(dir); }

  /// Adds payload number size() with `bytes`: makes its pipe (mode 0600) and records its SHA-256 under the
  /// pipe's file name (what a consumer names the output). Fails the test when mkfifo fails.
  void add(std::string bytes) {
    const fs::path p = path(payloads_.size());
    std::error_code ec;
    fs::create_directories(dir_, ec);
    ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0) << p << ": " << std::strerror(errno);
    expected_[p.filename().string()] = sha256_hex(bytes);
    payloads_.push_back(std::move(bytes));
  }
  /// The pipe of payload `i`.
  [[nodiscard]] fs::path path(std::size_t i) const {
    char name[32];
    std::snprintf(name, sizeof name, "p%02zu.bin", i + 1);
    return dir_ / name;
  }
  /// `--file <pipe>` for every payload, appended to `args`.
  void add_file_flags(std::vector<std::string>& args) const {
    for (std::size_t i = 0; i < payloads_.size(); ++i) {
      args.push_back("--file");
      args.push_back(path(i).string());
    }
  }
  /// Writes payload `i` into its pipe: waits (until `deadline`) for a worker of `producer` to open it.
  ::testing::AssertionResult feed(std::size_t i, Proc& producer, Clock::time_point deadline) const {
    return feed_fifo(path(i), payloads_[i], producer, deadline);
  }
  /// Output file name → SHA-256 of every payload added.
  [[nodiscard]] const std::map<std::string, std::string>& expected() const { return expected_; }
  [[nodiscard]] std::size_t size() const { return payloads_.size(); }

 private:
  fs::path dir_;
  std::vector<std::string> payloads_;
  std::map<std::string, std::string> expected_;
};

/// The end of a run through a broker outage (the restart and failover tests): fatal failure unless `producer`
/// exits 0 before `deadline` having published every payload of `fifos` and logged "produce: AMQP reconnected",
/// and each consumer `cons[i]` (recipient `rcpt[i]`) exits 0 having logged "consume: AMQP reconnected" (its
/// stdout holding each of `consumer_out_has`); then each `out[i]` must hold exactly the payloads,
/// byte-identical (SHA-256), and nothing else (no temp file left).
template <std::size_t N>
void expect_outage_survived(Proc& producer, Proc (&cons)[N], const std::string (&rcpt)[N], const fs::path (&out)[N],
                            const FifoPayloads& fifos, Clock::time_point deadline,
                            std::initializer_list<std::string> consumer_out_has) {
  ASSERT_NO_FATAL_FAILURE(expect_clean_exit(producer, deadline, "producer",
                                            {std::to_string(fifos.size()) + " published, 0 failed"},
                                            {"produce: AMQP reconnected"}));
  for (std::size_t c = 0; c < N; ++c) {
    const std::string who = "recipient " + rcpt[c];
    ASSERT_NO_FATAL_FAILURE(expect_clean_exit(cons[c], deadline, who, consumer_out_has, {"consume: AMQP reconnected"}));
    expect_same_files(files_sha256(out[c]), fifos.expected(), who);
  }
}

/// One e2e test's run of the CLI: binary, namespace (tag), work directory, clean-up. See the file comment.
class CliRun {
 public:
  /// Prepares the run: finds the binary (CLAIMCHECK_BINARY or the build tree's), the repo root, a tag
  /// `<tag_prefix><8 hex>`, the work directory `$TMPDIR/claimcheck-<work_name>-<tag>` with `log/`, and
  /// exports `env` (plus S3_REGION, default us-east-1): by default the settings every CLI run needs, exported
  /// so children inherit them and no password is in an argv. Fatal test failure when anything is missing.
  void start(std::string_view tag_prefix, std::string_view work_name,
             std::initializer_list<const char*> env = {"AMQP_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY",
                                                       "S3_BUCKET"}) {
    bin_ = claimcheck_binary();
    ASSERT_FALSE(bin_.empty());
    ASSERT_TRUE(fs::exists(bin_)) << "no claimcheck binary at " << bin_ << " (set CLAIMCHECK_BINARY)";
    src_ = source_dir();
    ASSERT_TRUE(!src_.empty() && fs::exists(fs::path(src_) / "scripts/infra"))
        << "cannot find scripts/infra (set CLAIMCHECK_SOURCE_DIR to the repo root)";
    ASSERT_NO_FATAL_FAILURE(export_env(env, false));
    tag_ = unique_name(tag_prefix);
    work_ = fs::temp_directory_path() / ("claimcheck-" + std::string(work_name) + "-" + tag_);
    fs::create_directories(work_ / "log");
    started_ = true;
  }

  /// Exports each of `names` from the environment or .local/env (with `reread`, from .local/env even when
  /// the environment has a value: after `scripts/infra up` rewrote it). Fatal test failure when one is unset.
  void export_env(std::initializer_list<const char*> names, bool reread) {
    for (const char* n : names) {
      if (reread) unsetenv(n);
      const std::string v = require_env(n);
      ASSERT_FALSE(v.empty());
      setenv(n, v.c_str(), 1);
    }
    setenv("S3_REGION", env_value("S3_REGION").value_or("us-east-1").c_str(), 1);
  }

  [[nodiscard]] bool started() const { return started_; }
  [[nodiscard]] const std::string& bin() const { return bin_; }
  [[nodiscard]] const std::string& src() const { return src_; }
  [[nodiscard]] const std::string& tag() const { return tag_; }
  [[nodiscard]] const fs::path& work() const { return work_; }
  /// The S3 key prefix of this run's objects ("test-<tag>"); its objects are under "test-<tag>/".
  [[nodiscard]] std::string key_prefix() const { return "test-" + tag_; }
  /// Name of recipient `r`'s queue in this run's namespace.
  /// This run's topology names (test_topology(tag())).
  [[nodiscard]] TopologyNames names() const { return test_topology(tag_); }
  [[nodiscard]] std::string queue(const std::string& r) const { return names().queue_prefix + r; }
  [[nodiscard]] std::string ack_queue() const { return names().ack_queue; }
  [[nodiscard]] std::string dead_queue() const { return names().dead_queue; }
  [[nodiscard]] std::string msg_exchange() const { return names().msg_exchange; }
  [[nodiscard]] std::string ack_exchange() const { return names().ack_exchange; }

  /// argv of `claimcheck <sub>` with this run's topology flags (exchanges, ack and dead queues, queue prefix)
  /// and `--log-level <level>`.
  [[nodiscard]] std::vector<std::string> common(const std::string& sub, const std::string& level = "info") const {
    const TopologyNames n = names();
    return {bin_, sub, "--msg-exchange", n.msg_exchange, "--ack-exchange", n.ack_exchange, "--ack-queue",
            n.ack_queue, "--dlx", n.dlx, "--dead-queue", n.dead_queue, "--queue-prefix", n.queue_prefix,
            "--log-level", level};
  }
  /// Appends `more` to `args` (flag lists read better than push_back chains).
  static void add(std::vector<std::string>& args, std::initializer_list<std::string> more) {
    args.insert(args.end(), more.begin(), more.end());
  }

  /// Spawns `args` with stdout/stderr in work()/log/<log>.out and .err (and `cwd`, if given).
  [[nodiscard]] Proc spawn(const std::vector<std::string>& args, const std::string& log,
                           const std::string& cwd = {}) const {
    return claimcheck::test::spawn(args, work_ / "log" / log, cwd);
  }
  /// Spawns `bash scripts/infra <args>` in the repo root, logging to work()/log/<log>.
  [[nodiscard]] Proc infra(const std::vector<std::string>& args, const std::string& log) const {
    std::vector<std::string> a = {"bash", src_ + "/scripts/infra"};
    a.insert(a.end(), args.begin(), args.end());
    return spawn(a, log, src_);
  }

  /// `claimcheck status --db <db> --json`, parsed; a null json when it fails, times out (30 s) or prints
  /// no JSON.
  [[nodiscard]] nlohmann::json status(const std::string& db) const {
    Proc s = spawn({bin_, "status", "--db", db, "--json"}, "status");
    if (s.wait_until(Clock::now() + 30s) != 0) {
      s.kill_now();
      return {};
    }
    auto j = nlohmann::json::parse(slurp(s.out), nullptr, false);
    return j.is_discarded() ? nlohmann::json{} : j;
  }

  /// An S3 client on S3_ENDPOINT with the exported credentials; nullopt when it cannot be made.
  [[nodiscard]] static std::optional<s3::S3Client> s3_client() {
    const char* ep = std::getenv("S3_ENDPOINT");
    if (ep == nullptr) return std::nullopt;
    s3::S3Config sc;
    sc.endpoint = ep;
    sc.region = env_value("S3_REGION").value_or("us-east-1");
    sc.access_key = env_value("S3_ACCESS_KEY").value_or("");
    sc.secret_key = env_value("S3_SECRET_KEY").value_or("");
    auto c = s3::S3Client::create(sc);
    if (!c) return std::nullopt;
    return std::move(*c);
  }
  /// Keys of the objects stored under key_prefix() (first 1,000).
  [[nodiscard]] std::vector<std::string> stored_keys() const {
    auto c = s3_client();
    return c ? keys_under_prefix(*c) : std::vector<std::string>{};
  }

  /// Deletes this run's queues (one per recipient in `recipients`, the ack and dead queues, `extra_queues`)
  /// and exchanges through `admin` (AMQP_URL when not given), then every object under key_prefix(). Best
  /// effort, for TearDown: what it cannot reach is left.
  void clean_up(const std::vector<std::string>& recipients, const std::vector<std::string>& extra_queues = {},
                const amqp::AmqpConfig* admin = nullptr) const {
    if (!started_) return;
    const auto cfg = admin ? *admin : admin_amqp_config(env_value("AMQP_URL").value_or(""), "claimcheck-test-cleanup");
    amqp::Client c(cfg);
    if (c.connect()) {
      std::vector<std::string> queues = {ack_queue(), dead_queue()};
      for (const auto& r : recipients) queues.push_back(queue(r));
      queues.insert(queues.end(), extra_queues.begin(), extra_queues.end());
      for (const auto& q : queues) (void)c.delete_queue(q);
      for (const auto& e : {msg_exchange(), ack_exchange(), names().dlx}) (void)c.delete_exchange(e);
    }
    auto s3 = s3_client();
    if (!s3) return;
    const std::string bucket = env_value("S3_BUCKET").value_or("");
    for (int page = 0; page < 10; ++page) {
      auto keys = keys_under_prefix(*s3);
      if (keys.empty() || !s3->delete_objects(bucket, keys)) break;
    }
  }

  /// Removes the work directory, or, when `keep` (the test failed), leaves it and says where the logs are.
  void finish(bool keep) const {
    if (!started_) return;
    if (keep) {
      std::fprintf(stderr, "logs kept in %s\n", (work_ / "log").c_str());
      return;
    }
    std::error_code ec;
    fs::remove_all(work_, ec);
  }

 private:
  /// Keys of the objects under key_prefix() (first 1,000), listed with `c`; empty when listing fails.
  [[nodiscard]] std::vector<std::string> keys_under_prefix(s3::S3Client& c) const {
    std::vector<std::string> keys;
    if (auto page = c.list_objects_v2(env_value("S3_BUCKET").value_or(""), key_prefix() + "/"))
      for (const auto& o : page->objects) keys.push_back(o.key);
    return keys;
  }

  bool started_ = false;
  std::string bin_, src_, tag_;
  fs::path work_;
};

}  // namespace claimcheck::test
