// One apply_batch() staged in memory and written set-based (see staged_batch.h).
#include "refstore/staged_batch.h"

#include <array>
#include <charconv>

namespace claimcheck::refstore::detail {
namespace {

// Columns of OBJ_COLS (sql_statements.cpp) the engine reads or writes.
enum ObjCol : std::size_t {
  kPointer = 0, kState = 1, kHasStore = 2, kBucket = 3, kKey = 4, kRecipients = 5, kTotal = 6,
  kProcessed = 7, kSize = 8, kSha = 9, kCreated = 10, kExpires = 11, kCompleted = 12, kProducer = 16,
};
// Every column apply_batch may change, in BatchUpdateObjects' parameter order.
constexpr std::array<std::size_t, 14> kMutableCols{kPointer, kState,   kHasStore, kBucket,  kKey,
                                                   kRecipients, kTotal, kProcessed, kSize,  kSha,
                                                   kCreated, kExpires, kCompleted, kProducer};
// Columns of an ack row (InsertAck's parameter order).
enum AckCol : std::size_t { kAckProcessed = 2, kAckReason = 3, kAckProcessedAt = 4, kAckReceivedAt = 5, kAckForeign = 6 };
constexpr std::size_t kAckCols = 7;

std::optional<std::string> field(const Param& p) {
  if (const auto* v = std::get_if<std::int64_t>(&p)) return std::to_string(*v);
  if (const auto* t = std::get_if<std::string>(&p)) return *t;
  return std::nullopt;
}
std::string text(const Param& p) { return field(p).value_or(std::string{}); }

/// The integer of a field; 0 when NULL.
std::int64_t field_int(const std::optional<std::string>& f) {
  std::int64_t n = 0;
  if (f) std::from_chars(f->data(), f->data() + f->size(), n);
  return n;
}

/// The integer of a single-value result (COUNT/SUM/n); 0 when there is no row or NULL.
std::int64_t first_int(const Rows& r) { return r.rows.empty() || r.rows[0].empty() ? 0 : field_int(r.rows[0][0]); }

Rows affected(std::int64_t n) {
  Rows r;
  r.affected = n;
  return r;
}
Rows one_row(std::vector<std::optional<std::string>> row) {
  Rows r;
  r.rows.push_back(std::move(row));
  return r;
}

Result<void> need_params(const std::vector<Param>& p, std::size_t n) {
  if (p.size() >= n) return ok();
  return fail(ErrorCode::Internal, Origin::Refstore, "staged statement with too few parameters");
}

/// The columns `cols` of `rows` as one array-literal parameter each (column-major, for unnest).
std::vector<Param> column_arrays(const std::vector<const std::vector<std::optional<std::string>>*>& rows,
                                 const std::size_t* cols, std::size_t ncols) {
  std::vector<Param> out;
  out.reserve(ncols);
  for (std::size_t c = 0; c < ncols; ++c) {
    std::vector<std::optional<std::string>> column;
    column.reserve(rows.size());
    for (const auto* r : rows) column.push_back((*r)[cols[c]]);
    out.emplace_back(pg_array_literal(column));
  }
  return out;
}

std::vector<std::optional<std::string>> as_fields(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

}  // namespace

std::string pg_array_literal(const std::vector<std::optional<std::string>>& elements) {
  std::string out = "{";
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ',';
    if (!elements[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (const char ch : *elements[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += '}';
  return out;
}

Result<void> StagedBatch::load(const std::vector<std::string>& pointer_ids,
                               const std::vector<std::pair<std::string, std::string>>& locations,
                               const std::vector<std::string>& senders, std::int64_t now_us) {
  now_us_ = now_us;
  if (pointer_ids.empty()) return ok();
  const Param ids = pg_array_literal(as_fields(pointer_ids));
  std::vector<Call> calls{{Stmt::BatchIndexLookups, {}},
                          {Stmt::BatchLockObjects, {ids}},
                          {Stmt::BatchLoadAcks, {ids}},
                          {Stmt::BatchLoadChecks, {ids}}};
  if (!locations.empty()) {
    std::vector<std::optional<std::string>> buckets, keys;
    for (const auto& [b, k] : locations) {
      buckets.emplace_back(b);
      keys.emplace_back(k);
    }
    calls.push_back({Stmt::BatchKeyOwners, {pg_array_literal(buckets), pg_array_literal(keys)}});
  }
  if (!senders.empty()) {
    calls.push_back({Stmt::BatchSenderCounts, {pg_array_literal(as_fields(senders))}});
    calls.push_back({Stmt::TotalPlaceholders, {}});
  }
  CC_TRY(rows, db_.exec_all(calls, false));
  if (rows->size() != calls.size()) return fail(ErrorCode::Internal, Origin::Refstore, "staged batch: missing results");
  CC_TRY_VOID(take_objects((*rows)[1], pointer_ids));
  CC_TRY_VOID(take_acks((*rows)[2]));
  take_checks((*rows)[3]);
  if (!locations.empty()) take_owners((*rows)[4]);
  if (!senders.empty()) take_counts(senders, (*rows)[rows->size() - 2], rows->back());
  return ok();
}

Result<void> StagedBatch::take_objects(Rows& rows, const std::vector<std::string>& pointer_ids) {
  for (auto& r : rows.rows) {
    if (r.size() <= kProducer) return fail(ErrorCode::Internal, Origin::Refstore, "objects row has too few columns");
    const std::string pid = r[kPointer].value_or("");
    objects_.emplace(pid, Obj{std::move(r)});
  }
  for (const auto& pid : pointer_ids) {  // not in the database: what InsertPlaceholder's RETURNING would give
    if (objects_.count(pid) > 0) continue;
    Row row{pid, "PLACEHOLDER", "0", "", "", "", "0", "0", "0", "", "0", "0", std::nullopt, std::nullopt, "0", "", ""};
    objects_.emplace(pid, Obj{std::move(row), false, true});
  }
  return ok();
}

Result<void> StagedBatch::take_acks(Rows& rows) {
  for (auto& r : rows.rows) {
    if (r.size() < kAckCols) return fail(ErrorCode::Internal, Origin::Refstore, "acks row has too few columns");
    AckKey k{r[0].value_or(""), r[1].value_or("")};
    acks_.emplace(k, r);
    loaded_acks_.emplace(std::move(k), std::move(r));
  }
  return ok();
}

void StagedBatch::take_checks(const Rows& rows) {
  for (const auto& r : rows.rows) {
    if (r.size() < 4) continue;
    checks_.emplace(AckKey{r[0].value_or(""), r[1].value_or("")}, Check{r[2].value_or(""), r[3].value_or("")});
    checks_loaded_.insert(r[0].value_or(""));
  }
}

void StagedBatch::take_owners(const Rows& rows) {
  for (const auto& r : rows.rows) {
    if (r.size() < 3) continue;
    owners_.emplace(std::make_pair(r[0].value_or(""), r[1].value_or("")), r[2].value_or(""));
  }
}

void StagedBatch::take_counts(const std::vector<std::string>& senders, const Rows& found, const Rows& total) {
  for (const auto& sender : senders) sender_counts_[sender] = 0;  // no row = 0
  for (const auto& r : found.rows) {
    if (r.size() >= 2) sender_counts_[r[0].value_or("")] = field_int(r[1]);
  }
  total_count_ = first_int(total);
}

Result<StagedBatch::Obj*> StagedBatch::locked(const std::string& pid) {
  const auto it = objects_.find(pid);
  if (it == objects_.end()) {
    return fail(ErrorCode::Internal, Origin::Refstore, "staged batch: object " + pid + " was not locked");
  }
  return &it->second;
}

Result<Rows> StagedBatch::exec(Stmt s, const std::vector<Param>& params) {
  switch (s) {
    case Stmt::LockObject:
    case Stmt::InsertPlaceholder:
    case Stmt::KeyOwner:
    case Stmt::FillStore:
    case Stmt::SetProgress:
    case Stmt::SetComplete:
      return exec_object(s, params);
    case Stmt::SelectAckSlots:
    case Stmt::AckSlot:
    case Stmt::InsertAck:
    case Stmt::UpgradeAck:
    case Stmt::SetForeign:
    case Stmt::DeleteAck:
      return exec_ack(s, params);
    case Stmt::SelectAckChecks:
    case Stmt::DeleteAckChecks:
    case Stmt::InsertAckCheck:
      return exec_check(s, params);
    case Stmt::SenderPlaceholders:
    case Stmt::TotalPlaceholders:
    case Stmt::BumpPlaceholders:
      return exec_count(s, params);
    case Stmt::InsertVersion:  // $1 pointer_id, $2 version_id; first one wins
      CC_TRY_VOID(need_params(params, 2));
      return affected(versions_.try_emplace(text(params[0]), text(params[1])).second ? 1 : 0);
    default:
      return fail(ErrorCode::Internal, Origin::Refstore, "statement not staged in a batch");
  }
}

Result<Rows> StagedBatch::exec_object(Stmt s, const std::vector<Param>& p) {
  if (s == Stmt::KeyOwner) {
    CC_TRY_VOID(need_params(p, 3));
    return key_owner(text(p[0]), text(p[1]), text(p[2]));
  }
  CC_TRY_VOID(need_params(p, 1));
  CC_TRY(o, locked(text(p[0])));
  Obj& obj = **o;
  if (s == Stmt::LockObject) return obj.present ? one_row(obj.row) : Rows{};
  if (s == Stmt::InsertPlaceholder) {  // the row load() inserted becomes the engine's
    if (obj.present) return Rows{};
    obj.present = true;
    return one_row(obj.row);
  }
  obj.dirty = true;
  if (s == Stmt::SetProgress) {
    CC_TRY_VOID(need_params(p, 2));
    obj.row[kProcessed] = text(p[1]);
  } else if (s == Stmt::SetComplete) {
    CC_TRY_VOID(need_params(p, 3));
    obj.row[kProcessed] = text(p[1]);
    obj.row[kState] = "COMPLETE";
    obj.row[kCompleted] = field(p[2]);
  } else {  // FillStore: $1 pointer_id, $2 state, $3 bucket, ... $12 producer_id, $13 completed_at
    CC_TRY_VOID(need_params(p, 13));
    obj.row[kHasStore] = "1";
    constexpr std::array<std::size_t, 12> cols{kState, kBucket, kKey, kRecipients, kTotal, kProcessed,
                                               kSize,  kSha,    kCreated, kExpires, kProducer, kCompleted};
    for (std::size_t i = 0; i < cols.size(); ++i) obj.row[cols[i]] = field(p[i + 1]);
  }
  return affected(1);
}

Result<Rows> StagedBatch::key_owner(const std::string& bucket, const std::string& key, const std::string& pid) {
  for (const auto& [id, o] : objects_) {  // this batch's view of its own objects wins over the database's
    if (o.present && id != pid && o.row[kHasStore] == "1" && o.row[kState] != "DELETED" && o.row[kBucket] == bucket &&
        o.row[kKey] == key) {
      return one_row({id});
    }
  }
  const auto range = owners_.equal_range({bucket, key});
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second != pid && objects_.count(it->second) == 0) return one_row({it->second});
  }
  return Rows{};
}

Result<Rows> StagedBatch::exec_ack(Stmt s, const std::vector<Param>& p) {
  CC_TRY_VOID(need_params(p, 1));
  const std::string pid = text(p[0]);
  if (s == Stmt::SelectAckSlots) {  // recipient_id, processed
    Rows out;
    for (auto it = acks_.lower_bound({pid, std::string{}}); it != acks_.end() && it->first.first == pid; ++it) {
      out.rows.push_back({it->first.second, it->second[kAckProcessed]});
    }
    return out;
  }
  CC_TRY_VOID(need_params(p, 2));
  const AckKey k{pid, text(p[1])};
  const auto it = acks_.find(k);
  switch (s) {
    case Stmt::AckSlot:
      return it == acks_.end() ? Rows{} : one_row({it->second[kAckProcessed]});
    case Stmt::InsertAck: {
      CC_TRY_VOID(need_params(p, kAckCols));
      if (it != acks_.end()) return affected(0);  // ON CONFLICT DO NOTHING
      Row row;
      for (std::size_t i = 0; i < kAckCols; ++i) row.push_back(field(p[i]));
      acks_.emplace(k, std::move(row));
      return affected(1);
    }
    case Stmt::UpgradeAck:
      CC_TRY_VOID(need_params(p, 4));
      if (it == acks_.end() || it->second[kAckProcessed] != "0") return affected(0);
      it->second[kAckProcessed] = "1";
      it->second[kAckReason] = "";
      it->second[kAckProcessedAt] = field(p[2]);
      it->second[kAckReceivedAt] = field(p[3]);
      return affected(1);
    case Stmt::SetForeign:
      CC_TRY_VOID(need_params(p, 3));
      if (it == acks_.end()) return affected(0);
      it->second[kAckForeign] = field(p[2]);
      return affected(1);
    default:  // DeleteAck
      if (it == acks_.end()) return affected(0);
      acks_.erase(it);
      return affected(1);
  }
}

Result<Rows> StagedBatch::exec_check(Stmt s, const std::vector<Param>& p) {
  CC_TRY_VOID(need_params(p, 1));
  const std::string pid = text(p[0]);
  const auto first = checks_.lower_bound({pid, std::string{}});
  auto last = first;
  while (last != checks_.end() && last->first.first == pid) ++last;
  if (s == Stmt::SelectAckChecks) {  // recipient_id, sender, sha256
    Rows out;
    for (auto it = first; it != last; ++it) out.rows.push_back({it->first.second, it->second.sender, it->second.sha256});
    return out;
  }
  checks_dirty_.insert(pid);
  if (s == Stmt::DeleteAckChecks) {
    const auto n = static_cast<std::int64_t>(std::distance(first, last));
    checks_.erase(first, last);
    return affected(n);
  }
  CC_TRY_VOID(need_params(p, 4));  // InsertAckCheck: ON CONFLICT DO UPDATE SET sha256 only
  auto [it, fresh] = checks_.try_emplace({pid, text(p[1])}, Check{text(p[2]), text(p[3])});
  if (!fresh) it->second.sha256 = text(p[3]);
  return affected(1);
}

Result<Rows> StagedBatch::exec_count(Stmt s, const std::vector<Param>& p) {
  if (s == Stmt::TotalPlaceholders) {  // the database's total before this batch (the engine adds its deltas)
    if (!total_count_) {
      CC_TRY(r, db_.exec(s, p));
      total_count_ = first_int(*r);
    }
    return one_row({std::to_string(*total_count_)});
  }
  CC_TRY_VOID(need_params(p, s == Stmt::BumpPlaceholders ? 2 : 1));
  const std::string sender = text(p[0]);
  if (s == Stmt::BumpPlaceholders) {
    bumps_[sender] += std::get_if<std::int64_t>(&p[1]) != nullptr ? std::get<std::int64_t>(p[1]) : 0;
    return affected(1);
  }
  auto it = sender_counts_.find(sender);
  if (it == sender_counts_.end()) {
    CC_TRY(r, db_.exec(s, p));
    it = sender_counts_.emplace(sender, first_int(*r)).first;
  }
  return one_row({std::to_string(it->second)});
}

Result<bool> StagedBatch::flush_and_commit() {
  std::vector<Call> calls;
  flush_objects(calls);
  flush_acks(calls);
  flush_checks(calls);
  flush_versions(calls);
  flush_counts(calls);
  auto r = db_.exec_all(calls, true);
  if (r) return true;
  if (r.error().detail_code == "23505") return false;  // unique_violation: a row created concurrently
  return Unexpected{std::move(r).error()};
}

void StagedBatch::flush_objects(std::vector<Call>& out) const {
  std::vector<const Row*> added, changed;
  for (const auto& [pid, o] : objects_) {
    if (o.present && o.inserted) added.push_back(&o.row);
    else if (o.present && o.dirty) changed.push_back(&o.row);
  }
  if (!added.empty()) {
    out.push_back({Stmt::BatchInsertObjects, column_arrays(added, kMutableCols.data(), kMutableCols.size())});
    out.back().params.emplace_back(now_us_);
  }
  if (!changed.empty()) {
    out.push_back({Stmt::BatchUpdateObjects, column_arrays(changed, kMutableCols.data(), kMutableCols.size())});
  }
}

void StagedBatch::flush_acks(std::vector<Call>& out) const {
  std::vector<const Row*> added, changed;
  std::vector<std::optional<std::string>> gone_pids, gone_rids;
  for (const auto& [k, row] : acks_) {
    const auto was = loaded_acks_.find(k);
    if (was == loaded_acks_.end()) added.push_back(&row);
    else if (was->second != row) changed.push_back(&row);
  }
  for (const auto& [k, row] : loaded_acks_) {
    if (acks_.count(k) > 0) continue;
    gone_pids.emplace_back(k.first);
    gone_rids.emplace_back(k.second);
  }
  constexpr std::array<std::size_t, kAckCols> cols{0, 1, 2, 3, 4, 5, 6};
  if (!gone_pids.empty()) out.push_back({Stmt::BatchDeleteAcks, {pg_array_literal(gone_pids), pg_array_literal(gone_rids)}});
  if (!changed.empty()) out.push_back({Stmt::BatchUpdateAcks, column_arrays(changed, cols.data(), cols.size())});
  if (!added.empty()) out.push_back({Stmt::BatchInsertAcks, column_arrays(added, cols.data(), cols.size())});
}

void StagedBatch::flush_checks(std::vector<Call>& out) const {
  std::vector<std::optional<std::string>> stale;  // rewritten pointer_ids that had checks in the database
  for (const auto& pid : checks_dirty_) {
    if (checks_loaded_.count(pid) > 0) stale.emplace_back(pid);
  }
  if (!stale.empty()) out.push_back({Stmt::BatchDeleteChecks, {pg_array_literal(stale)}});
  std::array<std::vector<std::optional<std::string>>, 4> cols;
  for (const auto& [k, c] : checks_) {
    if (checks_dirty_.count(k.first) == 0) continue;
    cols[0].emplace_back(k.first);
    cols[1].emplace_back(k.second);
    cols[2].emplace_back(c.sender);
    cols[3].emplace_back(c.sha256);
  }
  if (cols[0].empty()) return;
  out.push_back({Stmt::BatchInsertChecks, {pg_array_literal(cols[0]), pg_array_literal(cols[1]),
                                           pg_array_literal(cols[2]), pg_array_literal(cols[3])}});
}

void StagedBatch::flush_versions(std::vector<Call>& out) const {
  if (versions_.empty()) return;
  std::vector<std::optional<std::string>> pids, vids;
  for (const auto& [pid, vid] : versions_) {
    pids.emplace_back(pid);
    vids.emplace_back(vid);
  }
  out.push_back({Stmt::BatchInsertVersions, {pg_array_literal(pids), pg_array_literal(vids)}});
}

void StagedBatch::flush_counts(std::vector<Call>& out) const {
  std::vector<std::optional<std::string>> senders, deltas;
  for (const auto& [sender, delta] : bumps_) {  // std::map: sender order, the lock order of every batch
    if (delta == 0) continue;
    senders.emplace_back(sender);
    deltas.emplace_back(std::to_string(delta));
  }
  if (senders.empty()) return;
  out.push_back({Stmt::BatchBumpPlaceholders, {pg_array_literal(senders), pg_array_literal(deltas)}});
}

}  // namespace claimcheck::refstore::detail
