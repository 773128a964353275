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

std::string Error::to_string() const {
  std::string s = origin.empty() ? std::string("error") : origin;
  s += ": ";
  s += claimcheck::to_string(code);
  s += ": ";
  s += message;
  if (!detail_code.empty()) s += " [" + detail_code + "]";
  if (!request_id.empty()) s += " (request_id=" + request_id + ")";
  return s;
}

Error make_error(ErrorCode code, std::string origin, std::string message, std::string detail_code) {
  Error e;
  e.code = code;
  e.origin = std::move(origin);
  e.message = std::move(message);
  e.detail_code = std::move(detail_code);
  return e;
}

}  // namespace claimcheck
