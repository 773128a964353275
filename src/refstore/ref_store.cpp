#include "claimcheck/refstore/ref_store.h"

#include <string>

#include "refstore/sql_db.h"

namespace claimcheck::refstore {

std::string_view to_string(ObjectState s) noexcept {
  switch (s) {
    case ObjectState::Placeholder: return "PLACEHOLDER";
    case ObjectState::Pending: return "PENDING";
    case ObjectState::Complete: return "COMPLETE";
    case ObjectState::Expired: return "EXPIRED";
    case ObjectState::Deleted: return "DELETED";
  }
  return "UNKNOWN";
}

Result<ObjectState> parse_object_state(std::string_view text) {
  for (ObjectState s : {ObjectState::Placeholder, ObjectState::Pending, ObjectState::Complete,
                        ObjectState::Expired, ObjectState::Deleted}) {
    if (to_string(s) == text) return s;
  }
  return fail(ErrorCode::InvalidArgument, Origin::Refstore, "unknown object state '" + std::string(text) + "'");
}

namespace {
constexpr std::string_view kSqlitePrefix = "sqlite:";
bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool is_postgres(std::string_view dsn) {
  return starts_with(dsn, "postgresql://") || starts_with(dsn, "postgres://");
}
}  // namespace

Result<void> RefStoreConfig::validate() const {
  if (busy_timeout.count() < 0) {
    return fail(ErrorCode::InvalidArgument, Origin::Config, "refstore busy_timeout must be >= 0");
  }
  if (max_placeholder_acks_per_sender < 0 || max_placeholder_acks < 0) {
    return fail(ErrorCode::InvalidArgument, Origin::Config, "refstore placeholder caps must be >= 0");
  }
  if (starts_with(dsn, kSqlitePrefix)) {
    if (dsn.size() == kSqlitePrefix.size()) {
      return fail(ErrorCode::InvalidArgument, Origin::Config, "refstore dsn 'sqlite:' needs a path or :memory:");
    }
    return ok();
  }
  if (is_postgres(dsn)) {
    auto split = detail::split_pg_schema(dsn);
    if (!split) return fail(split.error());
    return ok();
  }
  // Never echo the DSN: a PostgreSQL DSN may carry a password.
  return fail(ErrorCode::InvalidArgument, Origin::Config,
              "refstore dsn must start with 'sqlite:' or 'postgresql://'");
}

Result<std::unique_ptr<RefStore>> open_ref_store(const RefStoreConfig& cfg) {
  CC_TRY_VOID(cfg.validate());
  if (starts_with(cfg.dsn, kSqlitePrefix)) {
    CC_TRY(db, detail::open_sqlite(cfg.dsn.substr(kSqlitePrefix.size()), cfg.busy_timeout));
    return detail::make_sql_ref_store(std::move(*db), cfg);
  }
  CC_TRY(db, detail::open_postgres(cfg.dsn, cfg.busy_timeout));
  return detail::make_sql_ref_store(std::move(*db), cfg);
}

}  // namespace claimcheck::refstore
