#pragma once
/// claimcheck wire builders — every AMQP message claimcheck publishes, built in one place from the protocol
/// types (issue 10 item 4; DESIGN.md §2): store records, pointers, acks, inline payloads and dead-letter
/// copies, with every `x-claimcheck-*` header name defined here or in protocol.h (the inline headers, which
/// the consumer's parser shares).
///
/// Usage:
///   amqp::Message m = store_message(record, utc_now());
///   client.publish(names.ack_exchange, names.store_routing_key, m, true);
///   amqp::Message dl = dead_letter_copy(env.message, "field 'key': ...", {queue, "coordinator", ""});

#include <optional>
#include <string>

#include "claimcheck/amqp/types.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/time.h"

namespace claimcheck {

/// Header naming the queue a dead-lettered copy came from.
inline constexpr std::string_view kHeaderSourceQueue = "x-claimcheck-source-queue";
/// Header naming who dead-lettered a message: the recipient id, or "coordinator".
inline constexpr std::string_view kHeaderRecipient = "x-claimcheck-recipient";
/// Header naming the trust rule a refused message broke (a metric label: "ack_sha256", "ack_sender", …).
inline constexpr std::string_view kHeaderRule = "x-claimcheck-rule";

/// `s3-store-v1` message: body to_json(record), type = schema, message_id = pointer_id, timestamp `now`
/// (seconds). Pure; does not validate.
[[nodiscard]] amqp::Message store_message(const StoreRecord& record, Timestamp now);

/// `s3-pointer-v1` message from its JSON (`pointer_json` = to_json(pointer), kept by the producer for
/// re-sends): type = schema, message_id = `pointer_id`, timestamp `now`. Pure.
[[nodiscard]] amqp::Message pointer_message(std::string pointer_json, const std::string& pointer_id, Timestamp now);

/// `s3-ack-v1` message from its JSON (to_json(ack), or the journal's recorded copy): type = schema,
/// message_id = ack_message_id(pointer_id, recipient), timestamp `now`. Pure.
[[nodiscard]] amqp::Message ack_message(std::string ack_json, const std::string& pointer_id,
                                        const std::string& recipient, Timestamp now);

/// An inline payload (`inline-v1`, at or below --inline-threshold bytes): the encoded bytes as body.
struct InlinePayload {
  std::string pointer_id;            ///< message id (UUID)
  std::string body;                  ///< the encoded payload bytes
  Encoding encoding = Encoding::Zstd;
  std::string sha256;                ///< of `body`, 64 lowercase hex
  std::uint64_t size_raw = 0;        ///< bytes before encoding
  std::string content_type;          ///< of the decoded payload
  std::optional<std::string> name;   ///< relative name, raw bytes
};

/// The inline message: type kTypeInline, content_type of the payload, headers kHeaderEncoding,
/// kHeaderSha256, kHeaderSizeRaw and the name as kHeaderName (valid UTF-8) or kHeaderNameB64 (base64 of its
/// bytes, lossless), timestamp `now`. Pure.
[[nodiscard]] amqp::Message inline_message(InlinePayload p, Timestamp now);

/// Who dead-letters a message and why it was refused.
struct DeadLetterOrigin {
  std::string source_queue;  ///< the queue it was taken from
  std::string refused_by;    ///< recipient id, or "coordinator"
  std::string rule;          ///< trust rule broken ("" = invalid message, no rule)
};

/// A copy of `original` (body, properties and headers kept) for the dead-letter exchange, with
/// kHeaderError = `reason`, kHeaderSourceQueue, kHeaderRecipient and, when set, kHeaderRule. Pure.
[[nodiscard]] amqp::Message dead_letter_copy(amqp::Message original, const std::string& reason,
                                             const DeadLetterOrigin& origin);

}  // namespace claimcheck
