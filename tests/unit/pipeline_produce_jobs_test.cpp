// ProduceJobs, the producer's publish bookkeeping, driven with canned confirm sequences (no broker).
#include <gtest/gtest.h>

#include "produce/produce_jobs.h"

using claimcheck::ProduceAction;
using claimcheck::ProduceJobs;
using Kind = ProduceAction::Kind;

namespace {

const auto kT0 = ProduceJobs::Clock::time_point{} + std::chrono::hours(1);
const auto kDeadline = kT0 + std::chrono::seconds(120);

/// Store record of job 0 published as id 1 and confirmed; pointers to a, b, c published as 2, 3, 4.
ProduceJobs three_pointers_in_flight() {
  ProduceJobs jobs(1, {"a", "b", "c"});
  jobs.store_sent(0, 1, kDeadline);
  auto a = jobs.confirmed(1);
  EXPECT_TRUE(a && a->kind == Kind::PublishPointers && a->job == 0);
  jobs.pointer_sent(0, "a", 2);
  jobs.pointer_sent(0, "b", 3);
  jobs.pointer_sent(0, "c", 4);
  return jobs;
}

}  // namespace

TEST(ProduceJobs, AllConfirmedFinishesOkWithoutDelete) {
  auto jobs = three_pointers_in_flight();
  EXPECT_FALSE(jobs.confirmed(4).has_value());
  EXPECT_FALSE(jobs.confirmed(2).has_value());
  auto done = jobs.confirmed(3);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->kind, Kind::Finished);
  EXPECT_TRUE(done->ok);
  EXPECT_FALSE(done->delete_object);
  EXPECT_EQ(jobs.unconfirmed(), 0u);
  EXPECT_FALSE(jobs.confirmed(3).has_value()) << "a duplicate confirm settles nothing";
}

// Issue 8: b's queue refuses publishes (reject-publish → nack). The payload fails naming b only, and the
// object is NOT deleted: a (already confirmed) and c still need it (invariant S3).
TEST(ProduceJobs, RefusedRecipientIsNamedAndTheObjectStays) {
  auto jobs = three_pointers_in_flight();
  EXPECT_FALSE(jobs.confirmed(2).has_value());
  EXPECT_FALSE(jobs.refused(3, "nack").has_value()) << "c is still unconfirmed";
  auto done = jobs.confirmed(4);
  ASSERT_TRUE(done.has_value());
  EXPECT_FALSE(done->ok);
  EXPECT_FALSE(done->delete_object);
  EXPECT_EQ(done->error,
            "not delivered to recipient 'b': nack (the object stays until the coordinator deletes or expires it)");
}

TEST(ProduceJobs, ConfirmTimeoutNamesOnlyTheUnconfirmedRecipients) {
  auto jobs = three_pointers_in_flight();
  EXPECT_FALSE(jobs.confirmed(3).has_value());
  EXPECT_TRUE(jobs.expire(kDeadline).empty()) << "not past the deadline yet";
  auto out = jobs.expire(kDeadline + std::chrono::milliseconds(1));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].ok);
  EXPECT_FALSE(out[0].delete_object);
  EXPECT_EQ(out[0].error,
            "not delivered to recipient 'a': no publisher confirm within the publish timeout; not delivered to "
            "recipient 'c': no publisher confirm within the publish timeout (the object stays until the "
            "coordinator deletes or expires it)");
  EXPECT_FALSE(jobs.confirmed(2).has_value()) << "a confirm after the timeout settles nothing twice";
  EXPECT_TRUE(jobs.expire(kDeadline + std::chrono::hours(1)).empty());
}

TEST(ProduceJobs, PublishErrorForOneRecipientBeforeTheOthersAreSent) {
  ProduceJobs jobs(1, {"a", "b"});
  jobs.store_sent(0, 1, kDeadline);
  ASSERT_TRUE(jobs.confirmed(1).has_value());
  EXPECT_FALSE(jobs.pointer_refused(0, "a", "channel closed").has_value()) << "b not published yet";
  jobs.pointer_sent(0, "b", 2);
  auto done = jobs.confirmed(2);
  ASSERT_TRUE(done.has_value());
  EXPECT_FALSE(done->ok);
  EXPECT_FALSE(done->delete_object);
  EXPECT_NE(done->error.find("recipient 'a': channel closed"), std::string::npos) << done->error;
}

// Before the store record is confirmed nobody was told of the object: a failure deletes it.
TEST(ProduceJobs, StoreRecordRefusedOrUnconfirmedDeletesTheObject) {
  ProduceJobs jobs(2, {"a"});
  jobs.store_sent(0, 1, kDeadline);
  jobs.store_sent(1, 2, kDeadline);
  auto refused = jobs.refused(1, "nack");
  ASSERT_TRUE(refused.has_value());
  EXPECT_FALSE(refused->ok);
  EXPECT_TRUE(refused->delete_object);
  EXPECT_EQ(refused->error, "store record not accepted by the broker: nack");
  auto late = jobs.expire(kDeadline + std::chrono::seconds(1));
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].job, 1u);
  EXPECT_TRUE(late[0].delete_object);
  EXPECT_FALSE(jobs.confirmed(2).has_value()) << "the store confirm came too late: no pointers";
}

TEST(ProduceJobs, ConnectionLostForGoodAbandonsWhatIsInFlight) {
  ProduceJobs jobs(3, {"a"});
  jobs.store_sent(0, 1, kDeadline);  // store unconfirmed → delete
  jobs.store_sent(1, 2, kDeadline);
  ASSERT_TRUE(jobs.confirmed(2).has_value());
  jobs.pointer_sent(1, "a", 3);      // pointer unconfirmed → keep
  auto out = jobs.abandon("connection lost");
  ASSERT_EQ(out.size(), 2u) << "job 2 never started";
  EXPECT_TRUE(out[0].delete_object);
  EXPECT_FALSE(out[1].delete_object);
  EXPECT_EQ(out[1].error,
            "not delivered to recipient 'a': connection lost (the object stays until the coordinator deletes or "
            "expires it)");
  EXPECT_FALSE(jobs.finished(2));
}

TEST(ProduceJobs, WorkerFailureAndStorageCheck) {
  ProduceJobs jobs(3, {"a"});
  auto f = jobs.failed(0, "PUT failed", false);
  EXPECT_FALSE(f.ok);
  EXPECT_FALSE(f.delete_object) << "the worker removed what it stored";
  auto g = jobs.failed(1, "publish store record: closed", true);
  EXPECT_TRUE(g.delete_object);
  auto c = jobs.finished_unpublished(2);
  EXPECT_TRUE(c.ok);
  EXPECT_TRUE(c.delete_object);
}

TEST(ProduceJobs, InlinePayloadNeverDeletesAndNamesRefusedRecipients) {
  ProduceJobs jobs(1, {"a", "b"});
  jobs.inline_started(0, kDeadline);
  jobs.pointer_sent(0, "a", 7);
  jobs.pointer_sent(0, "b", 8);
  EXPECT_FALSE(jobs.refused(7, "NO_ROUTE").has_value());
  auto done = jobs.confirmed(8);
  ASSERT_TRUE(done.has_value());
  EXPECT_FALSE(done->ok);
  EXPECT_FALSE(done->delete_object);
  EXPECT_EQ(done->error, "not delivered to recipient 'a': NO_ROUTE");
}

// Outbox re-sends (fixed pointer id): an object an earlier run may have named in a confirmed store record is
// never deleted, and a resumed payload (store confirmed earlier) publishes pointers only.
TEST(ProduceJobs, FixedIdObjectsAreNeverDeletedAndResumedJobsNeedOnlyPointers) {
  ProduceJobs jobs(0, {"a", "b"});
  jobs.add(7);
  jobs.store_sent(7, 1, kDeadline, /*deletable=*/false);
  auto refused = jobs.refused(1, "nack");
  ASSERT_TRUE(refused.has_value());
  EXPECT_FALSE(refused->ok);
  EXPECT_FALSE(refused->delete_object) << "not deletable: an earlier store record may name it";
  jobs.add(8);
  jobs.resumed(8, kDeadline);
  jobs.pointer_sent(8, "a", 2);
  jobs.pointer_sent(8, "b", 3);
  EXPECT_FALSE(jobs.confirmed(2).has_value());
  auto done = jobs.confirmed(3);
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(done->ok);
  EXPECT_FALSE(done->delete_object);
  jobs.forget(8);
  EXPECT_TRUE(jobs.finished(8)) << "forgotten jobs count as settled";
  EXPECT_FALSE(jobs.confirmed(3).has_value());
  auto expired = jobs.expire(kDeadline + std::chrono::hours(1));
  EXPECT_TRUE(expired.empty()) << "settled jobs never expire";
}
