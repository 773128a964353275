#pragma once
/// Shared RefStore test suite (DESIGN.md §5 invariants S1, S2, L1), run on every backend: a test file
/// includes this header and instantiates the suites with the backends it covers, e.g.
///   INSTANTIATE_TEST_SUITE_P(Sqlite, RefStoreSuite, ::testing::Values("sqlite_file", "sqlite_memory"));
/// Backends: "sqlite_file" (temp file), "sqlite_memory" (sqlite::memory:), "postgres" (CLAIMCHECK_PG_DSN
/// from env or .local/env, a fresh schema per test, dropped afterwards; FAILS when the DSN is missing).

#include "test_data.h"
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "claimcheck/refstore/ref_store.h"
#include "test_env.h"
#include "pg_schema.h"

namespace claimcheck::refstore::testing {

using namespace std::chrono_literals;

/// A fixed base time far from the real clock, so tests never depend on it.
inline const TimePoint kT0 = TimePoint(std::chrono::seconds(1'900'000'000));

inline StoreInput make_store(const std::string& pid, std::vector<std::string> recipients,
                             std::chrono::seconds ttl = 3600s, const std::string& bucket = "bkt") {
  StoreInput s;
  s.pointer_id = pid;
  s.bucket = bucket;
  s.key = "claimcheck/" + pid;
  s.recipients = std::move(recipients);
  s.size_stored = 1234;
  s.sha256 = std::string(64, 'a');
  s.created_at = kT0;
  s.expires_at = kT0 + ttl;
  s.producer_id = "producer-1";
  return s;
}

inline AckInput make_ack(const std::string& pid, const std::string& rid, bool processed = true) {
  AckInput a;
  a.pointer_id = pid;
  a.recipient_id = rid;
  a.processed = processed;
  a.reason = processed ? "" : "checksum mismatch";
  a.processed_at = kT0 + 5s;
  return a;
}

/// An ack as the coordinator hands it over once the sender is verified: with its user_id and sha256.
inline AckInput authed_ack(const std::string& pid, const std::string& rid, const std::string& sender,
                           bool processed = true, const std::string& sha = std::string(64, 'a')) {
  AckInput a = make_ack(pid, rid, processed);
  a.sender = sender;
  a.sha256 = sha;
  return a;
}

/// Opens stores for one test on one backend and cleans up afterwards.
class RefStoreSuite : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string& backend = GetParam();
    if (backend == "sqlite_file") {
      dir_ = std::filesystem::temp_directory_path() / ("refstore-test-" + claimcheck::test::unique_name("", 12));
      std::filesystem::create_directories(dir_);
      dsn_ = "sqlite:" + (dir_ / "claimcheck.db").string();
    } else if (backend == "sqlite_memory") {
      dsn_ = "sqlite::memory:";
    } else if (backend == "postgres") {
      base_dsn_ = claimcheck::test::require_env("CLAIMCHECK_PG_DSN");
      ASSERT_FALSE(base_dsn_.empty());
      schema_ = "cc_test_" + claimcheck::test::unique_name("", 12);
      dsn_ = base_dsn_ + (base_dsn_.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema_;
    } else {
      FAIL() << "unknown backend " << backend;
    }
    store_ = open();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    if (!schema_.empty()) {
      const std::string err = claimcheck::test::drop_pg_schemas(base_dsn_, {schema_});
      if (!err.empty()) ADD_FAILURE() << "cannot drop test schema: " << err;
    }
  }

  bool persistent() const { return GetParam() != "sqlite_memory"; }

  std::unique_ptr<RefStore> open(std::int64_t per_sender_cap = 10000, std::int64_t total_cap = 100000) {
    RefStoreConfig cfg;
    cfg.dsn = dsn_;
    cfg.max_placeholder_acks_per_sender = per_sender_cap;
    cfg.max_placeholder_acks = total_cap;
    auto r = open_ref_store(cfg);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    if (!r) return nullptr;
    return std::move(*r);
  }

  ApplyResult apply(const std::vector<Command>& cmds, TimePoint now = kT0 + 10s) {
    auto r = store_->apply_batch(cmds, now);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    return r ? *r : ApplyResult{};
  }

  std::vector<DeleteTask> claim(TimePoint now, std::size_t limit = 100, std::chrono::seconds lease = 60s) {
    auto r = store_->claim_deletions(now, limit, lease);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    return r ? *r : std::vector<DeleteTask>{};
  }

  ObjectStatus status(const std::string& pid) {
    auto r = store_->get(pid);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    EXPECT_TRUE(r && r->has_value()) << "no object " << pid;
    return (r && *r) ? **r : ObjectStatus{};
  }

  static std::vector<std::string> ids(const std::vector<DeleteTask>& tasks) {
    std::vector<std::string> out;
    for (const auto& t : tasks) out.push_back(t.pointer_id);
    return out;
  }

  std::filesystem::path dir_;
  std::string dsn_, base_dsn_, schema_;
  std::unique_ptr<RefStore> store_;
};

/// Suites needing a database shared by several connections (not sqlite::memory:).
class RefStoreSharedSuite : public RefStoreSuite {};

// --- the reference demo's idempotency scenario --------------------------------------------------------
TEST_P(RefStoreSuite, IdempotencyScenarioAcksTwiceShuffledBeforeStoreStoredTwice) {
  const std::string pid = "11111111-2222-3333-4444-555555555555";
  std::vector<Command> acks;
  for (const char* r : {"branch1", "branch2", "branch3"}) {
    acks.emplace_back(make_ack(pid, r));
    acks.emplace_back(make_ack(pid, r));
  }
  std::mt19937 rng(42);
  std::shuffle(acks.begin(), acks.end(), rng);
  std::size_t acks_new = 0, acks_dup = 0;
  for (const auto& a : acks) {  // one delivery per batch, like a slow coordinator
    const auto r = apply({a});
    acks_new += r.acks_new;
    acks_dup += r.acks_duplicate;
    EXPECT_TRUE(r.completed.empty());
  }
  EXPECT_EQ(acks_new, 3u);
  EXPECT_EQ(acks_dup, 3u);
  EXPECT_EQ(status(pid).state, ObjectState::Placeholder);
  EXPECT_TRUE(claim(kT0 + 100000h).empty()) << "a PLACEHOLDER (no store record) is never deletable";

  const auto first = apply({make_store(pid, {"branch1", "branch2", "branch3"})});
  EXPECT_EQ(first.stores_new, 1u);
  EXPECT_EQ(first.completed, std::vector<std::string>{pid});
  const auto second = apply({make_store(pid, {"branch1", "branch2", "branch3"})});
  EXPECT_EQ(second.stores_new, 0u);
  EXPECT_EQ(second.stores_duplicate, 1u);
  EXPECT_TRUE(second.completed.empty()) << "completed is reported exactly once";

  const auto st = status(pid);
  EXPECT_EQ(st.state, ObjectState::Complete);
  ASSERT_EQ(st.acks.size(), 3u);
  for (const auto& a : st.acks) EXPECT_FALSE(a.foreign);
  EXPECT_TRUE(st.missing.empty());
  EXPECT_TRUE(st.completed_at.has_value());
  auto sum = store_->summary(10, kT0);
  ASSERT_TRUE(sum.has_value());
  EXPECT_EQ(sum->counts[ObjectState::Complete], 1);
  EXPECT_EQ(sum->counts[ObjectState::Placeholder] + sum->counts[ObjectState::Pending], 0);

  const auto tasks = claim(kT0 + 20s);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].pointer_id, pid);
  EXPECT_EQ(tasks[0].bucket, "bkt");
  EXPECT_EQ(tasks[0].key, "claimcheck/" + pid);
  EXPECT_EQ(tasks[0].state, ObjectState::Complete);
  EXPECT_EQ(tasks[0].attempts, 0);
  EXPECT_TRUE(claim(kT0 + 21s).empty()) << "leased";
  ASSERT_TRUE(store_->mark_deleted({pid}, kT0 + 22s).has_value());
  ASSERT_TRUE(store_->mark_deleted({pid}, kT0 + 23s).has_value()) << "idempotent";
  EXPECT_EQ(status(pid).state, ObjectState::Deleted);
  EXPECT_TRUE(claim(kT0 + 1000h).empty()) << "DELETED is terminal";
}

TEST_P(RefStoreSuite, IdempotencyScenarioInOneBatch) {
  const std::string pid = "p-one-batch";
  std::vector<Command> cmds;
  for (const char* r : {"b1", "b2", "b3"}) {
    cmds.emplace_back(make_ack(pid, r));
    cmds.emplace_back(make_ack(pid, r));
  }
  cmds.emplace_back(make_store(pid, {"b3", "b2", "b1"}));
  cmds.emplace_back(make_store(pid, {"b1", "b2", "b3"}));
  const auto r = apply(cmds);
  EXPECT_EQ(r.acks_new, 3u);
  EXPECT_EQ(r.acks_duplicate, 3u);
  EXPECT_EQ(r.stores_new, 1u);
  EXPECT_EQ(r.stores_duplicate, 1u);
  EXPECT_EQ(r.completed, std::vector<std::string>{pid});
  EXPECT_EQ(status(pid).recipients, (std::vector<std::string>{"b1", "b2", "b3"}));
  EXPECT_EQ(claim(kT0 + 20s).size(), 1u);
}

TEST_P(RefStoreSuite, StoreThenAcksCompletesOnLastAckExactlyOnce) {
  const std::string pid = "p-store-first";
  EXPECT_EQ(apply({make_store(pid, {"r1", "r2"})}).stores_new, 1u);
  EXPECT_EQ(status(pid).state, ObjectState::Pending);
  EXPECT_TRUE(apply({make_ack(pid, "r1")}).completed.empty());
  EXPECT_EQ(status(pid).missing, std::vector<std::string>{"r2"});
  EXPECT_EQ(apply({make_ack(pid, "r2")}).completed, std::vector<std::string>{pid});
  EXPECT_TRUE(apply({make_ack(pid, "r2"), make_ack(pid, "r1")}).completed.empty());
  EXPECT_EQ(status(pid).state, ObjectState::Complete);
}

TEST_P(RefStoreSuite, TwoOfThreeAcksNotClaimable) {
  const std::string pid = "p-two-of-three";
  apply({make_store(pid, {"r1", "r2", "r3"}), make_ack(pid, "r1"), make_ack(pid, "r3")});
  const auto st = status(pid);
  EXPECT_EQ(st.state, ObjectState::Pending);
  EXPECT_EQ(st.missing, std::vector<std::string>{"r2"});
  EXPECT_TRUE(claim(kT0 + 3599s).empty());
  EXPECT_TRUE(store_->mark_deleted({pid}, kT0 + 20s).has_value());
  EXPECT_EQ(status(pid).state, ObjectState::Pending) << "mark_deleted never deletes a PENDING object";
}

TEST_P(RefStoreSuite, ForeignAndDuplicateAcksNeverComplete) {
  const std::string pid = "p-foreign";
  // A foreign ack before the store record: re-evaluated when the store arrives.
  auto r0 = apply({make_ack(pid, "intruder")});
  EXPECT_EQ(r0.acks_new, 1u);
  auto r1 = apply({make_store(pid, {"r1", "r2", "r3"})});
  EXPECT_TRUE(r1.completed.empty());
  auto r2 = apply({make_ack(pid, "r1"), make_ack(pid, "r1"), make_ack(pid, "r1"), make_ack(pid, "evil"),
                   make_ack(pid, "evil"), make_ack(pid, "r2")});
  EXPECT_EQ(r2.acks_new, 3u);  // r1, evil, r2
  EXPECT_EQ(r2.acks_foreign, 1u);
  EXPECT_EQ(r2.acks_duplicate, 3u);
  EXPECT_TRUE(r2.completed.empty());
  const auto st = status(pid);
  EXPECT_EQ(st.state, ObjectState::Pending);
  EXPECT_EQ(st.missing, std::vector<std::string>{"r3"});
  ASSERT_EQ(st.acks.size(), 4u);
  std::map<std::string, bool> foreign;
  for (const auto& a : st.acks) foreign[a.recipient_id] = a.foreign;
  EXPECT_TRUE(foreign["intruder"]);
  EXPECT_TRUE(foreign["evil"]);
  EXPECT_FALSE(foreign["r1"]);
  EXPECT_FALSE(foreign["r2"]);
  EXPECT_TRUE(claim(kT0 + 3599s).empty());
  EXPECT_EQ(apply({make_ack(pid, "r3")}).completed, std::vector<std::string>{pid});
}

TEST_P(RefStoreSuite, ForeignAckBeforeStoreDoesNotCountTowardsCompletion) {
  const std::string pid = "p-foreign-early";
  apply({make_ack(pid, "r1"), make_ack(pid, "stranger")});
  const auto r = apply({make_store(pid, {"r1", "r2"})});
  EXPECT_TRUE(r.completed.empty()) << "2 acks, 2 recipients, but one ack is foreign";
  EXPECT_EQ(status(pid).state, ObjectState::Pending);
  EXPECT_TRUE(claim(kT0 + 60s).empty());
}

TEST_P(RefStoreSuite, RejectedKeepsObjectUntilExpiryThenExpiredClaimable) {
  const std::string pid = "p-rejected";
  apply({make_store(pid, {"r1", "r2", "r3"}, 600s), make_ack(pid, "r1"), make_ack(pid, "r2", false),
         make_ack(pid, "r3")});
  // A processed ack after a rejected one from the same recipient: one slot, first wins.
  const auto late = apply({make_ack(pid, "r2", true)});
  EXPECT_EQ(late.acks_duplicate, 1u);
  EXPECT_TRUE(late.completed.empty());
  auto st = status(pid);
  EXPECT_EQ(st.state, ObjectState::Pending);
  EXPECT_EQ(st.missing, std::vector<std::string>{"r2"});
  bool saw_rejected = false;
  for (const auto& a : st.acks) {
    if (a.recipient_id == "r2") {
      saw_rejected = !a.processed && a.reason == "checksum mismatch";
    }
  }
  EXPECT_TRUE(saw_rejected);
  EXPECT_TRUE(claim(kT0 + 599s).empty());
  const auto tasks = claim(kT0 + 600s);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].state, ObjectState::Expired);
  EXPECT_EQ(status(pid).state, ObjectState::Expired);
  ASSERT_TRUE(store_->mark_deleted({pid}, kT0 + 601s).has_value());
  EXPECT_EQ(status(pid).state, ObjectState::Deleted);
}

TEST_P(RefStoreSuite, NeverAckedObjectExpires) {
  const std::string pid = "p-never-acked";
  apply({make_store(pid, {"r1"}, 60s)});
  EXPECT_TRUE(claim(kT0 + 59s).empty());
  auto sum = store_->summary(5, kT0 + 59s);
  ASSERT_TRUE(sum.has_value());
  EXPECT_EQ(sum->counts[ObjectState::Pending], 1);
  const auto tasks = claim(kT0 + 61s);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].pointer_id, pid);
  EXPECT_EQ(tasks[0].state, ObjectState::Expired);
  // An ack arriving after expiry is recorded but does not turn EXPIRED into COMPLETE.
  EXPECT_TRUE(apply({make_ack(pid, "r1")}, kT0 + 62s).completed.empty());
  EXPECT_EQ(status(pid).state, ObjectState::Expired);
}

TEST_P(RefStoreSuite, LeasedRowsNotReturnedUntilLeaseExpiry) {
  for (int i = 0; i < 3; ++i) {
    const std::string pid = "p-lease-" + std::to_string(i);
    apply({make_store(pid, {"r"}), make_ack(pid, "r")});
  }
  const auto a = claim(kT0 + 20s, 2, 30s);
  ASSERT_EQ(a.size(), 2u);
  const auto b = claim(kT0 + 21s, 2, 30s);
  ASSERT_EQ(b.size(), 1u);
  std::set<std::string> all{a[0].pointer_id, a[1].pointer_id, b[0].pointer_id};
  EXPECT_EQ(all.size(), 3u);
  EXPECT_TRUE(claim(kT0 + 49s, 10, 30s).empty());
  // The claimer died: after the lease every row is claimable again (crash safety, L1).
  const auto again = claim(kT0 + 52s, 10, 30s);
  EXPECT_EQ(again.size(), 3u);
  ASSERT_TRUE(store_->mark_deleted(ids(again), kT0 + 53s).has_value());
  EXPECT_TRUE(claim(kT0 + 1000s, 10, 30s).empty());
  auto sum = store_->summary(5, kT0);
  ASSERT_TRUE(sum.has_value());
  EXPECT_EQ(sum->counts[ObjectState::Deleted], 3);
}

TEST_P(RefStoreSuite, FailedDeleteRetriedAfterNextAttempt) {
  const std::string pid = "p-failed-delete";
  apply({make_store(pid, {"r"}), make_ack(pid, "r")});
  ASSERT_EQ(claim(kT0 + 20s).size(), 1u);
  ASSERT_TRUE(store_->mark_delete_failed(pid, "s3: Unavailable: 503 SlowDown", kT0 + 30s).has_value());
  EXPECT_TRUE(claim(kT0 + 29s).empty());
  const auto t = claim(kT0 + 30s);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].attempts, 1);
  const auto st = status(pid);
  EXPECT_EQ(st.delete_attempts, 1);
  EXPECT_EQ(st.last_error, "s3: Unavailable: 503 SlowDown");
  EXPECT_EQ(st.state, ObjectState::Complete);
}

TEST_P(RefStoreSuite, DeletedIsTerminal) {
  const std::string pid = "p-terminal";
  apply({make_store(pid, {"r1", "r2"}), make_ack(pid, "r1"), make_ack(pid, "r2")});
  ASSERT_EQ(claim(kT0 + 20s).size(), 1u);
  ASSERT_TRUE(store_->mark_deleted({pid}, kT0 + 21s).has_value());
  const auto r = apply({make_store(pid, {"r1", "r2", "r3"}), make_ack(pid, "r3"), make_ack(pid, "r1")},
                       kT0 + 30s);
  EXPECT_EQ(r.stores_duplicate, 1u);
  EXPECT_EQ(r.acks_duplicate, 2u);
  EXPECT_EQ(r.acks_new, 0u);
  EXPECT_TRUE(r.completed.empty());
  const auto st = status(pid);
  EXPECT_EQ(st.state, ObjectState::Deleted);
  EXPECT_EQ(st.recipients, (std::vector<std::string>{"r1", "r2"})) << "the first store record wins";
  EXPECT_TRUE(st.deleted_at.has_value());
  EXPECT_TRUE(claim(kT0 + 100000h).empty()) << "no second delete";
  ASSERT_TRUE(store_->mark_delete_failed(pid, "late", kT0).has_value());
  EXPECT_EQ(status(pid).delete_attempts, 0) << "mark_delete_failed ignores DELETED rows";
}

TEST_P(RefStoreSuite, ConflictingDuplicateStoreKeepsFirst) {
  const std::string pid = "p-conflict";
  apply({make_store(pid, {"r1"})});
  auto other = make_store(pid, {"r1", "r2"}, 60s, "other-bucket");
  const auto r = apply({other});
  EXPECT_EQ(r.stores_duplicate, 1u);
  const auto st = status(pid);
  EXPECT_EQ(st.bucket, "bkt");
  EXPECT_EQ(st.recipients, std::vector<std::string>{"r1"});
  EXPECT_EQ(st.expires_at, kT0 + 3600s);
}

TEST_P(RefStoreSuite, StoreNamingAnotherLiveObjectsKeyIsRefused) {
  // The victim: PENDING, two recipients still need it.
  apply({make_store("victim", {"r1", "r2"})});
  // A second record for another pointer naming the victim's object, already expired and with its own
  // recipient: applying it would make the victim's object deletable with no ack from r1 or r2.
  auto forged = make_store("forged", {"evil"}, 1s);
  forged.key = "claimcheck/victim";
  auto r = store_->apply_batch({forged}, kT0 + 10s);
  ASSERT_FALSE(r.has_value()) << "a store record claiming another live object's key was accepted";
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(r.error().message.find("victim"), std::string::npos) << r.error().message;
  apply({make_ack("forged", "evil")});
  EXPECT_TRUE(claim(kT0 + 100s).empty()) << "nothing may be deleted: the victim is still PENDING";
  EXPECT_EQ(status("victim").state, ObjectState::Pending);
  // The same key is free again once its owner is DELETED; the owner's own duplicate store is still fine.
  apply({make_store("victim", {"r1", "r2"}), make_ack("victim", "r1"), make_ack("victim", "r2")});
  const auto due = claim(kT0 + 20s);
  ASSERT_EQ(ids(due), std::vector<std::string>{"victim"});
  ASSERT_TRUE(store_->mark_deleted({"victim"}, kT0 + 21s).has_value());
  auto reuse = make_store("reuse", {"r1"});
  reuse.key = "claimcheck/victim";
  EXPECT_EQ(apply({reuse}).stores_new, 1u);
}

TEST_P(RefStoreSuite, KnownKeys) {
  apply({make_store("k1", {"r"}), make_store("k2", {"r"}), make_ack("k3-placeholder", "r")});
  auto r = store_->known_keys("bkt", {"claimcheck/k2", "claimcheck/nope", "claimcheck/k1", "claimcheck/k3-placeholder"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, (std::vector<std::string>{"claimcheck/k2", "claimcheck/k1"}));
  auto other = store_->known_keys("other", {"claimcheck/k1"});
  ASSERT_TRUE(other.has_value());
  EXPECT_TRUE(other->empty());
  auto empty = store_->known_keys("bkt", {});
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST_P(RefStoreSuite, SummaryCountsAndOldestPending) {
  auto s1 = make_store("pend-new", {"r1", "r2"});
  s1.created_at = kT0 + 50s;
  auto s2 = make_store("pend-old", {"r1", "r2"});
  s2.created_at = kT0 - 50s;
  apply({s1, s2, make_ack("pend-old", "r1"), make_store("done", {"r"}), make_ack("done", "r"),
         make_ack("ph", "r"), make_store("exp", {"r"}, 1s)});
  ASSERT_EQ(claim(kT0 + 5s, 0).size(), 0u);  // limit 0: only moves due objects to EXPIRED
  auto sum = store_->summary(1, kT0 + 5s);
  ASSERT_TRUE(sum.has_value());
  EXPECT_EQ(sum->counts.size(), 5u);
  EXPECT_EQ(sum->counts[ObjectState::Pending], 2);
  EXPECT_EQ(sum->counts[ObjectState::Complete], 1);
  EXPECT_EQ(sum->counts[ObjectState::Placeholder], 1);
  EXPECT_EQ(sum->counts[ObjectState::Expired], 1);
  EXPECT_EQ(sum->counts[ObjectState::Deleted], 0);
  ASSERT_EQ(sum->oldest_pending.size(), 1u);
  EXPECT_EQ(sum->oldest_pending[0].pointer_id, "pend-old");
  EXPECT_EQ(sum->oldest_pending[0].missing, std::vector<std::string>{"r2"});
  EXPECT_EQ(sum->oldest_pending[0].created_at, kT0 - 50s);
}

TEST_P(RefStoreSuite, RecipientBacklogCountsPendingObjectsAndOldestPerRecipient) {
  auto empty = store_->recipient_backlog();
  ASSERT_TRUE(empty.has_value()) << empty.error().to_string();
  EXPECT_TRUE(empty->empty());
  const std::string odd = "o'dd <r&2>";  // ids are opaque text: quotes and markup round-trip
  auto a = make_store("bl-a", {"r1", odd});
  a.created_at = kT0 - 100s;
  auto b = make_store("bl-b", {"r1", odd, "r3"});
  b.created_at = kT0 - 40s;
  auto c = make_store("bl-c", {odd, "r3"});
  c.created_at = kT0 - 70s;
  // Not PENDING, so never counted: a COMPLETE object, one that expires (r4) and a placeholder (r5).
  apply({a, b, c, make_store("bl-done", {odd}), make_store("bl-exp", {odd, "r4"}, 1s), make_ack("bl-a", "r1"),
         make_ack("bl-b", "r1"), make_ack("bl-b", "r3", /*processed=*/false), make_ack("bl-done", odd),
         make_ack("bl-ph", "r5"), make_ack("bl-a", "r9")});  // r9: foreign, not expected by bl-a
  ASSERT_EQ(claim(kT0 + 5s, 0).size(), 0u);  // moves bl-exp to EXPIRED
  auto got = store_->recipient_backlog();
  ASSERT_TRUE(got.has_value()) << got.error().to_string();
  ASSERT_EQ(got->size(), 3u);  // sorted by id, bytes: "o'dd..." < "r1" < "r3"
  const RecipientBacklog& o = (*got)[0];
  EXPECT_EQ(o.recipient_id, odd);
  EXPECT_EQ(o.pending, 3);  // bl-a, bl-b, bl-c
  EXPECT_EQ(o.rejected, 0);
  EXPECT_EQ(o.oldest_pending_created_at, std::optional<TimePoint>(kT0 - 100s));
  const RecipientBacklog& r1 = (*got)[1];
  EXPECT_EQ(r1.recipient_id, "r1");
  EXPECT_EQ(r1.pending, 0);  // acked both of its objects: listed, nothing pending
  EXPECT_EQ(r1.rejected, 0);
  EXPECT_FALSE(r1.oldest_pending_created_at.has_value());
  const RecipientBacklog& r3 = (*got)[2];
  EXPECT_EQ(r3.recipient_id, "r3");
  EXPECT_EQ(r3.pending, 1);   // bl-c
  EXPECT_EQ(r3.rejected, 1);  // bl-b
  EXPECT_EQ(r3.oldest_pending_created_at, std::optional<TimePoint>(kT0 - 70s));

  // The odd recipient acks everything: bl-a completes and leaves the backlog with r1's share of it.
  apply({make_ack("bl-a", odd), make_ack("bl-b", odd), make_ack("bl-c", odd)});
  got = store_->recipient_backlog();
  ASSERT_TRUE(got.has_value()) << got.error().to_string();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].pending, 0);
  EXPECT_FALSE((*got)[0].oldest_pending_created_at.has_value());
  EXPECT_EQ((*got)[1].pending, 0);
  EXPECT_EQ((*got)[2].pending, 1);
  EXPECT_EQ(status("bl-a").state, ObjectState::Complete);
}

TEST_P(RefStoreSuite, SchemaVersionIsCurrent) {
  auto v = store_->schema_version();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, kSchemaVersion);
  EXPECT_EQ(*v, 1);
}

TEST_P(RefStoreSuite, PurgePlaceholdersRemovesOnlyOldAckOnlyObjects) {
  apply({make_ack("ph-old", "r1"), make_ack("ph-old", "r2")}, kT0);
  apply({make_ack("ph-young", "r1")}, kT0 + 100s);
  apply({make_store("real", {"r1"})}, kT0);
  auto n = store_->purge_placeholders(kT0 + 50s);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 1u);
  auto gone = store_->get("ph-old");
  ASSERT_TRUE(gone.has_value());
  EXPECT_FALSE(gone->has_value());
  EXPECT_EQ(status("ph-young").state, ObjectState::Placeholder);
  EXPECT_EQ(status("real").state, ObjectState::Pending);
  // A store arriving for the purged pointer starts from scratch (its acks were dropped).
  apply({make_store("ph-old", {"r1", "r2"})});
  EXPECT_EQ(status("ph-old").state, ObjectState::Pending);
  EXPECT_TRUE(status("ph-old").acks.empty());
}

TEST_P(RefStoreSuite, InvalidCommandRejectsWholeBatch) {
  auto bad = make_store("p-bad", {});
  auto r = store_->apply_batch({make_store("p-good", {"r"}), bad}, kT0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
  auto g = store_->get("p-good");
  ASSERT_TRUE(g.has_value());
  EXPECT_FALSE(g->has_value()) << "nothing of a failed batch is applied";
  auto r2 = store_->apply_batch({make_ack("", "r")}, kT0);
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().code, ErrorCode::InvalidArgument);
}

TEST_P(RefStoreSuite, TimesRoundTripWithMicrosecondPrecision) {
  auto s = make_store("p-times", {"r"});
  s.created_at = kT0 + 123456us;
  s.expires_at = kT0 + 7200s + 999999us;
  auto a = make_ack("p-times", "r", false);
  a.processed_at = kT0 + 42s + 7us;
  apply({s, a}, kT0 + 43s);
  const auto st = status("p-times");
  EXPECT_EQ(st.created_at, s.created_at);
  EXPECT_EQ(st.expires_at, s.expires_at);
  ASSERT_EQ(st.acks.size(), 1u);
  EXPECT_EQ(st.acks[0].processed_at, a.processed_at);
  EXPECT_EQ(st.acks[0].received_at, kT0 + 43s);
  EXPECT_FALSE(st.acks[0].processed);
  EXPECT_FALSE(st.completed_at.has_value());
  EXPECT_FALSE(st.deleted_at.has_value());
}

TEST_P(RefStoreSuite, UnknownPointerIsNullopt) {
  auto r = store_->get("does-not-exist");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  ASSERT_TRUE(store_->mark_deleted({"does-not-exist"}, kT0).has_value());
  ASSERT_TRUE(store_->mark_delete_failed("does-not-exist", "x", kT0).has_value());
}

// --- suites needing several connections to one database ----------------------------------------------
TEST_P(RefStoreSharedSuite, ReopenKeepsDataAndMigrationIsIdempotent) {
  apply({make_store("p-reopen", {"r1", "r2"}), make_ack("p-reopen", "r1")});
  store_.reset();
  store_ = open();
  ASSERT_NE(store_, nullptr);
  auto v = store_->schema_version();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, 1);
  EXPECT_EQ(status("p-reopen").missing, std::vector<std::string>{"r2"});
  EXPECT_EQ(apply({make_ack("p-reopen", "r2")}).completed, std::vector<std::string>{"p-reopen"});
  auto second = open();  // a second connection migrating concurrently-open db: no-op
  ASSERT_NE(second, nullptr);
  auto sum = second->summary(0, kT0);
  ASSERT_TRUE(sum.has_value());
  EXPECT_EQ(sum->counts[ObjectState::Complete], 1);
}

/// Two coordinators, each with its own RefStore, apply the same commands (differently shuffled, in
/// batches, retrying Aborted) while claiming and deleting concurrently: every object completes exactly once
/// overall and is claimed/deleted exactly once overall; counts are exact.
TEST_P(RefStoreSharedSuite, TwoCoordinatorsConvergeAndDeleteEachObjectOnce) {
  constexpr int kObjects = 60;
  const std::vector<std::string> recipients{"r1", "r2", "r3"};
  std::vector<Command> cmds;
  std::set<std::string> completable;
  for (int i = 0; i < kObjects; ++i) {
    const std::string pid = "obj-" + std::to_string(i);
    cmds.emplace_back(make_store(pid, recipients));
    for (const auto& r : recipients) {
      if (i % 5 == 0 && r == "r3") continue;  // every 5th object misses an ack: never claimable
      cmds.emplace_back(make_ack(pid, r));
    }
    if (i % 5 != 0) completable.insert(pid);
    if (i % 7 == 0) cmds.emplace_back(make_ack(pid, "foreigner"));
  }
  std::mutex mu;
  std::vector<std::string> completed_all, deleted_all;
  std::atomic<int> aborted{0};
  std::atomic<bool> failed{false};
  auto worker = [&](unsigned seed) {
    auto store = open();
    if (!store) { failed = true; return; }
    std::vector<Command> mine = cmds;
    std::mt19937 rng(seed);
    std::shuffle(mine.begin(), mine.end(), rng);
    auto retry = [&](auto&& f) {
      for (int attempt = 0; attempt < 200; ++attempt) {
        auto r = f();
        if (r.has_value()) return r;
        if (r.error().code != ErrorCode::Aborted) { ADD_FAILURE() << r.error().to_string(); failed = true; return r; }
        ++aborted;
        std::this_thread::sleep_for(std::chrono::milliseconds(attempt + 1));
      }
      failed = true;
      return f();
    };
    auto claim_and_delete = [&]() {
      auto t = retry([&] { return store->claim_deletions(kT0 + 20s, 7, 600s); });
      if (!t) return;
      std::vector<std::string> got = ids(*t);
      if (got.empty()) return;
      auto d = retry([&] { return store->mark_deleted(got, kT0 + 21s); });
      if (!d) return;
      std::lock_guard<std::mutex> lock(mu);
      deleted_all.insert(deleted_all.end(), got.begin(), got.end());
    };
    for (std::size_t off = 0; off < mine.size(); off += 25) {
      std::vector<Command> batch(mine.begin() + static_cast<std::ptrdiff_t>(off),
                                 mine.begin() + static_cast<std::ptrdiff_t>(std::min(mine.size(), off + 25)));
      auto r = retry([&] { return store->apply_batch(batch, kT0 + 10s); });
      if (!r) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        completed_all.insert(completed_all.end(), r->completed.begin(), r->completed.end());
      }
      claim_and_delete();
    }
    for (int i = 0; i < 5; ++i) claim_and_delete();
  };
  std::thread t1(worker, 1u), t2(worker, 2u);
  t1.join();
  t2.join();
  ASSERT_FALSE(failed.load());
  std::sort(completed_all.begin(), completed_all.end());
  std::sort(deleted_all.begin(), deleted_all.end());
  EXPECT_EQ(completed_all, std::vector<std::string>(completable.begin(), completable.end()))
      << "each object reported COMPLETE exactly once across both coordinators";
  EXPECT_EQ(deleted_all, std::vector<std::string>(completable.begin(), completable.end()))
      << "each object claimed and deleted exactly once across both coordinators";
  auto sum = store_->summary(0, kT0);
  ASSERT_TRUE(sum.has_value());
  EXPECT_EQ(sum->counts[ObjectState::Deleted], static_cast<std::int64_t>(completable.size()));
  EXPECT_EQ(sum->counts[ObjectState::Pending], kObjects - static_cast<std::int64_t>(completable.size()));
  auto one = store_->get("obj-7");
  ASSERT_TRUE(one.has_value() && one->has_value());
  // r1 r2 r3 counted once each. The foreigner's ack is recorded once if it arrived before the object was
  // DELETED, and dropped if it came later (DELETED is terminal): either way it never counts.
  std::map<std::string, int> per_recipient;
  for (const auto& a : (*one)->acks) {
    ++per_recipient[a.recipient_id];
    EXPECT_EQ(a.foreign, a.recipient_id == "foreigner") << a.recipient_id;
  }
  EXPECT_EQ(per_recipient["r1"], 1);
  EXPECT_EQ(per_recipient["r2"], 1);
  EXPECT_EQ(per_recipient["r3"], 1);
  EXPECT_LE(per_recipient["foreigner"], 1);
  EXPECT_EQ((*one)->state, ObjectState::Deleted);
  std::cout << "aborted+retried transactions: " << aborted.load() << "\n";
}

}  // namespace claimcheck::refstore::testing

// --- trust rules and bounds (DESIGN.md §5 S1/B1, §9) ---------------------------------------------------
namespace claimcheck::refstore::testing {

TEST_P(RefStoreSuite, AckWithWrongSha256IsRefusedAndNeverCounts) {
  const std::string pid = "p-sha";
  apply({make_store(pid, {"r1"})});
  const auto r = apply({authed_ack(pid, "r1", "r1", true, std::string(64, 'b'))});
  ASSERT_EQ(r.refused.size(), 1u);
  EXPECT_EQ(r.refused[0].index, 0u);
  EXPECT_EQ(r.refused[0].rule, "ack_sha256");
  EXPECT_NE(r.refused[0].reason.find("ack sha256 does not match the store record"), std::string::npos);
  EXPECT_NE(r.refused[0].reason.find("user 'r1'"), std::string::npos) << r.refused[0].reason;
  EXPECT_EQ(r.acks_new, 0u);
  EXPECT_TRUE(status(pid).acks.empty()) << "a refused ack is not recorded";
  EXPECT_EQ(status(pid).state, ObjectState::Pending);
  // The slot stays free for the right ack; refused and applied commands mix in one batch.
  const auto good = apply({authed_ack(pid, "r1", "r1", true, std::string(64, 'c')), authed_ack(pid, "r1", "r1")});
  ASSERT_EQ(good.refused.size(), 1u);
  EXPECT_EQ(good.refused[0].index, 0u);
  EXPECT_EQ(good.completed, std::vector<std::string>{pid});
}

TEST_P(RefStoreSuite, PlaceholderAckWithWrongSha256IsDroppedWhenTheStoreArrives) {
  const std::string pid = "p-sha-early";
  apply({authed_ack(pid, "r1", "r1", true, std::string(64, 'b')), authed_ack(pid, "r2", "r2")});
  EXPECT_EQ(status(pid).state, ObjectState::Placeholder);
  const auto r = apply({make_store(pid, {"r1", "r2"})});
  EXPECT_EQ(r.acks_sha256_discarded, 1u);
  EXPECT_TRUE(r.completed.empty()) << "the mismatching ack never completes the object";
  auto st = status(pid);
  EXPECT_EQ(st.state, ObjectState::Pending);
  EXPECT_EQ(st.missing, std::vector<std::string>{"r1"});
  ASSERT_EQ(st.acks.size(), 1u);
  EXPECT_EQ(st.acks[0].recipient_id, "r2");
  // Its slot was freed: the recipient's correct ack completes the object.
  EXPECT_EQ(apply({authed_ack(pid, "r1", "r1")}).completed, std::vector<std::string>{pid});
}

TEST_P(RefStoreSuite, AuthenticatedProcessedAfterOwnRejectedCompletes) {
  const std::string pid = "p-retry";
  apply({make_store(pid, {"r1", "r2"}), authed_ack(pid, "r1", "u1"), authed_ack(pid, "r2", "u2", false)});
  EXPECT_EQ(status(pid).missing, std::vector<std::string>{"r2"});
  const auto again = apply({authed_ack(pid, "r2", "u2", false)});  // a second rejected: duplicate
  EXPECT_EQ(again.acks_duplicate, 1u);
  const auto fixed = apply({authed_ack(pid, "r2", "u2", true)});
  EXPECT_EQ(fixed.acks_upgraded, 1u);
  EXPECT_EQ(fixed.completed, std::vector<std::string>{pid});
  EXPECT_EQ(status(pid).state, ObjectState::Complete);
  EXPECT_EQ(apply({authed_ack(pid, "r2", "u2", false)}).acks_duplicate, 1u) << "rejected after processed: no-op";
  // Before the store record too: the upgraded placeholder slot counts when the store arrives.
  const std::string early = "p-retry-early";
  apply({authed_ack(early, "r1", "u1", false)});
  EXPECT_EQ(apply({authed_ack(early, "r1", "u1", true)}).acks_upgraded, 1u);
  EXPECT_EQ(apply({make_store(early, {"r1"})}).completed, std::vector<std::string>{early});
}

TEST_P(RefStoreSuite, PlaceholderAcksAreCappedPerSenderAndInTotal) {
  store_ = open(/*per_sender_cap=*/3, /*total_cap=*/5);
  ASSERT_NE(store_, nullptr);
  std::vector<Command> flood;
  for (int i = 0; i < 4; ++i) flood.push_back(authed_ack("ph-a" + std::to_string(i), "ra", "user-a"));
  const auto a = apply(flood);
  EXPECT_EQ(a.acks_new, 3u);
  ASSERT_EQ(a.refused.size(), 1u);
  EXPECT_EQ(a.refused[0].rule, "placeholder_cap");
  EXPECT_NE(a.refused[0].reason.find("user 'user-a'"), std::string::npos) << a.refused[0].reason;
  EXPECT_NE(a.refused[0].reason.find("cap 3 per user"), std::string::npos) << a.refused[0].reason;
  // A duplicate of a recorded placeholder ack is not refused (it takes no room).
  EXPECT_EQ(apply({authed_ack("ph-a0", "ra", "user-a")}).acks_duplicate, 1u);
  // The total cap holds across senders.
  const auto b = apply({authed_ack("ph-b0", "rb", "user-b"), authed_ack("ph-b1", "rb", "user-b"),
                        authed_ack("ph-b2", "rb", "user-b")});
  EXPECT_EQ(b.acks_new, 2u);
  ASSERT_EQ(b.refused.size(), 1u);
  EXPECT_NE(b.refused[0].reason.find("cap 5 in total"), std::string::npos) << b.refused[0].reason;
  // Acks for known pointers are never capped; a store record frees its placeholder's share.
  apply({make_store("known", {"rk"}), authed_ack("known", "rk", "user-b")});
  const auto rcvd = apply({make_store("ph-a0", {"ra"})});
  EXPECT_EQ(rcvd.completed, std::vector<std::string>{"ph-a0"});
  EXPECT_EQ(apply({authed_ack("ph-a9", "ra", "user-a")}).acks_new, 1u);
  // Purging old placeholders frees their share too.
  auto purged = store_->purge_placeholders(kT0 + 1h);
  ASSERT_TRUE(purged.has_value());
  EXPECT_EQ(*purged, 5u);
  EXPECT_EQ(apply({authed_ack("ph-b9", "rb", "user-b"), authed_ack("ph-b8", "rb", "user-b")}).acks_new, 2u);
}

TEST_P(RefStoreSuite, PurgeHistoryRemovesOnlyOldDeletedObjectsWithTheirAcks) {
  apply({make_store("h-old", {"r"}), make_ack("h-old", "r"), make_store("h-young", {"r"}), make_ack("h-young", "r"),
         make_store("h-live", {"r", "s"}), make_ack("h-live", "r")});
  ASSERT_TRUE(store_->mark_deleted({"h-old"}, kT0 + 100s).has_value());
  ASSERT_TRUE(store_->mark_deleted({"h-young"}, kT0 + 200s).has_value());
  auto n = store_->purge_history(kT0 + 150s);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 1u);
  auto gone = store_->get("h-old");
  ASSERT_TRUE(gone.has_value());
  EXPECT_FALSE(gone->has_value());
  EXPECT_EQ(status("h-young").state, ObjectState::Deleted);
  EXPECT_EQ(status("h-young").acks.size(), 1u);
  EXPECT_EQ(status("h-live").state, ObjectState::Pending);
  auto again = store_->purge_history(kT0 + 150s);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, 0u) << "idempotent";
  // A late ack for the purged pointer is only a placeholder (capped, purged in turn), never a resurrection.
  apply({make_ack("h-old", "r")});
  EXPECT_EQ(status("h-old").state, ObjectState::Placeholder);
}

// Issue 8 item 7: on a versioned bucket the store record names the version the PUT created; the delete task
// carries exactly that version (first store record wins), objects without one get "", and the version row
// goes with the purged history.
TEST_P(RefStoreSuite, DeleteTaskCarriesTheStoreRecordsVersionId) {
  auto versioned = make_store("v-1", {"r"});
  versioned.version_id = "3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrH";
  auto replay = versioned;
  replay.version_id = "other-version";
  apply({versioned, make_store("v-2", {"r"}), make_ack("v-1", "r"), make_ack("v-2", "r")});
  apply({replay});
  auto tasks = claim(kT0 + 20s);
  ASSERT_EQ(tasks.size(), 2u);
  std::map<std::string, std::string> version;
  for (const auto& t : tasks) version[t.pointer_id] = t.version_id;
  EXPECT_EQ(version["v-1"], "3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrH") << "the first store record's version";
  EXPECT_EQ(version["v-2"], "");
  ASSERT_TRUE(store_->mark_deleted({"v-1", "v-2"}, kT0 + 30s).has_value());
  auto n = store_->purge_history(kT0 + 40s);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 2u);
  // A new object under the purged pointer id (a replay long after) starts without the old version.
  apply({make_store("v-1", {"r"}), make_ack("v-1", "r")}, kT0 + 50s);
  auto again = claim(kT0 + 60s);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].version_id, "");
}

// B1 acceptance: 100,000 acks for random pointer ids (a flood from 10 users) grow the database by no more
// than the placeholder cap.
TEST_P(RefStoreSuite, AckFloodForRandomPointersGrowsTheDatabaseByAtMostTheCap) {
  constexpr std::int64_t kPerSender = 500, kTotal = 2000;
  constexpr int kAcks = 100000, kBatch = 1000;
  store_ = open(kPerSender, kTotal);
  ASSERT_NE(store_, nullptr);
  std::mt19937_64 rng(7);
  std::size_t recorded = 0, refused = 0;
  for (int done = 0; done < kAcks;) {
    std::vector<Command> batch;
    for (int i = 0; i < kBatch; ++i, ++done) {
      const std::string user = "flood-" + std::to_string(done % 10);
      batch.push_back(authed_ack("rnd-" + std::to_string(rng()), user, user));
    }
    const auto r = apply(batch);
    recorded += r.acks_new;
    refused += r.refused.size();
  }
  auto sum = store_->summary(0, kT0);
  ASSERT_TRUE(sum.has_value());
  const auto placeholders = sum->counts[ObjectState::Placeholder];
  std::uintmax_t bytes = 0;
  if (!dir_.empty()) {
    for (const auto& e : std::filesystem::directory_iterator(dir_)) bytes += e.file_size();
  }
  std::printf("[ flood    ] %s: %d acks for random pointers -> %zu recorded, %zu refused; %lld placeholder rows "
              "(cap %lld total, %lld per user)%s\n",
              GetParam().c_str(), kAcks, recorded, refused, static_cast<long long>(placeholders),
              static_cast<long long>(kTotal), static_cast<long long>(kPerSender),
              bytes ? (", db files " + std::to_string(bytes / 1024) + " KiB").c_str() : "");
  EXPECT_EQ(recorded, static_cast<std::size_t>(kTotal));
  EXPECT_EQ(refused, static_cast<std::size_t>(kAcks - kTotal));
  EXPECT_LE(placeholders, kTotal);
}

}  // namespace claimcheck::refstore::testing
