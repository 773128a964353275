// AckWindow and CaughtUpWatermark, the coordinator AMQP thread's bookkeeping, driven with canned events.
#include <gtest/gtest.h>

#include "coordinate/coordinator_window.h"

using claimcheck::AckWindow;
using claimcheck::CaughtUpWatermark;
using namespace std::chrono_literals;

TEST(AckWindow, AcksOnlyUpToTheFirstUnsettledDelivery) {
  AckWindow w(1);
  for (std::uint64_t t = 1; t <= 5; ++t) w.received(t);
  EXPECT_FALSE(w.take_ackable().has_value());
  EXPECT_TRUE(w.settle(1, 2));
  EXPECT_TRUE(w.settle(1, 3));
  EXPECT_FALSE(w.take_ackable().has_value()) << "tag 1 is not committed yet: acking 3 (multiple) would ack it";
  EXPECT_TRUE(w.settle(1, 1));
  EXPECT_EQ(w.take_ackable(), 3u);
  EXPECT_FALSE(w.take_ackable().has_value()) << "already acknowledged";
  EXPECT_TRUE(w.settle(1, 5));
  EXPECT_FALSE(w.take_ackable().has_value()) << "4 still unsettled";
  EXPECT_FALSE(w.all_settled());
  EXPECT_TRUE(w.settle(1, 4));
  EXPECT_EQ(w.take_ackable(), 5u);
  EXPECT_TRUE(w.all_settled());
  EXPECT_EQ(w.max_tag(), 5u);
}

TEST(AckWindow, StaleEpochAndRejectedDeliveries) {
  AckWindow w(1);
  w.received(1);
  w.received(2);
  w.reset(2);  // reconnect: tags 1, 2 of epoch 1 are void, the broker redelivers them
  EXPECT_FALSE(w.settle(1, 1)) << "a batch committed for the old connection is not acked on the new one";
  EXPECT_EQ(w.max_tag(), 0u);
  w.received(1);
  w.received(2);
  w.forget(2, 1);  // rejected to the DLX instead of settled
  EXPECT_TRUE(w.settle(2, 2));
  EXPECT_EQ(w.take_ackable(), 2u);
  EXPECT_FALSE(w.settle(2, 7)) << "unknown tag";
}

TEST(CaughtUpWatermark, PublishesTheProbeTimeOnceEverythingBeforeItIsSettled) {
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  const auto c = std::chrono::system_clock::time_point{} + 1000h;
  AckWindow w(1);
  CaughtUpWatermark m;
  ASSERT_TRUE(m.wants_probe(t0));
  m.probed(t0, /*queue_empty=*/false, c);
  EXPECT_FALSE(m.wants_probe(t0 + 500ms)) << "at most one probe per second";
  ASSERT_TRUE(m.wants_probe(t0 + 1s));
  m.probed(t0 + 1s, true, c);
  w.received(1);  // still on the wire when the queue looked empty
  EXPECT_FALSE(m.advance(t0 + 1500ms, w, true).has_value()) << "inside the 1 s window";
  w.received(2);
  EXPECT_FALSE(m.advance(t0 + 2s, w, true).has_value()) << "window over: waits for tags 1..2";
  w.received(3);
  EXPECT_TRUE(w.settle(1, 1));
  EXPECT_TRUE(w.settle(1, 2));
  EXPECT_FALSE(m.advance(t0 + 2100ms, w, false).has_value()) << "a batch is still in flight";
  auto published = m.advance(t0 + 2200ms, w, true);
  ASSERT_TRUE(published.has_value()) << "tag 3 came after the window: it does not hold the watermark";
  EXPECT_EQ(*published, c);
  EXPECT_TRUE(m.wants_probe(t0 + 2200ms));
}

TEST(CaughtUpWatermark, ReconnectRestartsFromIdle) {
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  AckWindow w(1);
  CaughtUpWatermark m;
  m.probed(t0, true, std::chrono::system_clock::time_point{} + 5h);
  w.received(9);
  m.reset();
  w.reset(2);
  EXPECT_FALSE(m.advance(t0 + 5s, w, true).has_value()) << "nothing published from a void window";
  EXPECT_TRUE(m.wants_probe(t0 + 5s));
}
