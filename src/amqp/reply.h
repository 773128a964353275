#pragma once
/// Private: mapping of rabbitmq-c replies and status codes onto claimcheck::Error (DESIGN.md §6).

#include <amqp.h>
#include <amqp_framing.h>

#include <string_view>

#include "claimcheck/core/error.h"

namespace claimcheck::amqp {

/// Maps an AMQP reply code (connection.close / channel.close) to an ErrorCode:
/// 403 ACCESS_REFUSED, 530 NOT_ALLOWED → PermissionDenied; 404 NOT_FOUND, 402 INVALID_PATH → NotFound;
/// 406 PRECONDITION_FAILED, 312 NO_ROUTE, 313 NO_CONSUMERS, 311 CONTENT_TOO_LARGE → FailedPrecondition;
/// 320 CONNECTION_FORCED, 405 RESOURCE_LOCKED, 506 RESOURCE_ERROR → Unavailable; others → Internal.
ErrorCode map_amqp_reply_code(int reply_code) noexcept;

/// Maps a rabbitmq-c status (AMQP_STATUS_*) to an Error with Origin::Amqp, message `what: <library text>`,
/// detail_code = the library's error text. Socket/timeout/closed/heartbeat/TLS errors → Unavailable;
/// TLS peer/hostname verification failures → PermissionDenied; bad parameters/URL → InvalidArgument;
/// everything else → Internal.
Error map_amqp_status(int status, std::string_view what = {});

/// Maps an RPC reply: NORMAL → code Ok; NONE → Internal; LIBRARY_EXCEPTION → map_amqp_status;
/// SERVER_EXCEPTION with connection.close/channel.close → map_amqp_reply_code, message = the broker's
/// reply text, detail_code = the numeric reply code ("403").
Error map_amqp_reply(const amqp_rpc_reply_t& reply, std::string_view what = {});

}  // namespace claimcheck::amqp
