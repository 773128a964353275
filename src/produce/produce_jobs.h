#pragma once
/// Bookkeeping of the producer's AMQP thread (DESIGN.md §5a): which payload waits for which publisher
/// confirm, and what follows when one arrives. A plain state machine — events in, actions out, no I/O —
/// so its rules are unit-tested without a broker (tests/unit/pipeline_produce_jobs_test.cpp).
///
/// Rules it enforces:
/// - the pointers of a payload are published only after its store record was confirmed (DESIGN §2);
/// - invariant S3: once the store record is confirmed the producer never deletes the object; a pointer
///   that could not be delivered to one recipient (nack, return, publish error, no confirm in time) fails
///   the payload *for that recipient*, named in the error, and the object stays until the coordinator
///   deletes or expires it;
/// - before the store record is confirmed a failed payload's object is deleted (nobody was told of it).
///
/// Usage (inside Producer::run):
///   ProduceJobs jobs(inputs.size(), cfg.recipients);
///   jobs.store_sent(i, publish_id, now + timeout);             // after publishing the store record
///   for (auto& a : jobs.confirmed(id)) apply(a);               // PublishPointers → pointer_sent(...)
///   for (auto& a : jobs.expire(now)) apply(a);                 // Finished{ok, error, delete_object}
///
/// Not thread-safe: owned by the AMQP thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace claimcheck {

/// What the AMQP thread must do after an event.
struct ProduceAction {
  enum class Kind {
    PublishPointers,  ///< the store record of `job` was confirmed: publish its pointers now
    Finished,         ///< `job` is settled: report `ok` / `error`; delete its object if `delete_object`
  };
  Kind kind = Kind::Finished;
  std::size_t job = 0;
  bool ok = false;
  std::string error;           ///< Finished and !ok: what failed, naming each refused recipient
  bool delete_object = false;  ///< Finished: true only when no store record was confirmed (S3)
};

/// Per-payload publish bookkeeping for one Producer::run (see the file comment for the rules).
class ProduceJobs {
 public:
  using Clock = std::chrono::steady_clock;

  /// `count` payloads (jobs 0..count-1), each addressed to every one of `recipients`.
  ProduceJobs(std::size_t count, std::vector<std::string> recipients);

  /// A streaming run adds payloads as they come: job `job` (not known yet) is added. Then forget() it once
  /// settled, so a long run keeps only its unsettled payloads.
  void add(std::size_t job);
  /// Drops the bookkeeping of a settled `job` (later events for it give nothing). Unknown jobs: no-op.
  void forget(std::size_t job);

  /// The store record of `job` (whose object was stored) was published as `publish_id`; the payload must
  /// be settled by `deadline`. `deletable` = false: the object may be named by an earlier run's store
  /// record (a re-send under a fixed pointer id), so a failure never deletes it (invariant S3).
  void store_sent(std::size_t job, std::uint64_t publish_id, Clock::time_point deadline, bool deletable = true);
  /// `job` resumes an earlier run whose store record was confirmed: only its pointers follow (pointer_sent()),
  /// its object is never deleted by the producer.
  void resumed(std::size_t job, Clock::time_point deadline);
  /// The pointer (or inline message) of `job` for `recipient` was published as `publish_id`. For an inline
  /// payload call inline_started() first.
  void pointer_sent(std::size_t job, const std::string& recipient, std::uint64_t publish_id);
  /// `job` travels inline: no object, no store record; its messages follow with pointer_sent().
  void inline_started(std::size_t job, Clock::time_point deadline);
  /// Publishing to `recipient` failed at once (client.publish() error). Returns Finished when that was the
  /// last message the payload waited for.
  std::optional<ProduceAction> pointer_refused(std::size_t job, const std::string& recipient,
                                               const std::string& reason);
  /// `job` failed before any pointer went out (worker error, store publish error); `object_left`: an
  /// object exists in S3 for it that nobody deleted yet (the Finished action then deletes it, unless its
  /// store record was confirmed).
  ProduceAction failed(std::size_t job, const std::string& reason, bool object_left);
  /// `job` succeeded without publishing anything (a --delete storage check): its object is deleted.
  ProduceAction finished_unpublished(std::size_t job);

  /// A publisher confirm (basic.ack) for `publish_id`. Unknown ids (already settled) give nothing.
  std::optional<ProduceAction> confirmed(std::uint64_t publish_id);
  /// A publish that the broker refused for good (nack after re-sends, basic.return, vanished exchange).
  std::optional<ProduceAction> refused(std::uint64_t publish_id, const std::string& reason);
  /// Settles every payload past its deadline: recipients still unconfirmed are named as failed.
  std::vector<ProduceAction> expire(Clock::time_point now);
  /// Settles every payload that was published but is not settled (the connection was lost for good).
  std::vector<ProduceAction> abandon(const std::string& reason);

  /// True once `job` is settled (or forgotten).
  [[nodiscard]] bool finished(std::size_t job) const {
    auto it = jobs_.find(job);
    return it == jobs_.end() || it->second.finished;
  }
  /// Publishes still awaiting a confirm, over all payloads.
  [[nodiscard]] std::size_t unconfirmed() const noexcept { return by_publish_id_.size(); }

 private:
  struct Job {
    bool published = false;        // a store record or inline message went out
    bool has_object = false;       // an object exists in S3 for it
    bool store_confirmed = false;  // from here on only the coordinator deletes (S3)
    bool deletable = true;         // false: an earlier run may have confirmed a store record for the object
    bool finished = false;
    std::size_t delivered = 0;     // recipients whose message was confirmed
    Clock::time_point deadline{};
    std::map<std::string, std::uint64_t> waiting;  // recipient → publish id of its unconfirmed message
    std::map<std::string, std::string> refused;    // recipient → why its message was not delivered
  };
  struct Sent {
    std::size_t job = 0;
    std::optional<std::string> recipient;  // nullopt: the store record
  };

  std::optional<ProduceAction> settle_if_done(std::size_t job);
  ProduceAction give_up(std::size_t job, const std::string& reason);
  ProduceAction finish(std::size_t job, bool ok, std::string error);
  std::optional<ProduceAction> recipient_refused(std::size_t job, const std::string& recipient,
                                                 const std::string& reason);

  std::vector<std::string> recipients_;
  std::map<std::size_t, Job> jobs_;  // job index → bookkeeping (ordered: expire() settles in job order)
  std::unordered_map<std::uint64_t, Sent> by_publish_id_;
};

}  // namespace claimcheck
