// SQLite backend of the RefStore SQL layer: one sqlite3* connection, WAL, cached prepared statements.
#include <sqlite3.h>

#include <array>
#include <string>

#include "claimcheck/refstore/sql_error.h"
#include "refstore/sql_db.h"

namespace claimcheck::refstore::detail {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

/// "$12" → "?12": SQLite's numbered parameters.
std::string to_sqlite_placeholders(std::string_view sql) {
  std::string out(sql);
  for (char& c : out) {
    if (c == '$') c = '?';
  }
  return out;
}

class SqliteDb final : public SqlDb {
 public:
  explicit SqliteDb(DbPtr db) : db_(std::move(db)) {}

  Backend backend() const noexcept override { return Backend::Sqlite; }

  Result<void> begin(bool write) override { return simple(write ? "BEGIN IMMEDIATE" : "BEGIN"); }

  Result<void> commit() override {
    auto r = simple("COMMIT");
    if (!r) rollback();
    return r;
  }

  void rollback() noexcept override {
    if (sqlite3_get_autocommit(db_.get()) == 0) {
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }

  Result<std::vector<Rows>> exec_all(const std::vector<Call>& calls, bool then_commit) override {
    std::vector<Rows> out;  // in-process: one by one costs no round trips
    out.reserve(calls.size());
    for (const auto& c : calls) {
      CC_TRY(r, exec(c.stmt, c.params));
      out.push_back(std::move(*r));
    }
    if (then_commit) CC_TRY_VOID(commit());
    return out;
  }

  Result<void> exec_script(std::string_view sql) override { return simple(std::string(sql)); }

  Result<void> prepare_migration() override { return ok(); }

  Result<Rows> exec(Stmt s, const std::vector<Param>& params) override {
    const auto idx = static_cast<std::size_t>(s);
    if (!stmts_[idx]) {
      const std::string sql = to_sqlite_placeholders(sql_text(s, Backend::Sqlite));
      sqlite3_stmt* raw = nullptr;
      const int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
      if (rc != SQLITE_OK) return fail(error(rc, "prepare"));
      stmts_[idx].reset(raw);
    }
    sqlite3_stmt* st = stmts_[idx].get();
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (std::size_t i = 0; i < params.size(); ++i) {
      const int pos = static_cast<int>(i + 1);
      int rc = SQLITE_OK;
      if (const auto* v = std::get_if<std::int64_t>(&params[i])) {
        rc = sqlite3_bind_int64(st, pos, *v);
      } else if (const auto* t = std::get_if<std::string>(&params[i])) {
        rc = sqlite3_bind_text(st, pos, t->data(), static_cast<int>(t->size()), SQLITE_STATIC);  // lives until reset
      } else {
        rc = sqlite3_bind_null(st, pos);
      }
      if (rc != SQLITE_OK) return fail(error(rc, "bind"));
    }
    Rows out;
    const int ncol = sqlite3_column_count(st);
    for (;;) {
      const int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        auto e = error(rc, "step");
        sqlite3_reset(st);
        return fail(std::move(e));
      }
      auto& row = out.rows.emplace_back();
      row.reserve(static_cast<std::size_t>(ncol));
      for (int c = 0; c < ncol; ++c) {
        if (sqlite3_column_type(st, c) == SQLITE_NULL) {
          row.emplace_back(std::nullopt);
        } else {
          const auto* txt = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
          row.emplace_back(std::string(txt, static_cast<std::size_t>(sqlite3_column_bytes(st, c))));
        }
      }
    }
    out.affected = sqlite3_changes64(db_.get());
    sqlite3_reset(st);
    return out;
  }

 private:
  Error error(int rc, std::string_view what) const {
    std::string msg(what);
    msg += ": ";
    msg += sqlite3_errmsg(db_.get());
    return map_sqlite_error(rc, msg);
  }

  Result<void> simple(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      return fail(map_sqlite_error(rc, msg));
    }
    return ok();
  }

  DbPtr db_;
  std::array<StmtPtr, static_cast<std::size_t>(Stmt::Count_)> stmts_{};
};

}  // namespace

Result<std::unique_ptr<SqlDb>> open_sqlite(const std::string& path, std::chrono::milliseconds busy_timeout) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open '" + path + "': " + (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    return fail(map_sqlite_error(rc, msg));
  }
  sqlite3_extended_result_codes(db.get(), 0);
  sqlite3_busy_timeout(db.get(), static_cast<int>(busy_timeout.count()));
  // WAL: readers never block the writer; synchronous=NORMAL: durable against process crashes, the last
  // transactions may be lost on power failure (documented in ref_store.h). Commits do not fsync; only
  // checkpoints do, so checkpoint every 8192 pages (32 MiB at 4 KiB pages) instead of SQLite's 1000 to
  // amortise fsyncs over many batches; journal_size_limit truncates the WAL back afterwards. A 32 MiB page
  // cache and 256 MiB of mmap keep the (randomly accessed) pointer_id B-trees out of pread().
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON",
                             "PRAGMA wal_autocheckpoint=8192", "PRAGMA journal_size_limit=67108864",
                             "PRAGMA cache_size=-32768", "PRAGMA mmap_size=268435456"}) {
    char* err = nullptr;
    const int prc = sqlite3_exec(db.get(), pragma, nullptr, nullptr, &err);
    if (prc != SQLITE_OK) {
      std::string msg = std::string(pragma) + ": " + (err != nullptr ? err : sqlite3_errstr(prc));
      sqlite3_free(err);
      return fail(map_sqlite_error(prc, msg));
    }
  }
  return std::unique_ptr<SqlDb>(std::make_unique<SqliteDb>(std::move(db)));
}

}  // namespace claimcheck::refstore::detail
