#include "claimcheck/core/error.h"

namespace claimcheck {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::Ok: return "Ok";
    case ErrorCode::Unavailable: return "Unavailable";
    case ErrorCode::Aborted: return "Aborted";
    case ErrorCode::NotFound: return "NotFound";
    case ErrorCode::PermissionDenied: return "PermissionDenied";
    case ErrorCode::InvalidArgument: return "InvalidArgument";
    case ErrorCode::FailedPrecondition: return "FailedPrecondition";
    case ErrorCode::DataLoss: return "DataLoss";
    case ErrorCode::Internal: return "Internal";
  }
  return "Unknown";
}

std::string_view to_string(Origin origin) noexcept {
  switch (origin) {
    case Origin::Unknown: return "error";
    case Origin::Config: return "config";
    case Origin::Io: return "io";
    case Origin::S3: return "s3";
    case Origin::Curl: return "curl";
    case Origin::Http: return "http";
    case Origin::Amqp: return "amqp";
    case Origin::Protocol: return "protocol";
    case Origin::Codec: return "codec";
    case Origin::Refstore: return "refstore";
    case Origin::Sqlite: return "sqlite";
    case Origin::Postgres: return "postgres";
    case Origin::Journal: return "journal";
    case Origin::Handler: return "handler";
    case Origin::Exec: return "exec";
    case Origin::Consume: return "consume";
    case Origin::Produce: return "produce";
    case Origin::Bench: return "bench";
    case Origin::Test: return "test";
  }
  return "error";
}

std::string Error::to_string() const {
  std::string s(claimcheck::to_string(origin));
  s += ": ";
  s += claimcheck::to_string(code);
  s += ": ";
  s += message;
  if (!detail_code.empty()) s += " [" + detail_code + "]";
  if (!request_id.empty()) s += " (request_id=" + request_id + ")";
  return s;
}

Error make_error(ErrorCode code, Origin origin, std::string message, std::string detail_code) {
  Error e;
  e.code = code;
  e.origin = origin;
  e.message = std::move(message);
  e.detail_code = std::move(detail_code);
  return e;
}

}  // namespace claimcheck
