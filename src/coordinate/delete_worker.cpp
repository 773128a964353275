// Delete worker: takes COMPLETE/EXPIRED rows from the RefStore and deletes their objects with DeleteObjects.
#include "claimcheck/core/text.h"
#include "claimcheck/core/log.h"

#include <algorithm>
#include <map>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "coordinate/coordinator_internal.h"

namespace claimcheck {

namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Runs `fn(store)` with CoordinatorConfig::db_retry: Unavailable and Aborted are retried (Unavailable after
// reopening the database) until the policy's attempts are used up or the workers stop.
template <typename F>
auto with_db_retry(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore>& store, F&& fn)
    -> decltype(fn(*store)) {
  RetryHooks hooks;
  hooks.stop = [&] { return st.workers_stop.load(); };
  hooks.before_retry = [&](const Error& e, int, std::chrono::milliseconds) {
    if (e.code == ErrorCode::Unavailable) reopen_store(st.cfg.db, store);
  };
  return retry(st.cfg.db_retry, [&](int) { return fn(*store); }, hooks);
}

/// The delete worker's loop: claim → log expiries → DeleteObjects per bucket (≤ 1000 keys) → mark.
class DeleteWorker {
 public:
  DeleteWorker(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store, s3::S3Client s3)
      : st_(st), cfg_(st.cfg), store_(std::move(store)), s3_(std::move(s3)) {}

  void run() {
    while (!st_.workers_stop.load()) {
      const std::uint64_t gen = st_.completion_gen.load();
      const auto now = refstore::Clock::now();
      auto claimed = with_db_retry(st_, store_, [&](refstore::RefStore& s) {
        return s.claim_deletions(now, 1000, cfg_.delete_lease);
      });
      if (!claimed) {
        logger().warn("coordinator: claiming deletions failed: {}", claimed.error().to_string());
        st_.delete_wakeup.wait_until(SteadyClock::now() + 1s);
        continue;
      }
      if (claimed->empty()) {
        idle(gen, now);
        continue;
      }
      log_expired(*claimed);
      delete_all(*claimed);
    }
  }

 private:
  // Nothing to delete: publish what is outstanding (idle exit) and sleep until the next sweep, a retry
  // that is due, or a wake-up (completion, stop).
  void idle(std::uint64_t gen, refstore::Clock::time_point now) {
    if (cfg_.exit_when_idle > 0ms) {
      if (auto sum = store_->summary(0, now)) {
        std::int64_t n = 0;
        for (auto s : {refstore::ObjectState::Complete, refstore::ObjectState::Expired}) {
          auto it = sum->counts.find(s);
          if (it != sum->counts.end()) n += it->second;
        }
        st_.outstanding_deletes.store(n);
      }
    }
    st_.deleter_seen_gen.store(gen);
    auto next_wake = SteadyClock::now() + std::min<std::chrono::milliseconds>(
                                              cfg_.sweep_interval, cfg_.exit_when_idle > 0ms ? 500ms : cfg_.sweep_interval);
    if (earliest_retry_ < next_wake) next_wake = std::max(earliest_retry_, SteadyClock::now());
    if (earliest_retry_ <= SteadyClock::now()) earliest_retry_ = SteadyClock::time_point::max();
    st_.delete_wakeup.wait_until(next_wake);
  }

  // Logs which recipients never acked each EXPIRED object.
  void log_expired(const std::vector<refstore::DeleteTask>& tasks) {
    for (const auto& t : tasks) {
      if (t.state != refstore::ObjectState::Expired) continue;
      auto info = store_->get(t.pointer_id);
      if (!info || !info->has_value()) {
        logger().warn("coordinator: object {} ({}/{}) EXPIRED", t.pointer_id, t.bucket, t.key);
        continue;
      }
      const auto& o = **info;
      std::vector<std::string> rejected;
      for (const auto& a : o.acks)
        if (!a.processed && !a.foreign) rejected.push_back(a.recipient_id + " (" + a.reason + ")");
      logger().warn("coordinator: object {} ({}/{}) EXPIRED; never acked by: [{}]{}{}", t.pointer_id, t.bucket, t.key,
                   join(o.missing, ","), rejected.empty() ? "" : "; rejected by: ", join(rejected, ","));
    }
  }

  void delete_all(const std::vector<refstore::DeleteTask>& tasks) {
    std::map<std::string, std::vector<const refstore::DeleteTask*>> by_bucket;
    for (const auto& t : tasks) by_bucket[t.bucket].push_back(&t);
    Progress p;
    const auto t0 = SteadyClock::now();
    for (auto& [bucket, group] : by_bucket) {
      for (std::size_t off = 0; off < group.size(); off += 1000)
        delete_chunk(bucket, std::span(group).subspan(off, std::min<std::size_t>(1000, group.size() - off)), p);
    }
    mark_done(p, t0);
    if (p.failures > 0) {
      st_.delete_failures += p.failures;
      st_.metrics->record_delete_failures(p.failures);
      // Don't spin on a failing S3: failed rows are not claimable until their next attempt anyway.
      st_.delete_wakeup.wait_until(SteadyClock::now() + 200ms);
    }
  }

  struct Progress {
    std::vector<std::string> done_ids;
    std::size_t expired = 0, failures = 0;
  };

  // One DeleteObjects request; failed keys are marked for a retry with backoff.
  void delete_chunk(const std::string& bucket, std::span<const refstore::DeleteTask* const> chunk, Progress& p) {
    std::vector<s3::ObjectVersion> objects;  // exactly the version the producer wrote, on versioned buckets
    objects.reserve(chunk.size());
    for (const auto* t : chunk) objects.push_back({t->key, t->version_id});
    auto r = s3_.delete_object_versions(bucket, objects);
    std::set<std::string> failed_keys;
    std::string error_text = "S3 DeleteObjects reported the key as not deleted";
    if (!r) {
      error_text = r.error().to_string();
      for (const auto& o : objects) failed_keys.insert(o.key);
    } else {
      failed_keys.insert(r->begin(), r->end());
    }
    for (const auto* t : chunk) {
      if (failed_keys.count(t->key) == 0) {
        p.done_ids.push_back(t->pointer_id);
        if (t->state == refstore::ObjectState::Expired) ++p.expired;
        continue;
      }
      ++p.failures;
      mark_failed(*t, error_text);
    }
    if (!failed_keys.empty())
      logger().warn("coordinator: {} of {} deletes in bucket {} failed (retried with backoff): {}", failed_keys.size(),
                   objects.size(), bucket, error_text);
  }

  void mark_failed(const refstore::DeleteTask& t, const std::string& error_text) {
    const auto backoff = backoff_delay(cfg_.delete_retry, t.attempts + 1);
    const auto next = refstore::Clock::now() + backoff;
    const auto retry_at = SteadyClock::now() + backoff + 10ms;
    if (retry_at < earliest_retry_) earliest_retry_ = retry_at;
    auto m = with_db_retry(st_, store_, [&](refstore::RefStore& s) {
      return s.mark_delete_failed(t.pointer_id, error_text, next);
    });
    if (!m) logger().warn("coordinator: mark_delete_failed({}) failed: {}", t.pointer_id, m.error().to_string());
  }

  void mark_done(const Progress& p, SteadyClock::time_point t0) {
    if (p.done_ids.empty()) return;
    auto m = with_db_retry(st_, store_, [&](refstore::RefStore& s) {
      return s.mark_deleted(p.done_ids, refstore::Clock::now());
    });
    if (!m) {
      // The objects are gone from S3; the rows are re-claimed after their lease and deleted again (idempotent).
      logger().warn("coordinator: mark_deleted of {} objects failed: {}", p.done_ids.size(), m.error().to_string());
      return;
    }
    st_.deleted += p.done_ids.size();
    st_.expired_deleted += p.expired;
    st_.metrics->record_deleted(p.done_ids.size(), p.expired);
    logger().info("coordinator: deleted {} objects ({} expired) in {:.0f} ms", p.done_ids.size(), p.expired,
                 std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
  }

  Coordinator::Impl& st_;
  const CoordinatorConfig& cfg_;
  std::unique_ptr<refstore::RefStore> store_;
  s3::S3Client s3_;
  // Earliest retry this worker scheduled with mark_delete_failed (so backoff is honoured between sweeps).
  SteadyClock::time_point earliest_retry_ = SteadyClock::time_point::max();  // max = none
};

}  // namespace

void run_delete_worker(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store, s3::S3Client s3) {
  DeleteWorker(st, std::move(store), std::move(s3)).run();
}

}  // namespace claimcheck
