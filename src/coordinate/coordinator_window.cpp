// The coordinator AMQP thread's ack window and caught-up watermark — see coordinator_window.h.
#include "coordinate/coordinator_window.h"

#include <algorithm>
#include <iterator>

namespace claimcheck {

void AckWindow::received(std::uint64_t tag) {
  unsettled_.insert(tag);
  max_tag_ = std::max(max_tag_, tag);
}

bool AckWindow::settle(std::uint64_t epoch, std::uint64_t tag) {
  if (epoch != epoch_ || unsettled_.erase(tag) == 0) return false;
  settled_.insert(tag);
  return true;
}

void AckWindow::forget(std::uint64_t epoch, std::uint64_t tag) {
  if (epoch == epoch_) unsettled_.erase(tag);
}

std::optional<std::uint64_t> AckWindow::take_ackable() {
  if (settled_.empty()) return std::nullopt;
  auto it = unsettled_.empty() ? settled_.end() : settled_.lower_bound(*unsettled_.begin());
  if (it == settled_.begin()) return std::nullopt;  // every settled tag is above an unsettled one
  const std::uint64_t up_to = *std::prev(it);
  settled_.erase(settled_.begin(), it);
  return up_to;
}

void AckWindow::reset(std::uint64_t epoch) {
  epoch_ = epoch;
  max_tag_ = 0;
  unsettled_.clear();
  settled_.clear();
}

void CaughtUpWatermark::probed(Steady::time_point now, bool queue_empty, System::time_point probed_at) {
  next_probe_ = now + std::chrono::seconds(1);
  if (!queue_empty || state_ != State::Idle) return;
  time_ = probed_at;
  window_end_ = now + std::chrono::seconds(1);
  state_ = State::Window;
}

std::optional<CaughtUpWatermark::System::time_point> CaughtUpWatermark::advance(Steady::time_point now,
                                                                                const AckWindow& window,
                                                                                bool pipeline_idle) {
  if (state_ == State::Window && now >= window_end_) {
    tag_ = window.max_tag();
    state_ = State::Settling;
  }
  if (state_ != State::Settling || !window.settled_through(tag_) || !pipeline_idle) return std::nullopt;
  state_ = State::Idle;
  return time_;
}

}  // namespace claimcheck
