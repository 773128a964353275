#pragma once
/// Test helper: drops the PostgreSQL schema a test created (`schema=` in its DSN), for TearDown.
/// Header-only; one pqxx connection per call.

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <exception>
#include <string>

namespace claimcheck::test {

/// `DROP SCHEMA IF EXISTS "<schema>" CASCADE` on `dsn` (the server's DSN without `schema=`). A failure is a
/// test failure naming the reason (a schema left behind is state a later run could trip on).
inline void drop_pg_schema(const std::string& dsn, const std::string& schema) {
  try {
    pqxx::connection c(dsn);
    pqxx::work w(c);
    w.exec("DROP SCHEMA IF EXISTS \"" + schema + "\" CASCADE");
    w.commit();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot drop test schema " << schema << ": " << e.what();
  }
}

}  // namespace claimcheck::test
