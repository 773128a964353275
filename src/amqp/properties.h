#pragma once
/// Private: marshalling of claimcheck::amqp::Message to and from AMQP 0-9-1 basic properties (rabbitmq-c),
/// shared by the Client and its unit tests (DESIGN.md §2: every message carries its publisher's user_id).

#include <amqp.h>

#include <cstdint>
#include <string>
#include <vector>

#include "claimcheck/amqp/types.h"

namespace claimcheck::amqp::detail {

/// Header carrying the Client's internal publish id on mandatory publishes (stripped from deliveries).
inline constexpr const char* kPublishIdHeader = "x-claimcheck-publish-id";

/// A view of `s` as rabbitmq-c bytes (no copy: `s` must outlive the use).
inline amqp_bytes_t bytes_of(const std::string& s) {
  amqp_bytes_t b;
  b.len = s.size();
  b.bytes = const_cast<char*>(s.data());
  return b;
}

/// A copy of rabbitmq-c bytes ("" for null or empty).
inline std::string str_of(amqp_bytes_t b) {
  if (b.bytes == nullptr || b.len == 0) return {};
  return std::string(static_cast<const char*>(b.bytes), b.len);
}

/// A UTF-8 (longstr) table entry viewing `key` and `value` (both must outlive the use).
inline amqp_table_entry_t utf8_entry(const std::string& key, const std::string& value) {
  amqp_table_entry_t e;
  e.key = bytes_of(key);
  e.value.kind = AMQP_FIELD_KIND_UTF8;
  e.value.value.bytes = bytes_of(value);
  return e;
}

/// The basic properties of one basic.publish, with the buffers they point into. Build it with
/// build_properties() and keep it (and the Message) alive until amqp_basic_publish returned. Move-only
/// would dangle (props points into members): neither copyable nor movable. Not thread-safe.
class PublishProperties {
 public:
  PublishProperties() = default;
  PublishProperties(const PublishProperties&) = delete;
  PublishProperties& operator=(const PublishProperties&) = delete;

  amqp_basic_properties_t props{};  ///< what amqp_basic_publish takes

 private:
  friend void build_properties(const Message& m, const std::string& user_id, std::uint64_t publish_id,
                               PublishProperties* out);
  std::vector<amqp_table_entry_t> headers_;
  std::string user_id_, id_key_, id_value_;
};

/// Fills `out` for publishing `m`: delivery_mode (2 when persistent), content_type, type, message_id,
/// timestamp (seconds) and headers when set; `user_id` (AMQP basic property user-id, the authenticated
/// broker user; "" = not set — RabbitMQ refuses any other non-empty value with 406); a publish id header when
/// `publish_id` > 0. Message::user_id is ignored: the sender identity is the caller's `user_id`.
/// `m` must outlive `out`'s use. Never fails; not thread-safe for one `out`.
void build_properties(const Message& m, const std::string& user_id, std::uint64_t publish_id,
                      PublishProperties* out);

/// Copies the properties of a delivered message into `out` (everything but body): content_type, type,
/// message_id, user_id, persistent, timestamp and scalar headers (rendered as text; arrays and tables are
/// skipped). Sets `*delivery_count` (when not null) from `x-delivery-count` (0 when absent). Returns the
/// internal publish id header (0 if absent or malformed), which is not copied. Never fails; thread-safe.
std::uint64_t read_properties(const amqp_basic_properties_t& p, Message* out, std::int64_t* delivery_count);

}  // namespace claimcheck::amqp::detail
