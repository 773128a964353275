#pragma once
// Private state shared by the coordinator's threads (coordinator.cpp, delete_worker.cpp, sweeper.cpp).

#include <prometheus/registry.h>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "claimcheck/coordinate/coordinator.h"
#include "claimcheck/coordinate/metrics.h"
#include "claimcheck/refstore/ref_store.h"
#include "claimcheck/s3/s3_client.h"

namespace claimcheck {

/// A wake-up signal with a timed wait; thread-safe.
class Wakeup {
 public:
  void notify() {
    {
      std::lock_guard<std::mutex> l(mu_);
      flag_ = true;
    }
    cv_.notify_all();
  }
  /// Waits until notify() (since the last wait) or `deadline`; returns true when notified.
  bool wait_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> l(mu_);
    bool woke = cv_.wait_until(l, deadline, [&] { return flag_; });
    flag_ = false;
    return woke;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool flag_ = false;
};

struct Coordinator::Impl {
  CoordinatorConfig cfg;
  std::shared_ptr<prometheus::Registry> own_registry;  // only when create() was given no metrics
  std::shared_ptr<CoordinatorMetrics> metrics;
  std::atomic<bool> stop_requested{false};   // external stop() or idle exit
  std::atomic<bool> workers_stop{false};     // tells delete worker and sweeper to finish

  // Counters (CoordinatorStats).
  std::atomic<std::uint64_t> deliveries{0}, batches{0}, stores_new{0}, stores_duplicate{0}, acks_new{0},
      acks_duplicate{0}, acks_foreign{0}, completed{0}, deleted{0}, expired_deleted{0}, delete_failures{0},
      orphans_deleted{0}, dead_lettered{0}, placeholders_purged{0}, refused{0}, history_purged{0};

  // Delete worker coordination.
  Wakeup delete_wakeup;                          // completions, sweeps, stop
  Wakeup sweep_wakeup;                           // stop
  std::atomic<std::uint64_t> completion_gen{0};  // +1 per committed batch that completed objects
  std::atomic<std::uint64_t> deleter_seen_gen{0};  // completion_gen at the start of the worker's last empty cycle
  std::atomic<std::int64_t> outstanding_deletes{-1};  // COMPLETE+EXPIRED rows after the last empty cycle (-1 unknown)
  std::atomic<std::uint64_t> sweeps_done{0};
  // Caught-up watermark for the orphan sweep, system_clock nanoseconds since the epoch (0 = not yet): every
  // store record published to q.ack before this time has been committed. Objects PUT before
  // (caught_up_at - orphan_grace) without a store record are orphans.
  std::atomic<std::int64_t> caught_up_at{0};
  // Longest TTL of a store record seen, in whole days rounded up, plus one: the safety-net lifecycle rule
  // must expire objects only after this many days (raised by the AMQP thread, applied by the sweeper).
  std::atomic<int> required_lifecycle_days{0};

  // Status (Coordinator::status()): health written by the threads that know it, system_clock nanoseconds
  // since the epoch (0 = not yet); the database part written by the status refresher.
  std::atomic<std::int64_t> started_at_ns{0}, last_batch_at_ns{0};
  std::atomic<bool> broker_connected{false};
  Wakeup status_wakeup;          // stop
  mutable std::mutex status_mu;  // guards status_db
  StatusSnapshot status_db;      // database part + store_reachable/store_error of the last refresh

  /// status_db with the live health filled in (thread-safe).
  StatusSnapshot snapshot() const;

  Result<void> run();
  /// Logs the start line (and the compatibility-mode warning).
  void log_start(std::uint16_t prefetch) const;
};

/// Delete worker body: claims COMPLETE/EXPIRED rows, deletes them with DeleteObjects, marks them DELETED.
void run_delete_worker(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store, s3::S3Client s3);

/// Sweeper body: lifecycle rule at start, then every sweep_interval: orphan sweep, placeholder purge.
void run_sweeper(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store, s3::S3Client s3);

/// Status refresher body: query_status() every status_interval into st.status_db, then the metrics' gauges.
void run_status_refresher(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store);

/// Id of the safety-net lifecycle rule of `prefix` (an object_prefix()): one rule per key prefix, so
/// coordinators with different prefixes on one bucket keep each other's rules. The default prefix
/// "claimcheck/" keeps the historical id "claimcheck-safety-net".
std::string safety_rule_id(const std::string& prefix);

/// Days a lifecycle rule must wait so that an object stored at `created_at` is not expired before
/// `expires_at`: ceil((expires_at - created_at) / 1 day) + 1 (one day of slack for clock skew).
int lifecycle_days_for(std::chrono::system_clock::time_point created_at, std::chrono::system_clock::time_point expires_at);

/// The listing prefix of objects written under `key_prefix` ("claimcheck" → "claimcheck/"; "" → "").
std::string object_prefix(const std::string& key_prefix);

/// Opens the RefStore again after an Unavailable error (best effort; keeps the old one on failure).
void reopen_store(const refstore::RefStoreConfig& cfg, std::unique_ptr<refstore::RefStore>& store);

}  // namespace claimcheck
