// The `consume --exec CMD` handler (issue 8 item 3): small shell commands run through exec_sink_factory,
// without a broker: exit 0 → processed, a reject code → refusal with the stderr tail, other exits and
// timeouts → retried then transient, payload on stdin or as CLAIMCHECK_FILE.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test_data.h"
#include "claimcheck/consume/consumer.h"
#include "claimcheck/consume/exec_handler.h"
#include "claimcheck/core/file_io.h"
#include "claimcheck/consume/out_dir.h"
#include "claimcheck/core/retry.h"

#include "temp_dir.h"

namespace cc = claimcheck;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using claimcheck::test::slurp;
namespace {

struct TempDir : cc::test::TempDir {
  TempDir() : cc::test::TempDir("cc_exec_test_") {}
};

cc::PayloadInfo info(const std::string& id = "11111111-2222-4333-8444-555555555555") {
  cc::PayloadInfo i;
  i.pointer_id = id;
  i.name = "dir/a b.txt";
  i.content_type = "text/plain";
  i.size_raw = 5;
  i.size_stored = 9;
  i.producer_id = "head-office";
  return i;
}

cc::ExecHandlerConfig config(const TempDir& t, const std::string& cmd) {
  cc::ExecHandlerConfig c;
  c.argv = {"/bin/sh", "-c", cmd};
  c.env = {"PATH=/usr/bin:/bin", "T=" + t.path.string(), "CLAIMCHECK_NAME=from-env-must-be-replaced"};
  c.staging_dir = t.path / "staging";
  c.recipient = "branch-1";
  c.retry = cc::BackoffPolicy{10ms, 20ms, 2.0, 2};
  return c;
}

/// Writes `data` through a sink of `factory` and finishes it: the result of the command.
cc::Result<void> deliver(const cc::SinkFactory& factory, const std::string& data, const cc::PayloadInfo& i = info()) {
  auto sink = factory(i);
  if (!sink) return cc::fail(sink.error());
  CC_TRY_VOID((*sink)->write(cc::as_bytes(data)));
  return (*sink)->finish();
}

TEST(ExecHandler, ExitZeroGetsThePayloadOnStdinAndTheEnvironment) {
  TempDir t;
  auto f = cc::exec_sink_factory(config(
      t, "cat > \"$T/out\"; printf '%s|%s|%s|%s|%s|%s|%s|%s' \"$CLAIMCHECK_POINTER_ID\" \"$CLAIMCHECK_NAME\" "
         "\"$CLAIMCHECK_SIZE_RAW\" \"$CLAIMCHECK_SIZE_STORED\" \"$CLAIMCHECK_CONTENT_TYPE\" \"$CLAIMCHECK_PRODUCER_ID\" "
         "\"$CLAIMCHECK_RECIPIENT\" \"${CLAIMCHECK_FILE-unset}\" > \"$T/env\""));
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  auto r = deliver(*f, "hello");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(slurp(t.path / "out"), "hello");
  EXPECT_EQ(slurp(t.path / "env"),
            "11111111-2222-4333-8444-555555555555|dir/a b.txt|5|9|text/plain|head-office|branch-1|unset");
  EXPECT_EQ(t.entries(t.path / "staging"), 0u) << "the staged payload is an unnamed file";
}

TEST(ExecHandler, NotFinishedMeansNotRun) {
  TempDir t;
  auto f = cc::exec_sink_factory(config(t, "touch \"$T/ran\""));
  ASSERT_TRUE(f.has_value());
  {
    auto sink = (*f)(info());
    ASSERT_TRUE(sink.has_value());
    ASSERT_TRUE((*sink)->write(cc::as_bytes(std::string("partial"))).has_value());
  }  // verification failed: destroyed without finish()
  EXPECT_FALSE(fs::exists(t.path / "ran"));
}

TEST(ExecHandler, RejectCodeIsAPermanentRefusalWithTheStderrTail) {
  TempDir t;
  auto f = cc::exec_sink_factory(config(t, "cat >/dev/null; echo 'line one' >&2; echo 'bad record 7' >&2; exit 65"));
  ASSERT_TRUE(f.has_value());
  auto r = deliver(*f, "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().origin, claimcheck::Origin::Exec);
  EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_NE(r.error().message.find("exit 65"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("line one\nbad record 7"), std::string::npos) << r.error().message;
  EXPECT_EQ(cc::classify_failure(r.error()), cc::FailureKind::Permanent);
}

TEST(ExecHandler, StderrReasonIsBounded) {
  TempDir t;
  auto c = config(t, "i=0; while [ $i -lt 3000 ]; do echo \"noise line $i\" >&2; i=$((i+1)); done; echo LAST >&2; exit 65");
  auto f = cc::exec_sink_factory(c);
  ASSERT_TRUE(f.has_value());
  auto r = deliver(*f, "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_LE(r.error().message.size(), c.stderr_limit + 100);
  EXPECT_TRUE(r.error().message.ends_with("LAST")) << r.error().message.substr(r.error().message.size() - 50);
}

TEST(ExecHandler, OtherExitIsRetriedThenTransient) {
  TempDir t;
  auto f = cc::exec_sink_factory(config(t, "cat >/dev/null; echo run >> \"$T/runs\"; echo flaky >&2; exit 1"));
  ASSERT_TRUE(f.has_value());
  auto r = deliver(*f, "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, cc::ErrorCode::Unavailable);
  EXPECT_NE(r.error().message.find("exit 1: flaky"), std::string::npos) << r.error().message;
  EXPECT_EQ(cc::classify_failure(r.error()), cc::FailureKind::Transient);
  EXPECT_EQ(slurp(t.path / "runs"), "run\nrun\n") << "retry.max_attempts = 2 runs";
}

TEST(ExecHandler, RetryReadsTheSameBytesAgain) {
  TempDir t;
  // Fails the first time, succeeds the second: stdin must be rewound.
  auto f = cc::exec_sink_factory(
      config(t, "if [ -e \"$T/once\" ]; then cat > \"$T/out\"; else touch \"$T/once\"; cat >/dev/null; exit 3; fi"));
  ASSERT_TRUE(f.has_value());
  ASSERT_TRUE(deliver(*f, "same bytes").has_value());
  EXPECT_EQ(slurp(t.path / "out"), "same bytes");
}

TEST(ExecHandler, SignalIsTransient) {
  TempDir t;
  auto f = cc::exec_sink_factory(config(t, "kill -9 $$"));
  ASSERT_TRUE(f.has_value());
  auto r = deliver(*f, "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("signal 9"), std::string::npos) << r.error().message;
  EXPECT_EQ(cc::classify_failure(r.error()), cc::FailureKind::Transient);
}

TEST(ExecHandler, TimeoutKillsTheWholeProcessGroup) {
  TempDir t;
  auto c = config(t, "(sleep 30; touch \"$T/survivor\") & echo $! > \"$T/bg\"; sleep 30");
  c.timeout = 300ms;
  c.kill_grace = 200ms;
  c.retry.max_attempts = 1;
  auto f = cc::exec_sink_factory(c);
  ASSERT_TRUE(f.has_value());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = deliver(*f, "x");
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
  EXPECT_EQ(cc::classify_failure(r.error()), cc::FailureKind::Transient);
  EXPECT_LT(took, 5s);
  // The background child got the group's signal too (gone, or a zombie nobody reaped yet).
  const std::string bg = slurp(t.path / "bg");
  ASSERT_FALSE(bg.empty());
  std::this_thread::sleep_for(100ms);
  std::ifstream stat("/proc/" + std::to_string(std::stoi(bg)) + "/stat");
  std::string pid, comm, state;
  if (stat >> pid >> comm >> state) {
    EXPECT_EQ(state, "Z") << "a process of the group survived: " << bg;
  }
}

TEST(ExecHandler, WithOutDirTheCommandGetsTheCommittedFile) {
  TempDir t;
  auto dir = cc::OutDir::open(t.path / "out");
  ASSERT_TRUE(dir.has_value());
  auto c = config(t, "test ! -t 0 && cat \"$CLAIMCHECK_FILE\" > \"$T/seen\" && echo \"$CLAIMCHECK_FILE\" > \"$T/path\"");
  c.out_dir = std::shared_ptr<const cc::OutDir>(std::move(*dir));
  auto f = cc::exec_sink_factory(c);
  ASSERT_TRUE(f.has_value());
  ASSERT_TRUE(deliver(*f, "file bytes").has_value());
  EXPECT_EQ(slurp(t.path / "seen"), "file bytes");
  EXPECT_EQ(slurp(t.path / "path"), (t.path / "out" / "dir/a b.txt").string() + "\n");
  EXPECT_EQ(slurp(t.path / "out" / "dir/a b.txt"), "file bytes");
}

TEST(ExecHandler, ConfigIsChecked) {
  TempDir t;
  auto c = config(t, "true");
  c.argv = {"sh", "-c", "true"};
  EXPECT_FALSE(cc::exec_sink_factory(c).has_value()) << "argv[0] must be a path";
  c = config(t, "true");
  c.reject_exit_codes = {0};
  EXPECT_FALSE(cc::exec_sink_factory(c).has_value());
  c = config(t, "true");
  c.staging_dir.clear();
  EXPECT_FALSE(cc::exec_sink_factory(c).has_value());
}

// Run receipts (issue 8 acceptance: a consumer SIGKILLed between the command's exit and the journal record).
cc::ExecHandlerConfig receipted(const TempDir& t, const std::string& cmd) {
  auto c = config(t, cmd);
  c.receipt_dir = t.path / "receipts";
  return c;
}

std::size_t lines(const fs::path& p) {
  const std::string s = slurp(p);
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST(ExecHandlerReceipts, ARecordedExitIsTheOutcomeOfTheNextLife) {
  TempDir t;
  const std::string cmd = "cat >/dev/null; echo run >> \"$T/log\"; [ \"$CLAIMCHECK_POINTER_ID\" != bad ] || exit 65";
  {
    auto f = cc::exec_sink_factory(receipted(t, cmd));
    ASSERT_TRUE(f.has_value()) << f.error().to_string();
    ASSERT_TRUE(deliver(*f, "x").has_value());
    EXPECT_FALSE(deliver(*f, "x", info("bad")).has_value());
  }
  ASSERT_EQ(lines(t.path / "log"), 2u);
  auto again = cc::exec_sink_factory(receipted(t, cmd));  // the next consumer life, same state dir
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(deliver(*again, "x").has_value()) << "exit 0 recorded: processed";
  auto r = deliver(*again, "x", info("bad"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument) << "exit 65 recorded: still a refusal";
  EXPECT_EQ(lines(t.path / "log"), 2u) << "neither command ran a second time";
}

TEST(ExecHandlerReceipts, AFailedRunIsRunAgain) {
  TempDir t;
  auto c = receipted(t, "echo run >> \"$T/log\"; [ -e \"$T/ok\" ] || { echo not yet >&2; exit 3; }");
  c.retry.max_attempts = 1;
  auto f = cc::exec_sink_factory(c);
  ASSERT_TRUE(f.has_value());
  auto r = deliver(*f, "x");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("not yet"), std::string::npos) << "stderr comes back from the file: "
                                                                  << r.error().message;
  std::ofstream(t.path / "ok") << "";
  EXPECT_TRUE(deliver(*f, "x").has_value());
  EXPECT_EQ(lines(t.path / "log"), 2u);
}

TEST(ExecHandlerReceipts, AKilledConsumersCommandFinishesAndIsNotRunAgain) {
  TempDir t;
  const std::string cmd = "cat >/dev/null; sleep 0.4; echo run >> \"$T/log\"";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the first consumer life: starts the command, then is SIGKILLed below
    auto f = cc::exec_sink_factory(receipted(t, cmd));
    if (f) (void)deliver(*f, "x");
    ::_exit(0);
  }
  std::this_thread::sleep_for(150ms);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFSIGNALED(st)) << "the first life must die while its command runs";
  auto f = cc::exec_sink_factory(receipted(t, cmd));  // the redelivery, in the next life
  ASSERT_TRUE(f.has_value());
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(deliver(*f, "x").has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms) << "waited for the previous life's command";
  EXPECT_EQ(lines(t.path / "log"), 1u) << "the command ran exactly once";
}

}  // namespace
