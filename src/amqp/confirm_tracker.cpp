#include "amqp/confirm_tracker.h"

#include <algorithm>

namespace claimcheck::amqp::detail {

std::uint64_t ConfirmTracker::add(std::string exchange, std::string routing_key, Message msg, bool mandatory) {
  Publish p;
  p.id = next_publish_id_++;
  p.exchange = std::move(exchange);
  p.routing_key = std::move(routing_key);
  p.msg = std::move(msg);
  p.mandatory = mandatory;
  const std::uint64_t id = p.id;
  pending_.emplace(id, std::move(p));
  return id;
}

ConfirmTracker::Publish* ConfirmTracker::next_unsent(std::uint64_t after) {
  for (auto it = pending_.upper_bound(after); it != pending_.end(); ++it) {
    if (!it->second.sent) return &it->second;
  }
  return nullptr;
}

std::uint64_t ConfirmTracker::mark_sent(std::uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return 0;
  Publish& p = it->second;
  p.sent = true;
  p.tag = next_tag_++;
  p.returned = false;
  tag_to_id_[p.tag] = p.id;
  return p.tag;
}

Event ConfirmTracker::drop(std::uint64_t id, std::string reason) {
  Event e;
  e.kind = Event::Kind::Failed;
  e.publish_id = id;
  e.reason = std::move(reason);
  pending_.erase(id);
  return e;
}

bool ConfirmTracker::mark_returned(std::uint64_t id, std::string reason) {
  auto p = pending_.find(id);
  if (p == pending_.end()) return false;
  p->second.returned = true;
  p->second.return_reason = std::move(reason);
  return true;
}

void ConfirmTracker::settle(std::uint64_t tag, bool multiple, bool nacked, Clock::time_point now,
                            std::chrono::milliseconds resend_unit, std::vector<Event>& ev) {
  auto end = multiple ? tag_to_id_.upper_bound(tag) : tag_to_id_.find(tag);
  auto begin = multiple ? tag_to_id_.begin() : end;
  if (!multiple) {
    if (end == tag_to_id_.end()) return;
    ++end;
  }
  // Cluster failover fix: RabbitMQ 3.10 nacks publishes to a quorum queue whose leader was unreachable
  // (a crashed node) and, on that channel, keeps nacking them after a new leader is elected (measured:
  // 14 s of nacks, every payload failed, while a fresh connection published fine). A nack means the broker
  // did not take the message; so it is re-sent on a NEW connection (the reconnect path re-declares and
  // re-sends everything unconfirmed; duplicates are harmless), backing off, up to kMaxNackResends times.
  bool resend = false;
  int max_nacks = 0;
  for (auto it = begin; it != end; ++it) {
    auto p = pending_.find(it->second);
    if (p == pending_.end()) continue;
    if (nacked && p->second.nacks < kMaxNackResends) {
      ++p->second.nacks;
      max_nacks = std::max(max_nacks, p->second.nacks);
      resend = true;
      continue;  // stays pending; channel_lost() marks it unsent
    }
    Event e;
    e.publish_id = p->first;
    if (nacked) {
      e.kind = Event::Kind::Failed;
      e.reason = "nack";
    } else if (p->second.returned) {
      e.kind = Event::Kind::Failed;
      e.reason = p->second.return_reason;
    } else {
      e.kind = Event::Kind::Confirmed;
    }
    ev.push_back(std::move(e));
    pending_.erase(p);
  }
  tag_to_id_.erase(begin, end);
  if (resend) {
    resend_delay_ = std::max(resend_delay_, resend_unit * max_nacks);
    if (!draining_) drain_deadline_ = now + kNackDrainTimeout;
    draining_ = true;
  }
}

std::optional<std::chrono::milliseconds> ConfirmTracker::drain_due(Clock::time_point now) {
  if (!draining_ || (!tag_to_id_.empty() && now < drain_deadline_)) return std::nullopt;
  const auto delay = resend_delay_;
  resend_delay_ = std::chrono::milliseconds{0};
  draining_ = false;
  return delay;
}

void ConfirmTracker::channel_lost() {
  draining_ = false;
  next_tag_ = 1;
  tag_to_id_.clear();
  for (auto& [id, p] : pending_) {
    p.sent = false;
    p.tag = 0;
    p.returned = false;
    p.return_reason.clear();
  }
}

void ConfirmTracker::clear() {
  pending_.clear();
  tag_to_id_.clear();
  draining_ = false;
  resend_delay_ = std::chrono::milliseconds{0};
  next_tag_ = 1;
}

}  // namespace claimcheck::amqp::detail
