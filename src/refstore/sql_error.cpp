#include "claimcheck/refstore/sql_error.h"

#include <sqlite3.h>

#include <string>

namespace claimcheck::refstore {

Error map_sqlite_error(int result_code, std::string_view message) {
  const int primary = result_code & 0xff;
  ErrorCode code = ErrorCode::Internal;
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = ErrorCode::Aborted;
      break;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
      code = ErrorCode::Unavailable;
      break;
    case SQLITE_AUTH:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      code = ErrorCode::PermissionDenied;
      break;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
      code = ErrorCode::InvalidArgument;
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      code = ErrorCode::DataLoss;
      break;
    default:
      code = ErrorCode::Internal;
      break;
  }
  const char* name = sqlite3_errstr(result_code);
  std::string detail = "SQLITE_";
  switch (primary) {
    case SQLITE_BUSY: detail += "BUSY"; break;
    case SQLITE_LOCKED: detail += "LOCKED"; break;
    case SQLITE_CANTOPEN: detail += "CANTOPEN"; break;
    case SQLITE_IOERR: detail += "IOERR"; break;
    case SQLITE_FULL: detail += "FULL"; break;
    case SQLITE_PROTOCOL: detail += "PROTOCOL"; break;
    case SQLITE_NOLFS: detail += "NOLFS"; break;
    case SQLITE_AUTH: detail += "AUTH"; break;
    case SQLITE_PERM: detail += "PERM"; break;
    case SQLITE_READONLY: detail += "READONLY"; break;
    case SQLITE_CONSTRAINT: detail += "CONSTRAINT"; break;
    case SQLITE_MISMATCH: detail += "MISMATCH"; break;
    case SQLITE_RANGE: detail += "RANGE"; break;
    case SQLITE_TOOBIG: detail += "TOOBIG"; break;
    case SQLITE_CORRUPT: detail += "CORRUPT"; break;
    case SQLITE_NOTADB: detail += "NOTADB"; break;
    case SQLITE_ERROR: detail += "ERROR"; break;
    case SQLITE_MISUSE: detail += "MISUSE"; break;
    case SQLITE_NOMEM: detail += "NOMEM"; break;
    case SQLITE_INTERRUPT: detail += "INTERRUPT"; break;
    case SQLITE_SCHEMA: detail += "SCHEMA"; break;
    case SQLITE_ABORT: detail += "ABORT"; break;
    default: detail += std::to_string(primary); break;
  }
  std::string msg(message);
  if (msg.empty() && name != nullptr) msg = name;
  return make_error(code, Origin::Sqlite, std::move(msg), std::move(detail));
}

Error map_sqlstate(std::string_view sqlstate, std::string_view message) {
  ErrorCode code = ErrorCode::Internal;
  const std::string_view cls = sqlstate.size() >= 2 ? sqlstate.substr(0, 2) : std::string_view{};
  if (sqlstate.empty()) {
    code = ErrorCode::Unavailable;
  } else if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" || sqlstate == "57014") {
    code = ErrorCode::Aborted;
  } else if (cls == "08" || cls == "53" || cls == "58" || sqlstate == "57P01" || sqlstate == "57P02" ||
             sqlstate == "57P03") {
    code = ErrorCode::Unavailable;
  } else if (cls == "28" || sqlstate == "42501") {
    code = ErrorCode::PermissionDenied;
  } else if (cls == "22" || cls == "23") {
    code = ErrorCode::InvalidArgument;
  } else if (sqlstate == "XX001" || sqlstate == "XX002") {
    code = ErrorCode::DataLoss;
  }
  return make_error(code, Origin::Postgres, std::string(message), std::string(sqlstate));
}

}  // namespace claimcheck::refstore
