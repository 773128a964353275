// PostgreSQL backend of the RefStore SQL layer (libpqxx 6.4): prepared statements, statement lists in one
// round trip (exec_all), READ COMMITTED transactions, row locks (FOR UPDATE / SKIP LOCKED) for several
// coordinators. pqxx exceptions stay here.
#include <pqxx/pqxx>
#include <pqxx/pipeline>

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
        return fail(ErrorCode::InvalidArgument, Origin::Config,
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
  return make_error(ErrorCode::Internal, Origin::Postgres, e.what());
}

/// `sql` with every $N replaced by params[N-1] as a literal (quoted and escaped text, a number or NULL), for
/// statements sent in one query string. Errors: Internal for a placeholder without a parameter.
Result<std::string> inline_params(std::string_view sql, const std::vector<Param>& params,
                                  const pqxx::transaction_base& tx) {
  std::string out;
  out.reserve(sql.size() + 64);
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != '$' || i + 1 >= sql.size() || std::isdigit(static_cast<unsigned char>(sql[i + 1])) == 0) {
      out += sql[i];
      continue;
    }
    std::size_t n = 0;
    while (i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1])) != 0) {
      n = n * 10 + static_cast<std::size_t>(sql[++i] - '0');
    }
    if (n == 0 || n > params.size()) return fail(ErrorCode::Internal, Origin::Postgres, "statement parameter out of range");
    const Param& p = params[n - 1];
    if (const auto* v = std::get_if<std::int64_t>(&p)) {
      out += std::to_string(*v);
    } else if (const auto* t = std::get_if<std::string>(&p)) {
      out += '\'';
      out += tx.esc(*t);
      out += '\'';
    } else {
      out += "NULL";
    }
  }
  return out;
}

Rows to_rows(const pqxx::result& r) {
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
}

/// Transactions are BEGIN/COMMIT sent by this class over a pqxx::nontransaction, so that exec_all() can send
/// BEGIN with the first statements and COMMIT with the last ones (one round trip each). BEGIN is deferred to
/// the first statement of a transaction.
class PgDb final : public SqlDb {
 public:
  PgDb(std::unique_ptr<pqxx::connection> conn, std::string schema, std::chrono::milliseconds lock_timeout)
      : conn_(std::move(conn)), schema_(std::move(schema)), lock_timeout_(lock_timeout) {}

  ~PgDb() override { rollback(); }

  Backend backend() const noexcept override { return Backend::Postgres; }

  Result<void> begin(bool /*write*/) override {
    rollback();
    try {
      tx_ = std::make_unique<pqxx::nontransaction>(*conn_);
      return ok();
    } catch (const std::exception& e) {
      tx_.reset();
      return fail(map_exception(e));
    }
  }

  Result<void> commit() override {
    if (!tx_) return fail(ErrorCode::Internal, Origin::Postgres, "commit without a transaction");
    CC_TRY_VOID(same_session());
    try {
      if (begun_) tx_->exec("COMMIT");
      end();
      return ok();
    } catch (const std::exception& e) {
      end();
      return fail(map_exception(e));
    }
  }

  void rollback() noexcept override {
    try {
      // A lost connection ended the transaction on the server; never reconnect just to roll back.
      if (tx_ && begun_ && same_session()) tx_->exec("ROLLBACK");
    } catch (...) {  // NOLINT(bugprone-empty-catch): rollback never fails; the server aborts on disconnect
    }
    end();
  }

  Result<void> exec_script(std::string_view sql) override {
    if (!tx_) return fail(ErrorCode::Internal, Origin::Postgres, "statement without a transaction");
    CC_TRY_VOID(start());
    try {
      tx_->exec(std::string(sql));
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
    if (!tx_) return fail(ErrorCode::Internal, Origin::Postgres, "statement without a transaction");
    CC_TRY_VOID(start());
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
      return to_rows(is_batch_stmt(s) ? tx_->exec_params(std::string(sql_text(s, Backend::Postgres)), args)
                                      : tx_->exec_prepared(name, args));
    } catch (const std::exception& e) {
      return fail(map_exception(e));
    }
  }

  // One query string through a pqxx::pipeline: [BEGIN;] the statements [; COMMIT]. The server runs them in
  // order, each with its own snapshot, and skips the rest of the string after an error (COMMIT included).
  Result<std::vector<Rows>> exec_all(const std::vector<Call>& calls, bool then_commit) override {
    if (!tx_) return fail(ErrorCode::Internal, Origin::Postgres, "statement without a transaction");
    CC_TRY_VOID(same_session());
    if (calls.empty() && !begun_) {  // nothing ran and nothing will: no transaction to begin or commit
      if (then_commit) end();
      return std::vector<Rows>{};
    }
    std::vector<std::string> sql;
    sql.reserve(calls.size() + 2);
    if (!begun_) sql.emplace_back("BEGIN");
    for (const auto& c : calls) {
      CC_TRY(text, inline_params(sql_text(c.stmt, Backend::Postgres), c.params, *tx_));
      sql.push_back(std::move(*text));
    }
    if (then_commit) sql.emplace_back("COMMIT");
    const std::size_t first = begun_ ? 0 : 1;
    std::vector<Rows> out;
    out.reserve(calls.size());
    try {
      pqxx::pipeline pipe(*tx_);
      pipe.retain(static_cast<int>(sql.size()) + 1);
      std::vector<pqxx::pipeline::query_id> ids;
      ids.reserve(sql.size());
      for (const auto& q : sql) ids.push_back(pipe.insert(q));
      pipe.complete();
      begin_here();
      for (std::size_t i = 0; i < ids.size(); ++i) {
        const pqxx::result r = pipe.retrieve(ids[i]);
        if (i >= first && out.size() < calls.size()) out.push_back(to_rows(r));
      }
    } catch (const std::exception& e) {
      begin_here();
      return fail(map_exception(e));
    }
    if (then_commit) end();
    return out;
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
  /// Sends the deferred BEGIN before a transaction's first statement.
  Result<void> start() {
    CC_TRY_VOID(same_session());
    if (begun_) return ok();
    try {
      tx_->exec("BEGIN");
      begin_here();
      return ok();
    } catch (const std::exception& e) {
      return fail(map_exception(e));
    }
  }

  /// The transaction's BEGIN went out on the current session.
  void begin_here() noexcept {
    if (begun_) return;
    begun_ = true;
    backend_pid_ = conn_->backendpid();
  }

  /// Inside a transaction the session must still be the one its BEGIN ran in: libpqxx reconnects a lost
  /// connection on the next statement, which would run the rest of the transaction outside it.
  [[nodiscard]] Result<void> same_session() const {
    if (!begun_ || (conn_->is_open() && conn_->backendpid() == backend_pid_)) return ok();
    return fail(ErrorCode::Unavailable, Origin::Postgres, "connection lost inside a transaction");
  }

  void end() noexcept {
    try {
      if (tx_) tx_->commit();  // a nontransaction commits nothing; it only detaches from the connection
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing was sent
    }
    tx_.reset();
    begun_ = false;
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::string schema_;
  std::chrono::milliseconds lock_timeout_;
  std::unique_ptr<pqxx::nontransaction> tx_;  // open between begin() and commit()/rollback()
  bool begun_ = false;                        // BEGIN sent for tx_
  int backend_pid_ = 0;                       // the server process BEGIN ran in
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
