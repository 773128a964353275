// The outbox's state machines without inotify or a broker: readiness (close, quiet period, scans), ignore
// rules, retries with backoff, the journal on a real directory, and what a restart does with each record.
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "claimcheck/core/ids.h"
#include "produce/outbox_journal.h"
#include "produce/outbox_tracker.h"
#include "produce/outbox_watch.h"
#include "temp_dir.h"

using claimcheck::BackoffPolicy;
using claimcheck::FileEvent;
using claimcheck::OutboxJournal;
using claimcheck::OutboxRecord;
using claimcheck::OutboxTracker;
using claimcheck::Recovery;
using claimcheck::recovery_for;
using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

namespace {

const auto kT0 = OutboxTracker::Clock::time_point{} + 1h;
const BackoffPolicy kRetry{100ms, 1000ms, 2.0, 3};

OutboxTracker tracker() { return OutboxTracker(5000ms, kRetry, 7); }

}  // namespace

TEST(OutboxIgnored, DotFilesTemporariesAndSentAreIgnored) {
  for (const char* n : {".hidden", "a/.hidden", ".sent/2024-05-01/a.csv", ".claimcheck-outbox/x.json", "x.tmp",
                        "dir/report.csv.part", ".dir/a.csv", "a//b", ""})
    EXPECT_TRUE(claimcheck::outbox_ignored(n)) << n;
  for (const char* n : {"a.csv", "dir/b.bin", "tmp/a", "a.tmp.csv", "part", "x.tmpx", "sub.dir/z"})
    EXPECT_FALSE(claimcheck::outbox_ignored(n)) << n;
}

TEST(OutboxTracker, CloseWriteMakesAFileReadyAtOnce) {
  auto t = tracker();
  t.observe("a.csv", FileEvent::Created, kT0);
  t.observe("a.csv", FileEvent::Modified, kT0 + 1ms);
  EXPECT_TRUE(t.take_ready(kT0 + 2ms, 10).empty()) << "still being written";
  t.observe("a.csv", FileEvent::Closed, kT0 + 3ms);
  EXPECT_EQ(t.take_ready(kT0 + 3ms, 10), Strings{"a.csv"});
  EXPECT_EQ(t.in_flight(), 1u);
  EXPECT_TRUE(t.take_ready(kT0 + 1h, 10).empty()) << "in flight: not handed out twice";
  t.observe("a.csv", FileEvent::Closed, kT0 + 4ms);
  EXPECT_TRUE(t.take_ready(kT0 + 1h, 10).empty()) << "events while in flight are ignored";
  t.done("a.csv");
  EXPECT_TRUE(t.idle());
}

TEST(OutboxTracker, QuietPeriodForWritersThatNeverCloseAndMovedInFiles) {
  auto t = tracker();
  t.observe("log.txt", FileEvent::Modified, kT0);
  t.observe("moved.bin", FileEvent::MovedIn, kT0);
  EXPECT_TRUE(t.take_ready(kT0 + 4999ms, 10).empty());
  t.observe("log.txt", FileEvent::Modified, kT0 + 4000ms);  // written again: the quiet period restarts
  EXPECT_EQ(t.take_ready(kT0 + 5000ms, 10), Strings{"moved.bin"});
  EXPECT_TRUE(t.take_ready(kT0 + 8999ms, 10).empty());
  EXPECT_EQ(t.take_ready(kT0 + 9000ms, 10), Strings{"log.txt"});
}

TEST(OutboxTracker, ScannedFilesAreReadyByMtimeAndIgnoredNamesNeverTracked) {
  auto t = tracker();
  t.scanned("old.csv", 6000ms, kT0);
  t.scanned("young.csv", 1000ms, kT0);
  t.scanned(".sent/2024-01-01/old.csv", 1h, kT0);
  t.observe("draft.part", FileEvent::Closed, kT0);
  EXPECT_FALSE(t.tracked(".sent/2024-01-01/old.csv"));
  EXPECT_FALSE(t.tracked("draft.part"));
  EXPECT_EQ(t.take_ready(kT0, 10), Strings{"old.csv"});
  t.scanned("young.csv", 0ms, kT0 + 3000ms);  // its mtime moved on: written since
  EXPECT_TRUE(t.take_ready(kT0 + 7000ms, 10).empty());
  EXPECT_EQ(t.take_ready(kT0 + 8000ms, 10), Strings{"young.csv"});
  t.scanned("new.csv", 1h, kT0, /*add_new=*/false);
  EXPECT_FALSE(t.tracked("new.csv")) << "--once rescans only follow the files present at start";
}

TEST(OutboxTracker, TakeReadyHonoursTheLimitInNameOrder) {
  auto t = tracker();
  for (const char* n : {"c", "a", "b", "d"}) t.observe(n, FileEvent::Closed, kT0);
  EXPECT_EQ(t.take_ready(kT0, 2), (Strings{"a", "b"}));
  EXPECT_EQ(t.take_ready(kT0, 5), (Strings{"c", "d"}));
}

TEST(OutboxTracker, FailuresBackOffWithoutBlockingOthersThenGiveUp) {
  auto t = tracker();
  t.observe("bad", FileEvent::Closed, kT0);
  t.observe("good", FileEvent::Closed, kT0);
  ASSERT_EQ(t.take_ready(kT0, 10), (Strings{"bad", "good"}));
  auto d1 = t.failed("bad", kT0);
  ASSERT_TRUE(d1.has_value());
  EXPECT_LE(*d1, 100ms);
  t.done("good");
  t.observe("later", FileEvent::Closed, kT0);
  EXPECT_EQ(t.take_ready(kT0, 10), Strings{"later"}) << "a failing file holds back no other";
  t.done("later");
  EXPECT_EQ(t.take_ready(kT0 + *d1, 10), Strings{"bad"}) << "retried once its backoff passed";
  auto d2 = t.failed("bad", kT0 + 1s);
  ASSERT_TRUE(d2.has_value());
  EXPECT_LE(*d2, 200ms);
  EXPECT_FALSE(t.idle()) << "waiting for a retry";
  ASSERT_EQ(t.take_ready(kT0 + 1s + *d2, 10), Strings{"bad"});
  EXPECT_FALSE(t.failed("bad", kT0 + 2s).has_value()) << "third attempt of 3: given up";
  EXPECT_TRUE(t.idle()) << "a given-up file does not keep --once running";
  EXPECT_TRUE(t.take_ready(kT0 + 1h, 10).empty());
  t.observe("bad", FileEvent::Closed, kT0 + 1h);
  EXPECT_EQ(t.take_ready(kT0 + 1h, 10), Strings{"bad"}) << "changed: it gets its attempts again";
  EXPECT_TRUE(t.failed("bad", kT0 + 1h).has_value());
}

TEST(OutboxTracker, PermanentFailureAndRemovalAndJournalPending) {
  auto t = tracker();
  t.pending("resumed.csv");
  t.observe("gone.csv", FileEvent::Created, kT0);
  t.observe("gone.csv", FileEvent::Removed, kT0 + 1ms);
  EXPECT_FALSE(t.tracked("gone.csv"));
  ASSERT_EQ(t.take_ready(kT0, 10), Strings{"resumed.csv"}) << "the journal's files go at once";
  EXPECT_FALSE(t.failed("resumed.csv", kT0, /*permanent=*/true).has_value());
  EXPECT_TRUE(t.idle());
}

TEST(OutboxRecovery, EachPhaseAndFileStateHasOneAnswer) {
  OutboxRecord r;
  r.phase = OutboxRecord::Phase::Sending;
  EXPECT_EQ(recovery_for(r, true, false), Recovery::Resend) << "same pointer id, same key";
  EXPECT_EQ(recovery_for(r, false, false), Recovery::Clear) << "nothing was published: nothing to do";
  EXPECT_EQ(recovery_for(r, true, true), Recovery::Renew);
  r.phase = OutboxRecord::Phase::Stored;
  EXPECT_EQ(recovery_for(r, true, false), Recovery::Resume) << "never a second upload after a confirmed store";
  EXPECT_EQ(recovery_for(r, false, false), Recovery::Resume) << "the object exists even if the file went away";
  EXPECT_EQ(recovery_for(r, true, true), Recovery::Renew);
  EXPECT_EQ(recovery_for(r, false, true), Recovery::Clear);
  r.phase = OutboxRecord::Phase::Done;
  EXPECT_EQ(recovery_for(r, true, false), Recovery::Finish) << "confirmed: just moved";
  EXPECT_EQ(recovery_for(r, false, false), Recovery::Clear);
}

TEST(OutboxJournal, RecordsRoundTripReplaceAndClearAcrossReopen) {
  claimcheck::test::TempDir tmp("cc_outbox_");
  const auto created = claimcheck::utc_now();
  {
    auto j = OutboxJournal::open(tmp.path);
    ASSERT_TRUE(j.has_value()) << j.error().to_string();
    OutboxRecord a{OutboxRecord::Phase::Sending, "sub dir/r\xe9sum\xe9.csv", claimcheck::new_uuid_v4(), created, ""};
    OutboxRecord b{OutboxRecord::Phase::Sending, "b.bin", claimcheck::new_uuid_v4(), created, ""};
    ASSERT_TRUE(j->put(a).has_value());
    ASSERT_TRUE(j->put(b).has_value());
    b.phase = OutboxRecord::Phase::Stored;
    b.pointer_json = R"({"schema":"s3-pointer-v1"})";
    ASSERT_TRUE(j->put(b).has_value()) << "replaces b's record";
    std::ofstream(j->dir() / ".x.json.tmp.123") << "{";  // a crashed write's temp file
    std::ofstream(j->dir() / "broken.json") << "{not json";
  }
  auto j = OutboxJournal::open(tmp.path);
  ASSERT_TRUE(j.has_value());
  EXPECT_FALSE(std::filesystem::exists(j->dir() / ".x.json.tmp.123")) << "stale temp files are removed at open";
  auto recs = j->load();
  ASSERT_TRUE(recs.has_value()) << recs.error().to_string();
  ASSERT_EQ(recs->size(), 2u) << "the unparsable record is skipped";
  EXPECT_EQ((*recs)[0].name, "b.bin");
  EXPECT_EQ((*recs)[0].phase, OutboxRecord::Phase::Stored);
  EXPECT_EQ((*recs)[0].pointer_json, R"({"schema":"s3-pointer-v1"})");
  EXPECT_EQ((*recs)[1].name, "sub dir/r\xe9sum\xe9.csv") << "names that are not UTF-8 keep their bytes";
  EXPECT_EQ((*recs)[1].created_at, created) << "created_at round-trips exactly (it fixes the object key)";
  ASSERT_TRUE(j->clear("b.bin").has_value());
  ASSERT_TRUE(j->clear("b.bin").has_value()) << "clearing twice is fine";
  EXPECT_EQ(j->load()->size(), 1u);
  EXPECT_TRUE(std::filesystem::exists(j->dir() / "broken.json")) << "left for an operator";
}

TEST(OutboxWatch, ScanAndInotifyReportReadyFilesAndNewSubdirectories) {
  claimcheck::test::TempDir tmp("cc_outbox_");
  std::filesystem::create_directories(tmp.path / ".sent/2024-01-01");
  std::ofstream(tmp.path / ".sent/2024-01-01/old.csv") << "x";
  std::ofstream(tmp.path / "a.csv") << "a";
  std::ofstream(tmp.path / "x.tmp") << "t";
  auto scanned = claimcheck::scan_outbox(tmp.path);
  ASSERT_TRUE(scanned.has_value());
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_EQ((*scanned)[0].rel, "a.csv");

  auto w = claimcheck::OutboxWatch::open(tmp.path);
  ASSERT_TRUE(w.has_value()) << w.error().to_string();
  std::filesystem::create_directories(tmp.path / "sub");
  auto evs = w->poll(1000ms);
  ASSERT_TRUE(evs.has_value());
  ASSERT_EQ(evs->size(), 1u);
  EXPECT_EQ((*evs)[0].kind, claimcheck::WatchEvent::Kind::Dir);
  EXPECT_EQ((*evs)[0].rel, "sub");
  std::ofstream(tmp.path / "sub/b.bin") << "b";  // in the new directory: watched now
  std::ofstream(tmp.path / ".sent/2024-01-01/c.csv") << "c";  // ignored
  bool closed = false;
  for (int i = 0; i < 20 && !closed; ++i) {
    auto more = w->poll(100ms);
    ASSERT_TRUE(more.has_value());
    for (const auto& e : *more) {
      EXPECT_EQ(e.rel, "sub/b.bin");
      closed = closed || e.event == FileEvent::Closed;
    }
  }
  EXPECT_TRUE(closed) << "IN_CLOSE_WRITE of sub/b.bin";
}
