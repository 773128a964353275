// Canned-input tests of the SQL error mappings, state names and RefStoreConfig validation.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "claimcheck/refstore/ref_store.h"
#include "claimcheck/refstore/sql_error.h"
#include "refstore/sql_db.h"
#include "refstore/staged_batch.h"

namespace claimcheck::refstore {
namespace {

TEST(SqliteErrorMapping, Codes) {
  struct Case { int rc; ErrorCode code; const char* name; };
  const Case cases[] = {
      {SQLITE_BUSY, ErrorCode::Aborted, "SQLITE_BUSY"},
      {SQLITE_LOCKED, ErrorCode::Aborted, "SQLITE_LOCKED"},
      {SQLITE_BUSY_SNAPSHOT, ErrorCode::Aborted, "SQLITE_BUSY"},  // extended code → primary
      {SQLITE_CANTOPEN, ErrorCode::Unavailable, "SQLITE_CANTOPEN"},
      {SQLITE_IOERR_FSYNC, ErrorCode::Unavailable, "SQLITE_IOERR"},
      {SQLITE_FULL, ErrorCode::Unavailable, "SQLITE_FULL"},
      {SQLITE_READONLY, ErrorCode::PermissionDenied, "SQLITE_READONLY"},
      {SQLITE_PERM, ErrorCode::PermissionDenied, "SQLITE_PERM"},
      {SQLITE_CONSTRAINT, ErrorCode::InvalidArgument, "SQLITE_CONSTRAINT"},
      {SQLITE_CONSTRAINT_PRIMARYKEY, ErrorCode::InvalidArgument, "SQLITE_CONSTRAINT"},
      {SQLITE_MISMATCH, ErrorCode::InvalidArgument, "SQLITE_MISMATCH"},
      {SQLITE_CORRUPT, ErrorCode::DataLoss, "SQLITE_CORRUPT"},
      {SQLITE_NOTADB, ErrorCode::DataLoss, "SQLITE_NOTADB"},
      {SQLITE_ERROR, ErrorCode::Internal, "SQLITE_ERROR"},
      {SQLITE_MISUSE, ErrorCode::Internal, "SQLITE_MISUSE"},
  };
  for (const auto& c : cases) {
    const Error e = map_sqlite_error(c.rc, "msg");
    EXPECT_EQ(e.code, c.code) << c.name;
    EXPECT_EQ(e.origin, claimcheck::Origin::Sqlite);
    EXPECT_EQ(e.detail_code, c.name);
    EXPECT_EQ(e.message, "msg");
  }
  EXPECT_TRUE(map_sqlite_error(SQLITE_BUSY, "").is_retryable());
  EXPECT_FALSE(map_sqlite_error(SQLITE_CORRUPT, "").is_retryable());
  EXPECT_FALSE(map_sqlite_error(SQLITE_BUSY, "").message.empty()) << "falls back to sqlite3_errstr";
}

TEST(PostgresErrorMapping, Sqlstates) {
  struct Case { const char* state; ErrorCode code; };
  const Case cases[] = {
      {"40001", ErrorCode::Aborted},          {"40P01", ErrorCode::Aborted},
      {"55P03", ErrorCode::Aborted},          {"57014", ErrorCode::Aborted},
      {"08006", ErrorCode::Unavailable},      {"08001", ErrorCode::Unavailable},
      {"53300", ErrorCode::Unavailable},      {"57P01", ErrorCode::Unavailable},
      {"58030", ErrorCode::Unavailable},      {"", ErrorCode::Unavailable},
      {"28P01", ErrorCode::PermissionDenied}, {"28000", ErrorCode::PermissionDenied},
      {"42501", ErrorCode::PermissionDenied}, {"23505", ErrorCode::InvalidArgument},
      {"22P02", ErrorCode::InvalidArgument},  {"XX001", ErrorCode::DataLoss},
      {"42P01", ErrorCode::Internal},         {"42601", ErrorCode::Internal},
      {"XX000", ErrorCode::Internal},
  };
  for (const auto& c : cases) {
    const Error e = map_sqlstate(c.state, "boom");
    EXPECT_EQ(e.code, c.code) << c.state;
    EXPECT_EQ(e.origin, claimcheck::Origin::Postgres);
    EXPECT_EQ(e.detail_code, c.state);
    EXPECT_EQ(e.message, "boom");
  }
}

TEST(ObjectStateNames, RoundTrip) {
  for (ObjectState s : {ObjectState::Placeholder, ObjectState::Pending, ObjectState::Complete,
                        ObjectState::Expired, ObjectState::Deleted}) {
    auto p = parse_object_state(to_string(s));
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(*p, s);
  }
  EXPECT_EQ(to_string(ObjectState::Placeholder), "PLACEHOLDER");
  EXPECT_EQ(to_string(ObjectState::Deleted), "DELETED");
  auto bad = parse_object_state("pending");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::InvalidArgument);
}

TEST(RefStoreConfigValidate, AcceptsAndRejects) {
  RefStoreConfig cfg;
  EXPECT_TRUE(cfg.validate().has_value()) << "default sqlite:.local/claimcheck.db";
  cfg.dsn = "sqlite::memory:";
  EXPECT_TRUE(cfg.validate().has_value());
  cfg.dsn = "postgresql://u@127.0.0.1:5432/db?schema=cc_1&connect_timeout=3";
  EXPECT_TRUE(cfg.validate().has_value());
  cfg.dsn = "sqlite:";
  EXPECT_EQ(cfg.validate().error().code, ErrorCode::InvalidArgument);
  cfg.dsn = "mysql://u:secretpw@h/db";
  auto r = cfg.validate();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(r.error().to_string().find("secretpw"), std::string::npos) << "never echo a DSN";
  cfg.dsn = "postgresql://u@h/db?schema=bad;name";
  EXPECT_EQ(cfg.validate().error().code, ErrorCode::InvalidArgument);
  cfg.dsn = "sqlite::memory:";
  cfg.busy_timeout = std::chrono::milliseconds(-1);
  EXPECT_EQ(cfg.validate().error().code, ErrorCode::InvalidArgument);
  auto opened = open_ref_store(cfg);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code, ErrorCode::InvalidArgument);
}

TEST(SplitPgSchema, RemovesOnlyTheSchemaParameter) {
  auto a = detail::split_pg_schema("postgresql://u@h:1/db?schema=s1&connect_timeout=3");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->first, "postgresql://u@h:1/db?connect_timeout=3");
  EXPECT_EQ(a->second, "s1");
  auto b = detail::split_pg_schema("postgresql://u@h:1/db?sslmode=disable&schema=x_2");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->first, "postgresql://u@h:1/db?sslmode=disable");
  EXPECT_EQ(b->second, "x_2");
  auto c = detail::split_pg_schema("postgresql://u@h:1/db");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->first, "postgresql://u@h:1/db");
  EXPECT_EQ(c->second, "");
  EXPECT_FALSE(detail::split_pg_schema("postgresql://h/db?schema=1abc").has_value());
  EXPECT_FALSE(detail::split_pg_schema("postgresql://h/db?schema=").has_value());
}

TEST(PgArrayLiteral, QuotesEveryElementEscapesAndWritesNull) {
  using detail::pg_array_literal;
  EXPECT_EQ(pg_array_literal({}), "{}");
  EXPECT_EQ(pg_array_literal({std::string("a"), std::nullopt, std::string("")}), R"({"a",NULL,""})");
  EXPECT_EQ(pg_array_literal({std::string("NULL")}), R"({"NULL"})") << "the text NULL is not a null";
  EXPECT_EQ(pg_array_literal({std::string("q\"b\\c,{d}\ne")}), "{\"q\\\"b\\\\c,{d}\ne\"}");
}

}  // namespace
// Issue 12 item 2: libpq's "invalid percent-encoded token" error echoes the raw password; the error that
// open_ref_store() returns must not (no server needed: libpq fails while parsing the URI).
TEST(PostgresDsnSecrets, LibpqParseErrorIsScrubbed) {
  const std::string secret = "Sup3rS3cretPw";
  for (const std::string& dsn : {"postgresql://cc:%zz" + secret + "@127.0.0.1:1/db",
                                 "postgresql://cc@127.0.0.1:1/db?password=%zz" + secret}) {
    RefStoreConfig cfg;
    cfg.dsn = dsn;
    auto r = open_ref_store(cfg);
    ASSERT_FALSE(r.has_value()) << dsn;
    EXPECT_EQ(r.error().to_string().find(secret), std::string::npos) << r.error().to_string();
    EXPECT_EQ(r.error().origin, claimcheck::Origin::Postgres);
  }
}

}  // namespace claimcheck::refstore
