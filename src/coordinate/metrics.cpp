#include "claimcheck/coordinate/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>
#include <stdexcept>

namespace claimcheck {

struct CoordinatorMetrics::Impl {
  explicit Impl(prometheus::Registry& r) : registry(&r) {}
  prometheus::Registry* registry;  // the caller's
  prometheus::Counter* stores_new = nullptr;
  prometheus::Counter* stores_dup = nullptr;
  prometheus::Counter* acks_new = nullptr;
  prometheus::Counter* acks_dup = nullptr;
  prometheus::Counter* acks_foreign = nullptr;
  prometheus::Counter* completed = nullptr;
  prometheus::Counter* deleted = nullptr;
  prometheus::Counter* expired = nullptr;
  prometheus::Counter* orphans = nullptr;
  prometheus::Counter* delete_failures = nullptr;
  prometheus::Counter* dead_lettered = nullptr;
  prometheus::Counter* purged = nullptr;
  prometheus::Counter* history_purged = nullptr;
  prometheus::Family<prometheus::Counter>* refused = nullptr;
  prometheus::Histogram* batch_size = nullptr;
  prometheus::Histogram* batch_seconds = nullptr;
  // Status gauges (record_status).
  std::mutex status_mu;
  prometheus::Family<prometheus::Gauge>* objects = nullptr;
  prometheus::Gauge* broker_connected = nullptr;
  prometheus::Gauge* store_reachable = nullptr;
  prometheus::Gauge* start_time = nullptr;
  prometheus::Gauge* last_batch = nullptr;
  prometheus::Family<prometheus::Gauge>* r_pending = nullptr;
  prometheus::Family<prometheus::Gauge>* r_oldest = nullptr;
  prometheus::Family<prometheus::Gauge>* r_lagging = nullptr;
  std::map<std::string, bool> recipients;  // recipients with series (guarded by status_mu)

  prometheus::Counter* counter(const std::string& name, const std::string& help, const prometheus::Labels& labels = {}) {
    auto& fam = prometheus::BuildCounter().Name("claimcheck_coordinator_" + name).Help(help).Register(*registry);
    return &fam.Add(labels);
  }
  prometheus::Family<prometheus::Gauge>* gauges(const std::string& name, const std::string& help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry);
  }
  void build_status() {
    objects = gauges("claimcheck_coordinator_objects", "objects in the refcount database per state (status refresh)");
    for (auto st : {refstore::ObjectState::Placeholder, refstore::ObjectState::Pending, refstore::ObjectState::Complete,
                    refstore::ObjectState::Expired, refstore::ObjectState::Deleted})
      objects->Add({{"state", std::string(refstore::to_string(st))}});
    broker_connected = &gauges("claimcheck_coordinator_broker_connected", "1 while the AMQP connection is open")->Add({});
    store_reachable =
        &gauges("claimcheck_coordinator_store_reachable", "1 when the last status query of the database succeeded")
             ->Add({});
    start_time = &gauges("claimcheck_coordinator_start_time_seconds", "when the coordinator started, Unix seconds")->Add({});
    last_batch = &gauges("claimcheck_coordinator_last_batch_timestamp_seconds",
                         "when the last batch was committed, Unix seconds (0 = none yet)")
                      ->Add({});
    r_pending = gauges("claimcheck_recipient_pending_objects",
                       "PENDING objects expecting this recipient that have no ack from it yet");
    r_oldest = gauges("claimcheck_recipient_oldest_pending_seconds",
                      "age of this recipient's oldest pending object, seconds (0 = none pending)");
    r_lagging = gauges("claimcheck_recipient_lagging", "1 when the oldest pending object is older than --lag-warn");
  }
  void set_recipients(const std::vector<RecipientLag>& lag) {
    for (auto& [id, seen] : recipients) seen = false;
    for (const auto& r : lag) {
      const prometheus::Labels l{{"recipient", r.recipient_id}};
      r_pending->Add(l).Set(static_cast<double>(r.pending));
      r_oldest->Add(l).Set(r.oldest_pending_age ? static_cast<double>(r.oldest_pending_age->count()) : 0.0);
      r_lagging->Add(l).Set(r.lagging ? 1.0 : 0.0);
      recipients[r.recipient_id] = true;
    }
    for (auto it = recipients.begin(); it != recipients.end();) {
      if (it->second) {
        ++it;
        continue;
      }
      const prometheus::Labels l{{"recipient", it->first}};
      for (auto* fam : {r_pending, r_oldest, r_lagging}) fam->Remove(&fam->Add(l));
      it = recipients.erase(it);
    }
  }
  void build() {
    const std::string s = "stores_applied_total", a = "acks_applied_total";
    stores_new = counter(s, "s3-store-v1 records applied", {{"result", "new"}});
    stores_dup = counter(s, "s3-store-v1 records applied", {{"result", "duplicate"}});
    acks_new = counter(a, "s3-ack-v1 acks applied", {{"result", "new"}});
    acks_dup = counter(a, "s3-ack-v1 acks applied", {{"result", "duplicate"}});
    acks_foreign = counter(a, "s3-ack-v1 acks applied", {{"result", "foreign"}});
    completed = counter("objects_completed_total", "objects whose expected recipients all acked");
    deleted = counter("objects_deleted_total", "objects deleted from S3 and marked DELETED");
    expired = counter("objects_expired_total", "objects deleted because their expires_at passed");
    orphans = counter("orphans_deleted_total", "objects without a store record deleted by the orphan sweep");
    delete_failures = counter("delete_failures_total", "failed S3 deletes (retried with backoff)");
    dead_lettered = counter("dead_lettered_total", "invalid q.ack messages dead-lettered with a reason");
    purged = counter("placeholders_purged_total", "placeholder objects (acks without store) purged");
    history_purged = counter("history_purged_total", "DELETED objects purged after the history retention");
    refused = &prometheus::BuildCounter()
                   .Name("claimcheck_coordinator_refused_total")
                   .Help("q.ack messages refused by a trust or bound rule (dead-lettered), by rule")
                   .Register(*registry);
    for (const char* rule : {"ack_user_id", "ack_sha256", "store_user_id", "placeholder_cap"})
      refused->Add({{"rule", rule}});
    batch_size = &prometheus::BuildHistogram()
                      .Name("claimcheck_coordinator_batch_size")
                      .Help("commands per apply_batch transaction")
                      .Register(*registry)
                      .Add({}, prometheus::Histogram::BucketBoundaries{1, 10, 50, 100, 250, 500, 1000, 2500, 5000});
    batch_seconds = &prometheus::BuildHistogram()
                         .Name("claimcheck_coordinator_batch_seconds")
                         .Help("wall time of one apply_batch transaction, seconds")
                         .Register(*registry)
                         .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                          0.1, 0.25, 0.5, 1, 2.5});
    build_status();
  }
};

CoordinatorMetrics::CoordinatorMetrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CoordinatorMetrics::~CoordinatorMetrics() = default;

Result<std::unique_ptr<CoordinatorMetrics>> CoordinatorMetrics::create(prometheus::Registry& registry) {
  auto impl = std::make_unique<Impl>(registry);
  try {
    impl->build();
  } catch (const std::exception& e) {  // prometheus-cpp throws std::invalid_argument for a clashing family
    return config_error(std::string("coordinator metrics: ") + e.what());
  }
  return std::unique_ptr<CoordinatorMetrics>(new CoordinatorMetrics(std::move(impl)));
}

void CoordinatorMetrics::record_batch(const refstore::ApplyResult& r, std::size_t commands, double seconds) {
  impl_->stores_new->Increment(static_cast<double>(r.stores_new));
  impl_->stores_dup->Increment(static_cast<double>(r.stores_duplicate));
  impl_->acks_new->Increment(static_cast<double>(r.acks_new));
  impl_->acks_dup->Increment(static_cast<double>(r.acks_duplicate));
  impl_->acks_foreign->Increment(static_cast<double>(r.acks_foreign));
  impl_->completed->Increment(static_cast<double>(r.completed.size()));
  impl_->batch_size->Observe(static_cast<double>(commands));
  impl_->batch_seconds->Observe(seconds);
}

void CoordinatorMetrics::record_deleted(std::size_t n, std::size_t expired) {
  impl_->deleted->Increment(static_cast<double>(n));
  impl_->expired->Increment(static_cast<double>(expired));
}
void CoordinatorMetrics::record_orphans_deleted(std::size_t n) { impl_->orphans->Increment(static_cast<double>(n)); }
void CoordinatorMetrics::record_delete_failures(std::size_t n) {
  impl_->delete_failures->Increment(static_cast<double>(n));
}
void CoordinatorMetrics::record_dead_lettered(std::size_t n) {
  impl_->dead_lettered->Increment(static_cast<double>(n));
}
void CoordinatorMetrics::record_placeholders_purged(std::size_t n) {
  impl_->purged->Increment(static_cast<double>(n));
}

void CoordinatorMetrics::record_refused(const std::string& rule, std::size_t n) {
  impl_->refused->Add({{"rule", rule}}).Increment(static_cast<double>(n));
}
void CoordinatorMetrics::record_history_purged(std::size_t n) {
  impl_->history_purged->Increment(static_cast<double>(n));
}

namespace {
double unix_seconds(refstore::TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}
}  // namespace

void CoordinatorMetrics::record_status(const StatusSnapshot& s) {
  std::lock_guard<std::mutex> lock(impl_->status_mu);
  const auto& h = s.health;
  impl_->broker_connected->Set(h.broker_connected ? 1.0 : 0.0);
  impl_->store_reachable->Set(h.store_reachable ? 1.0 : 0.0);
  impl_->start_time->Set(h.started_at ? unix_seconds(*h.started_at) : 0.0);
  impl_->last_batch->Set(h.last_batch_at ? unix_seconds(*h.last_batch_at) : 0.0);
  if (!s.queried_at) return;
  for (const auto& [state, n] : s.counts)
    impl_->objects->Add({{"state", std::string(refstore::to_string(state))}}).Set(static_cast<double>(n));
  impl_->set_recipients(s.recipients);
}

}  // namespace claimcheck
