// Delete worker: takes COMPLETE/EXPIRED rows from the RefStore and deletes their objects with DeleteObjects.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/coordinator_internal.h"

namespace claimcheck {

namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ",";
    out += s;
  }
  return out;
}

// Exponential delay after `attempts` failures: initial * 2^(attempts-1), capped.
std::chrono::milliseconds delete_backoff(const CoordinatorConfig& cfg, int attempts) {
  auto d = cfg.delete_backoff_initial;
  for (int i = 1; i < attempts && d < cfg.delete_backoff_max; ++i) d *= 2;
  return std::min(d, cfg.delete_backoff_max);
}

template <typename F>
auto with_db_retry(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore>& store, F&& fn)
    -> decltype(fn(*store)) {
  auto delay = 10ms;
  for (int attempt = 1;; ++attempt) {
    auto r = fn(*store);
    if (r || !r.error().is_retryable() || attempt >= 8 || st.workers_stop.load()) return r;
    if (r.error().code == ErrorCode::Unavailable) reopen_store(st.cfg.db, store);
    std::this_thread::sleep_for(delay);
    delay = std::min<std::chrono::milliseconds>(delay * 2, 2000ms);
  }
}

}  // namespace

void run_delete_worker(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store, s3::S3Client s3) {
  const auto& cfg = st.cfg;
  auto next_wake = SteadyClock::now();
  // Earliest retry this worker scheduled with mark_delete_failed (so backoff is honoured between sweeps).
  auto earliest_retry = SteadyClock::time_point::max();  // max = none
  while (!st.workers_stop.load()) {
    const std::uint64_t gen = st.completion_gen.load();
    const auto now = refstore::Clock::now();
    auto claimed = with_db_retry(st, store, [&](refstore::RefStore& s) {
      return s.claim_deletions(now, 1000, cfg.delete_lease);
    });
    if (!claimed) {
      spdlog::warn("coordinator: claiming deletions failed: {}", claimed.error().to_string());
      st.delete_wakeup.wait_until(SteadyClock::now() + 1s);
      continue;
    }
    auto& tasks = *claimed;
    if (tasks.empty()) {
      if (cfg.exit_when_idle > 0ms) {
        auto sum = store->summary(0, now);
        if (sum) {
          std::int64_t n = 0;
          for (auto s : {refstore::ObjectState::Complete, refstore::ObjectState::Expired}) {
            auto it = sum->counts.find(s);
            if (it != sum->counts.end()) n += it->second;
          }
          st.outstanding_deletes.store(n);
        }
      }
      st.deleter_seen_gen.store(gen);
      // Poll again at the next sweep (expiry, retries), earlier when woken by a completion/stop/idle check.
      next_wake = SteadyClock::now() + std::min<std::chrono::milliseconds>(
                                           cfg.sweep_interval, cfg.exit_when_idle > 0ms ? 500ms : cfg.sweep_interval);
      if (earliest_retry < next_wake) next_wake = std::max(earliest_retry, SteadyClock::now());
      if (earliest_retry <= SteadyClock::now()) earliest_retry = SteadyClock::time_point::max();
      st.delete_wakeup.wait_until(next_wake);
      continue;
    }

    // Log which recipients never acked each EXPIRED object.
    for (const auto& t : tasks) {
      if (t.state != refstore::ObjectState::Expired) continue;
      auto info = store->get(t.pointer_id);
      if (info && info->has_value()) {
        const auto& o = **info;
        std::vector<std::string> rejected;
        for (const auto& a : o.acks)
          if (!a.processed && !a.foreign) rejected.push_back(a.recipient_id + " (" + a.reason + ")");
        spdlog::warn("coordinator: object {} ({}/{}) EXPIRED; never acked by: [{}]{}{}", t.pointer_id, t.bucket,
                     t.key, join(o.missing), rejected.empty() ? "" : "; rejected by: ", join(rejected));
      } else {
        spdlog::warn("coordinator: object {} ({}/{}) EXPIRED", t.pointer_id, t.bucket, t.key);
      }
    }

    std::map<std::string, std::vector<const refstore::DeleteTask*>> by_bucket;
    for (const auto& t : tasks) by_bucket[t.bucket].push_back(&t);

    std::vector<std::string> done_ids;
    std::size_t expired = 0, failures = 0;
    auto t0 = SteadyClock::now();
    for (auto& [bucket, group] : by_bucket) {
      for (std::size_t off = 0; off < group.size(); off += 1000) {
        const std::size_t end = std::min(group.size(), off + 1000);
        std::vector<std::string> keys;
        keys.reserve(end - off);
        for (std::size_t i = off; i < end; ++i) keys.push_back(group[i]->key);
        auto r = s3.delete_objects(bucket, keys);
        std::set<std::string> failed_keys;
        std::string error_text;
        if (!r) {
          error_text = r.error().to_string();
          failed_keys.insert(keys.begin(), keys.end());
        } else {
          failed_keys.insert(r->begin(), r->end());
          error_text = "S3 DeleteObjects reported the key as not deleted";
        }
        for (std::size_t i = off; i < end; ++i) {
          const auto* t = group[i];
          if (failed_keys.count(t->key) == 0) {
            done_ids.push_back(t->pointer_id);
            if (t->state == refstore::ObjectState::Expired) ++expired;
            continue;
          }
          ++failures;
          const auto backoff = delete_backoff(cfg, t->attempts + 1);
          const auto next = refstore::Clock::now() + backoff;
          const auto retry_at = SteadyClock::now() + backoff + 10ms;
          if (retry_at < earliest_retry) earliest_retry = retry_at;
          auto m = with_db_retry(st, store, [&](refstore::RefStore& s) {
            return s.mark_delete_failed(t->pointer_id, error_text, next);
          });
          if (!m) spdlog::warn("coordinator: mark_delete_failed({}) failed: {}", t->pointer_id, m.error().to_string());
        }
        if (!failed_keys.empty())
          spdlog::warn("coordinator: {} of {} deletes in bucket {} failed (retried with backoff): {}",
                       failed_keys.size(), keys.size(), bucket, error_text);
      }
    }
    if (!done_ids.empty()) {
      auto m = with_db_retry(st, store, [&](refstore::RefStore& s) {
        return s.mark_deleted(done_ids, refstore::Clock::now());
      });
      if (!m) {
        // The objects are gone from S3; the rows are re-claimed after their lease and deleted again (idempotent).
        spdlog::warn("coordinator: mark_deleted of {} objects failed: {}", done_ids.size(), m.error().to_string());
      } else {
        st.deleted += done_ids.size();
        st.expired_deleted += expired;
        st.metrics->record_deleted(done_ids.size(), expired);
        spdlog::info("coordinator: deleted {} objects ({} expired) in {:.0f} ms", done_ids.size(), expired,
                     std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
      }
    }
    if (failures > 0) {
      st.delete_failures += failures;
      st.metrics->record_delete_failures(failures);
      // Don't spin on a failing S3: failed rows are not claimable until their next attempt anyway.
      st.delete_wakeup.wait_until(SteadyClock::now() + 200ms);
    }
  }
}

}  // namespace claimcheck
