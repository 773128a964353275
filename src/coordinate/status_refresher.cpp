// Coordinator status refresher: the periodic status query (its own RefStore connection) and the snapshot
// Coordinator::status() hands out.
#include "claimcheck/core/log.h"

#include "claimcheck/coordinate/status.h"
#include "coordinate/coordinator_internal.h"

namespace claimcheck {

namespace {

std::optional<refstore::TimePoint> from_ns(std::int64_t ns) {
  if (ns == 0) return std::nullopt;
  return refstore::TimePoint(std::chrono::duration_cast<refstore::Clock::duration>(std::chrono::nanoseconds(ns)));
}

// One refresh: the database part on success; on failure the previous one is kept and marked unreachable.
void refresh(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore>& store) {
  auto snap = query_status(*store, refstore::Clock::now(), st.cfg.lag_warn);
  {
    std::lock_guard<std::mutex> lock(st.status_mu);
    if (snap) {
      st.status_db = std::move(*snap);
      st.status_db.health.store_reachable = true;
    } else {
      st.status_db.lag_warn = st.cfg.lag_warn;
      st.status_db.health.store_reachable = false;
      st.status_db.health.store_error = snap.error().to_string();
    }
  }
  if (!snap) {
    logger().warn("coordinator: status query failed: {}", snap.error().to_string());
    if (snap.error().code == ErrorCode::Unavailable) reopen_store(st.cfg.db, store);
  }
  st.metrics->record_status(st.snapshot());
}

}  // namespace

StatusSnapshot Coordinator::Impl::snapshot() const {
  StatusSnapshot s;
  {
    std::lock_guard<std::mutex> lock(status_mu);
    s = status_db;
  }
  s.lag_warn = cfg.lag_warn;
  auto& h = s.health;
  h.started_at = from_ns(started_at_ns.load());
  h.last_batch_at = from_ns(last_batch_at_ns.load());
  h.broker_connected = broker_connected.load();
  h.deliveries = deliveries.load();
  h.batches = batches.load();
  h.dead_lettered = dead_lettered.load();
  h.refused = refused.load();
  return s;
}

void run_status_refresher(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store) {
  while (!st.workers_stop.load()) {
    refresh(st, store);
    st.status_wakeup.wait_until(std::chrono::steady_clock::now() + st.cfg.status_interval);
  }
}

}  // namespace claimcheck
