// claimcheck::Outbox — see include/claimcheck/produce/outbox.h; the crash-point analysis is in docs/operations.md.
#include "claimcheck/produce/outbox.h"

#include "claimcheck/core/log.h"
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <optional>
#include <system_error>
#include <thread>

#include "claimcheck/protocol/messages.h"
#include "claimcheck/core/ids.h"
#include "claimcheck/core/retry.h"
#include "claimcheck/core/time.h"
#include "detail/posix_error.h"
#include "produce/outbox_journal.h"
#include "produce/outbox_tracker.h"
#include "produce/outbox_watch.h"

namespace claimcheck {

namespace fs = std::filesystem;

Result<void> OutboxConfig::validate() const {
  auto bad = [](const std::string& m) { return fail(ErrorCode::InvalidArgument, Origin::Config, m); };
  if (producer.storage_check) return bad("outbox: --delete (storage check) cannot be combined with --watch");
  if (quiet_period < std::chrono::milliseconds(0)) return bad("quiet_period: must be ≥ 0");
  if (rescan_interval < std::chrono::milliseconds(1000)) return bad("rescan_interval: must be ≥ 1 s");
  CC_TRY_VOID(retry.validate());
  std::error_code ec;
  if (!fs::exists(dir, ec)) return fail(ErrorCode::NotFound, Origin::Io, "outbox '" + dir.string() + "' does not exist");
  if (!fs::is_directory(dir, ec))
    return fail(ErrorCode::InvalidArgument, Origin::Io, "outbox '" + dir.string() + "' is not a directory");
  return producer.validate();
}

Result<Outbox> Outbox::create(OutboxConfig cfg) {
  CC_TRY_VOID(cfg.validate());
  return Outbox(std::move(cfg));
}

namespace {

using Clock = std::chrono::steady_clock;

bool regular_file_at(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

/// One Outbox::run: the tracker decides when a file is ready, the journal what it was sent as, the
/// producer's stream sends it. Everything runs on the calling thread (ProduceStream's callbacks).
class OutboxRun {
 public:
  OutboxRun(const OutboxConfig& cfg, OutboxJournal journal, Producer& producer)
      : cfg_(cfg), journal_(std::move(journal)), producer_(producer),
        tracker_(cfg.quiet_period, cfg.retry, static_cast<std::uint64_t>(::getpid())) {}

  Result<OutboxReport> run(const std::function<bool()>& should_stop) {
    CC_TRY_VOID(recover());
    if (!cfg_.once) {
      CC_TRY(w, OutboxWatch::open(cfg_.dir));
      watch_.emplace(std::move(*w));
    }
    rescan(true);
    ProduceStream s;
    s.next = [this](std::size_t room) { return next(room); };
    s.stored = [this](const PayloadInput& in, const std::string& json) { return stored(in, json); };
    s.finished = [this](const PayloadInput& in, const ProduceOutcome& o) { finished(in, o); };
    s.should_stop = [&] { return should_stop() || (cfg_.once && tracker_.idle()); };
    for (int failures = 1;; ++failures) {
      auto r = producer_.run_stream(s);
      if (r || s.should_stop()) break;
      logger().error("outbox: cannot send: {}", r.error().to_string());
      if (cfg_.once && !cfg_.retry.may_retry(failures)) return fail(std::move(r).error());
      wait_before_reconnect(backoff_delay(cfg_.retry, failures), should_stop);
      if (should_stop()) break;
    }
    report_.pending = records_.size();
    return report_;
  }

 private:
  // ---- what is in DIR ----

  Result<void> recover() {
    CC_TRY(recs, journal_.load());
    for (auto& r : *recs) {
      const bool present = regular_file_at(cfg_.dir / r.name);
      if (recovery_for(r, present, expiring(r)) == Recovery::Clear) {
        logger().info("outbox: journal: {} ({}) has nothing left to do: record cleared", r.name, r.pointer_id);
        CC_TRY_VOID(journal_.clear(r.name));
        continue;
      }
      logger().info("outbox: journal: {} was being sent as {}: continuing", r.name, r.pointer_id);
      tracker_.pending(r.name);
      records_[r.name] = std::move(r);
    }
    return ok();
  }

  void rescan(bool add_new, const std::string& sub = {}) {
    auto files = scan_outbox(cfg_.dir, sub);
    if (!files) {
      logger().warn("outbox: scan failed: {}", files.error().to_string());
      return;
    }
    const auto now = Clock::now();
    for (const auto& f : *files) tracker_.scanned(f.rel, f.age, now, add_new);
    last_scan_ = now;
  }

  void poll_watch() {
    if (!watch_) {  // --once: mtimes tell when a file still being written settles
      if (Clock::now() - last_scan_ >= std::chrono::seconds(1)) rescan(false);
      return;
    }
    auto evs = watch_->poll(std::chrono::milliseconds(0));
    if (!evs) logger().warn("outbox: inotify: {}", evs.error().to_string());
    const auto now = Clock::now();
    for (const auto& ev : evs ? *evs : std::vector<WatchEvent>{}) {
      if (ev.kind == WatchEvent::Kind::File) tracker_.observe(ev.rel, ev.event, now);
      if (ev.kind == WatchEvent::Kind::Dir) rescan(true, ev.rel);
      if (ev.kind == WatchEvent::Kind::Overflow) rescan(true);
    }
    if (now - last_scan_ >= cfg_.rescan_interval) rescan(true);
  }

  void wait_before_reconnect(std::chrono::milliseconds delay, const std::function<bool()>& should_stop) {
    const auto until = Clock::now() + delay;
    while (Clock::now() < until && !should_stop()) {
      poll_watch();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  bool expiring(const OutboxRecord& r) const {
    const auto ttl = cfg_.producer.ttl;
    const auto margin = std::min<std::chrono::seconds>(ttl / 10, std::chrono::hours(1));
    return r.created_at + ttl - margin <= utc_now();
  }

  // ---- ProduceStream callbacks ----

  std::vector<PayloadInput> next(std::size_t room) {
    poll_watch();
    std::vector<PayloadInput> out;
    for (const auto& rel : tracker_.take_ready(Clock::now(), room))
      if (auto in = dispatch(rel)) out.push_back(std::move(*in));
    return out;
  }

  // What to do with a ready file: nothing (gone / finished / invalid) or the input to send.
  std::optional<PayloadInput> dispatch(const std::string& rel) {
    const bool present = regular_file_at(cfg_.dir / rel);
    auto it = records_.find(rel);
    if (it == records_.end() && !present) {
      tracker_.done(rel);  // vanished, or not a regular file
      return std::nullopt;
    }
    const std::string name = cfg_.name_prefix + rel;
    if (auto v = validate_relative_name(name); !v) {
      give_up(rel, v.error().message, true);
      return std::nullopt;
    }
    const Recovery what = it == records_.end() ? Recovery::Renew : recovery_for(it->second, present, expiring(it->second));
    if (what == Recovery::Clear || what == Recovery::Finish) {
      const std::string id = it->second.pointer_id;
      if (finish_file(rel, present) && present) logger().info("outbox: sent {} as {} (confirmed before the restart)", rel, id);
      return std::nullopt;
    }
    if (what == Recovery::Renew && !new_record(rel)) return std::nullopt;
    const OutboxRecord& r = records_.at(rel);
    PayloadInput in = directory_entry_input(cfg_.dir.string(), rel, name);
    in.pointer_id = r.pointer_id;
    in.created_at = r.created_at;
    if (what == Recovery::Resume) in.resume_pointer = r.pointer_json;
    by_pointer_[r.pointer_id] = rel;
    return in;
  }

  // Records "sending rel as a new pointer id" before anything is uploaded.
  bool new_record(const std::string& rel) {
    OutboxRecord r;
    r.name = rel;
    r.pointer_id = new_uuid_v4();
    r.created_at = utc_now();
    if (auto w = journal_.put(r); !w) {
      retry_later(rel, "journal: " + w.error().to_string());
      return false;
    }
    records_[rel] = std::move(r);
    return true;
  }

  Result<void> stored(const PayloadInput& in, const std::string& pointer_json) {
    OutboxRecord r = records_.at(by_pointer_.at(in.pointer_id));
    r.phase = OutboxRecord::Phase::Stored;
    r.pointer_json = pointer_json;
    CC_TRY_VOID(journal_.put(r));
    records_[r.name] = std::move(r);
    return ok();
  }

  void finished(const PayloadInput& in, const ProduceOutcome& o) {
    auto node = by_pointer_.extract(in.pointer_id);
    const std::string rel = node.mapped();
    if (!o.ok) {
      if (o.key_taken && records_.at(rel).phase == OutboxRecord::Phase::Sending) {
        records_.erase(rel);  // nothing published under that id: the next attempt takes a new one
        (void)journal_.clear(rel);
      }
      retry_later(rel, o.error);
      return;
    }
    OutboxRecord& r = records_.at(rel);
    r.phase = OutboxRecord::Phase::Done;
    if (auto w = journal_.put(r); !w) {
      r.phase = OutboxRecord::Phase::Stored;  // the retry re-publishes its pointers (deduplicated)
      retry_later(rel, "sent, but the journal could not record it: " + w.error().to_string());
      return;
    }
    if (finish_file(rel, regular_file_at(cfg_.dir / rel))) {
      ++report_.sent;
      logger().info("outbox: sent {} as {} ({} bytes) to {} recipient(s)", rel, o.pointer_id, o.size_raw,
                   cfg_.producer.recipients.size());
    }
  }

  // ---- after a file ----

  // Every pointer was confirmed (record Done): move or remove the file, then clear the record. Both
  // directories are synced before the record goes, so a power loss cannot bring the file back unrecorded.
  bool finish_file(const std::string& rel, bool present) {
    if (present) {
      auto moved = cfg_.remove_sent ? remove_file(rel) : move_to_sent(rel);
      if (!moved) {
        retry_later(rel, "sent, but " + moved.error().to_string());
        return false;
      }
    }
    if (auto c = journal_.clear(rel); !c) logger().warn("outbox: journal record of {}: {}", rel, c.error().to_string());
    records_.erase(rel);
    tracker_.done(rel);
    return true;
  }

  Result<void> remove_file(const std::string& rel) {
    const fs::path p = cfg_.dir / rel;
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return detail::fail_errno(errno, "cannot remove", p.string());
    return sync_directory(p.parent_path());
  }

  Result<void> move_to_sent(const std::string& rel) {
    const fs::path from = cfg_.dir / rel;
    fs::path to = cfg_.dir / ".sent" / format_rfc3339(utc_now()).substr(0, 10) / rel;
    std::error_code ec;
    fs::create_directories(to.parent_path(), ec);
    if (ec) return fail(ErrorCode::PermissionDenied, Origin::Io, "cannot create '" + to.parent_path().string() + "': " + ec.message());
    if (fs::exists(to, ec)) to += "." + records_.at(rel).pointer_id;  // the same name sent twice a day
    if (::rename(from.c_str(), to.c_str()) != 0) return detail::fail_errno(errno, "cannot move to .sent:", from.string());
    CC_TRY_VOID(sync_directory(to.parent_path()));
    return sync_directory(from.parent_path());
  }

  void retry_later(const std::string& rel, const std::string& why) {
    const auto delay = tracker_.failed(rel, Clock::now());
    if (!delay) {
      give_up(rel, why, false);
      return;
    }
    logger().warn("outbox: failed {}: {}; retry in {:.1f}s", rel, why, std::chrono::duration<double>(*delay).count());
  }

  void give_up(const std::string& rel, const std::string& why, bool permanent) {
    if (permanent) (void)tracker_.failed(rel, Clock::now(), true);
    ++report_.failed;
    logger().error("outbox: FAILED {}: {} (given up until the file changes)", rel, why);
  }

  const OutboxConfig& cfg_;
  OutboxJournal journal_;
  Producer& producer_;
  OutboxTracker tracker_;
  std::optional<OutboxWatch> watch_;
  std::map<std::string, OutboxRecord> records_;    // rel → its journal record (as written)
  std::map<std::string, std::string> by_pointer_;  // pointer id → rel, while in flight
  OutboxReport report_;
  Clock::time_point last_scan_{};
};

}  // namespace

Result<OutboxReport> Outbox::run(const std::function<bool()>& should_stop) {
  CC_TRY(journal, OutboxJournal::open(cfg_.dir));
  CC_TRY(producer, Producer::create(cfg_.producer));
  OutboxRun run(cfg_, std::move(*journal), *producer);
  return run.run(should_stop ? should_stop : [] { return false; });
}

}  // namespace claimcheck
