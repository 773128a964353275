// End-to-end tests of `claimcheck produce` / `claimcheck consume` as subprocesses, against the local
// RabbitMQ + Ceph RGW (`make up`). Each test uses its own topology names (t<random>).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "claimcheck/amqp/client.h"
#include "claimcheck/core/credentials.h"
#include "cli_harness.h"

namespace fs = std::filesystem;

using claimcheck::test::CliRun;
using claimcheck::test::Proc;
using claimcheck::test::slurp;
namespace {

void write_random(const fs::path& p, std::size_t n, std::uint64_t seed) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << claimcheck::test::random_bytes(n, seed);
}

class PipelineFlowCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(run_.start("t", "cli"));
    secret_ = std::getenv("S3_SECRET_KEY");
  }
  void TearDown() override {
    run_.clean_up({}, queues_);
    run_.finish(false);
  }

  /// Common flags: unique topology names, trace logging (to check for secrets).
  std::vector<std::string> common(const std::string& sub, const std::string& level = "trace") {
    return run_.common(sub, level);
  }
  Proc spawn(const std::vector<std::string>& args, const fs::path& log_base) {
    return claimcheck::test::spawn(args, log_base);
  }
  /// The admin's AMQP client (AMQP_URL, the administrator of .local/env), not connected yet.
  static claimcheck::amqp::Client admin_client() {
    claimcheck::amqp::AmqpConfig c;
    c.urls = claimcheck::split_url_list(std::getenv("AMQP_URL"));
    return claimcheck::amqp::Client(c);
  }

  void expect_no_secret(const Proc& p) {
    std::string err = slurp(p.err) + slurp(p.out);
    EXPECT_FALSE(err.empty());
    EXPECT_EQ(err.find(secret_), std::string::npos) << "S3 secret found in the output of " << p.err;
  }

  CliRun run_;
  std::string secret_;
  std::vector<std::string> queues_;
};

TEST_F(PipelineFlowCli, DirectoryReproducedByThreeRecipientsAndNoSecretInTraceLogs) {
  fs::path in = run_.work() / "in";
  write_random(in / "big.bin", 3 * 1024 * 1024 + 17, 1);
  write_random(in / "sub dir/with space.dat", 1000, 2);
  write_random(in / "ñandú/日本語.txt", 4096, 3);
  write_random(in / "deep/a/b/c/leaf", 1, 4);
  std::ofstream(in / "empty") << "";
  std::ofstream(in / "deep/empty2") << "";
  std::size_t nfiles = 0;
  for (auto& e : fs::recursive_directory_iterator(in))
    if (e.is_regular_file()) ++nfiles;
  const std::vector<std::string> rcpt{"a", "b", "c"};
  for (const auto& r : rcpt) queues_.push_back(run_.queue(r));

  auto pa = common("produce");
  for (const auto& s : {std::string("--dir"), in.string(), std::string("--recipients"), std::string("a,b,c"),
                        std::string("--key-prefix"), run_.key_prefix(), std::string("--verify")})
    pa.push_back(s);
  Proc prod = spawn(pa, run_.work() / "log/produce");
  ASSERT_GT(prod.pid, 0);
  ASSERT_EQ(prod.wait_exit(), 0) << slurp(prod.err);
  EXPECT_NE(slurp(prod.out).find(std::to_string(nfiles) + " published"), std::string::npos) << slurp(prod.out);

  std::vector<Proc> cons;
  for (const auto& r : rcpt) {
    auto ca = common("consume");
    for (const auto& s : {std::string("--recipient"), r, std::string("--out-dir"), (run_.work() / ("out-" + r)).string(),
                          std::string("--max-messages"), std::to_string(nfiles), std::string("--idle-exit"),
                          std::string("60")})
      ca.push_back(s);
    cons.push_back(spawn(ca, run_.work() / ("log/consume-" + r)));
  }
  for (std::size_t i = 0; i < cons.size(); ++i) {
    EXPECT_EQ(cons[i].wait_exit(), 0) << slurp(cons[i].err);
    int rc = std::system(("diff -r '" + in.string() + "' '" + (run_.work() / ("out-" + rcpt[i])).string() + "' >&2").c_str());
    EXPECT_EQ(rc, 0) << "diff -r differs for " << rcpt[i];
    expect_no_secret(cons[i]);
  }
  expect_no_secret(prod);
}

TEST_F(PipelineFlowCli, ConsumerKilledMidDownloadIsRedeliveredAndRestartFinishes) {
  fs::path in = run_.work() / "in";
  const std::size_t size = 256 * 1024 * 1024;
  write_random(in / "huge.bin", size, 7);
  queues_.push_back(run_.queue("k"));
  auto pa = common("produce", "info");
  for (const auto& s : {std::string("--file"), (in / "huge.bin").string(), std::string("--recipients"),
                        std::string("k"), std::string("--codec"), std::string("identity"), std::string("--key-prefix"),
                        run_.key_prefix()})
    pa.push_back(s);
  Proc prod = spawn(pa, run_.work() / "log/produce");
  ASSERT_EQ(prod.wait_exit(), 0) << slurp(prod.err);

  fs::path out = run_.work() / "out";
  auto ca = common("consume", "info");
  for (const auto& s : {std::string("--recipient"), std::string("k"), std::string("--out-dir"), out.string(),
                        std::string("--max-messages"), std::string("1"), std::string("--idle-exit"), std::string("60")})
    ca.push_back(s);
  Proc c1 = spawn(ca, run_.work() / "log/consume1");
  // Wait until the download has started: the staged download (issue 8 item 5) in the state dir, beside
  // the output (OUT/../.OUT.claimcheck), has some bytes.
  const fs::path downloads = run_.work() / ".out.claimcheck" / "downloads-k";
  std::uintmax_t had = 0;
  for (int i = 0; i < 3000 && had == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::error_code ec;
    if (!fs::exists(downloads, ec)) continue;
    for (auto& e : fs::directory_iterator(downloads, ec)) {
      std::error_code e2;
      const auto n = e.path().extension() == ".part" ? fs::file_size(e.path(), e2) : 0;
      if (!e2 && n > 0 && n < size) had = n;
    }
  }
  ASSERT_GT(had, 0u) << "the download never started: " << slurp(c1.err);
  kill(c1.pid, SIGKILL);
  EXPECT_EQ(c1.wait_exit(), 128 + SIGKILL);
  EXPECT_FALSE(fs::exists(out / "huge.bin")) << "killed mid-download, yet the target was committed";
  Proc c2 = spawn(ca, run_.work() / "log/consume2");
  ASSERT_EQ(c2.wait_exit(), 0) << slurp(c2.err);
  EXPECT_NE(slurp(c2.out).find("1 processed"), std::string::npos) << slurp(c2.out);
  // The restarted consumer continued the killed one's download instead of starting from byte 0.
  EXPECT_NE(slurp(c2.err).find("resuming "), std::string::npos) << slurp(c2.err);
  ASSERT_TRUE(fs::exists(out / "huge.bin"));
  EXPECT_EQ(fs::file_size(out / "huge.bin"), size);
  EXPECT_TRUE(slurp(out / "huge.bin") == slurp(in / "huge.bin"));
  // Nothing is left: no staged download, no temp file; the output dir holds exactly the payload.
  EXPECT_TRUE(fs::is_empty(downloads));
  std::vector<std::string> left;
  for (auto& e : fs::recursive_directory_iterator(out)) left.push_back(e.path().lexically_relative(out).string());
  EXPECT_EQ(left, std::vector<std::string>{"huge.bin"});
  EXPECT_EQ(fs::status(out / "huge.bin").permissions(), fs::perms(0640));  // --file-mode default
}

// Issue 12 items 2 and 6: secrets come from files (the env holds wrong ones), a symlinked input is refused
// naming it while the regular one is sent, and a running program cannot dump core.
TEST_F(PipelineFlowCli, SecretsFromFilesSymlinkedInputRefusedAndNoCoreDumps) {
  const std::string url = std::getenv("AMQP_URL");
  const auto at = url.rfind('@'), colon = url.find(':', url.find("://") + 3);
  ASSERT_TRUE(at != std::string::npos && colon < at) << "AMQP_URL needs user:password";
  std::ofstream(run_.work() / "s3.key") << secret_ << "\n";
  std::ofstream(run_.work() / "amqp.pw") << url.substr(colon + 1, at - colon - 1) << "\n";
  fs::path in = run_.work() / "in";
  write_random(in / "good.bin", 5000, 11);
  std::ofstream(run_.work() / "local.env") << "S3_SECRET_KEY=do-not-send";
  fs::create_symlink(run_.work() / "local.env", in / "link.bin");
  queues_.push_back(run_.queue("f"));
  setenv("S3_SECRET_KEY", "wrong-secret", 1);
  setenv("AMQP_URL", (url.substr(0, colon + 1) + "wrong-password" + url.substr(at)).c_str(), 1);
  auto with_files = [&](std::vector<std::string> a) {
    for (const auto& s : {std::string("--s3-secret-key-file"), (run_.work() / "s3.key").string(),
                          std::string("--amqp-password-file"), (run_.work() / "amqp.pw").string()})
      a.push_back(s);
    return a;
  };
  auto pa = with_files(common("produce", "info"));
  for (const auto& s : {std::string("--file"), (in / "good.bin").string(), std::string("--file"),
                        (in / "link.bin").string(), std::string("--recipients"), std::string("f"),
                        std::string("--key-prefix"), run_.key_prefix()})
    pa.push_back(s);
  Proc prod = spawn(pa, run_.work() / "log/produce");
  const int prc = prod.wait_exit();
  auto ca = with_files(common("consume", "info"));
  for (const auto& s : {std::string("--recipient"), std::string("f"), std::string("--out-dir"), (run_.work() / "out").string(),
                        std::string("--max-messages"), std::string("1"), std::string("--idle-exit"), std::string("30")})
    ca.push_back(s);
  Proc cons = spawn(ca, run_.work() / "log/consume");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::string limits = slurp("/proc/" + std::to_string(cons.pid) + "/limits");
  const int crc = cons.wait_exit();
  setenv("S3_SECRET_KEY", secret_.c_str(), 1);
  setenv("AMQP_URL", url.c_str(), 1);
  EXPECT_EQ(prc, 1) << slurp(prod.err);
  EXPECT_NE(slurp(prod.out).find("1 published, 1 failed"), std::string::npos) << slurp(prod.out);
  EXPECT_NE(slurp(prod.err).find("link.bin': is a symbolic link"), std::string::npos) << slurp(prod.err);
  EXPECT_EQ(crc, 0) << slurp(cons.err);
  EXPECT_TRUE(slurp(run_.work() / "out/good.bin") == slurp(in / "good.bin"));
  EXPECT_FALSE(fs::exists(run_.work() / "out/link.bin"));
  const auto line = limits.find("Max core file size");
  ASSERT_NE(line, std::string::npos) << limits;
  const std::string core = limits.substr(line, limits.find('\n', line) - line);
  EXPECT_NE(core.find(" 0                    0 "), std::string::npos) << core;
  expect_no_secret(prod);
  expect_no_secret(cons);
}

// A negative or absurd --count is a usage error (exit 2), found before any connection; a negative one
// wrapped around in the unsigned option and aborted the program (SIGABRT, vector::reserve).
TEST(ProduceCli, CountOutOfRangeIsAUsageError) {
  const std::string bin = claimcheck::test::claimcheck_binary();
  ASSERT_FALSE(bin.empty());
  for (const char* count : {"-1", "18446744073709551615", "10000001"}) {
    const std::string cmd = bin + " produce --msg-size 1KB --count " + count +
                            " --s3-endpoint http://127.0.0.1:1 --s3-access-key a --s3-secret-key b"
                            " --amqp-url amqp://u:p@127.0.0.1:1/%2F --log-level off >/dev/null 2>&1";
    const int st = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(st)) << "--count " << count << ": killed by signal " << WTERMSIG(st);
    EXPECT_EQ(WEXITSTATUS(st), 2) << "--count " << count;
  }
}

// Issue 12 item 5: a duration or size beyond its bound is a usage error (exit 2) found before any
// connection; `--orphan-grace 200000d` used to pass and overflow in nanoseconds (cutoff decades ahead).
TEST(CoordinatorCli, DurationOutOfRangeIsAUsageError) {
  const std::string bin = claimcheck::test::claimcheck_binary();
  ASSERT_FALSE(bin.empty());
  const std::string servers = " --s3-endpoint http://127.0.0.1:1 --s3-access-key a --s3-secret-key b"
                              " --amqp-url amqp://u:p@127.0.0.1:1/%2F";
  const std::string common = servers + " --log-level off";
  const std::vector<std::string> cases = {
      " coordinator --orphan-grace 200000d", " coordinator --sweep-interval 36501d",
      " coordinator --batch-delay 9223372036854775807ms", " coordinator --exit-when-idle 1e300",
      " consume --recipient r --idle-exit 1e300",
      " produce --msg-size 1KB --count 1 --ttl 200000d",
      " produce --msg-size 2000TiB --count 1", " consume --recipient r --max-size 9223372036854775807"};
  for (const auto& args : cases) {
    const std::string cmd = bin + args + common + " >/dev/null 2>&1";
    const int st = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(st)) << args << ": killed by signal " << WTERMSIG(st);
    EXPECT_EQ(WEXITSTATUS(st), 2) << args;
  }
  // The error names the flag and the bound.
  const fs::path err = fs::temp_directory_path() / ("cc-grace-" + std::to_string(getpid()) + ".err");
  const std::string cmd = bin + " coordinator --orphan-grace 200000d" + servers + " 2>" + err.string() + " >/dev/null";
  EXPECT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 2);
  const std::string text = slurp(err);
  EXPECT_NE(text.find("--orphan-grace: invalid duration '200000d': too large (at most 36500d)"), std::string::npos)
      << text;
  fs::remove(err);
}

// Issue 8 item 3: `consume --exec CMD` runs the command once per pointer with the payload on stdin and its
// description in the environment; a reject exit code dead-letters that pointer with the command's stderr.
TEST_F(PipelineFlowCli, ExecRunsOncePerPointerAndItsRejectCodeDeadLetters) {
  fs::path in = run_.work() / "in";
  for (int i = 0; i < 4; ++i) write_random(in / ("f" + std::to_string(i) + ".bin"), 1000 + 5000 * i, 20 + i);
  write_random(in / "bad.bin", 100, 30);
  queues_.push_back(run_.queue("x"));
  auto pa = common("produce", "info");
  for (const auto& s : {std::string("--dir"), in.string(), std::string("--recipients"), std::string("x"),
                        std::string("--key-prefix"), run_.key_prefix()})
    pa.push_back(s);
  Proc prod = spawn(pa, run_.work() / "log/produce");
  ASSERT_EQ(prod.wait_exit(), 0) << slurp(prod.err);
  const fs::path log = run_.work() / "exec.log";
  const std::string cmd = "case \"$CLAIMCHECK_NAME\" in bad*) echo \"refusing $CLAIMCHECK_NAME\" >&2; exit 65;; esac; "
                          "echo \"$CLAIMCHECK_NAME $(wc -c) $CLAIMCHECK_SIZE_RAW $CLAIMCHECK_RECIPIENT\" >> '" +
                          log.string() + "'";
  auto ca = common("consume", "info");
  for (const auto& s : {std::string("--recipient"), std::string("x"), std::string("--exec"), cmd,
                        std::string("--state-dir"), (run_.work() / "state").string(), std::string("--max-messages"),
                        std::string("5"), std::string("--idle-exit"), std::string("30")})
    ca.push_back(s);
  Proc cons = spawn(ca, run_.work() / "log/consume");
  ASSERT_EQ(cons.wait_exit(), 0) << slurp(cons.err);
  const std::string out = slurp(cons.out);
  EXPECT_NE(out.find("4 processed"), std::string::npos) << out;
  EXPECT_NE(out.find("1 rejected"), std::string::npos) << out;
  std::map<std::string, std::string> lines;  // name → rest of its line
  std::ifstream lf(log);
  for (std::string l; std::getline(lf, l);) {
    const auto sp = l.find(' ');
    EXPECT_TRUE(lines.emplace(l.substr(0, sp), l.substr(sp + 1)).second) << "ran twice for " << l;
  }
  ASSERT_EQ(lines.size(), 4u) << slurp(log);
  for (int i = 0; i < 4; ++i) {
    const std::string n = std::to_string(1000 + 5000 * i);
    EXPECT_EQ(lines["f" + std::to_string(i) + ".bin"], n + " " + n + " x");
  }
  EXPECT_NE(slurp(cons.err).find("refusing bad.bin"), std::string::npos) << "the reason carries the stderr";
  // The dead letter carries the command's stderr as its reason.
  claimcheck::amqp::Client admin = admin_client();
  ASSERT_TRUE(admin.connect().has_value());
  auto dl = admin.basic_get(run_.dead_queue());
  ASSERT_TRUE(dl.has_value() && dl->has_value());
  EXPECT_NE((*dl)->message.headers["x-claimcheck-error"].find("refusing bad.bin"), std::string::npos);
}

// Issue 8 item 9: the reference demo producer's pointer (no recipients, expires_at, producer_id; size_gz)
// is dead-lettered by default and, with --accept-reference-pointers, processed as addressed to this
// recipient alone. The test makes one from a claimcheck gzip pointer by removing claimcheck's fields.
TEST_F(PipelineFlowCli, ReferencePointersAreProcessedOnlyWithTheFlag) {
  const fs::path in = run_.work() / "in";
  write_random(in / "ref.bin", 70000, 41);
  for (const auto& r : {"src", "y", "z"}) queues_.push_back(run_.queue(r));
  auto pa = common("produce", "info");
  for (const auto& s : {std::string("--dir"), in.string(), std::string("--recipients"), std::string("src,y,z"),
                        std::string("--codec"), std::string("gzip"), std::string("--no-presign"),
                        std::string("--key-prefix"), run_.key_prefix()})
    pa.push_back(s);
  Proc prod = spawn(pa, run_.work() / "log/produce");
  ASSERT_EQ(prod.wait_exit(), 0) << slurp(prod.err);
  claimcheck::amqp::Client admin = admin_client();
  ASSERT_TRUE(admin.connect().has_value());
  for (const auto& r : {"y", "z"}) {  // drop claimcheck's own pointers of y and z
    auto own = admin.basic_get(run_.queue(r));
    ASSERT_TRUE(own.has_value() && own->has_value());
  }
  auto got = admin.basic_get(run_.queue("src"));
  ASSERT_TRUE(got.has_value() && got->has_value());
  auto j = nlohmann::json::parse((*got)->message.body);
  for (const auto& f : {"recipients", "recipients_total", "expires_at", "producer_id", "size_stored", "url"}) j.erase(f);
  claimcheck::amqp::Message m = (*got)->message;
  m.body = j.dump();
  for (const auto& r : {"y", "z"}) ASSERT_TRUE(admin.publish(run_.msg_exchange(), r, m, true).has_value());
  ASSERT_TRUE(admin.wait_confirms(std::chrono::seconds(10)).has_value());

  auto consume = [&](const std::string& r, bool flag) {
    auto ca = common("consume", "info");
    for (const auto& s : {std::string("--recipient"), r, std::string("--out-dir"), (run_.work() / ("out-" + r)).string(),
                          std::string("--max-messages"), std::string("1"), std::string("--idle-exit"), std::string("30")})
      ca.push_back(s);
    if (flag) {
      ca.push_back("--accept-reference-pointers");
      ca.push_back("--ttl");
      ca.push_back("2d");
    }
    Proc p = spawn(ca, run_.work() / ("log/consume-" + r));
    EXPECT_EQ(p.wait_exit(), 0) << slurp(p.err);
    return slurp(p.out) + slurp(p.err);
  };
  const std::string with = consume("y", true);
  EXPECT_NE(with.find("1 processed"), std::string::npos) << with;
  EXPECT_EQ(slurp(run_.work() / "out-y/ref.bin"), slurp(in / "ref.bin")) << "the payload arrives byte for byte";
  const std::string without = consume("z", false);
  EXPECT_NE(without.find("field 'recipients': is required"), std::string::npos) << without;
  EXPECT_FALSE(fs::exists(run_.work() / "out-z/ref.bin"));
}

}  // namespace
