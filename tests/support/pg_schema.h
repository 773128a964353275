#pragma once
/// Test and bench helper: drops the PostgreSQL schemas a run created (`schema=` in its DSN), for TearDown and
/// a benchmark's clean-up. Header-only; one pqxx connection per call; no gtest, so the benches use it too.

#include <pqxx/pqxx>

#include <exception>
#include <string>
#include <vector>

namespace claimcheck::test {

/// `DROP SCHEMA IF EXISTS "<schema>" CASCADE` for each of `schemas`, in one transaction on `dsn` (the
/// server's DSN without `schema=`). Returns "" on success, else the reason (a test should fail on it: a schema
/// left behind is state a later run could trip on).
inline std::string drop_pg_schemas(const std::string& dsn, const std::vector<std::string>& schemas) {
  try {
    pqxx::connection c(dsn);
    pqxx::work w(c);
    for (const auto& s : schemas) w.exec("DROP SCHEMA IF EXISTS \"" + s + "\" CASCADE");
    w.commit();
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace claimcheck::test
