// The consumer's delivery bookkeeping (src/consume/delivery_book.h) driven by canned event sequences:
// deliveries, publishes and their confirms/nacks in the orders the broker can produce them.
#include <gtest/gtest.h>

#include <vector>

#include "consume/delivery_book.h"

namespace cc = claimcheck;
using cc::detail::DeliveryBook;
using cc::detail::Settlement;

namespace {

cc::amqp::Envelope envelope(std::uint64_t delivery_tag, const std::string& message_id) {
  cc::amqp::Envelope e;
  e.delivery_tag = delivery_tag;
  e.message.message_id = message_id;
  return e;
}

}  // namespace

TEST(DeliveryBook, TokensAreDistinctAndCountInFlight) {
  DeliveryBook book;
  const auto a = book.open(envelope(1, "m1"));
  const auto b = book.open(envelope(2, "m2"));
  EXPECT_NE(a, 0U);
  EXPECT_NE(a, b);
  EXPECT_EQ(book.in_flight(), 2U);
  ASSERT_NE(book.find(b), nullptr);
  EXPECT_EQ(book.find(b)->env.message.message_id, "m2");
  EXPECT_EQ(book.find(12345), nullptr);
}

TEST(DeliveryBook, SettlesOnTheLastOfTwoConfirmsWithAnAck) {
  DeliveryBook book;
  const auto t = book.open(envelope(7, "m"));
  book.find(t)->dead_lettered = true;  // dead-letter copy + rejected ack: two publishes
  book.find(t)->rejected_ack = true;
  book.await_confirm(t, 100);
  book.await_confirm(t, 101);
  EXPECT_FALSE(book.settle_if_confirmed(t).has_value());
  EXPECT_FALSE(book.on_confirm(101, false).has_value());  // confirms may come in any order
  auto s = book.on_confirm(100, false);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->token, t);
  EXPECT_FALSE(s->requeue);
  EXPECT_EQ(s->state.env.delivery_tag, 7U);
  EXPECT_TRUE(book.empty());
  EXPECT_EQ(book.settled(), 1U);
  cc::ConsumeReport r;
  DeliveryBook::tally(*s, r);
  EXPECT_EQ(r.dead_lettered, 1U);
  EXPECT_EQ(r.rejected, 1U);
  EXPECT_EQ(r.processed, 0U);
  EXPECT_EQ(r.requeued, 0U);
}

TEST(DeliveryBook, ANackOfOnePublishRequeuesOnceAllAreIn) {
  DeliveryBook book;
  const auto t = book.open(envelope(1, "m"));
  book.await_confirm(t, 5);
  book.await_confirm(t, 6);
  EXPECT_FALSE(book.on_confirm(5, true).has_value());  // nacked: still waits for 6
  ASSERT_NE(book.find(t), nullptr);
  EXPECT_TRUE(book.find(t)->publish_failed);
  auto s = book.on_confirm(6, false);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->requeue);
  cc::ConsumeReport r;
  DeliveryBook::tally(*s, r);
  EXPECT_EQ(r.requeued, 1U);
  EXPECT_EQ(r.dead_lettered, 0U);
}

TEST(DeliveryBook, ConfirmsForUnknownOrSettledDeliveriesAreIgnored) {
  DeliveryBook book;
  EXPECT_FALSE(book.on_confirm(42, false).has_value());  // e.g. a publish of an earlier life
  const auto t = book.open(envelope(1, "m"));
  book.await_confirm(t, 9);
  auto forced = book.settle_now(t, true);  // the job failed while its publish was outstanding
  ASSERT_TRUE(forced.has_value());
  EXPECT_TRUE(forced->requeue);
  EXPECT_FALSE(book.token_for(9).has_value());
  EXPECT_FALSE(book.on_confirm(9, false).has_value());  // late confirm: settled once only
  EXPECT_FALSE(book.settle_now(t, false).has_value());
  EXPECT_EQ(book.settled(), 1U);
}

TEST(DeliveryBook, APublishThatCouldNotBeSentRequeues) {
  DeliveryBook book;
  const auto t = book.open(envelope(3, "m"));
  book.mark_failed(t);  // client.publish() returned an error: no confirm will come
  auto s = book.settle_if_confirmed(t);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->requeue);
}

TEST(DeliveryBook, AProcessedInlineMessageSettlesAtOnceAndCountsItsBytes) {
  DeliveryBook book;
  const auto t = book.open(envelope(4, "inline-1"));
  auto* d = book.find(t);
  d->inlined = true;
  d->processed = true;
  d->size_raw = 1000;
  d->size_stored = 400;
  auto s = book.settle_now(t, false);
  ASSERT_TRUE(s.has_value());
  cc::ConsumeReport r;
  DeliveryBook::tally(*s, r);
  EXPECT_EQ(r.processed, 1U);
  EXPECT_EQ(r.inlined, 1U);
  EXPECT_EQ(r.bytes_raw, 1000U);
  EXPECT_EQ(r.bytes_stored, 400U);
}

TEST(DeliveryBook, AJournalHitAcksAfterItsResentAckIsConfirmed) {
  DeliveryBook book;
  const auto t = book.open(envelope(8, "p"));
  book.find(t)->known = true;
  book.await_confirm(t, 77);
  EXPECT_EQ(book.token_for(77), t);
  auto s = book.on_confirm(77, false);
  ASSERT_TRUE(s.has_value());
  EXPECT_FALSE(s->requeue);
  cc::ConsumeReport r;
  DeliveryBook::tally(*s, r);
  EXPECT_EQ(r.already_processed, 1U);
  EXPECT_EQ(r.processed, 0U);
}

TEST(DeliveryBook, DeliveriesSettleIndependently) {
  DeliveryBook book;
  const auto a = book.open(envelope(1, "a"));
  const auto b = book.open(envelope(2, "b"));
  book.await_confirm(a, 1);
  book.await_confirm(b, 2);
  auto sb = book.on_confirm(2, false);
  ASSERT_TRUE(sb.has_value());
  EXPECT_EQ(sb->token, b);
  EXPECT_EQ(book.in_flight(), 1U);
  ASSERT_NE(book.find(a), nullptr);
  EXPECT_EQ(book.find(a)->confirms_pending, 1U);
}

// Shutdown while a message and its redelivery are both in flight (the broker redelivered it after a
// reconnect, the old delivery's work still running): each is its own delivery, settle_now() settles every one
// exactly once with requeue, and the confirms that arrive afterwards settle nothing again.
TEST(DeliveryBook, ARedeliveryDuringShutdownIsSettledOnceLikeTheOriginal) {
  DeliveryBook book;
  const auto first = book.open(envelope(3, "m"));
  cc::amqp::Envelope again = envelope(11, "m");
  again.redelivered = true;
  const auto second = book.open(std::move(again));
  book.await_confirm(first, 20);   // the first one's ack is out, unconfirmed
  book.await_confirm(second, 21);  // so is the redelivery's (same pointer, idempotent downstream)
  std::vector<Settlement> done;
  for (auto t : {first, second})
    if (auto s = book.settle_now(t, true)) done.push_back(std::move(*s));  // shutdown: requeue what is open
  ASSERT_EQ(done.size(), 2U);
  EXPECT_EQ(done[0].state.env.delivery_tag, 3U);
  EXPECT_EQ(done[1].state.env.delivery_tag, 11U);
  EXPECT_TRUE(done[1].state.env.redelivered);
  for (const auto& s : done) EXPECT_TRUE(s.requeue);
  EXPECT_TRUE(book.empty());
  EXPECT_FALSE(book.on_confirm(20, false).has_value());
  EXPECT_FALSE(book.on_confirm(21, false).has_value());
  EXPECT_FALSE(book.settle_now(first, true).has_value());
  EXPECT_EQ(book.settled(), 2U);
  cc::ConsumeReport r;
  for (const auto& s : done) DeliveryBook::tally(s, r);
  EXPECT_EQ(r.requeued, 2U);
  EXPECT_EQ(r.processed, 0U);
}
