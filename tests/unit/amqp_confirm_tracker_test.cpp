// The publisher-confirm state machine of amqp::Client (src/amqp/confirm_tracker.h), driven with canned
// ack / nack / return / reconnect sequences, no broker.
#include <gtest/gtest.h>

#include "amqp/confirm_tracker.h"

using claimcheck::amqp::Event;
using claimcheck::amqp::Message;
using claimcheck::amqp::detail::ConfirmTracker;
using claimcheck::amqp::detail::kMaxNackResends;
using claimcheck::amqp::detail::kNackDrainTimeout;
using namespace std::chrono_literals;

namespace {

const ConfirmTracker::Clock::time_point t0{};

// Sends every unsent publish, oldest first, like Client::flush_unsent; returns their publish ids.
std::vector<std::uint64_t> send_all(ConfirmTracker& t) {
  std::vector<std::uint64_t> sent;
  for (auto* p = t.next_unsent(0); p != nullptr; p = t.next_unsent(sent.back())) {
    t.mark_sent(p->id);
    sent.push_back(p->id);
  }
  return sent;
}

std::uint64_t add(ConfirmTracker& t, const std::string& body = "b") {
  Message m;
  m.body = body;
  return t.add("x", "rk", m, true);
}

std::string kinds(const std::vector<Event>& ev) {
  std::string s;
  for (const auto& e : ev) {
    s += (e.kind == Event::Kind::Confirmed ? "C" : e.kind == Event::Kind::Failed ? "F" : "?") + std::to_string(e.publish_id) + " ";
  }
  return s;
}

}  // namespace

TEST(ConfirmTracker, AcksSettleSingleAndMultiple) {
  ConfirmTracker t;
  for (int i = 0; i < 4; ++i) add(t);
  EXPECT_EQ(send_all(t), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(t.in_flight(), 4U);
  std::vector<Event> ev;
  t.settle(2, false, false, t0, 200ms, ev);  // tag 2 alone
  t.settle(3, true, false, t0, 200ms, ev);   // tags 1 and 3 (2 already settled)
  EXPECT_EQ(kinds(ev), "C2 C1 C3 ");
  EXPECT_EQ(t.pending(), 1U);
  t.settle(99, false, false, t0, 200ms, ev);  // unknown tag: ignored
  EXPECT_EQ(ev.size(), 3U);
  t.settle(4, false, false, t0, 200ms, ev);
  EXPECT_EQ(t.pending(), 0U);
  EXPECT_EQ(t.in_flight(), 0U);
}

TEST(ConfirmTracker, AReturnMakesTheFollowingAckAFailure) {
  ConfirmTracker t;
  const auto a = add(t), b = add(t);
  send_all(t);
  EXPECT_TRUE(t.mark_returned(a, "312 NO_ROUTE"));
  EXPECT_FALSE(t.mark_returned(77, "312 NO_ROUTE")) << "unknown publish";
  std::vector<Event> ev;
  t.settle(2, true, false, t0, 200ms, ev);
  ASSERT_EQ(ev.size(), 2U);
  EXPECT_EQ(ev[0].publish_id, a);
  EXPECT_EQ(ev[0].kind, Event::Kind::Failed);
  EXPECT_EQ(ev[0].reason, "312 NO_ROUTE");
  EXPECT_EQ(ev[1].publish_id, b);
  EXPECT_EQ(ev[1].kind, Event::Kind::Confirmed);
}

// A nack holds back new sends until the other publishes in flight are settled, then asks for a reconnect;
// on the new channel the nacked publish is sent again with a fresh delivery tag and its ack confirms it.
TEST(ConfirmTracker, ANackDrainsThenResendsOnANewChannel) {
  ConfirmTracker t;
  const auto a = add(t), b = add(t);
  send_all(t);
  std::vector<Event> ev;
  t.settle(1, false, true, t0, 200ms, ev);  // nack of a
  EXPECT_TRUE(ev.empty()) << "a nacked publish is re-sent, not failed";
  EXPECT_TRUE(t.draining());
  const auto c = add(t);
  EXPECT_EQ(t.next_unsent(0)->id, c) << "queued, but the Client sends nothing while draining";
  EXPECT_FALSE(t.drain_due(t0 + 1ms).has_value()) << "b is still in flight";
  t.settle(2, false, false, t0 + 2ms, 200ms, ev);  // ack of b
  EXPECT_EQ(kinds(ev), "C" + std::to_string(b) + " ");
  auto delay = t.drain_due(t0 + 3ms);
  ASSERT_TRUE(delay.has_value());
  EXPECT_EQ(*delay, 200ms) << "one nack: one resend unit";
  EXPECT_FALSE(t.draining());
  t.channel_lost();
  EXPECT_EQ(send_all(t), (std::vector<std::uint64_t>{a, c}));
  ev.clear();
  t.settle(2, true, false, t0, 200ms, ev);  // tags restart at 1 on the new channel
  EXPECT_EQ(kinds(ev), "C" + std::to_string(a) + " C" + std::to_string(c) + " ");
}

TEST(ConfirmTracker, TheDrainTimesOutWhenOtherConfirmsNeverCome) {
  ConfirmTracker t;
  add(t);
  add(t);
  send_all(t);
  std::vector<Event> ev;
  t.settle(1, false, true, t0, 100ms, ev);
  EXPECT_FALSE(t.drain_due(t0 + kNackDrainTimeout - 1ms).has_value());
  EXPECT_TRUE(t.drain_due(t0 + kNackDrainTimeout).has_value());
}

TEST(ConfirmTracker, AMessageNackedTooOftenFails) {
  ConfirmTracker t;
  const auto a = add(t);
  std::vector<Event> ev;
  for (int i = 0; i < kMaxNackResends; ++i) {
    send_all(t);
    t.settle(1, false, true, t0, 10ms, ev);
    ASSERT_TRUE(ev.empty()) << "nack " << i + 1;
    auto d = t.drain_due(t0);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, 10ms * (i + 1)) << "the delay grows with the nacks";
    t.channel_lost();
  }
  send_all(t);
  t.settle(1, false, true, t0, 10ms, ev);
  ASSERT_EQ(ev.size(), 1U);
  EXPECT_EQ(ev[0].publish_id, a);
  EXPECT_EQ(ev[0].kind, Event::Kind::Failed);
  EXPECT_EQ(ev[0].reason, "nack");
  EXPECT_EQ(t.pending(), 0U);
}

// A confirm for a tag of the lost channel must not settle a publish re-sent on the new one.
TEST(ConfirmTracker, AConnectionLossForgetsTagsAndReturns) {
  ConfirmTracker t;
  const auto a = add(t);
  send_all(t);
  EXPECT_TRUE(t.mark_returned(a, "312 NO_ROUTE"));
  t.channel_lost();
  EXPECT_EQ(t.in_flight(), 0U);
  std::vector<Event> ev;
  t.settle(1, false, false, t0, 10ms, ev);
  EXPECT_TRUE(ev.empty()) << "stale tag of the old channel";
  EXPECT_EQ(send_all(t), (std::vector<std::uint64_t>{a}));
  t.settle(1, false, false, t0, 10ms, ev);
  EXPECT_EQ(kinds(ev), "C" + std::to_string(a) + " ") << "the old return is forgotten";
}

TEST(ConfirmTracker, DropAndClear) {
  ConfirmTracker t;
  const auto a = add(t);
  add(t);
  Event e = t.drop(a, "NOT_FOUND - no exchange 'x'");
  EXPECT_EQ(e.kind, Event::Kind::Failed);
  EXPECT_EQ(e.publish_id, a);
  EXPECT_EQ(t.pending(), 1U);
  t.clear();
  EXPECT_EQ(t.pending(), 0U);
  EXPECT_EQ(t.next_unsent(0), nullptr);
  EXPECT_EQ(add(t), 3U) << "publish ids are never reused";
}
