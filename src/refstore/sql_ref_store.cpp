// The RefStore engine: state machine and invariants (DESIGN.md §5) over the SqlDb layer, shared by
// SQLite and PostgreSQL so both backends behave identically.
#include "claimcheck/core/text.h"
#include "claimcheck/core/log.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <numeric>
#include <string>

#include "refstore/sql_db.h"
#include "refstore/staged_batch.h"

namespace claimcheck::refstore::detail {
namespace {

using Row = std::vector<std::optional<std::string>>;

std::int64_t to_us(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
TimePoint from_us(std::int64_t us) {
  return TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::microseconds(us)));
}

std::int64_t as_int(const std::optional<std::string>& f) {
  if (!f) return 0;
  std::int64_t v = 0;
  std::from_chars(f->data(), f->data() + f->size(), v);
  return v;
}
std::string as_str(const std::optional<std::string>& f) { return f ? *f : std::string{}; }

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::size_t pos = 0;
  for (;;) {
    const auto nl = s.find('\n', pos);
    out.push_back(s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::vector<std::string> normalized_recipients(std::vector<std::string> r) {
  std::sort(r.begin(), r.end());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  return r;
}

/// One row of `objects` (column order = CC_OBJ_COLS in sql_statements.cpp).
struct ObjRow {
  std::string pointer_id;
  ObjectState state = ObjectState::Placeholder;
  bool has_store = false;
  std::string bucket, key;
  std::vector<std::string> recipients;  // sorted
  std::int64_t total = 0, processed_count = 0, size_stored = 0;
  std::string sha256;
  std::int64_t created_at = 0, expires_at = 0;
  std::optional<std::int64_t> completed_at, deleted_at;
  std::int64_t attempts = 0;
  std::string last_error, producer_id;
};

Result<ObjRow> parse_obj(const Row& r) {
  if (r.size() < 17) return fail(ErrorCode::Internal, Origin::Refstore, "objects row has too few columns");
  ObjRow o;
  o.pointer_id = as_str(r[0]);
  CC_TRY(st, parse_object_state(as_str(r[1])));
  o.state = *st;
  o.has_store = as_int(r[2]) != 0;
  o.bucket = as_str(r[3]);
  o.key = as_str(r[4]);
  o.recipients = split_lines(as_str(r[5]));
  o.total = as_int(r[6]);
  o.processed_count = as_int(r[7]);
  o.size_stored = as_int(r[8]);
  o.sha256 = as_str(r[9]);
  o.created_at = as_int(r[10]);
  o.expires_at = as_int(r[11]);
  if (r[12]) o.completed_at = as_int(r[12]);
  if (r[13]) o.deleted_at = as_int(r[13]);
  o.attempts = as_int(r[14]);
  o.last_error = as_str(r[15]);
  o.producer_id = as_str(r[16]);
  return o;
}

Result<void> validate_command(const Command& c) {
  if (const auto* s = std::get_if<StoreInput>(&c)) {
    if (s->pointer_id.empty() || s->bucket.empty() || s->key.empty() || s->recipients.empty()) {
      return fail(ErrorCode::InvalidArgument, Origin::Refstore,
                  "store record needs pointer_id, bucket, key and at least one recipient");
    }
    for (const auto& r : s->recipients) {
      if (r.empty() || r.find('\n') != std::string::npos) {
        return fail(ErrorCode::InvalidArgument, Origin::Refstore, "store record " + s->pointer_id +
                                                                ": recipient ids must be non-empty, without newlines");
      }
    }
    return ok();
  }
  const auto& a = std::get<AckInput>(c);
  if (a.pointer_id.empty() || a.recipient_id.empty() || a.recipient_id.find('\n') != std::string::npos) {
    return fail(ErrorCode::InvalidArgument, Origin::Refstore, "ack needs pointer_id and recipient_id");
  }
  return ok();
}

const std::string& pointer_of(const Command& c) {
  return std::visit([](const auto& x) -> const std::string& { return x.pointer_id; }, c);
}

/// How a sender is named in refusal reasons.
std::string sender_name(const std::string& sender) { return sender.empty() ? "(no user_id)" : sender; }

class SqlRefStore final : public RefStore {
 public:
  SqlRefStore(std::unique_ptr<SqlDb> db, const RefStoreConfig& cfg, BatchMode mode)
      : db_(std::move(db)),
        run_(db_.get()),
        staged_(mode == BatchMode::Staged && db_->backend() == Backend::Postgres),
        max_per_sender_(cfg.max_placeholder_acks_per_sender),
        max_total_(cfg.max_placeholder_acks) {}

  Result<void> migrate() {
    return txn(true, [&]() -> Result<void> {
      CC_TRY_VOID(db_->prepare_migration());
      CC_TRY_VOID(db_->exec_script("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
      CC_TRY(rows, db_->exec(Stmt::SchemaVersion, {}));
      const std::int64_t v = rows->rows.empty() ? 0 : as_int(rows->rows[0][0]);
      if (v > kSchemaVersion) {
        return fail(ErrorCode::FailedPrecondition, Origin::Refstore,
                    "database schema version " + std::to_string(v) + " is newer than this build's " +
                        std::to_string(kSchemaVersion));
      }
      if (v < 1) CC_TRY_VOID(db_->exec_script(schema_v1_ddl()));
      CC_TRY_VOID(db_->exec_script(placeholder_ddl()));
      return ok();
    });
  }

  Result<ApplyResult> apply_batch(const std::vector<Command>& commands, TimePoint now) override {
    for (const auto& c : commands) CC_TRY_VOID(validate_command(c));
    // Lock objects in pointer_id order (stable: per-object order is kept) so concurrent batches on
    // PostgreSQL never wait on each other in a cycle.
    std::vector<std::size_t> order(commands.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
      return pointer_of(commands[x]) < pointer_of(commands[y]);
    });
    const std::int64_t now_us = to_us(now);
    if (staged_) return apply_staged(commands, order, now_us);
    deltas_.clear();
    return txn(true, [&]() { return apply_in_order(commands, order, now_us); });
  }

  Result<std::vector<DeleteTask>> claim_deletions(TimePoint now, std::size_t limit,
                                                  std::chrono::seconds lease) override {
    const std::int64_t now_us = to_us(now);
    const std::int64_t until = to_us(now + lease);
    return txn(true, [&]() -> Result<std::vector<DeleteTask>> {
      CC_TRY(expired, db_->exec(Stmt::ExpireDue, {now_us}));
      if (expired->affected > 0) logger().info("refstore: {} object(s) expired", expired->affected);
      std::vector<std::pair<std::int64_t, DeleteTask>> found;
      if (limit > 0) {
        CC_TRY(rows, db_->exec(Stmt::ClaimDue, {now_us, until, static_cast<std::int64_t>(limit)}));
        for (const auto& r : rows->rows) {
          DeleteTask t;
          t.pointer_id = as_str(r[0]);
          t.bucket = as_str(r[1]);
          t.key = as_str(r[2]);
          CC_TRY(st, parse_object_state(as_str(r[3])));
          t.state = *st;
          t.attempts = static_cast<int>(as_int(r[4]));
          t.version_id = as_str(r[6]);
          found.emplace_back(as_int(r[5]), std::move(t));
        }
      }
      std::sort(found.begin(), found.end(), [](const auto& x, const auto& y) {
        return x.first != y.first ? x.first < y.first : x.second.pointer_id < y.second.pointer_id;
      });
      std::vector<DeleteTask> out;
      out.reserve(found.size());
      for (auto& f : found) out.push_back(std::move(f.second));
      return out;
    });
  }

  Result<void> mark_deleted(const std::vector<std::string>& pointer_ids, TimePoint now) override {
    std::vector<std::string> ids = pointer_ids;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    const std::int64_t now_us = to_us(now);
    if (staged_ && !ids.empty()) return mark_deleted_set(ids, now_us);
    return txn(true, [&]() -> Result<void> {
      std::int64_t changed = 0;
      for (const auto& id : ids) {
        CC_TRY(r, db_->exec(Stmt::MarkDeleted, {id, now_us}));
        changed += r->affected;
      }
      logger().debug("refstore: marked {} of {} object(s) DELETED", changed, ids.size());
      return ok();
    });
  }

  Result<void> mark_delete_failed(const std::string& pointer_id, const std::string& error,
                                  TimePoint next_attempt) override {
    return txn(true, [&]() -> Result<void> {
      CC_TRY(r, db_->exec(Stmt::MarkFailed, {pointer_id, error, to_us(next_attempt)}));
      return ok();
    });
  }

  Result<std::vector<std::string>> known_keys(const std::string& bucket,
                                              const std::vector<std::string>& keys) override {
    return txn(false, [&]() -> Result<std::vector<std::string>> {
      std::vector<std::string> out;
      for (const auto& k : keys) {
        CC_TRY(r, db_->exec(Stmt::KnownKey, {bucket, k}));
        if (!r->rows.empty()) out.push_back(k);
      }
      return out;
    });
  }

  Result<std::optional<ObjectStatus>> get(const std::string& pointer_id) override {
    return txn(false, [&]() { return load_status(pointer_id); });
  }

  Result<Summary> summary(std::size_t oldest_n, TimePoint /*now*/) override {
    return txn(false, [&]() -> Result<Summary> {
      Summary s;
      for (ObjectState st : {ObjectState::Placeholder, ObjectState::Pending, ObjectState::Complete,
                             ObjectState::Expired, ObjectState::Deleted}) {
        s.counts[st] = 0;
      }
      CC_TRY(counts, db_->exec(Stmt::CountStates, {}));
      for (const auto& r : counts->rows) {
        CC_TRY(st, parse_object_state(as_str(r[0])));
        s.counts[*st] = as_int(r[1]);
      }
      if (oldest_n > 0) {
        CC_TRY(ids, db_->exec(Stmt::OldestPending, {static_cast<std::int64_t>(oldest_n)}));
        for (const auto& r : ids->rows) {
          CC_TRY(st, load_status(as_str(r[0])));
          if (*st) s.oldest_pending.push_back(std::move(**st));
        }
      }
      return s;
    });
  }

  Result<std::vector<RecipientBacklog>> recipient_backlog() override {
    return txn(false, [&]() -> Result<std::vector<RecipientBacklog>> {
      CC_TRY(rows, db_->exec(Stmt::RecipientBacklog, {}));
      std::vector<RecipientBacklog> out;
      for (const auto& r : rows->rows) {
        RecipientBacklog b;
        b.recipient_id = as_str(r[0]);
        b.pending = as_int(r[1]);
        b.rejected = as_int(r[2]);
        if (r[3]) b.oldest_pending_created_at = from_us(as_int(r[3]));
        out.push_back(std::move(b));
      }
      std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.recipient_id < b.recipient_id; });
      return out;
    });
  }

  Result<std::size_t> purge_placeholders(TimePoint older_than) override {
    deltas_.clear();
    return txn(true, [&]() -> Result<std::size_t> {
      CC_TRY(rows, db_->exec(Stmt::PurgePlaceholders, {to_us(older_than)}));
      for (const auto& r : rows->rows) {
        CC_TRY(checks, release_placeholder(as_str(r[0])));
        CC_TRY(d, db_->exec(Stmt::DeleteAcks, {as_str(r[0])}));
      }
      CC_TRY_VOID(flush_bumps());
      return rows->rows.size();
    });
  }

  Result<std::size_t> purge_history(TimePoint older_than) override {
    return txn(true, [&]() -> Result<std::size_t> {
      CC_TRY(rows, db_->exec(Stmt::PurgeDeleted, {to_us(older_than)}));
      for (const auto& r : rows->rows) {
        CC_TRY(d, db_->exec(Stmt::DeleteAcks, {as_str(r[0])}));
      }
      if (!rows->rows.empty()) CC_TRY_VOID(db_->exec(Stmt::PurgeVersions, {}));
      return rows->rows.size();
    });
  }

  Result<void> record_refusals(const std::vector<RefusalAudit>& lines) override {
    if (lines.empty()) return ok();
    return txn(true, [&]() -> Result<void> {
      for (const auto& l : lines) {
        CC_TRY(r, db_->exec(Stmt::RecordRefusal, {l.rule, l.sender, l.count, to_us(l.last_at),
                                                   l.last_reason.substr(0, 512)}));
      }
      return ok();
    });
  }

  Result<std::vector<RefusalAudit>> refusals() override {
    return txn(false, [&]() -> Result<std::vector<RefusalAudit>> {
      CC_TRY(rows, db_->exec(Stmt::ListRefusals, {}));
      std::vector<RefusalAudit> out;
      for (const auto& r : rows->rows) {
        RefusalAudit a;
        a.rule = as_str(r[0]);
        a.sender = as_str(r[1]);
        a.count = as_int(r[2]);
        a.last_at = from_us(as_int(r[3]));
        a.last_reason = as_str(r[4]);
        out.push_back(std::move(a));
      }
      return out;
    });
  }

  Result<int> schema_version() override {
    return txn(false, [&]() -> Result<int> {
      CC_TRY(rows, db_->exec(Stmt::SchemaVersion, {}));
      return static_cast<int>(rows->rows.empty() ? 0 : as_int(rows->rows[0][0]));
    });
  }

 private:
  /// Runs f in one transaction; commits on success, rolls back on error.
  template <typename F>
  auto txn(bool write, F&& f) -> decltype(f()) {
    CC_TRY_VOID(db_->begin(write));
    auto r = f();
    if (!r.has_value()) {
      db_->rollback();
      return r;
    }
    CC_TRY_VOID(db_->commit());
    return r;
  }

  /// Applies the commands in `order` (grouped by pointer_id) through run_, then the placeholder counts.
  Result<ApplyResult> apply_in_order(const std::vector<Command>& commands, const std::vector<std::size_t>& order,
                                     std::int64_t now_us) {
    ApplyResult res;
    std::optional<ObjRow> cur;  // the row of cur_pid; nullopt while it does not exist
    std::string cur_pid;
    bool loaded = false;
    for (const std::size_t i : order) {
      const Command& c = commands[i];
      const std::string& pid = pointer_of(c);
      if (!loaded || cur_pid != pid) {
        CC_TRY(o, lock_existing(pid));
        cur = std::move(*o);
        cur_pid = pid;
        loaded = true;
      }
      if (const auto* s = std::get_if<StoreInput>(&c)) {
        if (!cur) {
          CC_TRY(o, create_placeholder(pid, now_us));
          cur = std::move(*o);
        }
        CC_TRY_VOID(apply_store(*cur, *s, now_us, res));
      } else {
        CC_TRY_VOID(apply_ack(cur, std::get<AckInput>(c), i, now_us, res));
      }
    }
    CC_TRY_VOID(flush_bumps());
    return res;
  }

  /// PostgreSQL: mark_deleted() for all of `ids` (sorted, unique) in one statement and one round trip (BEGIN,
  /// the statement and COMMIT in one query string) instead of one statement per object.
  Result<void> mark_deleted_set(const std::vector<std::string>& ids, std::int64_t now_us) {
    CC_TRY_VOID(db_->begin(true));
    const std::vector<Call> calls{{Stmt::BatchIndexLookups, {}},
                                  {Stmt::BatchMarkDeleted, {pg_array_literal({ids.begin(), ids.end()}), now_us}}};
    auto r = db_->exec_all(calls, true);
    if (!r) {
      db_->rollback();
      return Unexpected{std::move(r).error()};
    }
    logger().debug("refstore: marked {} of {} object(s) DELETED", r->size() == 2 ? (*r)[1].affected : 0, ids.size());
    return ok();
  }

  /// PostgreSQL: the same statements, answered by a staged copy loaded and written set-based in two round
  /// trips (staged_batch.h). A batch that lost a race to create an object row (nothing of it committed) runs
  /// again; after kStagedAttempts such races in a row: Aborted.
  Result<ApplyResult> apply_staged(const std::vector<Command>& commands, const std::vector<std::size_t>& order,
                                   std::int64_t now_us) {
    constexpr int kStagedAttempts = 5;
    for (int attempt = 1; attempt <= kStagedAttempts; ++attempt) {
      deltas_.clear();
      CC_TRY_VOID(db_->begin(true));
      auto res = staged_attempt(commands, order, now_us);
      if (res && *res) return std::move(**res);
      db_->rollback();
      if (!res) return Unexpected{std::move(res).error()};
      logger().debug("refstore: batch lost a race to create an object row (attempt {}), running it again", attempt);
    }
    return fail(ErrorCode::Aborted, Origin::Refstore, "batch kept losing races to create object rows; retry it");
  }

  /// One staged run of a batch inside the open transaction: load, apply, write and commit. nullopt = lost a
  /// race to create an object row, nothing committed (the caller rolls back).
  Result<std::optional<ApplyResult>> staged_attempt(const std::vector<Command>& commands,
                                                    const std::vector<std::size_t>& order, std::int64_t now_us) {
    StagedBatch staged(*db_);
    CC_TRY_VOID(staged.load(batch_pointer_ids(commands, order), batch_locations(commands), batch_senders(commands),
                            now_us));
    run_ = &staged;
    auto res = apply_in_order(commands, order, now_us);
    run_ = db_.get();
    if (!res) return Unexpected{std::move(res).error()};
    CC_TRY(committed, staged.flush_and_commit());
    if (!*committed) return std::optional<ApplyResult>{};
    return std::optional<ApplyResult>(std::move(*res));
  }

  /// The distinct senders of a batch's acks (for the placeholder caps), sorted.
  static std::vector<std::string> batch_senders(const std::vector<Command>& commands) {
    std::vector<std::string> out;
    for (const auto& c : commands) {
      if (const auto* a = std::get_if<AckInput>(&c)) out.push_back(a->sender);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  /// The distinct pointer_ids of a batch, sorted (byte order), from its sorted `order`.
  static std::vector<std::string> batch_pointer_ids(const std::vector<Command>& commands,
                                                    const std::vector<std::size_t>& order) {
    std::vector<std::string> out;
    for (const std::size_t i : order) {
      if (out.empty() || out.back() != pointer_of(commands[i])) out.push_back(pointer_of(commands[i]));
    }
    return out;
  }

  /// (bucket, key) of every store record of a batch (for the one-owner-per-location check).
  static std::vector<std::pair<std::string, std::string>> batch_locations(const std::vector<Command>& commands) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& c : commands) {
      if (const auto* s = std::get_if<StoreInput>(&c)) out.emplace_back(s->bucket, s->key);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  /// Locks the object row (PostgreSQL: FOR UPDATE); nullopt when there is none.
  Result<std::optional<ObjRow>> lock_existing(const std::string& pid) {
    CC_TRY(rows, run_->exec(Stmt::LockObject, {pid}));
    if (rows->rows.empty()) return std::optional<ObjRow>{};
    CC_TRY(o, parse_obj(rows->rows[0]));
    return std::optional<ObjRow>(std::move(*o));
  }

  /// Creates (and locks) a PLACEHOLDER row; locks the existing one when a concurrent transaction won.
  Result<ObjRow> create_placeholder(const std::string& pid, std::int64_t now_us) {
    CC_TRY(ins, run_->exec(Stmt::InsertPlaceholder, {pid, now_us}));
    if (!ins->rows.empty()) return parse_obj(ins->rows[0]);
    CC_TRY(again, run_->exec(Stmt::LockObject, {pid}));
    if (again->rows.empty()) return fail(ErrorCode::Aborted, Origin::Refstore, "object row vanished: " + pid);
    return parse_obj(again->rows[0]);
  }

  /// B1: why one more placeholder ack from `sender` is refused ("" = admitted). Counts include this
  /// transaction's pending deltas.
  Result<std::string> placeholder_refusal(const std::string& sender) {
    CC_TRY(mine, run_->exec(Stmt::SenderPlaceholders, {sender}));
    const auto d = deltas_.find(sender);
    const std::int64_t n = (mine->rows.empty() ? 0 : as_int(mine->rows[0][0])) + (d == deltas_.end() ? 0 : d->second);
    if (n >= max_per_sender_) {
      return "ack for an unknown pointer refused: user '" + sender_name(sender) + "' already has " +
             std::to_string(n) + " acks for unknown pointers (cap " + std::to_string(max_per_sender_) + " per user)";
    }
    CC_TRY(all, run_->exec(Stmt::TotalPlaceholders, {}));
    std::int64_t total = all->rows.empty() ? 0 : as_int(all->rows[0][0]);
    for (const auto& [who, delta] : deltas_) total += delta;
    if (total >= max_total_) {
      return "ack for an unknown pointer refused (user '" + sender_name(sender) + "'): " + std::to_string(total) +
             " acks for unknown pointers recorded (cap " + std::to_string(max_total_) + " in total)";
    }
    return std::string();
  }

  /// Writes the placeholder count deltas of this transaction, in sender order, last: every transaction takes
  /// the object row locks (pointer_id order) before these counter rows, so concurrent batches never deadlock.
  Result<void> flush_bumps() {
    for (const auto& [sender, delta] : deltas_) {
      if (delta == 0) continue;
      CC_TRY(b, run_->exec(Stmt::BumpPlaceholders, {sender, delta}));
    }
    deltas_.clear();
    return ok();
  }

  /// Frees a placeholder's share of the caps and forgets its checks; returns its (recipient_id, sha256) pairs.
  Result<std::vector<std::pair<std::string, std::string>>> release_placeholder(const std::string& pid) {
    CC_TRY(rows, run_->exec(Stmt::SelectAckChecks, {pid}));
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : rows->rows) {
      deltas_[as_str(r[1])] -= 1;
      out.emplace_back(as_str(r[0]), as_str(r[2]));
    }
    CC_TRY(d, run_->exec(Stmt::DeleteAckChecks, {pid}));
    return out;
  }

  /// The store record of a placeholder arrived: acks recorded with another sha256 are dropped (slot freed,
  /// never counted; S1), and the placeholder's share of the caps is released.
  Result<void> check_placeholder_acks(const StoreInput& s, ApplyResult& res) {
    CC_TRY(checks, release_placeholder(s.pointer_id));
    for (const auto& [rid, sha] : *checks) {
      if (sha.empty() || sha == s.sha256) continue;
      CC_TRY(d, run_->exec(Stmt::DeleteAck, {s.pointer_id, rid}));
      ++res.acks_sha256_discarded;
      logger().warn("refstore: ack for {} from {} dropped: ack sha256 does not match the store record", s.pointer_id,
                   rid);
    }
    return ok();
  }

  Result<void> apply_store(ObjRow& o, const StoreInput& s, std::int64_t now_us, ApplyResult& res) {
    auto recipients = normalized_recipients(s.recipients);
    if (o.has_store || o.state == ObjectState::Deleted) {
      ++res.stores_duplicate;
      if (o.bucket != s.bucket || o.key != s.key || o.recipients != recipients || o.size_stored != s.size_stored ||
          o.sha256 != s.sha256) {
        logger().warn("refstore: store record for {} conflicts with the first one (kept {}/{}, ignored {}/{})",
                     s.pointer_id, o.bucket, o.key, s.bucket, s.key);
      }
      return ok();
    }
    // S1: an object is deleted through its own store record only. A second record naming the location of
    // another live object (a forged or buggy store, possibly with a past expires_at or its own recipients)
    // would let its deletion remove an object other recipients still need: refuse it (dead-lettered).
    CC_TRY(owner, run_->exec(Stmt::KeyOwner, {s.bucket, s.key, s.pointer_id}));
    if (!owner->rows.empty()) {
      return fail(ErrorCode::InvalidArgument, Origin::Refstore,
                  "store record " + s.pointer_id + ": object " + s.bucket + "/" + s.key +
                      " already belongs to pointer " + as_str(owner->rows[0][0]));
    }
    // PLACEHOLDER (new or with earlier acks): fill in the store and re-evaluate the acks seen so far.
    CC_TRY_VOID(check_placeholder_acks(s, res));
    CC_TRY(slots, run_->exec(Stmt::SelectAckSlots, {s.pointer_id}));
    std::int64_t counted = 0;
    for (const auto& r : slots->rows) {
      const std::string rid = as_str(r[0]);
      if (!std::binary_search(recipients.begin(), recipients.end(), rid)) {
        CC_TRY(f, run_->exec(Stmt::SetForeign, {s.pointer_id, rid, std::int64_t{1}}));
        logger().warn("refstore: ack for {} from {} who is not an expected recipient (foreign, not counted)",
                     s.pointer_id, rid);
      } else if (as_int(r[1]) != 0) {
        ++counted;
      }
    }
    const auto total = static_cast<std::int64_t>(recipients.size());
    const bool complete = counted >= total;
    const ObjectState state = complete ? ObjectState::Complete : ObjectState::Pending;
    const Param completed_at = complete ? Param{now_us} : Param{};
    const std::string joined = join(recipients, "\n");
    CC_TRY(u, run_->exec(Stmt::FillStore, {s.pointer_id, std::string(to_string(state)), s.bucket, s.key, joined, total,
                                          counted, s.size_stored, s.sha256, to_us(s.created_at), to_us(s.expires_at),
                                          s.producer_id, completed_at}));
    // The version lives beside the row (object_versions), only on versioned buckets.
    if (!s.version_id.empty()) CC_TRY_VOID(run_->exec(Stmt::InsertVersion, {s.pointer_id, s.version_id}));
    ++res.stores_new;
    o.has_store = true;
    o.state = state;
    o.bucket = s.bucket;
    o.key = s.key;
    o.recipients = std::move(recipients);
    o.total = total;
    o.processed_count = counted;
    o.size_stored = s.size_stored;
    o.sha256 = s.sha256;
    if (complete) {
      o.completed_at = now_us;
      res.completed.push_back(s.pointer_id);
    }
    return ok();
  }

  Result<void> apply_ack(std::optional<ObjRow>& cur, const AckInput& a, std::size_t index, std::int64_t now_us,
                         ApplyResult& res) {
    if (cur && cur->state == ObjectState::Deleted) {  // terminal: nothing may resurrect it
      ++res.acks_duplicate;
      return ok();
    }
    const bool has_store = cur && cur->has_store;
    if (has_store && !a.sha256.empty() && a.sha256 != cur->sha256) {
      res.refused.push_back({index, "ack_sha256",
                             "ack sha256 does not match the store record (recipient '" + a.recipient_id +
                                 "', user '" + sender_name(a.sender) + "')"});
      return ok();
    }
    CC_TRY(slot, run_->exec(Stmt::AckSlot, {a.pointer_id, a.recipient_id}));
    if (!slot->rows.empty() && cur) return retake_slot(*cur, a, as_int(slot->rows[0][0]) != 0, now_us, res);
    if (!has_store) {
      CC_TRY(why, placeholder_refusal(a.sender));
      if (!why->empty()) {
        res.refused.push_back({index, "placeholder_cap", std::move(*why)});
        return ok();
      }
      if (!cur) {  // now locked; a concurrent transaction may have created (even filled) it: re-evaluate
        CC_TRY(o, create_placeholder(a.pointer_id, now_us));
        cur = std::move(*o);
        return apply_ack(cur, a, index, now_us, res);
      }
    }
    ObjRow& o = *cur;
    const bool foreign = has_store && !std::binary_search(o.recipients.begin(), o.recipients.end(), a.recipient_id);
    CC_TRY(ins, run_->exec(Stmt::InsertAck, {a.pointer_id, a.recipient_id, std::int64_t{a.processed ? 1 : 0},
                                            a.reason, to_us(a.processed_at), now_us, std::int64_t{foreign ? 1 : 0}}));
    if (ins->affected == 0) {  // slot taken: first ack of this recipient wins
      ++res.acks_duplicate;
      return ok();
    }
    ++res.acks_new;
    if (!has_store) {  // PLACEHOLDER: remember sender and sha256 for the caps and the check at store time
      CC_TRY(c, run_->exec(Stmt::InsertAckCheck, {a.pointer_id, a.recipient_id, a.sender, a.sha256}));
      deltas_[a.sender] += 1;
      return ok();
    }
    if (foreign) {
      ++res.acks_foreign;
      logger().warn("refstore: ack for {} from {} who is not an expected recipient (foreign, not counted)",
                   a.pointer_id, a.recipient_id);
      return ok();
    }
    if (!a.processed || o.state != ObjectState::Pending) return ok();
    return count_processed(o, a.pointer_id, now_us, res);
  }

  /// An ack for a taken slot: a duplicate, unless an authenticated `processed` replaces a `rejected`.
  Result<void> retake_slot(ObjRow& o, const AckInput& a, bool slot_processed, std::int64_t now_us,
                           ApplyResult& res) {
    if (slot_processed || !a.processed || a.sender.empty()) {
      ++res.acks_duplicate;
      return ok();
    }
    CC_TRY(u, run_->exec(Stmt::UpgradeAck, {a.pointer_id, a.recipient_id, to_us(a.processed_at), now_us}));
    if (u->affected == 0) {
      ++res.acks_duplicate;
      return ok();
    }
    ++res.acks_upgraded;
    logger().info("refstore: {} from {} (user {}): processed after its rejected ack", a.pointer_id, a.recipient_id,
                 a.sender);
    if (!o.has_store) {  // keep the sha256 of the processed ack for the check at store time
      CC_TRY(c, run_->exec(Stmt::InsertAckCheck, {a.pointer_id, a.recipient_id, a.sender, a.sha256}));
      return ok();
    }
    const bool foreign = !std::binary_search(o.recipients.begin(), o.recipients.end(), a.recipient_id);
    if (foreign || o.state != ObjectState::Pending) return ok();
    return count_processed(o, a.pointer_id, now_us, res);
  }

  /// One more expected recipient processed a PENDING object: progress, or COMPLETE.
  Result<void> count_processed(ObjRow& o, const std::string& pid, std::int64_t now_us, ApplyResult& res) {
    ++o.processed_count;
    if (o.processed_count >= o.total) {
      CC_TRY(u, run_->exec(Stmt::SetComplete, {pid, o.processed_count, now_us}));
      o.state = ObjectState::Complete;
      o.completed_at = now_us;
      res.completed.push_back(pid);
    } else {
      CC_TRY(u, run_->exec(Stmt::SetProgress, {pid, o.processed_count}));
    }
    return ok();
  }

  Result<std::optional<ObjectStatus>> load_status(const std::string& pid) {
    CC_TRY(rows, db_->exec(Stmt::GetObject, {pid}));
    if (rows->rows.empty()) return std::optional<ObjectStatus>{};
    CC_TRY(o, parse_obj(rows->rows[0]));
    ObjectStatus st;
    st.pointer_id = o->pointer_id;
    st.bucket = o->bucket;
    st.key = o->key;
    st.state = o->state;
    st.recipients = o->recipients;
    st.created_at = from_us(o->created_at);
    st.expires_at = from_us(o->expires_at);
    if (o->completed_at) st.completed_at = from_us(*o->completed_at);
    if (o->deleted_at) st.deleted_at = from_us(*o->deleted_at);
    st.delete_attempts = static_cast<int>(o->attempts);
    st.last_error = o->last_error;
    CC_TRY(acks, db_->exec(Stmt::GetAcks, {pid}));
    std::vector<std::string> processed;
    for (const auto& r : acks->rows) {
      AckView a;
      a.recipient_id = as_str(r[0]);
      a.processed = as_int(r[1]) != 0;
      a.reason = as_str(r[2]);
      a.processed_at = from_us(as_int(r[3]));
      a.received_at = from_us(as_int(r[4]));
      a.foreign = as_int(r[5]) != 0;
      if (a.processed && !a.foreign) processed.push_back(a.recipient_id);
      st.acks.push_back(std::move(a));
    }
    std::sort(st.acks.begin(), st.acks.end(),
              [](const AckView& x, const AckView& y) { return x.recipient_id < y.recipient_id; });
    std::sort(processed.begin(), processed.end());
    for (const auto& r : st.recipients) {
      if (!std::binary_search(processed.begin(), processed.end(), r)) st.missing.push_back(r);
    }
    return std::optional<ObjectStatus>(std::move(st));
  }

  std::unique_ptr<SqlDb> db_;
  StmtRunner* run_;  // where the apply_batch statements go: db_, or a StagedBatch during a PostgreSQL batch
  bool staged_;      // BatchMode::Staged on PostgreSQL
  std::int64_t max_per_sender_, max_total_;
  std::map<std::string, std::int64_t> deltas_;  // placeholder acks per sender added in the open transaction
};

}  // namespace

Result<std::unique_ptr<RefStore>> make_sql_ref_store(std::unique_ptr<SqlDb> db, const RefStoreConfig& cfg,
                                                     BatchMode mode) {
  auto store = std::make_unique<SqlRefStore>(std::move(db), cfg, mode);
  CC_TRY_VOID(store->migrate());
  return std::unique_ptr<RefStore>(std::move(store));
}

}  // namespace claimcheck::refstore::detail
