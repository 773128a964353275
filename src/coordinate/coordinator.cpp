// Coordinator: AMQP thread (run()), store thread, and the glue to the delete worker and sweeper.
#include "claimcheck/coordinate/coordinator.h"
#include "claimcheck/protocol/wire.h"

#include "claimcheck/core/log.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "claimcheck/amqp/client.h"
#include "claimcheck/core/work_queue.h"
#include "coordinate/coordinator_window.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/credentials.h"
#include "claimcheck/protocol/topology.h"
#include "coordinate/coordinator_internal.h"

namespace claimcheck {

namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string clip(std::string_view s, std::size_t n = 64) {
  if (s.size() <= n) return std::string(s);
  return std::string(s.substr(0, n)) + "...";
}

// One batch handed from the AMQP thread to the store thread, and back with its outcome.
struct Batch {
  std::uint64_t epoch = 0;
  std::vector<refstore::Command> commands;
  std::vector<amqp::Envelope> envelopes;  // same order as commands
  std::vector<refstore::RefusalAudit> audit;  // refusals to add to the audit (may come without commands)
};

// A delivery to dead-letter: the reason for x-claimcheck-error and the rule (metric label; "" = invalid).
struct Invalid {
  amqp::Envelope env;
  std::string reason;
  std::string rule;
};

struct BatchDone {
  std::uint64_t epoch = 0;
  std::vector<amqp::Envelope> envelopes;        // committed: ack these
  std::vector<Invalid> invalid;                 // refused by the store: dead-letter
  bool failed = false;                          // not committed (shutdown while the db failed): leave unacked
};

}  // namespace

Result<void> CoordinatorConfig::validate() const {
  auto bad = [](const std::string& m) { return fail(ErrorCode::InvalidArgument, Origin::Config, m); };
  if (batch_size < 1 || batch_size > 100000) return bad("batch_size must be 1..100000");
  if (batch_delay < 0ms) return bad("batch_delay must be >= 0");
  if (sweep_interval < 1s) return bad("sweep_interval must be >= 1s");
  if (orphan_grace < 0s) return bad("orphan_grace must be >= 0");
  if (lifecycle_days < 0) return bad("lifecycle_days must be >= 0");
  if (delete_lease < 1s) return bad("delete_lease must be >= 1s");
  if (delete_retry.initial < 1ms) return bad("delete_retry: field 'initial': must be >= 1ms");
  for (const auto& [name, p] : {std::pair{"delete_retry", &delete_retry}, {"store_retry", &store_retry},
                                {"db_retry", &db_retry}}) {
    if (auto v = p->validate(); !v) return bad(std::string(name) + ": " + v.error().message);
  }
  if (placeholder_retention < 1s) return bad("placeholder_retention must be >= 1s");
  if (history_retention < 1s) return bad("history_retention must be >= 1s");
  if (status_interval < 100ms) return bad("status_interval must be >= 100ms");
  if (lag_warn < 0s) return bad("lag_warn must be >= 0");
  if (producer_users.empty()) return bad("producer_users must name at least one broker user");
  for (const auto& u : producer_users)
    if (u.empty()) return bad("producer_users: a broker user name must not be empty");
  for (const auto& [r, u] : recipient_users)
    if (r.empty() || u.empty()) return bad("recipient_users: recipient '" + clip(r) + "' needs a non-empty user");
  if (exit_when_idle < 0ms) return bad("exit_when_idle must be >= 0");
  if (names.ack_queue.empty() || names.ack_exchange.empty() || names.dlx.empty())
    return bad("topology names (ack exchange, ack queue, dlx) must not be empty");
  if (!bucket.empty()) CC_TRY_VOID(validate_bucket_name(bucket));
  CC_TRY_VOID(amqp.validate());
  CC_TRY_VOID(s3.validate());
  if (!s3.has_credentials()) return bad("s3: the coordinator needs S3 keys (it deletes objects)");
  CC_TRY_VOID(db.validate());
  return ok();
}

Result<refstore::Command> parse_coordinator_message(const amqp::Message& msg) {
  CC_TRY(schema, peek_schema(msg.body));
  if (!msg.type.empty() && msg.type != *schema)
    return fail(ErrorCode::InvalidArgument, Origin::Protocol,
                "AMQP type '" + clip(msg.type) + "' does not match field 'schema' '" + clip(*schema) + "'");
  if (*schema == kSchemaStore) {
    CC_TRY(rec, parse_store_record(msg.body));
    refstore::StoreInput in;
    in.pointer_id = std::move(rec->pointer_id);
    in.bucket = std::move(rec->bucket);
    in.key = std::move(rec->key);
    in.recipients = std::move(rec->recipients);
    in.size_stored = rec->size_stored;
    in.sha256 = std::move(rec->sha256);
    in.created_at = rec->created_at;
    in.expires_at = rec->expires_at;
    in.producer_id = std::move(rec->producer_id);
    in.version_id = rec->version_id.value_or("");
    return refstore::Command{std::move(in)};
  }
  if (*schema == kSchemaAck) {
    CC_TRY(a, parse_ack(msg.body));
    refstore::AckInput in;
    in.pointer_id = std::move(a->pointer_id);
    in.recipient_id = std::move(a->recipient_id);
    in.processed = a->status == AckStatus::Processed;
    if (!in.processed) in.reason = a->reason.value_or("unspecified");
    in.processed_at = a->processed_at;
    in.sha256 = a->sha256.value_or("");
    in.sender = msg.user_id;
    return refstore::Command{std::move(in)};
  }
  return fail(ErrorCode::InvalidArgument, Origin::Protocol,
              "field 'schema': unknown schema '" + clip(*schema) + "' (q.ack takes s3-store-v1 and s3-ack-v1)");
}

std::string recipient_user(const std::map<std::string, std::string>& recipient_users,
                           const std::string& recipient_id) {
  if (auto it = recipient_users.find(recipient_id); it != recipient_users.end()) return it->second;
  if (auto any = recipient_users.find("*"); any != recipient_users.end()) return any->second;
  return recipient_id;
}

namespace {

std::optional<refstore::Refusal> refusal(std::string rule, std::string reason) {
  return refstore::Refusal{0, std::move(rule), std::move(reason)};
}

std::string quoted_list(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "'" : ", '") + clip(x) + "'";
  return out;
}

std::optional<refstore::Refusal> check_ack_sender(const CoordinatorConfig& cfg, const std::string& user,
                                                  const refstore::AckInput& a) {
  const std::string expected = recipient_user(cfg.recipient_users, a.recipient_id);
  const std::string who = "ack for recipient '" + clip(a.recipient_id) + "'";
  if (user.empty() && !cfg.accept_unauthenticated_acks)
    return refusal("ack_user_id", who + " has no AMQP user_id (expected '" + clip(expected) + "')");
  if (!user.empty() && user != expected)
    return refusal("ack_user_id",
                   who + " published by user '" + clip(user) + "' (expected '" + clip(expected) + "')");
  if (a.sha256.empty() && !cfg.accept_unauthenticated_acks)
    return refusal("ack_sha256", who + " (user '" + clip(user) + "') has no sha256 of the object it verified");
  return std::nullopt;
}

}  // namespace

std::optional<refstore::Refusal> check_sender(const CoordinatorConfig& cfg, const amqp::Message& msg,
                                              const refstore::Command& cmd) {
  if (const auto* a = std::get_if<refstore::AckInput>(&cmd)) return check_ack_sender(cfg, msg.user_id, *a);
  const auto& users = cfg.producer_users;
  if (std::find(users.begin(), users.end(), msg.user_id) != users.end()) return std::nullopt;
  const std::string user = msg.user_id.empty() ? "no AMQP user_id" : "user '" + clip(msg.user_id) + "'";
  return refusal("store_user_id", "store record published by " + user + " (expected one of the producer users " +
                                      quoted_list(users) + ")");
}

std::string safety_rule_id(const std::string& prefix) {
  if (prefix == "claimcheck/") return "claimcheck-safety-net";
  return "claimcheck-safety-net:" + prefix;
}

int lifecycle_days_for(std::chrono::system_clock::time_point created_at, std::chrono::system_clock::time_point expires_at) {
  constexpr std::int64_t kDay = 24 * 3600;
  const std::int64_t secs = std::chrono::duration_cast<std::chrono::seconds>(expires_at - created_at).count();
  const std::int64_t days = secs <= 0 ? 0 : (secs + kDay - 1) / kDay;
  return static_cast<int>(std::min<std::int64_t>(days + 1, 36500));
}

std::string object_prefix(const std::string& key_prefix) {
  if (key_prefix.empty() || key_prefix.back() == '/') return key_prefix;
  return key_prefix + "/";
}

// Why a store record is outside what this coordinator may ever delete ("" = inside): its bucket must be
// an allowed one and its key under "<key_prefix>/". Guards S1 against forged or misrouted store records.
std::string store_outside_scope(const CoordinatorConfig& cfg, const refstore::StoreInput& in) {
  const std::vector<std::string> own{cfg.bucket};
  const auto& buckets = cfg.allowed_buckets.empty() ? own : cfg.allowed_buckets;
  const bool any_bucket = cfg.allowed_buckets.empty() && cfg.bucket.empty();
  if (!any_bucket && std::find(buckets.begin(), buckets.end(), in.bucket) == buckets.end())
    return "field 'bucket': '" + clip(in.bucket) + "' is not a bucket this coordinator manages";
  const std::string prefix = object_prefix(cfg.key_prefix);
  if (!prefix.empty() && in.key.rfind(prefix, 0) != 0)
    return "field 'key': not under the key prefix '" + prefix + "' this coordinator manages";
  return {};
}

void reopen_store(const refstore::RefStoreConfig& cfg, std::unique_ptr<refstore::RefStore>& store) {
  auto r = refstore::open_ref_store(cfg);
  if (r) {
    store = std::move(*r);
  } else {
    logger().warn("coordinator: reopening the database failed: {}", r.error().to_string());
  }
}

Coordinator::Coordinator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Coordinator::~Coordinator() = default;

Result<std::unique_ptr<Coordinator>> Coordinator::create(CoordinatorConfig cfg,
                                                         std::shared_ptr<CoordinatorMetrics> metrics) {
  CC_TRY_VOID(cfg.validate());
  auto impl = std::make_unique<Impl>();
  impl->cfg = std::move(cfg);
  if (!metrics) {
    impl->own_registry = std::make_shared<prometheus::Registry>();
    CC_TRY(m, CoordinatorMetrics::create(*impl->own_registry));
    metrics = std::shared_ptr<CoordinatorMetrics>(std::move(*m));
  }
  impl->metrics = std::move(metrics);
  return std::unique_ptr<Coordinator>(new Coordinator(std::move(impl)));
}

void Coordinator::stop() noexcept { impl_->stop_requested.store(true); }

CoordinatorStats Coordinator::stats() const {
  const Impl& s = *impl_;
  CoordinatorStats o;
  o.deliveries = s.deliveries.load();
  o.batches = s.batches.load();
  o.stores_new = s.stores_new.load();
  o.stores_duplicate = s.stores_duplicate.load();
  o.acks_new = s.acks_new.load();
  o.acks_duplicate = s.acks_duplicate.load();
  o.acks_foreign = s.acks_foreign.load();
  o.completed = s.completed.load();
  o.deleted = s.deleted.load();
  o.expired_deleted = s.expired_deleted.load();
  o.delete_failures = s.delete_failures.load();
  o.orphans_deleted = s.orphans_deleted.load();
  o.dead_lettered = s.dead_lettered.load();
  o.placeholders_purged = s.placeholders_purged.load();
  o.refused = s.refused.load();
  o.history_purged = s.history_purged.load();
  return o;
}

StatusSnapshot Coordinator::status() const { return impl_->snapshot(); }

Result<void> Coordinator::run() { return impl_->run(); }

namespace {

// Committed envelopes go to done.envelopes (basic.ack), those of refused commands to done.invalid.
void split_refused(const refstore::ApplyResult& r, std::vector<amqp::Envelope> envelopes, BatchDone& done) {
  std::map<std::size_t, const refstore::Refusal*> refused;
  for (const auto& f : r.refused) refused[f.index] = &f;
  for (std::size_t i = 0; i < envelopes.size(); ++i) {
    auto it = refused.find(i);
    if (it == refused.end()) {
      done.envelopes.push_back(std::move(envelopes[i]));
    } else {
      done.invalid.push_back({std::move(envelopes[i]), it->second->reason, it->second->rule});
    }
  }
}

// Store thread: one apply_batch transaction per batch, retried on Aborted/Unavailable; a batch the store
// refuses as a whole is applied command by command to find the culprits.
class StoreThread {
 public:
  StoreThread(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store, WorkQueue<Batch>& in,
              WorkQueue<BatchDone>& out)
      : st_(st), store_(std::move(store)), in_(in), out_(out) {}

  void run() {
    while (true) {
      auto b = in_.wait_pop(200ms);
      if (!b) {
        flush_log(false);
        if (in_.closed() && in_.empty()) break;
        continue;
      }
      BatchDone done;
      done.epoch = b->epoch;
      record_audit(b->audit);
      std::vector<std::string> completed = b->commands.empty() ? std::vector<std::string>{} : apply(*b, done);
      if (!completed.empty()) {
        if (st_.cfg.after_commit_hook) st_.cfg.after_commit_hook(completed.size());
        st_.completion_gen += 1;
        st_.delete_wakeup.notify();
      }
      out_.push(std::move(done));
      flush_log(false);
    }
    flush_log(true);
  }

 private:
  // Applies batch `b`, filling `done`; returns the pointer ids it completed.
  std::vector<std::string> apply(Batch& b, BatchDone& done) {
    std::vector<std::string> completed;
    auto r = apply_with_retry(b.commands);
    if (r) {
      completed = std::move(r->completed);
      split_refused(*r, std::move(b.envelopes), done);
    } else if (r.error().code == ErrorCode::InvalidArgument) {
      logger().warn("coordinator: batch refused ({}); applying its {} commands one by one", r.error().to_string(),
                   b.commands.size());
      apply_one_by_one(b, done, completed);
    } else {
      logger().error("coordinator: giving up on a batch of {} at shutdown: {}", b.commands.size(), r.error().to_string());
      done.failed = true;
    }
    return completed;
  }

  // Finds the culprits of a refused batch: the refused ones are dead-lettered, the rest committed.
  void apply_one_by_one(Batch& b, BatchDone& done, std::vector<std::string>& completed) {
    for (std::size_t i = 0; i < b.commands.size(); ++i) {
      auto one = apply_with_retry({b.commands[i]});
      if (one) {
        for (auto& c : one->completed) completed.push_back(std::move(c));
        std::vector<amqp::Envelope> single;
        single.push_back(std::move(b.envelopes[i]));
        split_refused(*one, std::move(single), done);
      } else if (one.error().code == ErrorCode::InvalidArgument) {
        done.invalid.push_back({std::move(b.envelopes[i]), one.error().message, ""});
      } else {
        done.failed = true;  // give up on the rest: unacked → redelivered later
        return;
      }
    }
  }

  // The audit of refused messages (`claimcheck status`): best effort, a few retries, never blocks a batch.
  void record_audit(const std::vector<refstore::RefusalAudit>& audit) {
    if (audit.empty()) return;
    static const BackoffPolicy kAudit{20ms, 40ms, 2.0, 3, 0.0};
    RetryHooks hooks;
    hooks.retryable = [](const Error&) { return true; };
    hooks.before_retry = [&](const Error& e, int failures, std::chrono::milliseconds) {
      logger().warn("coordinator: recording {} refusals in the audit failed (attempt {}): {}", audit.size(), failures,
                   e.to_string());
    };
    auto r = retry(kAudit, [&](int) { return store_->record_refusals(audit); }, hooks);
    if (!r) logger().warn("coordinator: recording {} refusals in the audit failed, skipped: {}", audit.size(),
                         r.error().to_string());
  }

  // Applies `cmds` with retries. Returns the result, or the last error when it gave up (stop requested
  // while failing, or InvalidArgument).
  Result<refstore::ApplyResult> apply_with_retry(const std::vector<refstore::Command>& cmds) {
    int attempts = 0;
    RetryHooks hooks;
    hooks.retryable = [](const Error& e) { return e.code != ErrorCode::InvalidArgument; };
    hooks.stop = [&] { return st_.stop_requested.load() && attempts >= 3; };
    hooks.before_retry = [&](const Error& e, int failures, std::chrono::milliseconds delay) {
      if (e.code == ErrorCode::Aborted) {
        logger().debug("coordinator: batch aborted (attempt {}), retrying: {}", failures, e.to_string());
        return;
      }
      logger().warn("coordinator: applying a batch failed (attempt {}), retrying in {} ms: {}", failures,
                   delay.count(), e.to_string());
      if (e.code == ErrorCode::Unavailable) reopen_store(st_.cfg.db, store_);
    };
    return retry(st_.cfg.store_retry, [&](int attempt) {
      attempts = attempt;
      auto t0 = SteadyClock::now();
      auto r = store_->apply_batch(cmds, refstore::Clock::now());
      if (r) account(*r, cmds.size(), std::chrono::duration<double>(SteadyClock::now() - t0).count());
      return r;
    }, hooks);
  }

  void account(const refstore::ApplyResult& r, std::size_t n, double secs) {
    st_.batches += 1;
    st_.last_batch_at_ns.store(
        std::chrono::duration_cast<std::chrono::nanoseconds>(refstore::Clock::now().time_since_epoch()).count());
    st_.stores_new += r.stores_new;
    st_.stores_duplicate += r.stores_duplicate;
    st_.acks_new += r.acks_new;
    st_.acks_duplicate += r.acks_duplicate;
    st_.acks_foreign += r.acks_foreign;
    st_.completed += r.completed.size();
    st_.metrics->record_batch(r, n, secs);
    if (r.acks_sha256_discarded > 0) {
      st_.refused += r.acks_sha256_discarded;
      st_.metrics->record_refused("ack_sha256", r.acks_sha256_discarded);
    }
    ++agg_batches_;
    agg_cmds_ += n;
    agg_completed_ += r.completed.size();
    logger().debug("coordinator: batch of {} applied in {:.1f} ms: stores {}+{}dup, acks {}+{}dup+{}foreign, "
                  "completed {}",
                  n, secs * 1000.0, r.stores_new, r.stores_duplicate, r.acks_new, r.acks_duplicate, r.acks_foreign,
                  r.completed.size());
  }

  // Aggregated progress log (info, at most every 2 s).
  void flush_log(bool force) {
    if (agg_batches_ == 0) return;
    if (!force && SteadyClock::now() - last_log_ < 2s) return;
    logger().info("coordinator: applied {} batches ({} stores/acks), {} objects completed; totals: stores {} new / {} "
                 "dup, acks {} new / {} dup / {} foreign",
                 agg_batches_, agg_cmds_, agg_completed_, st_.stores_new.load(), st_.stores_duplicate.load(),
                 st_.acks_new.load(), st_.acks_duplicate.load(), st_.acks_foreign.load());
    agg_batches_ = agg_cmds_ = agg_completed_ = 0;
    last_log_ = SteadyClock::now();
  }

  Coordinator::Impl& st_;
  std::unique_ptr<refstore::RefStore> store_;
  WorkQueue<Batch>& in_;
  WorkQueue<BatchDone>& out_;
  SteadyClock::time_point last_log_ = SteadyClock::now();
  std::uint64_t agg_batches_ = 0, agg_cmds_ = 0, agg_completed_ = 0;
};

void run_store_thread(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store, WorkQueue<Batch>& in,
                      WorkQueue<BatchDone>& out) {
  StoreThread(st, std::move(store), in, out).run();
}

}  // namespace

namespace {

/// The coordinator's AMQP thread (DESIGN.md §5a): batches deliveries for the store thread, dead-letters
/// what is invalid or refused, acknowledges what was committed (AckWindow) and publishes the orphan
/// sweep's caught-up time (CaughtUpWatermark). run() only polls, dispatches and applies.
class CoordinatorLoop {
 public:
  CoordinatorLoop(Coordinator::Impl& st, amqp::Client& client, WorkQueue<Batch>& to_store,
                  WorkQueue<BatchDone>& from_store)
      : st_(st), cfg_(st.cfg), client_(client), to_store_(to_store), from_store_(from_store),
        window_(client.epoch()) {
    current_.epoch = window_.epoch();
  }

  /// Runs until stopped (stop_requested, idle exit) or the AMQP connection is lost for good.
  Result<void> run() {
    last_activity_ = SteadyClock::now();
    while (true) {
      if (st_.stop_requested.load() && !stopping_) begin_stop();
      auto polled = client_.poll(50ms);
      if (!polled) {
        outcome_ = fail(std::move(polled).error());
        logger().error("coordinator: AMQP connection lost for good: {}", outcome_.error().to_string());
        break;
      }
      st_.broker_connected.store(client_.connected());
      for (auto& ev : *polled) on_event(ev);
      drain_store();
      const auto now = SteadyClock::now();
      if ((!current_.commands.empty() && (stopping_ || now - current_started_ >= cfg_.batch_delay)) ||
          (!audit_.empty() && (stopping_ || now - audit_since_ >= 1s)))
        flush_batch();
      ack_settled();
      if (stopping_) {
        if (stop_done()) break;
        continue;
      }
      advance_watermark();
      check_idle_exit();
    }
    ack_settled();
    return outcome_;
  }

  /// After the store thread was joined: acknowledges what it committed meanwhile.
  void final_acks() {
    for (auto& done : from_store_.drain()) {
      for (auto& env : done.envelopes) window_.settle(done.epoch, env.delivery_tag);
    }
    ack_settled();
  }

 private:
  void begin_stop() {
    stopping_ = true;
    stop_deadline_ = SteadyClock::now() + 10s;
    logger().info("coordinator: stopping: no new deliveries; finishing {} in-flight batches",
                 batches_in_flight_ + (current_.commands.empty() ? 0 : 1));
    (void)client_.cancel_consume(cfg_.names.ack_queue);
    flush_batch();
  }

  bool stop_done() {
    const bool drained = current_.commands.empty() && batches_in_flight_ == 0;
    if (drained && (dl_inflight_.empty() || SteadyClock::now() > stop_deadline_)) return true;
    if (SteadyClock::now() > stop_deadline_ + 20s) {
      logger().error("coordinator: shutdown timed out with {} batches in flight", batches_in_flight_);
      return true;
    }
    return false;
  }

  void check_idle_exit() {
    if (cfg_.exit_when_idle <= 0ms || SteadyClock::now() - last_activity_ < cfg_.exit_when_idle) return;
    const bool quiet = current_.commands.empty() && batches_in_flight_ == 0 && window_.all_settled() &&
                       dl_inflight_.empty();
    const bool deletes_done = st_.sweeps_done.load() > 0 && st_.deleter_seen_gen.load() == st_.completion_gen.load() &&
                              st_.outstanding_deletes.load() == 0;
    if (!quiet || !deletes_done) return;
    logger().info("coordinator: idle for {} ms with nothing left to delete: exiting", cfg_.exit_when_idle.count());
    st_.stop_requested.store(true);
  }

  void ack_settled() {
    auto up_to = window_.take_ackable();
    if (!up_to) return;
    amqp::Envelope e;
    e.delivery_tag = *up_to;
    e.epoch = window_.epoch();
    if (auto r = client_.ack(e, /*multiple=*/true); !r)
      logger().debug("coordinator: ack up to tag {} failed ({}); the broker will redeliver", e.delivery_tag,
                    r.error().to_string());
  }

  // Orphan-sweep watermark: see CaughtUpWatermark.
  void advance_watermark() {
    const auto now = SteadyClock::now();
    const bool idle = current_.commands.empty() && batches_in_flight_ == 0;
    if (auto c = watermark_.advance(now, window_, idle)) {
      const bool first = st_.caught_up_at.load() == 0;
      st_.caught_up_at.store(std::chrono::duration_cast<std::chrono::nanoseconds>(c->time_since_epoch()).count());
      if (first) st_.sweep_wakeup.notify();  // the orphan sweep may run now
    }
    if (!watermark_.wants_probe(now)) return;
    const auto probed_at = std::chrono::system_clock::now();
    auto n = client_.queue_message_count(cfg_.names.ack_queue);
    watermark_.probed(now, n && *n == 0, probed_at);
  }

  void dead_letter(amqp::Envelope env, const std::string& reason, const std::string& rule = {}) {
    logger().warn("coordinator: dead-lettering message_id '{}' (type '{}'): {}", clip(env.message.message_id),
                 clip(env.message.type), reason);
    const amqp::Message copy = dead_letter_copy(env.message, reason, {cfg_.names.ack_queue, "coordinator", rule});
    if (!rule.empty()) {
      st_.refused += 1;
      st_.metrics->record_refused(rule);
    }
    audit(rule.empty() ? "invalid" : rule, env.message.user_id, reason);
    auto id = client_.publish(cfg_.names.dlx, env.routing_key, copy, false);
    if (!id) {
      logger().error("coordinator: dead-letter publish failed ({}); rejecting to the queue's DLX instead",
                    id.error().to_string());
      reject(env);
    } else {
      dl_inflight_.emplace(*id, std::move(env));
    }
    st_.dead_lettered += 1;
    st_.metrics->record_dead_lettered(1);
  }

  void audit(const std::string& rule, const std::string& sender, const std::string& reason) {
    if (audit_.empty()) audit_since_ = SteadyClock::now();
    auto& a = audit_[{rule, sender}];
    a.rule = rule;
    a.sender = sender;
    a.count += 1;
    a.last_at = refstore::Clock::now();
    a.last_reason = reason;
  }

  void reject(const amqp::Envelope& env) {
    window_.forget(env.epoch, env.delivery_tag);
    (void)client_.reject(env, false);
  }

  void flush_batch() {
    for (auto& [k, a] : audit_) current_.audit.push_back(std::move(a));
    audit_.clear();
    if (current_.commands.empty() && current_.audit.empty()) return;
    ++batches_in_flight_;
    to_store_.push(std::move(current_));
    current_ = Batch{};
    current_.epoch = window_.epoch();
  }

  // Why `cmd` of `env` may not be applied ("" = it may), and the rule (metric label; "" = invalid).
  std::pair<std::string, std::string> refusal_of(const amqp::Envelope& env, const refstore::Command& cmd) const {
    if (auto refusal = check_sender(cfg_, env.message, cmd)) return {refusal->reason, refusal->rule};
    if (const auto* store_in = std::get_if<refstore::StoreInput>(&cmd)) return {store_outside_scope(cfg_, *store_in), ""};
    return {};
  }

  void on_delivery(amqp::Envelope& env) {
    if (stopping_) return;  // not acked: the broker requeues it when we close
    st_.deliveries += 1;
    last_activity_ = SteadyClock::now();
    if (env.epoch != window_.epoch()) return;
    window_.received(env.delivery_tag);
    auto cmd = parse_coordinator_message(env.message);
    if (!cmd) return dead_letter(std::move(env), cmd.error().message);
    if (auto [why, rule] = refusal_of(env, *cmd); !why.empty()) return dead_letter(std::move(env), why, rule);
    if (const auto* store_in = std::get_if<refstore::StoreInput>(&*cmd)) raise_lifecycle(*store_in);
    if (current_.commands.empty()) current_started_ = SteadyClock::now();
    current_.commands.push_back(std::move(*cmd));
    current_.envelopes.push_back(std::move(env));
    if (current_.commands.size() >= cfg_.batch_size) flush_batch();
  }

  // A store record whose TTL exceeds what the safety-net rule waits: the sweeper raises the rule (never
  // refusing the record, which would make its object an orphan).
  void raise_lifecycle(const refstore::StoreInput& in) {
    const int days = lifecycle_days_for(in.created_at, in.expires_at);
    int have = st_.required_lifecycle_days.load();
    while (days > have && !st_.required_lifecycle_days.compare_exchange_weak(have, days)) {
    }
    if (days > have && cfg_.lifecycle_days > 0 && days > cfg_.lifecycle_days) st_.sweep_wakeup.notify();
  }

  void on_dead_letter_settled(const amqp::Event& ev) {
    auto it = dl_inflight_.find(ev.publish_id);
    if (it == dl_inflight_.end()) return;
    if (ev.kind == amqp::Event::Kind::Confirmed) {
      window_.settle(it->second.epoch, it->second.delivery_tag);
    } else {
      logger().error("coordinator: dead-letter publish failed ({}); rejecting to the queue's DLX instead", ev.reason);
      reject(it->second);
    }
    dl_inflight_.erase(it);
  }

  void on_reconnected(const amqp::Event& ev) {
    logger().warn("coordinator: reconnected to RabbitMQ ({}); unacked deliveries will be redelivered", ev.reason);
    window_.reset(client_.epoch());
    watermark_.reset();
    current_ = Batch{};
    current_.epoch = window_.epoch();
  }

  void on_event(amqp::Event& ev) {
    using K = amqp::Event::Kind;
    switch (ev.kind) {
      case K::Delivery: return on_delivery(ev.delivery);
      case K::Confirmed:
      case K::Failed: return on_dead_letter_settled(ev);
      case K::Reconnected: return on_reconnected(ev);
      case K::Cancelled:
        if (stopping_) return;
        outcome_ = fail(ErrorCode::Unavailable, Origin::Amqp, "the broker cancelled the consumer of " + ev.reason);
        logger().error("coordinator: {}", outcome_.error().to_string());
        st_.stop_requested.store(true);
        return;
      case K::Blocked: logger().warn("coordinator: connection blocked by the broker: {}", ev.reason); return;
      case K::Unblocked: logger().info("coordinator: connection unblocked"); return;
    }
  }

  void drain_store() {
    for (auto& done : from_store_.drain()) {
      --batches_in_flight_;
      last_activity_ = SteadyClock::now();
      if (done.epoch != window_.epoch()) continue;  // acks would be no-ops; the broker redelivers (idempotent)
      for (auto& env : done.envelopes) window_.settle(env.epoch, env.delivery_tag);
      for (auto& inv : done.invalid) dead_letter(std::move(inv.env), inv.reason, inv.rule);
      // done.failed: the rest stays unacked and is redelivered after we close.
    }
  }

  Coordinator::Impl& st_;
  const CoordinatorConfig& cfg_;
  amqp::Client& client_;
  WorkQueue<Batch>& to_store_;
  WorkQueue<BatchDone>& from_store_;
  AckWindow window_;
  CaughtUpWatermark watermark_;
  std::map<std::uint64_t, amqp::Envelope> dl_inflight_;  // dead-letter publish id → original delivery
  std::map<std::pair<std::string, std::string>, refstore::RefusalAudit> audit_;  // (rule, sender) → since last flush
  SteadyClock::time_point audit_since_{};
  Batch current_;
  SteadyClock::time_point current_started_{}, last_activity_{}, stop_deadline_{};
  std::size_t batches_in_flight_ = 0;
  bool stopping_ = false;
  Result<void> outcome_ = ok();
};

}  // namespace

Result<void> Coordinator::Impl::run() {
  // Open everything that can fail before starting threads.
  CC_TRY(apply_store, refstore::open_ref_store(cfg.db));
  CC_TRY(delete_store, refstore::open_ref_store(cfg.db));
  CC_TRY(sweep_store, refstore::open_ref_store(cfg.db));
  CC_TRY(status_store, refstore::open_ref_store(cfg.db));
  CC_TRY(delete_s3, s3::S3Client::create(cfg.s3));
  CC_TRY(sweep_s3, s3::S3Client::create(cfg.s3));
  amqp::Client client(cfg.amqp);
  CC_TRY_VOID(client.connect());
  CC_TRY_VOID(client.declare(coordinator_topology(cfg.names)));
  started_at_ns.store(
      std::chrono::duration_cast<std::chrono::nanoseconds>(refstore::Clock::now().time_since_epoch()).count());
  broker_connected.store(client.connected());

  WorkQueue<Batch> to_store;
  WorkQueue<BatchDone> from_store;
  client.set_interrupt_check([&] { return !from_store.empty() || stop_requested.load(); });
  workers_stop.store(false);
  std::thread store_thread(run_store_thread, std::ref(*this), std::move(*apply_store), std::ref(to_store),
                           std::ref(from_store));
  std::thread delete_thread(run_delete_worker, std::ref(*this), std::move(*delete_store), std::move(*delete_s3));
  std::thread sweep_thread(run_sweeper, std::ref(*this), std::move(*sweep_store), std::move(*sweep_s3));
  std::thread status_thread(run_status_refresher, std::ref(*this), std::move(*status_store));
  auto join_all = [&] {
    to_store.close();
    if (store_thread.joinable()) store_thread.join();
    workers_stop.store(true);
    delete_wakeup.notify();
    sweep_wakeup.notify();
    status_wakeup.notify();
    if (delete_thread.joinable()) delete_thread.join();
    if (sweep_thread.joinable()) sweep_thread.join();
    if (status_thread.joinable()) status_thread.join();
  };
  std::uint16_t prefetch = cfg.prefetch;
  if (prefetch == 0) prefetch = static_cast<std::uint16_t>(std::min<std::size_t>(65535, cfg.batch_size * 4));
  if (auto c = client.consume(cfg.names.ack_queue, prefetch); !c) {
    join_all();
    return c;
  }
  log_start(prefetch);
  CoordinatorLoop loop(*this, client, to_store, from_store);
  Result<void> outcome = loop.run();
  join_all();
  loop.final_acks();
  if (client.connected() && client.unconfirmed() > 0) {
    std::vector<amqp::Event> rest;  // late deliveries are left unacked: requeued on close
    (void)client.wait_confirms(2s, &rest);
  }
  client.close();
  broker_connected.store(false);
  client.set_interrupt_check({});  // it refers to queues local to this function
  logger().info("coordinator: stopped: {} deliveries, {} batches, {} completed, {} deleted ({} expired), {} orphans, "
               "{} dead-lettered",
               deliveries.load(), batches.load(), completed.load(), deleted.load(), expired_deleted.load(),
               orphans_deleted.load(), dead_lettered.load());
  return outcome;
}

void Coordinator::Impl::log_start(std::uint16_t prefetch) const {
  if (cfg.accept_unauthenticated_acks)
    logger().warn("coordinator: accepting acks without AMQP user_id or sha256 (compatibility mode): any client that "
                 "can publish to {} can complete objects; those that carry them are still checked",
                 cfg.names.ack_exchange);
  logger().info("coordinator: consuming {} (single active consumer; prefetch {}, batch {} / {} ms), db {}",
               cfg.names.ack_queue, prefetch, cfg.batch_size, cfg.batch_delay.count(), redact_dsn(cfg.db.dsn));
}

}  // namespace claimcheck
