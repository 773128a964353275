// handler_sink_factory: an in-process C++ callback as the consumer's handler (consumer.h). The verdicts map
// onto the consumer's one classify(Error): Processed → ok, Rejected → Permanent, Retry/throw → Transient.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "claimcheck/consume/consumer.h"

namespace cc = claimcheck;
using cc::FailureKind;
using cc::HandlerResult;

namespace {

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

cc::PayloadInfo info_of(std::uint64_t size, const std::string& name = "a.txt") {
  cc::PayloadInfo info;
  info.pointer_id = "3f0c1a52-6a43-4f7e-9d0b-1b2c3d4e5f60";
  info.name = name;
  info.content_type = "text/plain";
  info.size_raw = size;
  return info;
}

/// Feeds `chunks` through one sink of `factory` and returns finish()'s result.
cc::Result<void> deliver(const cc::SinkFactory& factory, const cc::PayloadInfo& info,
                         std::initializer_list<std::string> chunks) {
  CC_TRY(sink, factory(info));
  for (const auto& c : chunks) CC_TRY_VOID((*sink)->write(bytes_of(c)));
  return (*sink)->finish();
}

}  // namespace

TEST(HandlerSink, ProcessedGetsTheWholePayloadOnceAtFinish) {
  int calls = 0;
  std::string got, got_name;
  auto factory = cc::handler_sink_factory([&](const cc::PayloadInfo& info, std::span<const std::byte> b) {
    ++calls;
    got.assign(reinterpret_cast<const char*>(b.data()), b.size());
    got_name = info.name.value_or("");
    return HandlerResult::processed();
  });
  auto sink = factory(info_of(11));
  ASSERT_TRUE(sink.has_value());
  ASSERT_TRUE((*sink)->write(bytes_of("hello ")).has_value());
  ASSERT_TRUE((*sink)->write(bytes_of("world")).has_value());
  EXPECT_EQ(calls, 0) << "not before every check passed (finish)";
  ASSERT_TRUE((*sink)->finish().has_value());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(got, "hello world");
  EXPECT_EQ(got_name, "a.txt");
}

TEST(HandlerSink, RejectedIsPermanentWithItsReason) {
  auto factory = cc::handler_sink_factory(
      [](const cc::PayloadInfo&, std::span<const std::byte>) { return HandlerResult::rejected("unknown customer 42"); });
  auto r = deliver(factory, info_of(3), {"abc"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_EQ(r.error().origin, claimcheck::Origin::Handler);
  EXPECT_EQ(r.error().message, "handler rejected: unknown customer 42");
  EXPECT_EQ(cc::classify_failure(r.error()), FailureKind::Permanent);
}

TEST(HandlerSink, RetryAndThrowAreTransient) {
  auto retry = cc::handler_sink_factory(
      [](const cc::PayloadInfo&, std::span<const std::byte>) { return HandlerResult::retry("db locked"); });
  auto r = deliver(retry, info_of(1), {"x"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, cc::ErrorCode::Unavailable);
  EXPECT_EQ(r.error().message, "handler asked to retry: db locked");
  EXPECT_EQ(cc::classify_failure(r.error()), FailureKind::Transient);

  auto thrower = cc::handler_sink_factory([](const cc::PayloadInfo&, std::span<const std::byte>) -> HandlerResult {
    throw std::runtime_error("connection reset");
  });
  auto t = deliver(thrower, info_of(1), {"x"});
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().message, "handler asked to retry: handler threw: connection reset");
  EXPECT_EQ(cc::classify_failure(t.error()), FailureKind::Transient);
}

TEST(HandlerSink, PayloadAboveTheLimitIsRejectedBeforeAnyByteAndWhenItGrows) {
  int calls = 0;
  auto factory = cc::handler_sink_factory(
      [&](const cc::PayloadInfo&, std::span<const std::byte>) { ++calls; return HandlerResult::processed(); }, 10);
  auto big = factory(info_of(11));
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code, cc::ErrorCode::InvalidArgument);
  EXPECT_EQ(big.error().message, "payload of 11 bytes is larger than the in-memory handler's limit of 10 bytes");
  EXPECT_EQ(cc::classify_failure(big.error()), FailureKind::Permanent);
  // Declared small, arriving larger (the decoder would refuse it too): the write fails, nothing is handled.
  auto r = deliver(factory, info_of(4), {"0123456", "789x"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "payload of 11 bytes is larger than the in-memory handler's limit of 10 bytes");
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(deliver(factory, info_of(10), {"01234", "56789"}).has_value());
  EXPECT_EQ(calls, 1);
}

TEST(HandlerSink, EmptyHandlerRejectsEveryPayload) {
  auto factory = cc::handler_sink_factory(cc::PayloadHandler{});
  auto s = factory(info_of(1));
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message, "no handler given");
  EXPECT_EQ(cc::classify_failure(s.error()), FailureKind::Permanent);
}
