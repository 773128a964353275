// The shared RefStore suite (tests/support/refstore_suite.h) on SQLite: a temp file and :memory:.
#include <sqlite3.h>

#include "refstore_suite.h"

namespace claimcheck::refstore::testing {

INSTANTIATE_TEST_SUITE_P(Sqlite, RefStoreSuite, ::testing::Values("sqlite_file", "sqlite_memory"));
INSTANTIATE_TEST_SUITE_P(Sqlite, RefStoreSharedSuite, ::testing::Values("sqlite_file"));

TEST(RefStoreSqlite, DatabaseFileIsInWalMode) {
  const auto dir = std::filesystem::temp_directory_path() / ("refstore-wal-" + claimcheck::test::unique_name("", 12));
  std::filesystem::create_directories(dir);
  {
    RefStoreConfig cfg;
    cfg.dsn = "sqlite:" + (dir / "x.db").string();
    auto s = open_ref_store(cfg);
    ASSERT_TRUE(s.has_value()) << s.error().to_string();
    ASSERT_TRUE((*s)->apply_batch({make_store("p", {"r"})}, kT0).has_value());
    EXPECT_TRUE(std::filesystem::exists(dir / "x.db-wal"));
  }
  std::filesystem::remove_all(dir);
}

TEST(RefStoreSqlite, UnopenablePathIsUnavailable) {
  RefStoreConfig cfg;
  cfg.dsn = "sqlite:/nonexistent-dir-" + claimcheck::test::unique_name("", 12) + "/x.db";
  auto s = open_ref_store(cfg);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(s.error().origin, claimcheck::Origin::Sqlite);
  EXPECT_EQ(s.error().detail_code, "SQLITE_CANTOPEN");
}

TEST(RefStoreSqlite, WriterBusyBeyondTimeoutIsAborted) {
  const auto dir = std::filesystem::temp_directory_path() / ("refstore-busy-" + claimcheck::test::unique_name("", 12));
  std::filesystem::create_directories(dir);
  RefStoreConfig cfg;
  cfg.dsn = "sqlite:" + (dir / "x.db").string();
  cfg.busy_timeout = std::chrono::milliseconds(50);
  auto a = open_ref_store(cfg);
  ASSERT_TRUE(a.has_value());
  // Hold the write lock from a raw connection, then try to write through the store.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "x.db").string().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = (*a)->apply_batch({make_store("p", {"r"})}, kT0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Aborted);
  EXPECT_TRUE(r.error().is_retryable());
  sqlite3_exec(raw, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  EXPECT_TRUE((*a)->apply_batch({make_store("p", {"r"})}, kT0).has_value()) << "retry succeeds";
  a->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace claimcheck::refstore::testing
