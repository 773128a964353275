#pragma once
/// Mapping of SQL backend errors onto claimcheck::Error (DESIGN.md §6: one mapping function per backend).

#include <string_view>

#include "claimcheck/core/error.h"

namespace claimcheck::refstore {

/// Maps a SQLite result code (primary or extended, see https://sqlite.org/rescode.html) to an Error with
/// Origin::Sqlite and detail_code = the code's name (e.g. "SQLITE_BUSY").
/// BUSY/LOCKED → Aborted; CANTOPEN/IOERR/FULL/PROTOCOL/NOLFS → Unavailable; AUTH/PERM/READONLY →
/// PermissionDenied; CONSTRAINT/MISMATCH/RANGE/TOOBIG → InvalidArgument; CORRUPT/NOTADB → DataLoss;
/// anything else → Internal. `message` is copied (it must not contain secrets). Thread-safe.
Error map_sqlite_error(int result_code, std::string_view message);

/// Maps a PostgreSQL SQLSTATE (5 chars, https://www.postgresql.org/docs/15/errcodes-appendix.html) to an
/// Error with Origin::Postgres and detail_code = sqlstate.
/// 40001 serialization_failure, 40P01 deadlock, 55P03 lock_not_available, 57014 query_canceled → Aborted;
/// class 08 (connection), 53 (resources), 57P01-57P03 (shutdown), 58 (system) → Unavailable;
/// class 28 (authorization), 42501 → PermissionDenied; class 22 (data), 23 (integrity) → InvalidArgument;
/// XX001/XX002 → DataLoss; empty sqlstate (broken connection, no server answer) → Unavailable;
/// anything else → Internal. Thread-safe.
Error map_sqlstate(std::string_view sqlstate, std::string_view message);

}  // namespace claimcheck::refstore
