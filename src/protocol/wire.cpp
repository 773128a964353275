// Wire builders — see include/claimcheck/protocol/wire.h.
#include "claimcheck/protocol/wire.h"

#include "claimcheck/core/base64.h"
#include "claimcheck/core/time.h"

namespace claimcheck {

namespace {

std::int64_t seconds(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

amqp::Message json_message(std::string body, std::string_view schema, std::string message_id, Timestamp now) {
  amqp::Message m;
  m.body = std::move(body);
  m.type = std::string(schema);
  m.message_id = std::move(message_id);
  m.timestamp = seconds(now);
  return m;
}

}  // namespace

amqp::Message store_message(const StoreRecord& record, Timestamp now) {
  return json_message(to_json(record), kSchemaStore, record.pointer_id, now);
}

amqp::Message pointer_message(std::string pointer_json, const std::string& pointer_id, Timestamp now) {
  return json_message(std::move(pointer_json), kSchemaPointer, pointer_id, now);
}

amqp::Message ack_message(std::string ack_json, const std::string& pointer_id, const std::string& recipient,
                          Timestamp now) {
  return json_message(std::move(ack_json), kSchemaAck, ack_message_id(pointer_id, recipient), now);
}

amqp::Message inline_message(InlinePayload p, Timestamp now) {
  amqp::Message m;
  m.body = std::move(p.body);
  m.type = std::string(kTypeInline);
  m.content_type = std::move(p.content_type);
  m.message_id = std::move(p.pointer_id);
  m.timestamp = seconds(now);
  m.headers[std::string(kHeaderEncoding)] = std::string(to_string(p.encoding));
  m.headers[std::string(kHeaderSha256)] = std::move(p.sha256);
  m.headers[std::string(kHeaderSizeRaw)] = std::to_string(p.size_raw);
  if (p.name && is_valid_utf8(*p.name)) {
    m.headers[std::string(kHeaderName)] = *p.name;
  } else if (p.name) {
    m.headers[std::string(kHeaderNameB64)] = base64_encode(*p.name);  // lossless, see protocol.h
  }
  return m;
}

amqp::Message dead_letter_copy(amqp::Message original, const std::string& reason, const DeadLetterOrigin& origin) {
  original.headers[std::string(kHeaderError)] = reason;
  original.headers[std::string(kHeaderSourceQueue)] = origin.source_queue;
  original.headers[std::string(kHeaderRecipient)] = origin.refused_by;
  if (!origin.rule.empty()) original.headers[std::string(kHeaderRule)] = origin.rule;
  return original;
}

}  // namespace claimcheck
