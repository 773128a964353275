// Readiness and retries of an outbox's files — see outbox_tracker.h.
#include "produce/outbox_tracker.h"

namespace claimcheck {

bool outbox_ignored(std::string_view rel) noexcept {
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = rel.find('/', start);
    const std::string_view part = rel.substr(start, slash == std::string_view::npos ? rel.npos : slash - start);
    if (part.empty() || part.front() == '.') return true;
    if (slash == std::string_view::npos) return part.ends_with(".tmp") || part.ends_with(".part");
    start = slash + 1;
  }
}

OutboxTracker::OutboxTracker(std::chrono::milliseconds quiet, BackoffPolicy retry, std::uint64_t seed)
    : quiet_(quiet), retry_(retry), rng_(seed) {}

void OutboxTracker::activity(const std::string& rel, Clock::time_point now) {
  File& f = files_[rel];
  if (f.state == State::InFlight || f.state == State::Waiting) return;
  if (f.state == State::GivenUp) f.attempts = 0;  // changed: it gets its attempts again
  f.state = State::Settling;
  f.since = now;
}

void OutboxTracker::observe(const std::string& rel, FileEvent ev, Clock::time_point now) {
  if (outbox_ignored(rel)) return;
  auto it = files_.find(rel);
  if (ev == FileEvent::Removed) {
    if (it != files_.end() && it->second.state != State::InFlight) files_.erase(it);
    return;
  }
  if (ev != FileEvent::Closed) {
    activity(rel, now);
    return;
  }
  File& f = files_[rel];
  if (f.state == State::InFlight || f.state == State::Waiting) return;
  if (f.state == State::GivenUp) f.attempts = 0;
  f.state = State::Ready;
}

void OutboxTracker::scanned(const std::string& rel, std::chrono::milliseconds age, Clock::time_point now,
                            bool add_new) {
  if (outbox_ignored(rel)) return;
  auto it = files_.find(rel);
  if (it == files_.end()) {
    if (!add_new) return;
    files_[rel] = File{age >= quiet_ ? State::Ready : State::Settling, now - age, 0};
    return;
  }
  File& f = it->second;
  if (f.state == State::Settling && now - age > f.since) f.since = now - age;  // written since: settle again
}

void OutboxTracker::pending(const std::string& rel) {
  File& f = files_[rel];
  if (f.state != State::InFlight) f.state = State::Ready;
}

std::vector<std::string> OutboxTracker::take_ready(Clock::time_point now, std::size_t max) {
  std::vector<std::string> out;
  for (auto& [rel, f] : files_) {
    if (out.size() >= max) break;
    const bool quiet = f.state == State::Settling && now - f.since >= quiet_;
    const bool due = f.state == State::Waiting && now >= f.since;
    if (!quiet && !due && f.state != State::Ready) continue;
    f.state = State::InFlight;
    out.push_back(rel);
  }
  return out;
}

void OutboxTracker::done(const std::string& rel) { files_.erase(rel); }

std::optional<std::chrono::milliseconds> OutboxTracker::failed(const std::string& rel, Clock::time_point now,
                                                               bool permanent) {
  File& f = files_[rel];
  ++f.attempts;
  if (permanent || !retry_.may_retry(f.attempts)) {
    f.state = State::GivenUp;
    return std::nullopt;
  }
  const auto delay = backoff_delay(retry_, f.attempts, rng_);
  f.state = State::Waiting;
  f.since = now + delay;
  return delay;
}

bool OutboxTracker::idle() const noexcept {
  for (const auto& [rel, f] : files_)
    if (f.state != State::GivenUp) return false;
  return true;
}

std::size_t OutboxTracker::in_flight() const noexcept {
  std::size_t n = 0;
  for (const auto& [rel, f] : files_) n += f.state == State::InFlight ? 1 : 0;
  return n;
}

}  // namespace claimcheck
