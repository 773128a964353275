#include "claimcheck/amqp/types.h"

#include "claimcheck/core/credentials.h"

#include <amqp.h>

#include <string>

namespace claimcheck::amqp {

std::string url_user(std::string_view url) {
  std::string buf(url);
  amqp_connection_info info{};
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK || info.user == nullptr) return {};
  return info.user;
}

Result<void> AmqpConfig::validate() const {
  if (urls.empty()) return config_error("amqp urls: at least one amqp:// or amqps:// URL is required");
  for (std::size_t i = 0; i < urls.size(); ++i) {
    const std::string& u = urls[i];
    const std::string where = "amqp urls[" + std::to_string(i) + "] '" + redact_url(u) + "'";
    if (u.rfind("amqp://", 0) != 0 && u.rfind("amqps://", 0) != 0) {
      return config_error(where + ": scheme must be amqp:// or amqps://");
    }
    std::string buf = u;
    amqp_connection_info info{};
    amqp_default_connection_info(&info);
    if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK) return config_error(where + ": cannot be parsed");
  }
  if (heartbeat.count() < 0 || heartbeat.count() > 65535) {
    return config_error("amqp heartbeat: must be 0..65535 seconds");
  }
  if (connect_timeout.count() <= 0) return config_error("amqp connect_timeout: must be > 0 ms");
  if (reconnect.initial.count() <= 0) return config_error("amqp reconnect: field 'initial': must be > 0 ms");
  if (auto v = reconnect.validate(); !v) return config_error("amqp reconnect: " + v.error().message);
  if (connect_attempts < 1) return config_error("amqp connect_attempts: must be >= 1");
  return ok();
}

std::string_view to_string(Event::Kind kind) noexcept {
  switch (kind) {
    case Event::Kind::Delivery: return "Delivery";
    case Event::Kind::Confirmed: return "Confirmed";
    case Event::Kind::Failed: return "Failed";
    case Event::Kind::Reconnected: return "Reconnected";
    case Event::Kind::Blocked: return "Blocked";
    case Event::Kind::Unblocked: return "Unblocked";
    case Event::Kind::Cancelled: return "Cancelled";
  }
  return "Unknown";
}

}  // namespace claimcheck::amqp
