#include "amqp/reply.h"

#include <string>

namespace claimcheck::amqp {

namespace {
std::string with_what(std::string_view what, std::string_view text) {
  if (what.empty()) return std::string(text);
  std::string s(what);
  s += ": ";
  s += text;
  return s;
}
}  // namespace

ErrorCode map_amqp_reply_code(int reply_code) noexcept {
  switch (reply_code) {
    case 200: return ErrorCode::Ok;
    case 403:  // ACCESS_REFUSED
    case 530:  // NOT_ALLOWED (e.g. vhost access refused)
      return ErrorCode::PermissionDenied;
    case 404:  // NOT_FOUND
    case 402:  // INVALID_PATH
      return ErrorCode::NotFound;
    case 406:  // PRECONDITION_FAILED
    case 311:  // CONTENT_TOO_LARGE
    case 312:  // NO_ROUTE
    case 313:  // NO_CONSUMERS
      return ErrorCode::FailedPrecondition;
    case 320:  // CONNECTION_FORCED
    case 405:  // RESOURCE_LOCKED
    case 506:  // RESOURCE_ERROR
      return ErrorCode::Unavailable;
    default:
      return ErrorCode::Internal;
  }
}

Error map_amqp_status(int status, std::string_view what) {
  ErrorCode code = ErrorCode::Internal;
  switch (status) {
    case AMQP_STATUS_OK: code = ErrorCode::Ok; break;
    case AMQP_STATUS_CONNECTION_CLOSED:
    case AMQP_STATUS_SOCKET_ERROR:
    case AMQP_STATUS_TIMEOUT:
    case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED:
    case AMQP_STATUS_HEARTBEAT_TIMEOUT:
    case AMQP_STATUS_SOCKET_CLOSED:
    case AMQP_STATUS_SOCKET_INUSE:
    case AMQP_STATUS_TCP_ERROR:
    case AMQP_STATUS_TCP_SOCKETLIB_INIT_ERROR:
    case AMQP_STATUS_SSL_ERROR:
    case AMQP_STATUS_SSL_CONNECTION_FAILED:
    case AMQP_STATUS_UNEXPECTED_STATE:
      code = ErrorCode::Unavailable;
      break;
    case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
    case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
      code = ErrorCode::PermissionDenied;
      break;
    case AMQP_STATUS_INVALID_PARAMETER:
    case AMQP_STATUS_BAD_URL:
    case AMQP_STATUS_UNSUPPORTED:
      code = ErrorCode::InvalidArgument;
      break;
    default:
      code = ErrorCode::Internal;
      break;
  }
  const char* text = amqp_error_string2(status);
  std::string t = text != nullptr ? text : "unknown rabbitmq-c status";
  return make_error(code, Origin::Amqp, with_what(what, t), t);
}

Error map_amqp_reply(const amqp_rpc_reply_t& reply, std::string_view what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return make_error(ErrorCode::Ok, Origin::Amqp, with_what(what, "ok"));
    case AMQP_RESPONSE_NONE:
      return make_error(ErrorCode::Internal, Origin::Amqp, with_what(what, "missing RPC reply"));
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return map_amqp_status(reply.library_error, what);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      break;
  }
  int code = 0;
  std::string text;
  if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD && reply.reply.decoded != nullptr) {
    const auto* m = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
    code = m->reply_code;
    text.assign(static_cast<const char*>(m->reply_text.bytes), m->reply_text.len);
  } else if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD && reply.reply.decoded != nullptr) {
    const auto* m = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
    code = m->reply_code;
    text.assign(static_cast<const char*>(m->reply_text.bytes), m->reply_text.len);
  } else {
    return make_error(ErrorCode::Internal, Origin::Amqp,
                      with_what(what, "unexpected server method " + std::to_string(reply.reply.id)));
  }
  if (text.empty()) text = "broker closed with code " + std::to_string(code);
  return make_error(map_amqp_reply_code(code), Origin::Amqp, with_what(what, text), std::to_string(code));
}

}  // namespace claimcheck::amqp
