// Sweeper: bucket lifecycle safety rule, orphan sweep, placeholder and history purge; wakes the delete worker for expiry.
#include "claimcheck/core/log.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "coordinate/coordinator_internal.h"

namespace claimcheck {

namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The days the safety-net rule `want` (same id) has on the bucket now; 0 = no such rule, it cannot be read,
// or it differs from `want` in anything but its days (an older version of the rule: rewrite it).
int current_rule_days(Coordinator::Impl& st, s3::S3Client& s3, const s3::LifecycleRule& want) {
  auto rules = s3.get_bucket_lifecycle(st.cfg.bucket);
  if (!rules) return 0;
  for (const auto& r : *rules) {
    if (r.id != want.id) continue;
    const bool same = r.prefix == want.prefix && r.enabled && r.abort_incomplete_multipart_days == want.abort_incomplete_multipart_days &&
                      r.noncurrent_version_expiration_days == want.noncurrent_version_expiration_days;
    return same ? r.expiration_days : 0;
  }
  return 0;
}

// Ensures this prefix's safety-net rule (other rules stay as they are). Its expiration never fires before an
// object's expires_at (invariant L2): it is at least --lifecycle-days, the days the rule already has (objects
// recorded earlier may rely on them), and the longest TTL seen in a store record. Returns the days set
// (`have` when unchanged or on failure).
int ensure_lifecycle(Coordinator::Impl& st, s3::S3Client& s3, int have) {
  const auto& cfg = st.cfg;
  if (cfg.bucket.empty() || cfg.lifecycle_days <= 0) return have;
  s3::LifecycleRule rule;
  rule.prefix = object_prefix(cfg.key_prefix);
  rule.id = safety_rule_id(rule.prefix);
  // A producer killed mid-upload leaves an incomplete multipart upload: not an object, so neither the
  // orphan sweep (ListObjectsV2) nor the expiration ever removes its parts. Abort those after a day.
  rule.abort_incomplete_multipart_days = 1;
  // On a versioned bucket a delete leaves the data as a noncurrent version: free it after a day.
  rule.noncurrent_version_expiration_days = 1;
  rule.enabled = true;
  if (have == 0) have = current_rule_days(st, s3, rule);
  const int needed = std::max({cfg.lifecycle_days, have, st.required_lifecycle_days.load()});
  if (needed == have) return have;
  rule.expiration_days = needed;
  auto r = s3.ensure_lifecycle_rule(cfg.bucket, rule);
  if (!r) {
    logger().warn("coordinator: could not ensure lifecycle rule '{}' on bucket {}: {}", rule.id, cfg.bucket,
                 r.error().to_string());
    return have;
  }
  logger().info("coordinator: lifecycle rule '{}' on bucket {}: prefix '{}', expire after {} days{}, noncurrent "
               "versions after 1 day, abort incomplete multipart uploads after 1 day",
               rule.id, cfg.bucket, rule.prefix, needed,
               needed > cfg.lifecycle_days ? " (raised above --lifecycle-days: a recorded TTL or the rule needs it)" : "");
  return needed;
}

// Deletes objects under the producer prefix older than orphan_grace that have no store record.
// Returns false when postponed (q.ack not drained yet).
bool orphan_sweep(Coordinator::Impl& st, refstore::RefStore& store, s3::S3Client& s3) {
  const auto& cfg = st.cfg;
  if (cfg.bucket.empty() || !cfg.orphan_sweep) return true;
  const std::int64_t caught_up_ns = st.caught_up_at.load();
  if (caught_up_ns == 0) {
    // A store record might still wait in q.ack: never call an object an orphan before the queue was drained.
    logger().debug("coordinator: orphan sweep postponed until {} has been drained", cfg.names.ack_queue);
    return false;
  }
  const std::string prefix = object_prefix(cfg.key_prefix);
  // Only objects PUT well before the last time q.ack was fully applied (so their store record, if any was
  // published, is in the database) and older than the grace period.
  const std::chrono::system_clock::time_point caught_up{
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(caught_up_ns))};
  const auto cutoff = std::min(std::chrono::system_clock::now(), caught_up) - cfg.orphan_grace;
  std::string token;
  std::size_t listed = 0, removed = 0;
  do {
    auto page = s3.list_objects_v2(cfg.bucket, prefix, token, 1000);
    if (!page) {
      logger().warn("coordinator: orphan sweep: listing {}/{} failed: {}", cfg.bucket, prefix,
                   page.error().to_string());
      return true;
    }
    listed += page->objects.size();
    std::vector<std::string> old_keys;
    // An object whose LastModified was missing or unreadable (epoch) has no known age: never an orphan
    // (the lifecycle rule still expires it), so a server's odd date cannot get a fresh object deleted.
    for (const auto& o : page->objects)
      if (o.last_modified != std::chrono::system_clock::time_point{} && o.last_modified <= cutoff)
        old_keys.push_back(o.key);
    if (!old_keys.empty()) {
      auto known = store.known_keys(cfg.bucket, old_keys);
      if (!known) {
        logger().warn("coordinator: orphan sweep: known_keys failed: {}", known.error().to_string());
        return true;
      }
      std::set<std::string> known_set(known->begin(), known->end());
      std::vector<std::string> orphans;
      for (auto& k : old_keys)
        if (known_set.count(k) == 0) orphans.push_back(std::move(k));
      if (!orphans.empty()) {
        auto del = s3.delete_objects(cfg.bucket, orphans);
        if (!del) {
          logger().warn("coordinator: orphan sweep: deleting {} orphans failed: {}", orphans.size(),
                       del.error().to_string());
        } else {
          std::set<std::string> failed(del->begin(), del->end());
          for (const auto& k : orphans) {
            if (failed.count(k) != 0) continue;
            ++removed;
            logger().info("coordinator: orphan sweep: deleted {}/{} (no store record, older than grace)", cfg.bucket,
                         k);
          }
        }
      }
    }
    token = page->next_continuation_token;
    if (!page->truncated) break;
  } while (!st.workers_stop.load());
  if (removed > 0) {
    st.orphans_deleted += removed;
    st.metrics->record_orphans_deleted(removed);
  }
  logger().debug("coordinator: orphan sweep listed {} objects under {}/{}, deleted {}", listed, cfg.bucket, prefix,
                removed);
  return true;
}

// B1: DELETED objects and their acks older than history_retention leave the database.
void purge_history(Coordinator::Impl& st, refstore::RefStore& store) {
  auto purged = store.purge_history(refstore::Clock::now() - st.cfg.history_retention);
  if (!purged) {
    logger().warn("coordinator: purging history failed: {}", purged.error().to_string());
  } else if (*purged > 0) {
    st.history_purged += *purged;
    st.metrics->record_history_purged(*purged);
    logger().info("coordinator: purged {} DELETED objects older than {} s (history retention)", *purged,
                 st.cfg.history_retention.count());
  }
}

}  // namespace

void run_sweeper(Coordinator::Impl& st, std::unique_ptr<refstore::RefStore> store, s3::S3Client s3) {
  const auto& cfg = st.cfg;
  int rule_days = ensure_lifecycle(st, s3, 0);
  while (!st.workers_stop.load()) {
    if (st.required_lifecycle_days.load() > rule_days) rule_days = ensure_lifecycle(st, s3, rule_days);
    // Expiry and delete retries run in the delete worker (claim_deletions expires PENDING rows): wake it.
    st.delete_wakeup.notify();
    const bool swept = orphan_sweep(st, *store, s3);
    auto purged = store->purge_placeholders(refstore::Clock::now() - cfg.placeholder_retention);
    if (!purged) {
      logger().warn("coordinator: purging placeholders failed: {}", purged.error().to_string());
      if (purged.error().code == ErrorCode::Unavailable) reopen_store(cfg.db, store);
    } else if (*purged > 0) {
      st.placeholders_purged += *purged;
      st.metrics->record_placeholders_purged(*purged);
      logger().info("coordinator: purged {} placeholders (acks whose store record never arrived) older than {} s",
                   *purged, cfg.placeholder_retention.count());
    }
    purge_history(st, *store);
    if (swept) st.sweeps_done += 1;
    st.sweep_wakeup.wait_until(SteadyClock::now() + cfg.sweep_interval);
  }
}

}  // namespace claimcheck
