#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "amqp/properties.h"
#include "amqp/reply.h"
#include "claimcheck/amqp/client.h"
#include "claimcheck/amqp/types.h"
#include "claimcheck/core/credentials.h"

using namespace claimcheck;
using namespace claimcheck::amqp;

namespace {
AmqpConfig good_config() {
  AmqpConfig c;
  c.urls = {"amqp://u:secret@127.0.0.1:5672/%2F"};
  return c;
}
}  // namespace

TEST(AmqpUrls, ParseListTrimsAndKeepsOrder) {
  auto v = split_url_list(" amqp://a:1@h1/%2F , amqps://h2:5671 ,,amqp://h3 ");
  ASSERT_EQ(v.size(), 3U);
  EXPECT_EQ(v[0], "amqp://a:1@h1/%2F");
  EXPECT_EQ(v[1], "amqps://h2:5671");
  EXPECT_EQ(v[2], "amqp://h3");
  EXPECT_TRUE(split_url_list("").empty());
  EXPECT_TRUE(split_url_list(" , ").empty());
  EXPECT_EQ(split_url_list("amqp://x").size(), 1U);
}

TEST(AmqpUrls, RedactHidesPasswordOnly) {
  EXPECT_EQ(redact_url("amqp://user:s3cr3t@host:5672/%2F"), "amqp://user:***@host:5672/%2F");
  EXPECT_EQ(redact_url("amqps://user:p%40ss@host"), "amqps://user:***@host");
  EXPECT_EQ(redact_url("amqp://user@host/vh"), "amqp://user@host/vh");
  EXPECT_EQ(redact_url("amqp://host:5672"), "amqp://host:5672");
  EXPECT_EQ(redact_url("not a url"), "not a url");
  // '@' in the path is not userinfo.
  EXPECT_EQ(redact_url("amqp://host/v@h"), "amqp://host/v@h");
}

// Malformed URLs end up in validate()'s error text: their password must be masked too.
TEST(AmqpUrl, RedactMalformedUrlsHidesPassword) {
  EXPECT_EQ(redact_url("amqp://user:ab/s3cr3t@host:5672/%2F"), "amqp://user:***@host:5672/%2F");
  EXPECT_EQ(redact_url("amqp://user:ab?s3cr3t@host"), "amqp://user:***@host");
  EXPECT_EQ(redact_url("amqp://user:ab#s3cr3t@host"), "amqp://user:***@host");
  EXPECT_EQ(redact_url("user:s3cr3t@host:5672/%2F"), "user:***@host:5672/%2F");
  for (const char* bad : {"amqp://user:ab/s3cr3t@127.0.0.1:5672/%2F", "user:s3cr3t@127.0.0.1:5672/%2F",
                          "amqp:/user:s3cr3t@127.0.0.1:5672/%2F"}) {
    AmqpConfig c = good_config();
    c.urls = {bad};
    auto r = c.validate();
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().to_string().find("s3cr3t"), std::string::npos) << r.error().to_string();
  }
}

TEST(AmqpConfig, ValidateAcceptsDefaultsWithUrl) { EXPECT_TRUE(good_config().validate().has_value()); }

TEST(AmqpConfig, ValidateRejectsBadFieldsWithoutLeakingPassword) {
  AmqpConfig c;
  auto r = c.validate();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);

  c = good_config();
  c.urls.push_back("http://u:topsecret@host/");
  r = c.validate();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(r.error().message.find("urls[1]"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().to_string().find("topsecret"), std::string::npos) << r.error().to_string();

  c = good_config();
  c.heartbeat = std::chrono::seconds(70000);
  EXPECT_FALSE(c.validate().has_value());
  c = good_config();
  c.connect_timeout = std::chrono::milliseconds(0);
  EXPECT_FALSE(c.validate().has_value());
  c = good_config();
  c.reconnect.max = std::chrono::milliseconds(10);
  c.reconnect.initial = std::chrono::milliseconds(100);
  EXPECT_FALSE(c.validate().has_value());
  c = good_config();
  c.reconnect.max_attempts = 0;
  EXPECT_FALSE(c.validate().has_value());
  c = good_config();
  c.connect_attempts = 0;
  EXPECT_FALSE(c.validate().has_value());
}

namespace {
amqp_rpc_reply_t server_close(bool connection_level, std::uint16_t code, const char* text,
                              amqp_connection_close_t* cc, amqp_channel_close_t* ch) {
  amqp_rpc_reply_t r{};
  r.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
  if (connection_level) {
    cc->reply_code = code;
    cc->reply_text = amqp_cstring_bytes(text);
    r.reply.id = AMQP_CONNECTION_CLOSE_METHOD;
    r.reply.decoded = cc;
  } else {
    ch->reply_code = code;
    ch->reply_text = amqp_cstring_bytes(text);
    r.reply.id = AMQP_CHANNEL_CLOSE_METHOD;
    r.reply.decoded = ch;
  }
  return r;
}
}  // namespace

TEST(AmqpReply, ServerCodesMapToErrorCodes) {
  amqp_connection_close_t cc{};
  amqp_channel_close_t ch{};
  auto e = map_amqp_reply(server_close(true, 403, "ACCESS_REFUSED - Login was refused", &cc, &ch), "login");
  EXPECT_EQ(e.code, ErrorCode::PermissionDenied);
  EXPECT_EQ(e.detail_code, "403");
  EXPECT_EQ(e.origin, claimcheck::Origin::Amqp);
  EXPECT_EQ(e.message, "login: ACCESS_REFUSED - Login was refused");
  EXPECT_FALSE(e.is_retryable());

  e = map_amqp_reply(server_close(false, 404, "NOT_FOUND - no queue 'x'", &cc, &ch));
  EXPECT_EQ(e.code, ErrorCode::NotFound);
  EXPECT_EQ(e.detail_code, "404");
  e = map_amqp_reply(server_close(false, 406, "PRECONDITION_FAILED - inequivalent arg", &cc, &ch));
  EXPECT_EQ(e.code, ErrorCode::FailedPrecondition);
  e = map_amqp_reply(server_close(true, 320, "CONNECTION_FORCED - closed via management plugin", &cc, &ch));
  EXPECT_EQ(e.code, ErrorCode::Unavailable);
  EXPECT_TRUE(e.is_retryable());
  e = map_amqp_reply(server_close(true, 530, "NOT_ALLOWED - access to vhost refused", &cc, &ch));
  EXPECT_EQ(e.code, ErrorCode::PermissionDenied);
  e = map_amqp_reply(server_close(true, 541, "INTERNAL_ERROR", &cc, &ch));
  EXPECT_EQ(e.code, ErrorCode::Internal);
}

TEST(AmqpReply, LibraryErrorsMapToUnavailableOrInternal) {
  amqp_rpc_reply_t r{};
  r.reply_type = AMQP_RESPONSE_LIBRARY_EXCEPTION;
  for (int status : {AMQP_STATUS_SOCKET_ERROR, AMQP_STATUS_CONNECTION_CLOSED, AMQP_STATUS_TIMEOUT,
                     AMQP_STATUS_HEARTBEAT_TIMEOUT, AMQP_STATUS_TCP_ERROR, AMQP_STATUS_SOCKET_CLOSED,
                     AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED}) {
    r.library_error = status;
    auto e = map_amqp_reply(r, "x");
    EXPECT_EQ(e.code, ErrorCode::Unavailable) << status;
    EXPECT_FALSE(e.detail_code.empty());
  }
  r.library_error = AMQP_STATUS_SSL_PEER_VERIFY_FAILED;
  EXPECT_EQ(map_amqp_reply(r).code, ErrorCode::PermissionDenied);
  r.library_error = AMQP_STATUS_NO_MEMORY;
  EXPECT_EQ(map_amqp_reply(r).code, ErrorCode::Internal);
  r.library_error = AMQP_STATUS_BAD_URL;
  EXPECT_EQ(map_amqp_reply(r).code, ErrorCode::InvalidArgument);

  amqp_rpc_reply_t normal{};
  normal.reply_type = AMQP_RESPONSE_NORMAL;
  EXPECT_EQ(map_amqp_reply(normal).code, ErrorCode::Ok);
  amqp_rpc_reply_t none{};
  none.reply_type = AMQP_RESPONSE_NONE;
  EXPECT_EQ(map_amqp_reply(none).code, ErrorCode::Internal);
}

TEST(AmqpClient, UnreachableBrokerIsUnavailableAndBounded) {
  AmqpConfig c;
  c.urls = {"amqp://u:pw@127.0.0.1:1/%2F", "amqp://u:pw@127.0.0.1:2/%2F"};  // nothing listens there
  c.connect_attempts = 2;
  c.reconnect.initial = std::chrono::milliseconds(10);
  c.reconnect.max = std::chrono::milliseconds(20);
  c.connect_timeout = std::chrono::milliseconds(500);
  Client client(c);
  auto start = std::chrono::steady_clock::now();
  auto r = client.connect();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(r.error().to_string().find(":pw@"), std::string::npos) << r.error().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.epoch(), 0U);
  // Without a connection, publishing and polling are refused rather than silently queued.
  auto p = client.publish("ex", "rk", Message{}, false);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code, ErrorCode::FailedPrecondition);
  auto e = client.poll(std::chrono::milliseconds(1));
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, ErrorCode::FailedPrecondition);
}

TEST(AmqpClient, InvalidConfigFailsConnect) {
  Client client(AmqpConfig{});
  auto r = client.connect();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
}

TEST(AmqpProperties, PublishSetsAuthenticatedUserIdAndIgnoresMessageField) {
  Message m;
  m.body = "{}";
  m.type = "s3-ack-v1";
  m.message_id = "p:r";
  m.timestamp = 1700000000;
  m.user_id = "forged";  // ignored on publish: the identity is the connection's
  m.headers["x-a"] = "1";
  detail::PublishProperties pp;
  detail::build_properties(m, "branch1", 7, &pp);
  const amqp_basic_properties_t& p = pp.props;
  ASSERT_TRUE(p._flags & AMQP_BASIC_USER_ID_FLAG);
  EXPECT_EQ(detail::str_of(p.user_id), "branch1");
  EXPECT_EQ(detail::str_of(p.type), "s3-ack-v1");
  EXPECT_EQ(detail::str_of(p.message_id), "p:r");
  EXPECT_EQ(p.delivery_mode, 2);
  EXPECT_EQ(p.timestamp, 1700000000U);
  ASSERT_TRUE(p._flags & AMQP_BASIC_HEADERS_FLAG);
  EXPECT_EQ(p.headers.num_entries, 2);  // x-a + the publish id

  detail::PublishProperties none;
  detail::build_properties(m, "", 0, &none);
  EXPECT_FALSE(none.props._flags & AMQP_BASIC_USER_ID_FLAG);
  EXPECT_EQ(none.props.headers.num_entries, 1);
}

TEST(AmqpProperties, DeliveryCopiesUserIdAndStripsPublishId) {
  Message m;
  m.type = "s3-store-v1";
  m.headers["x-delivery-count"] = "3";
  detail::PublishProperties pp;
  detail::build_properties(m, "producer", 42, &pp);
  Message out;
  out.user_id = "stale";
  std::int64_t count = -1;
  EXPECT_EQ(detail::read_properties(pp.props, &out, &count), 42U);
  EXPECT_EQ(out.user_id, "producer");
  EXPECT_EQ(out.type, "s3-store-v1");
  EXPECT_EQ(out.content_type, "application/json");
  EXPECT_TRUE(out.persistent);
  EXPECT_EQ(count, 3);
  EXPECT_EQ(out.headers.count(detail::kPublishIdHeader), 0U);

  amqp_basic_properties_t bare{};  // a message without user_id (e.g. the reference demo's consumers)
  EXPECT_EQ(detail::read_properties(bare, &out, nullptr), 0U);
  EXPECT_EQ(out.user_id, "");
  EXPECT_FALSE(out.persistent);
}

TEST(AmqpUrls, UrlUserIsTheDecodedUserPart) {
  EXPECT_EQ(url_user("amqp://branch1:pw@127.0.0.1:5672/%2F"), "branch1");
  EXPECT_EQ(url_user("amqp://br%40nch:pw@h/%2F"), "br@nch");
  EXPECT_EQ(url_user("amqp://h:5672"), "guest");
  EXPECT_EQ(url_user("http://x"), "");
}
