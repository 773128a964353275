// PostgreSQL backend of the RefStore SQL layer (libpqxx 6.4): prepared statements, READ COMMITTED
// transactions, row locks (FOR UPDATE / SKIP LOCKED) for several coordinators. pqxx exceptions stay here.
#include <pqxx/pqxx>

#include <array>
#include <cctype>
#include <string>

#include "claimcheck/refstore/sql_error.h"
#include "claimcheck/core/credentials.h"
#include "refstore/sql_db.h"

namespace claimcheck::refstore::detail {

Result<std::pair<std::string, std::string>> split_pg_schema(const std::string& dsn) {
  const auto q = dsn.find('?');
  if (q == std::string::npos) return std::pair<std::string, std::string>{dsn, {}};
  std::string base = dsn.substr(0, q);
  std::string rest;
  std::string schema;
  std::size_t pos = q + 1;
  while (pos <= dsn.size()) {
    auto amp = dsn.find('&', pos);
    if (amp == std::string::npos) amp = dsn.size();
    const std::string part = dsn.substr(pos, amp - pos);
    if (part.rfind("schema=", 0) == 0) {
      schema = part.substr(7);
      const bool valid = !schema.empty() && schema.size() <= 63 &&
                         std::isdigit(static_cast<unsigned char>(schema[0])) == 0 &&
                         schema.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
                             std::string::npos;
      if (!valid) {
        return fail(ErrorCode::InvalidArgument, "config",
                    "refstore dsn: schema must match [A-Za-z_][A-Za-z0-9_]{0,62}");
      }
    } else if (!part.empty()) {
      rest += rest.empty() ? "" : "&";
      rest += part;
    }
    pos = amp + 1;
  }
  if (!rest.empty()) base += "?" + rest;
  return std::pair<std::string, std::string>{base, schema};
}

namespace {

Error map_exception(const std::exception& e) {
  if (const auto* se = dynamic_cast<const pqxx::sql_error*>(&e)) {
    return map_sqlstate(se->sqlstate(), se->what());
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    const std::string_view what = e.what();
    if (what.find("authentication failed") != std::string_view::npos) {
      return map_sqlstate("28P01", what);  // libpq reports auth failures at connect without a SQLSTATE
    }
    return map_sqlstate("", what);
  }
  return make_error(ErrorCode::Internal, "postgres", e.what());
}

class PgDb final : public SqlDb {
 public:
  PgDb(std::unique_ptr<pqxx::connection> conn, std::string schema, std::chrono::milliseconds lock_timeout)
      : conn_(std::move(conn)), schema_(std::move(schema)), lock_timeout_(lock_timeout) {}

  ~PgDb() override { rollback(); }

  Backend backend() const noexcept override { return Backend::Postgres; }

  Result<void> begin(bool /*write*/) override {
    try {
      txn_.reset();
      txn_ = std::make_unique<pqxx::work>(*conn_);
      return ok();
    } catch (const std::exception& e) {
      txn_.reset();
      return fail(map_exception(e));
    }
  }

  Result<void> commit() override {
    if (!txn_) return fail(ErrorCode::Internal, "postgres", "commit without a transaction");
    try {
      txn_->commit();
      txn_.reset();
      return ok();
    } catch (const std::exception& e) {
      txn_.reset();
      return fail(map_exception(e));
    }
  }

  void rollback() noexcept override {
    try {
      if (txn_) txn_->abort();
    } catch (...) {  // NOLINT(bugprone-empty-catch): rollback never fails; the server aborts on disconnect
    }
    txn_.reset();
  }

  Result<void> exec_script(std::string_view sql) override {
    if (!txn_) return fail(ErrorCode::Internal, "postgres", "statement without a transaction");
    try {
      txn_->exec(std::string(sql));
      return ok();
    } catch (const std::exception& e) {
      return fail(map_exception(e));
    }
  }

  Result<void> prepare_migration() override {
    // One migrator at a time per database; CREATE SCHEMA IF NOT EXISTS races otherwise.
    CC_TRY_VOID(exec_script("SELECT pg_advisory_xact_lock(7449231960561152001)"));
    if (!schema_.empty()) {
      CC_TRY_VOID(exec_script("CREATE SCHEMA IF NOT EXISTS \"" + schema_ + "\""));
    }
    return ok();
  }

  Result<Rows> exec(Stmt s, const std::vector<Param>& params) override {
    if (!txn_) return fail(ErrorCode::Internal, "postgres", "statement without a transaction");
    const auto idx = static_cast<std::size_t>(s);
    const std::string name = "cc_rs_" + std::to_string(idx);
    try {
      if (!prepared_[idx] && !is_batch_stmt(s)) {
        conn_->prepare(name, std::string(sql_text(s, Backend::Postgres)));
        prepared_[idx] = true;
      }
      std::vector<std::string> storage;
      storage.reserve(params.size());
      std::vector<const char*> ptrs;
      ptrs.reserve(params.size());
      for (const auto& p : params) {
        if (const auto* v = std::get_if<std::int64_t>(&p)) {
          storage.push_back(std::to_string(*v));
          ptrs.push_back(storage.back().c_str());
        } else if (const auto* t = std::get_if<std::string>(&p)) {
          storage.push_back(*t);
          ptrs.push_back(storage.back().c_str());
        } else {
          ptrs.push_back(nullptr);
        }
      }
      const auto args = pqxx::prepare::make_dynamic_params(ptrs);
      const pqxx::result r = is_batch_stmt(s) ? txn_->exec_params(std::string(sql_text(s, Backend::Postgres)), args)
                                              : txn_->exec_prepared(name, args);
      Rows out;
      out.affected = static_cast<std::int64_t>(r.affected_rows());
      out.rows.reserve(r.size());
      for (const auto& row : r) {
        auto& dst = out.rows.emplace_back();
        dst.reserve(row.size());
        for (const auto& f : row) {
          if (f.is_null()) {
            dst.emplace_back(std::nullopt);
          } else {
            dst.emplace_back(std::string(f.c_str(), f.size()));
          }
        }
      }
      return out;
    } catch (const std::exception& e) {
      return fail(map_exception(e));
    }
  }

  Result<void> configure() {
    try {
      if (!schema_.empty()) conn_->set_variable("search_path", "\"" + schema_ + "\"");
      conn_->set_variable("lock_timeout", std::to_string(lock_timeout_.count()));
      return ok();
    } catch (const std::exception& e) {
      return fail(map_exception(e));
    }
  }

 private:
  std::unique_ptr<pqxx::connection> conn_;
  std::string schema_;
  std::chrono::milliseconds lock_timeout_;
  std::unique_ptr<pqxx::work> txn_;
  std::array<bool, static_cast<std::size_t>(Stmt::Count_)> prepared_{};
};

}  // namespace

Result<std::unique_ptr<SqlDb>> open_postgres(const std::string& dsn, std::chrono::milliseconds busy_timeout) {
  CC_TRY(split, split_pg_schema(dsn));
  try {
    auto conn = std::make_unique<pqxx::connection>(split->first);
    auto db = std::make_unique<PgDb>(std::move(conn), split->second, busy_timeout);
    CC_TRY_VOID(db->configure());
    return std::unique_ptr<SqlDb>(std::move(db));
  } catch (const std::exception& e) {
    // libpq messages name host/port/user, but some echo the value they could not parse (e.g. "invalid
    // percent-encoded token: ..." for a malformed password): scrub every password of the DSN.
    Error err = map_exception(e);
    err.message = scrub_secrets(std::move(err.message), dsn_secrets(dsn));
    return fail(std::move(err));
  }
}

}  // namespace claimcheck::refstore::detail
