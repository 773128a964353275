// DeliveryBook — see delivery_book.h.
#include "consume/delivery_book.h"

#include <utility>

namespace claimcheck::detail {

std::uint64_t DeliveryBook::open(amqp::Envelope env) {
  const std::uint64_t token = next_token_++;
  inflight_[token].env = std::move(env);
  return token;
}

DeliveryState* DeliveryBook::find(std::uint64_t token) {
  auto it = inflight_.find(token);
  return it == inflight_.end() ? nullptr : &it->second;
}

void DeliveryBook::await_confirm(std::uint64_t token, std::uint64_t publish_id) {
  DeliveryState* d = find(token);
  if (d == nullptr) return;
  publish_to_token_[publish_id] = token;
  ++d->confirms_pending;
}

void DeliveryBook::mark_failed(std::uint64_t token) {
  if (DeliveryState* d = find(token)) d->publish_failed = true;
}

std::optional<std::uint64_t> DeliveryBook::token_for(std::uint64_t publish_id) const {
  auto it = publish_to_token_.find(publish_id);
  if (it == publish_to_token_.end() || inflight_.count(it->second) == 0) return std::nullopt;
  return it->second;
}

std::optional<Settlement> DeliveryBook::on_confirm(std::uint64_t publish_id, bool failed) {
  auto it = publish_to_token_.find(publish_id);
  if (it == publish_to_token_.end()) return std::nullopt;
  const std::uint64_t token = it->second;
  publish_to_token_.erase(it);
  DeliveryState* d = find(token);
  if (d == nullptr) return std::nullopt;  // settled before this confirm came (settle_now)
  if (failed) d->publish_failed = true;
  if (d->confirms_pending > 0) --d->confirms_pending;
  return settle_if_confirmed(token);
}

std::optional<Settlement> DeliveryBook::settle_if_confirmed(std::uint64_t token) {
  const DeliveryState* d = find(token);
  if (d == nullptr || d->confirms_pending > 0) return std::nullopt;
  return settle_now(token, false);
}

std::optional<Settlement> DeliveryBook::settle_now(std::uint64_t token, bool requeue) {
  auto it = inflight_.find(token);
  if (it == inflight_.end()) return std::nullopt;
  const bool requeued = requeue || it->second.publish_failed;
  Settlement s{token, std::move(it->second), requeued};
  inflight_.erase(it);
  ++settled_;
  return s;
}

void DeliveryBook::tally(const Settlement& s, ConsumeReport& report) {
  if (s.requeue) {
    ++report.requeued;
    return;
  }
  const DeliveryState& d = s.state;
  if (d.processed) {
    ++report.processed;
    if (d.inlined) ++report.inlined;
    report.bytes_raw += d.size_raw;
    report.bytes_stored += d.size_stored;
  }
  if (d.known) ++report.already_processed;
  if (d.dead_lettered) ++report.dead_lettered;
  if (d.rejected_ack) ++report.rejected;
}

}  // namespace claimcheck::detail
