#include "amqp/properties.h"

#include <exception>

namespace claimcheck::amqp::detail {

namespace {

// Renders a scalar field value as text; false for arrays, tables, decimals and void (skipped).
bool field_to_string(const amqp_field_value_t& v, std::string* out) {
  switch (v.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: *out = str_of(v.value.bytes); return true;
    case AMQP_FIELD_KIND_BOOLEAN: *out = v.value.boolean ? "true" : "false"; return true;
    case AMQP_FIELD_KIND_I8: *out = std::to_string(v.value.i8); return true;
    case AMQP_FIELD_KIND_U8: *out = std::to_string(v.value.u8); return true;
    case AMQP_FIELD_KIND_I16: *out = std::to_string(v.value.i16); return true;
    case AMQP_FIELD_KIND_U16: *out = std::to_string(v.value.u16); return true;
    case AMQP_FIELD_KIND_I32: *out = std::to_string(v.value.i32); return true;
    case AMQP_FIELD_KIND_U32: *out = std::to_string(v.value.u32); return true;
    case AMQP_FIELD_KIND_I64: *out = std::to_string(v.value.i64); return true;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP: *out = std::to_string(v.value.u64); return true;
    case AMQP_FIELD_KIND_F32: *out = std::to_string(v.value.f32); return true;
    case AMQP_FIELD_KIND_F64: *out = std::to_string(v.value.f64); return true;
    default: return false;
  }
}

template <typename Int>
Int parse_or_zero(const std::string& s, Int (*conv)(const std::string&, std::size_t*, int)) {
  try {
    return conv(s, nullptr, 10);
  } catch (const std::exception&) {
    return 0;
  }
}

void set_string(amqp_flags_t flag, const std::string& value, amqp_bytes_t* field, amqp_basic_properties_t* p) {
  if (value.empty()) return;
  p->_flags |= flag;
  *field = bytes_of(value);
}

std::string get_string(const amqp_basic_properties_t& p, amqp_flags_t flag, amqp_bytes_t field) {
  return (p._flags & flag) ? str_of(field) : std::string();
}

}  // namespace

void build_properties(const Message& m, const std::string& user_id, std::uint64_t publish_id,
                      PublishProperties* out) {
  amqp_basic_properties_t& p = out->props;
  p = amqp_basic_properties_t{};
  p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  p.delivery_mode = m.persistent ? 2 : 1;
  set_string(AMQP_BASIC_CONTENT_TYPE_FLAG, m.content_type, &p.content_type, &p);
  set_string(AMQP_BASIC_TYPE_FLAG, m.type, &p.type, &p);
  set_string(AMQP_BASIC_MESSAGE_ID_FLAG, m.message_id, &p.message_id, &p);
  out->user_id_ = user_id;
  set_string(AMQP_BASIC_USER_ID_FLAG, out->user_id_, &p.user_id, &p);
  if (m.timestamp != 0) {
    p._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
    p.timestamp = static_cast<std::uint64_t>(m.timestamp);
  }
  out->headers_.clear();
  out->headers_.reserve(m.headers.size() + 1);
  for (const auto& [k, v] : m.headers) out->headers_.push_back(utf8_entry(k, v));
  out->id_key_ = kPublishIdHeader;
  out->id_value_ = std::to_string(publish_id);
  if (publish_id > 0) out->headers_.push_back(utf8_entry(out->id_key_, out->id_value_));
  if (!out->headers_.empty()) {
    p._flags |= AMQP_BASIC_HEADERS_FLAG;
    p.headers.num_entries = static_cast<int>(out->headers_.size());
    p.headers.entries = out->headers_.data();
  }
}

std::uint64_t read_properties(const amqp_basic_properties_t& p, Message* out, std::int64_t* delivery_count) {
  std::uint64_t publish_id = 0;
  out->content_type = get_string(p, AMQP_BASIC_CONTENT_TYPE_FLAG, p.content_type);
  out->type = get_string(p, AMQP_BASIC_TYPE_FLAG, p.type);
  out->message_id = get_string(p, AMQP_BASIC_MESSAGE_ID_FLAG, p.message_id);
  out->user_id = get_string(p, AMQP_BASIC_USER_ID_FLAG, p.user_id);
  out->persistent = (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) && p.delivery_mode == 2;
  out->timestamp = (p._flags & AMQP_BASIC_TIMESTAMP_FLAG) ? static_cast<std::int64_t>(p.timestamp) : 0;
  out->headers.clear();
  if (delivery_count != nullptr) *delivery_count = 0;
  if ((p._flags & AMQP_BASIC_HEADERS_FLAG) == 0) return 0;
  for (int i = 0; i < p.headers.num_entries; ++i) {
    const amqp_table_entry_t& e = p.headers.entries[i];
    std::string key = str_of(e.key);
    std::string value;
    if (!field_to_string(e.value, &value)) continue;
    if (key == kPublishIdHeader) {
      publish_id = parse_or_zero<unsigned long long>(value, &std::stoull);
      continue;
    }
    if (key == "x-delivery-count" && delivery_count != nullptr)
      *delivery_count = parse_or_zero<long long>(value, &std::stoll);
    out->headers[key] = std::move(value);
  }
  return publish_id;
}

}  // namespace claimcheck::amqp::detail
