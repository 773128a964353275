// The shared RefStore suite (tests/support/refstore_suite.h) on PostgreSQL (CLAIMCHECK_PG_DSN from the
// environment or .local/env, written by `make up PG=1`). Each test runs in a fresh schema. FAILS when no
// server is configured or reachable.
#include "refstore_suite.h"

namespace claimcheck::refstore::testing {

INSTANTIATE_TEST_SUITE_P(Postgres, RefStoreSuite, ::testing::Values("postgres"));
INSTANTIATE_TEST_SUITE_P(Postgres, RefStoreSharedSuite, ::testing::Values("postgres"));

TEST(RefStorePostgres, UnreachableServerIsUnavailable) {
  RefStoreConfig cfg;
  cfg.dsn = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2";
  auto s = open_ref_store(cfg);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(s.error().origin, "postgres");
}

}  // namespace claimcheck::refstore::testing
