// Coordinator: AMQP thread (run()), store thread, and the glue to the delete worker and sweeper.
#include "claimcheck/coordinator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <limits>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "claimcheck/amqp/client.h"
#include "claimcheck/amqp/work_queue.h"
#include "claimcheck/protocol.h"
#include "pipeline/coordinator_internal.h"

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
  auto bad = [](const std::string& m) { return fail(ErrorCode::InvalidArgument, "config", m); };
  if (batch_size < 1 || batch_size > 100000) return bad("batch_size must be 1..100000");
  if (batch_delay < 0ms) return bad("batch_delay must be >= 0");
  if (sweep_interval < 1s) return bad("sweep_interval must be >= 1s");
  if (orphan_grace < 0s) return bad("orphan_grace must be >= 0");
  if (lifecycle_days < 0) return bad("lifecycle_days must be >= 0");
  if (delete_lease < 1s) return bad("delete_lease must be >= 1s");
  if (delete_backoff_initial < 1ms || delete_backoff_max < delete_backoff_initial)
    return bad("delete backoff: need 1ms <= delete_backoff_initial <= delete_backoff_max");
  if (placeholder_retention < 1s) return bad("placeholder_retention must be >= 1s");
  if (history_retention < 1s) return bad("history_retention must be >= 1s");
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
    return fail(ErrorCode::InvalidArgument, "protocol",
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
  return fail(ErrorCode::InvalidArgument, "protocol",
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
    spdlog::warn("coordinator: reopening the database failed: {}", r.error().to_string());
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
    CC_TRY(m, CoordinatorMetrics::create(""));
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

// Store thread: one apply_batch transaction per batch, retried on Aborted/Unavailable.
void run_store_thread(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store,
                      amqp::WorkQueue<Batch>& in, amqp::WorkQueue<BatchDone>& out) {
  // Aggregated progress log (info, at most every 2 s).
  auto last_log = SteadyClock::now();
  std::uint64_t agg_batches = 0, agg_cmds = 0, agg_completed = 0;
  auto flush_log = [&](bool force) {
    if (agg_batches == 0) return;
    if (!force && SteadyClock::now() - last_log < 2s) return;
    spdlog::info("coordinator: applied {} batches ({} stores/acks), {} objects completed; totals: stores {} new / {} "
                 "dup, acks {} new / {} dup / {} foreign",
                 agg_batches, agg_cmds, agg_completed, st.stores_new.load(), st.stores_duplicate.load(),
                 st.acks_new.load(), st.acks_duplicate.load(), st.acks_foreign.load());
    agg_batches = agg_cmds = agg_completed = 0;
    last_log = SteadyClock::now();
  };

  auto account = [&](const refstore::ApplyResult& r, std::size_t n, double secs) {
    st.batches += 1;
    st.stores_new += r.stores_new;
    st.stores_duplicate += r.stores_duplicate;
    st.acks_new += r.acks_new;
    st.acks_duplicate += r.acks_duplicate;
    st.acks_foreign += r.acks_foreign;
    st.completed += r.completed.size();
    st.metrics->record_batch(r, n, secs);
    if (r.acks_sha256_discarded > 0) {
      st.refused += r.acks_sha256_discarded;
      st.metrics->record_refused("ack_sha256", r.acks_sha256_discarded);
    }
    ++agg_batches;
    agg_cmds += n;
    agg_completed += r.completed.size();
    spdlog::debug("coordinator: batch of {} applied in {:.1f} ms: stores {}+{}dup, acks {}+{}dup+{}foreign, "
                  "completed {}",
                  n, secs * 1000.0, r.stores_new, r.stores_duplicate, r.acks_new, r.acks_duplicate,
                  r.acks_foreign, r.completed.size());
  };

  // Applies `cmds` with retries. Returns the result, or the last error when it gave up (stop requested
  // while failing, or InvalidArgument).
  auto apply_with_retry = [&](const std::vector<refstore::Command>& cmds) -> Result<refstore::ApplyResult> {
    auto delay = 5ms;
    for (int attempt = 1;; ++attempt) {
      auto t0 = SteadyClock::now();
      auto r = store->apply_batch(cmds, refstore::Clock::now());
      if (r) {
        account(*r, cmds.size(), std::chrono::duration<double>(SteadyClock::now() - t0).count());
        return r;
      }
      const Error& e = r.error();
      if (e.code == ErrorCode::InvalidArgument) return r;
      if (st.stop_requested.load() && attempt >= 3) return r;
      if (e.code == ErrorCode::Aborted) {
        spdlog::debug("coordinator: batch aborted (attempt {}), retrying: {}", attempt, e.to_string());
      } else {
        spdlog::warn("coordinator: applying a batch failed (attempt {}), retrying in {} ms: {}", attempt,
                     delay.count(), e.to_string());
        if (e.code == ErrorCode::Unavailable) reopen_store(st.cfg.db, store);
      }
      std::this_thread::sleep_for(delay);
      delay = std::min<std::chrono::milliseconds>(delay * 2, 2000ms);
    }
  };

  while (true) {
    auto b = in.wait_pop(200ms);
    if (!b) {
      flush_log(false);
      if (in.closed() && in.empty()) break;
      continue;
    }
    BatchDone done;
    done.epoch = b->epoch;
    auto r = apply_with_retry(b->commands);
    std::vector<std::string> completed;
    if (r) {
      completed = std::move(r->completed);
      split_refused(*r, std::move(b->envelopes), done);
    } else if (r.error().code == ErrorCode::InvalidArgument) {
      // Find the culprits: apply one by one; the refused ones are dead-lettered, the rest committed.
      spdlog::warn("coordinator: batch refused ({}); applying its {} commands one by one", r.error().to_string(),
                   b->commands.size());
      for (std::size_t i = 0; i < b->commands.size(); ++i) {
        auto one = apply_with_retry({b->commands[i]});
        if (one) {
          for (auto& c : one->completed) completed.push_back(std::move(c));
          std::vector<amqp::Envelope> single;
          single.push_back(std::move(b->envelopes[i]));
          split_refused(*one, std::move(single), done);
        } else if (one.error().code == ErrorCode::InvalidArgument) {
          done.invalid.push_back({std::move(b->envelopes[i]), one.error().message, ""});
        } else {
          done.failed = true;  // give up on the rest: unacked → redelivered later
          break;
        }
      }
    } else {
      spdlog::error("coordinator: giving up on a batch of {} at shutdown: {}", b->commands.size(),
                    r.error().to_string());
      done.failed = true;
    }
    if (!completed.empty()) {
      if (st.cfg.debug_crash_after_commit) {
        spdlog::warn("coordinator: --debug-crash-after-commit: SIGKILL after committing {} completed objects",
                     completed.size());
        std::raise(SIGKILL);
      }
      st.completion_gen += 1;
      st.delete_wakeup.notify();
    }
    out.push(std::move(done));
    flush_log(false);
  }
  flush_log(true);
}

}  // namespace

Result<void> Coordinator::Impl::run() {
  Impl& st = *this;
  const auto& names = cfg.names;

  // Open everything that can fail before starting threads.
  CC_TRY(apply_store, refstore::open_ref_store(cfg.db));
  CC_TRY(delete_store, refstore::open_ref_store(cfg.db));
  CC_TRY(sweep_store, refstore::open_ref_store(cfg.db));
  CC_TRY(delete_s3, s3::S3Client::create(cfg.s3));
  CC_TRY(sweep_s3, s3::S3Client::create(cfg.s3));

  amqp::Client client(cfg.amqp);
  CC_TRY_VOID(client.connect());
  CC_TRY_VOID(client.declare(amqp::coordinator_topology(names)));

  amqp::WorkQueue<Batch> to_store;
  amqp::WorkQueue<BatchDone> from_store;
  client.set_interrupt_check([&] { return !from_store.empty() || st.stop_requested.load(); });

  workers_stop.store(false);
  std::thread store_thread(run_store_thread, std::ref(st), std::move(*apply_store), std::ref(to_store),
                           std::ref(from_store));
  std::thread delete_thread(run_delete_worker, std::ref(st), std::move(*delete_store), std::move(*delete_s3));
  std::thread sweep_thread(run_sweeper, std::ref(st), std::move(*sweep_store), std::move(*sweep_s3));

  auto join_all = [&] {
    to_store.close();
    if (store_thread.joinable()) store_thread.join();
    workers_stop.store(true);
    delete_wakeup.notify();
    sweep_wakeup.notify();
    if (delete_thread.joinable()) delete_thread.join();
    if (sweep_thread.joinable()) sweep_thread.join();
  };

  std::uint16_t prefetch = cfg.prefetch;
  if (prefetch == 0) prefetch = static_cast<std::uint16_t>(std::min<std::size_t>(65535, cfg.batch_size * 4));
  if (auto c = client.consume(names.ack_queue, prefetch); !c) {
    join_all();
    return c;
  }
  if (cfg.accept_unauthenticated_acks)
    spdlog::warn("coordinator: accepting acks without AMQP user_id or sha256 (compatibility mode): any client that "
                 "can publish to {} can complete objects; those that carry them are still checked",
                 names.ack_exchange);
  spdlog::info("coordinator: consuming {} (single active consumer; prefetch {}, batch {} / {} ms), db {}",
               names.ack_queue, prefetch, cfg.batch_size, cfg.batch_delay.count(),
               redact_dsn(cfg.db.dsn));

  // AMQP-thread state.
  std::uint64_t epoch = client.epoch();
  std::set<std::uint64_t> unsettled;  // received, not yet settled (current epoch)
  std::set<std::uint64_t> settled;    // settled (committed / dead-letter confirmed), not yet basic.ack'ed
  struct DeadLetter {
    amqp::Envelope env;
  };
  std::map<std::uint64_t, DeadLetter> dl_inflight;  // publish_id → original delivery
  Batch current;
  current.epoch = epoch;
  auto current_started = SteadyClock::now();
  std::size_t batches_in_flight = 0;
  auto last_activity = SteadyClock::now();
  bool stopping = false;
  SteadyClock::time_point stop_deadline{};
  std::uint64_t max_tag = 0;  // highest delivery tag received in this epoch
  struct Watermark {
    enum State { Idle, Window, Settling } state = Idle;
    SteadyClock::time_point next_check{}, window_end{};
    std::chrono::system_clock::time_point time{};
    std::uint64_t tag = 0;
  } wm;
  Result<void> outcome = ok();

  auto settle = [&](const amqp::Envelope& env) {
    if (env.epoch != epoch) return;  // stale: the broker redelivers it
    if (unsettled.erase(env.delivery_tag) > 0) settled.insert(env.delivery_tag);
  };
  auto ack_settled = [&] {
    if (settled.empty()) return;
    const std::uint64_t blocker = unsettled.empty() ? std::numeric_limits<std::uint64_t>::max() : *unsettled.begin();
    auto it = settled.lower_bound(blocker);
    if (it == settled.begin()) return;  // every settled tag is above an unsettled one: wait for it
    amqp::Envelope e;
    e.delivery_tag = *std::prev(it);
    e.epoch = epoch;
    if (auto r = client.ack(e, /*multiple=*/true); !r)
      spdlog::debug("coordinator: ack up to tag {} failed ({}); the broker will redeliver", e.delivery_tag,
                    r.error().to_string());
    settled.erase(settled.begin(), it);
  };
  auto dead_letter = [&](amqp::Envelope env, const std::string& reason, const std::string& rule = {}) {
    spdlog::warn("coordinator: dead-lettering message_id '{}' (type '{}'): {}", clip(env.message.message_id),
                 clip(env.message.type), reason);
    amqp::Message copy = env.message;
    copy.headers[std::string(kHeaderError)] = reason;
    copy.headers["x-claimcheck-source-queue"] = names.ack_queue;
    copy.headers["x-claimcheck-recipient"] = "coordinator";
    if (!rule.empty()) {
      copy.headers["x-claimcheck-rule"] = rule;
      st.refused += 1;
      st.metrics->record_refused(rule);
    }
    auto id = client.publish(names.dlx, env.routing_key, copy, false);
    if (!id) {
      spdlog::error("coordinator: dead-letter publish failed ({}); rejecting to the queue's DLX instead",
                    id.error().to_string());
      if (env.epoch == epoch) unsettled.erase(env.delivery_tag);
      (void)client.reject(env, false);
    } else {
      dl_inflight.emplace(*id, DeadLetter{std::move(env)});
    }
    st.dead_lettered += 1;
    st.metrics->record_dead_lettered(1);
  };
  auto flush_batch = [&] {
    if (current.commands.empty()) return;
    ++batches_in_flight;
    to_store.push(std::move(current));
    current = Batch{};
    current.epoch = epoch;
  };

  while (true) {
    if (st.stop_requested.load() && !stopping) {
      stopping = true;
      stop_deadline = SteadyClock::now() + 10s;
      spdlog::info("coordinator: stopping: no new deliveries; finishing {} in-flight batches",
                   batches_in_flight + (current.commands.empty() ? 0 : 1));
      (void)client.cancel_consume(names.ack_queue);
      flush_batch();
    }

    auto polled = client.poll(50ms);
    if (!polled) {
      outcome = fail(std::move(polled).error());
      spdlog::error("coordinator: AMQP connection lost for good: {}", outcome.error().to_string());
      break;
    }
    for (auto& ev : *polled) {
      switch (ev.kind) {
        case amqp::Event::Kind::Delivery: {
          if (stopping) break;  // not acked: the broker requeues it when we close
          st.deliveries += 1;
          last_activity = SteadyClock::now();
          auto& env = ev.delivery;
          if (env.epoch != epoch) break;
          unsettled.insert(env.delivery_tag);
          max_tag = std::max(max_tag, env.delivery_tag);
          auto cmd = parse_coordinator_message(env.message);
          if (!cmd) {
            dead_letter(std::move(env), cmd.error().message);
            break;
          }
          if (auto refusal = check_sender(cfg, env.message, *cmd)) {
            dead_letter(std::move(env), refusal->reason, refusal->rule);
            break;
          }
          if (const auto* store_in = std::get_if<refstore::StoreInput>(&*cmd)) {
            if (auto why = store_outside_scope(cfg, *store_in); !why.empty()) {
              dead_letter(std::move(env), why);
              break;
            }
          }
          if (current.commands.empty()) current_started = SteadyClock::now();
          current.commands.push_back(std::move(*cmd));
          current.envelopes.push_back(std::move(env));
          if (current.commands.size() >= cfg.batch_size) flush_batch();
          break;
        }
        case amqp::Event::Kind::Confirmed: {
          auto it = dl_inflight.find(ev.publish_id);
          if (it != dl_inflight.end()) {
            settle(it->second.env);
            dl_inflight.erase(it);
          }
          break;
        }
        case amqp::Event::Kind::Failed: {
          auto it = dl_inflight.find(ev.publish_id);
          if (it != dl_inflight.end()) {
            spdlog::error("coordinator: dead-letter publish failed ({}); rejecting to the queue's DLX instead",
                          ev.reason);
            if (it->second.env.epoch == epoch) unsettled.erase(it->second.env.delivery_tag);
            (void)client.reject(it->second.env, false);
            dl_inflight.erase(it);
          }
          break;
        }
        case amqp::Event::Kind::Reconnected:
          spdlog::warn("coordinator: reconnected to RabbitMQ ({}); unacked deliveries will be redelivered",
                       ev.reason);
          epoch = client.epoch();
          max_tag = 0;
          wm.state = Watermark::Idle;
          unsettled.clear();
          settled.clear();
          current = Batch{};
          current.epoch = epoch;
          break;
        case amqp::Event::Kind::Cancelled:
          if (!stopping) {
            outcome = fail(ErrorCode::Unavailable, "amqp", "the broker cancelled the consumer of " + ev.reason);
            spdlog::error("coordinator: {}", outcome.error().to_string());
            st.stop_requested.store(true);
          }
          break;
        case amqp::Event::Kind::Blocked:
          spdlog::warn("coordinator: connection blocked by the broker: {}", ev.reason);
          break;
        case amqp::Event::Kind::Unblocked:
          spdlog::info("coordinator: connection unblocked");
          break;
      }
    }

    for (auto& done : from_store.drain()) {
      --batches_in_flight;
      last_activity = SteadyClock::now();
      if (done.epoch != epoch) continue;  // acks would be no-ops; the broker redelivers (idempotent)
      for (auto& env : done.envelopes) settle(env);
      for (auto& inv : done.invalid) dead_letter(std::move(inv.env), inv.reason, inv.rule);
      // done.failed: the rest stays unacked and is redelivered after we close.
    }

    if (!current.commands.empty() && (stopping || SteadyClock::now() - current_started >= cfg.batch_delay))
      flush_batch();
    ack_settled();

    // Orphan-sweep watermark: when q.ack has no ready message at time C, every store record published before C
    // has been (or is about to be) delivered to us; wait 1 s for deliveries still on the wire, note the highest
    // tag, and once every delivery up to it is settled (committed or dead-lettered) publish C as caught_up_at.
    if (!stopping) {
      const auto now = SteadyClock::now();
      if (wm.state == Watermark::Window && now >= wm.window_end) {
        wm.tag = max_tag;
        wm.state = Watermark::Settling;
      }
      if (wm.state == Watermark::Settling && (unsettled.empty() || *unsettled.begin() > wm.tag) &&
          current.commands.empty() && batches_in_flight == 0) {
        const bool first = st.caught_up_at.load() == 0;
        st.caught_up_at.store(std::chrono::duration_cast<std::chrono::nanoseconds>(wm.time.time_since_epoch()).count());
        wm.state = Watermark::Idle;
        if (first) st.sweep_wakeup.notify();  // the orphan sweep may run now
      }
      if (wm.state == Watermark::Idle && now >= wm.next_check) {
        wm.next_check = now + 1s;
        const auto c = std::chrono::system_clock::now();
        auto n = client.queue_message_count(names.ack_queue);
        if (n && *n == 0) {
          wm.time = c;
          wm.window_end = now + 1s;
          wm.state = Watermark::Window;
        }
      }
    }

    if (stopping) {
      bool drained = current.commands.empty() && batches_in_flight == 0;
      if ((drained && dl_inflight.empty()) || (drained && SteadyClock::now() > stop_deadline)) break;
      if (SteadyClock::now() > stop_deadline + 20s) {
        spdlog::error("coordinator: shutdown timed out with {} batches in flight", batches_in_flight);
        break;
      }
      continue;
    }

    if (cfg.exit_when_idle > 0ms && SteadyClock::now() - last_activity >= cfg.exit_when_idle &&
        current.commands.empty() && batches_in_flight == 0 && unsettled.empty() && dl_inflight.empty() &&
        st.sweeps_done.load() > 0 && st.deleter_seen_gen.load() == st.completion_gen.load() &&
        st.outstanding_deletes.load() == 0) {
      spdlog::info("coordinator: idle for {} ms with nothing left to delete: exiting", cfg.exit_when_idle.count());
      st.stop_requested.store(true);
    }
  }

  ack_settled();
  join_all();
  // Final acks of what the store thread committed while we were joining it.
  for (auto& done : from_store.drain()) {
    if (done.epoch != epoch) continue;
    for (auto& env : done.envelopes) settle(env);
  }
  ack_settled();
  if (client.connected() && client.unconfirmed() > 0) {
    std::vector<amqp::Event> rest;  // late deliveries are left unacked: requeued on close
    (void)client.wait_confirms(2s, &rest);
  }
  client.close();
  client.set_interrupt_check({});  // it refers to queues local to this function
  spdlog::info("coordinator: stopped: {} deliveries, {} batches, {} completed, {} deleted ({} expired), {} orphans, "
               "{} dead-lettered",
               st.deliveries.load(), st.batches.load(), st.completed.load(), st.deleted.load(),
               st.expired_deleted.load(), st.orphans_deleted.load(), st.dead_lettered.load());
  return outcome;
}

}  // namespace claimcheck
