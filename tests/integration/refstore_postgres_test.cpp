// The shared RefStore suite (tests/support/refstore_suite.h) on PostgreSQL (CLAIMCHECK_PG_DSN from the
// environment or .local/env, written by `make up PG=1`). Each test runs in a fresh schema. FAILS when no
// server is configured or reachable.
#include "pg_schema.h"
#include "log_capture.h"
#include "refstore_suite.h"
#include "refstore/sql_db.h"

namespace claimcheck::refstore::testing {

INSTANTIATE_TEST_SUITE_P(Postgres, RefStoreSuite, ::testing::Values("postgres"));
INSTANTIATE_TEST_SUITE_P(Postgres, RefStoreSharedSuite, ::testing::Values("postgres"));

TEST(RefStorePostgres, UnreachableServerIsUnavailable) {
  RefStoreConfig cfg;
  cfg.dsn = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2";
  auto s = open_ref_store(cfg);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(s.error().origin, claimcheck::Origin::Postgres);
}

namespace {

/// A random command over a few pointers, recipients and senders: every rule of apply_batch gets exercised
/// (duplicates, foreign recipients, wrong or missing sha256, rejected then processed, authenticated or not,
/// placeholders and their caps, conflicting and forged store records).
Command random_command(std::mt19937& rng) {
  const std::string pid = "d-" + std::to_string(rng() % 30);
  const auto pick = [&](std::initializer_list<const char*> v) { return std::string(*(v.begin() + rng() % v.size())); };
  if (rng() % 4 == 0) {
    std::vector<std::string> rs{"r1", "r2", "r3", "r4"};
    rs.resize(1 + rng() % 4);
    auto s = make_store(pid, rs, rng() % 3 == 0 ? 60s : 3600s);
    if (rng() % 10 == 0) s.key = "claimcheck/d-" + std::to_string(rng() % 30);  // forged: another's object
    return s;
  }
  AckInput a = make_ack(pid, pick({"r1", "r2", "r3", "r4", "r5"}), rng() % 3 != 0);
  a.sender = pick({"", "u1", "u2", "u3"});
  a.sha256 = pick({"", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                   "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"});
  return a;
}

std::string describe(const Result<ApplyResult>& r) {
  if (!r) return "error " + std::string(to_string(r.error().code));
  std::string out = std::to_string(r->stores_new) + "/" + std::to_string(r->stores_duplicate) + " stores, " +
                    std::to_string(r->acks_new) + "/" + std::to_string(r->acks_duplicate) + "/" +
                    std::to_string(r->acks_foreign) + "/" + std::to_string(r->acks_upgraded) + "/" +
                    std::to_string(r->acks_sha256_discarded) + " acks; completed";
  for (const auto& c : r->completed) out += " " + c;
  for (const auto& f : r->refused) out += "; refused " + std::to_string(f.index) + " " + f.rule + ": " + f.reason;
  return out;
}

std::string describe(const Result<std::optional<ObjectStatus>>& r) {
  if (!r) return "error";
  if (!*r) return "none";
  const ObjectStatus& s = **r;
  std::string out = std::string(to_string(s.state)) + " " + s.bucket + "/" + s.key + " attempts " +
                    std::to_string(s.delete_attempts) + (s.completed_at ? " completed" : "") +
                    (s.deleted_at ? " deleted" : "") + " missing";
  for (const auto& m : s.missing) out += " " + m;
  for (const auto& a : s.acks) {
    out += "; " + a.recipient_id + (a.processed ? " processed" : " rejected") + (a.foreign ? " foreign " : " ") +
           a.reason + " " + std::to_string(a.processed_at.time_since_epoch().count()) + " " +
           std::to_string(a.received_at.time_since_epoch().count());
  }
  return out;
}

}  // namespace

// The set-based batches (the default on PostgreSQL) and the per-statement path give the same result for every
// batch and the same final state, for random mixes of every kind of command, each path on its own schema.
TEST(RefStorePostgres, SetBasedBatchesMatchThePerStatementPath) {
  const std::string base = test::require_env("CLAIMCHECK_PG_DSN");
  const std::string sfx = claimcheck::test::unique_name("", 12);
  const std::vector<std::string> schemas{"cc_test_set_" + sfx, "cc_test_stmt_" + sfx};
  RefStoreConfig cfg;
  cfg.max_placeholder_acks_per_sender = 12;
  cfg.max_placeholder_acks = 30;
  cfg.dsn = base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schemas[0];
  auto set = open_ref_store(cfg);
  ASSERT_TRUE(set.has_value()) << set.error().to_string();
  cfg.dsn = base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schemas[1];
  auto db = detail::open_postgres(cfg.dsn, cfg.busy_timeout);
  ASSERT_TRUE(db.has_value()) << db.error().to_string();
  auto stmt = detail::make_sql_ref_store(std::move(*db), cfg, detail::BatchMode::PerStatement);
  ASSERT_TRUE(stmt.has_value()) << stmt.error().to_string();
  std::mt19937 rng(2024);
  for (int b = 0; b < 120; ++b) {
    std::vector<Command> batch;
    for (std::size_t n = 1 + rng() % 40; n > 0; --n) batch.push_back(random_command(rng));
    const TimePoint now = kT0 + std::chrono::seconds(10 * b);
    ASSERT_EQ(describe((*set)->apply_batch(batch, now)), describe((*stmt)->apply_batch(batch, now))) << "batch " << b;
    if (b % 7 == 6) {  // deletions and purges interleave with the batches
      for (auto* s : {&*set, &*stmt}) {
        auto due = (*s)->claim_deletions(now, 5, 60s);
        ASSERT_TRUE(due.has_value());
        std::vector<std::string> got;
        for (const auto& t : *due) got.push_back(t.pointer_id);
        ASSERT_TRUE((*s)->mark_deleted(got, now).has_value());
        ASSERT_TRUE((*s)->purge_placeholders(now - 300s).has_value());
      }
    }
  }
  for (int i = 0; i < 30; ++i) {
    const std::string pid = "d-" + std::to_string(i);
    EXPECT_EQ(describe((*set)->get(pid)), describe((*stmt)->get(pid))) << pid;
  }
  set->reset();
  stmt->reset();
  EXPECT_EQ(claimcheck::test::drop_pg_schemas(base, schemas), "");
}

// A staged batch does not lock the rows it is about to create: when another transaction creates one of them
// first, the batch's INSERT waits for it, fails once it commits, and apply_batch runs the batch again, which
// then applies the ack to the row the other transaction made (nothing of the first attempt is committed).
TEST(RefStorePostgres, BatchThatLosesTheRaceToCreateARowRunsAgain) {
  const std::string base = test::require_env("CLAIMCHECK_PG_DSN");
  const std::string sfx = claimcheck::test::unique_name("", 12);
  const std::string schema = "cc_test_race_" + sfx, pid = "race-" + sfx;
  RefStoreConfig cfg;
  cfg.dsn = base + (base.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema;
  auto store = open_ref_store(cfg);
  ASSERT_TRUE(store.has_value()) << store.error().to_string();
  pqxx::connection other(base);
  pqxx::work w(other);
  w.exec("SET LOCAL search_path = \"" + schema + "\"");
  w.exec("INSERT INTO objects (pointer_id, state, first_seen_at) VALUES ('" + pid + "', 'PLACEHOLDER', 7)");
  test::LogCapture logs;
  Result<ApplyResult> res = ApplyResult{};
  std::thread t([&] { res = (*store)->apply_batch({make_ack(pid, "r1")}, kT0); });
  // Commit once the batch waits for the uncommitted row (its INSERT), so the race is certain.
  pqxx::connection watch(base);
  bool waiting = false;
  for (int i = 0; i < 200 && !waiting; ++i) {
    pqxx::nontransaction q(watch);
    waiting = !q.exec("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE "
                      "'%INSERT INTO objects%' AND query LIKE '%" + pid + "%'")
                   .empty();
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  w.commit();
  t.join();
  EXPECT_TRUE(waiting) << "the batch never waited for the other transaction's row";
  ASSERT_TRUE(res.has_value()) << res.error().to_string();
  EXPECT_EQ(res->acks_new, 1U);
  EXPECT_EQ(logs.count("debug", "lost a race to create an object row"), 1U);
  auto st = (*store)->get(pid);
  ASSERT_TRUE(st.has_value() && st->has_value());
  EXPECT_EQ((*st)->state, ObjectState::Placeholder);
  ASSERT_EQ((*st)->acks.size(), 1U);
  EXPECT_EQ((*st)->acks[0].recipient_id, "r1");
  pqxx::nontransaction q(other);
  EXPECT_EQ(q.exec("SELECT first_seen_at FROM \"" + schema + "\".objects WHERE pointer_id = '" + pid + "'")[0][0].as<long>(), 7)
      << "the row is the other transaction's";
  store->reset();
  q.exec("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
}

}  // namespace claimcheck::refstore::testing
