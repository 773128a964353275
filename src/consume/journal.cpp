// The consumer's journal (idempotent receiver) — see include/claimcheck/consume/journal.h.
#include "claimcheck/consume/journal.h"

#include <sqlite3.h>

#include <system_error>

#include "claimcheck/refstore/sql_error.h"
#include "claimcheck/core/time.h"

namespace claimcheck {

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS processed ("
    " message_id TEXT PRIMARY KEY,"
    " ack_json TEXT NOT NULL,"
    " expires_at_ms INTEGER NOT NULL,"
    " recorded_at_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS processed_expiry ON processed (expires_at_ms);";

std::int64_t unix_ms(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Error journal_error(sqlite3* db, int rc, const std::filesystem::path& path, const std::string& what) {
  Error e = refstore::map_sqlite_error(rc, db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  e.origin = Origin::Journal;
  e.message = "journal '" + path.string() + "': " + what + ": " + e.message;
  return e;
}

/// Resets a prepared statement (and its bindings) on scope exit, ready for the next use.
struct Reset {
  sqlite3_stmt* s;
  ~Reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

}  // namespace

// The connection and its three statements, prepared once in open() (find/record run per delivery).
struct ConsumeJournal::Db {
  sqlite3* h = nullptr;
  sqlite3_stmt* find = nullptr;
  sqlite3_stmt* record = nullptr;
  sqlite3_stmt* prune = nullptr;
  ~Db() {
    for (auto* st : {find, record, prune}) sqlite3_finalize(st);
    sqlite3_close_v2(h);
  }
};

ConsumeJournal::ConsumeJournal(std::filesystem::path path, std::unique_ptr<Db> db)
    : path_(std::move(path)), db_(std::move(db)) {}

ConsumeJournal::~ConsumeJournal() = default;

Result<std::unique_ptr<ConsumeJournal>> ConsumeJournal::open(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) return fail(ErrorCode::Unavailable, Origin::Journal, "cannot create state directory '" +
                                                               path.parent_path().string() + "': " + ec.message());
    std::filesystem::permissions(path.parent_path(), std::filesystem::perms::owner_all, ec);
  }
  auto db = std::make_unique<Db>();
  const int rc = sqlite3_open_v2(path.c_str(), &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) return Unexpected{journal_error(db->h, rc, path, "cannot open")};
  sqlite3_busy_timeout(db->h, 5000);
  std::unique_ptr<ConsumeJournal> j(new ConsumeJournal(path, std::move(db)));
  std::lock_guard lock(j->mu_);
  CC_TRY_VOID(j->exec_locked("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  CC_TRY_VOID(j->exec_locked(kSchema));
  CC_TRY_VOID(j->prepare_locked(&j->db_->find, "SELECT ack_json FROM processed WHERE message_id = ?1"));
  CC_TRY_VOID(j->prepare_locked(&j->db_->record,
                                "INSERT INTO processed (message_id, ack_json, expires_at_ms, recorded_at_ms) "
                                "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (message_id) DO NOTHING"));
  CC_TRY_VOID(j->prepare_locked(&j->db_->prune, "DELETE FROM processed WHERE expires_at_ms < ?1"));
  return j;
}

Result<void> ConsumeJournal::exec_locked(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_->h, sql, nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return Unexpected{journal_error(db_->h, rc, path_, "cannot set up")};
  return ok();
}

Result<void> ConsumeJournal::prepare_locked(sqlite3_stmt** st, const char* sql) {
  const int rc = sqlite3_prepare_v3(db_->h, sql, -1, SQLITE_PREPARE_PERSISTENT, st, nullptr);
  if (rc != SQLITE_OK) return Unexpected{journal_error(db_->h, rc, path_, "cannot set up")};
  return ok();
}

Result<std::optional<std::string>> ConsumeJournal::find(const std::string& message_id) {
  std::lock_guard lock(mu_);
  Reset st{db_->find};
  int rc = sqlite3_bind_text(st.s, 1, message_id.data(), static_cast<int>(message_id.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) return Unexpected{journal_error(db_->h, rc, path_, "lookup")};
  rc = sqlite3_step(st.s);
  if (rc == SQLITE_DONE) return std::optional<std::string>{};
  if (rc != SQLITE_ROW) return Unexpected{journal_error(db_->h, rc, path_, "lookup")};
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st.s, 0));
  return std::optional<std::string>{std::string(text != nullptr ? text : "",
                                                static_cast<std::size_t>(sqlite3_column_bytes(st.s, 0)))};
}

Result<void> ConsumeJournal::record(const std::string& message_id, const std::string& ack_json, Timestamp expires_at) {
  std::lock_guard lock(mu_);
  Reset st{db_->record};
  int rc = sqlite3_bind_text(st.s, 1, message_id.data(), static_cast<int>(message_id.size()), SQLITE_TRANSIENT);
  if (rc == SQLITE_OK) rc = sqlite3_bind_text(st.s, 2, ack_json.data(), static_cast<int>(ack_json.size()), SQLITE_TRANSIENT);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st.s, 3, unix_ms(expires_at));
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st.s, 4, unix_ms(utc_now()));
  if (rc == SQLITE_OK) rc = sqlite3_step(st.s);
  if (rc != SQLITE_DONE) return Unexpected{journal_error(db_->h, rc, path_, "cannot record '" + message_id + "'")};
  return ok();
}

Result<std::size_t> ConsumeJournal::prune(Timestamp now) {
  std::lock_guard lock(mu_);
  Reset st{db_->prune};
  int rc = sqlite3_bind_int64(st.s, 1, unix_ms(now));
  if (rc == SQLITE_OK) rc = sqlite3_step(st.s);
  if (rc != SQLITE_DONE) return Unexpected{journal_error(db_->h, rc, path_, "prune")};
  return static_cast<std::size_t>(sqlite3_changes(db_->h));
}

}  // namespace claimcheck
