// handler_sink_factory: an in-process PayloadHandler behind the consumer's SinkFactory (consumer.h).
#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "claimcheck/consume/consumer.h"

namespace claimcheck {

namespace {

constexpr Origin kOrigin = Origin::Handler;

/// Collects one payload (at most `max` bytes) and hands it to the handler from finish().
class HandlerSink final : public ByteSink {
 public:
  HandlerSink(std::shared_ptr<const PayloadHandler> handler, PayloadInfo info, std::uint64_t max)
      : handler_(std::move(handler)), info_(std::move(info)), max_(max) {
    bytes_.reserve(static_cast<std::size_t>(std::min(info_.size_raw, max_)));
  }

  Result<void> write(std::span<const std::byte> data) override {
    if (data.size() > max_ - bytes_.size())
      return fail(ErrorCode::InvalidArgument, kOrigin, too_large(bytes_.size() + data.size(), max_));
    bytes_.insert(bytes_.end(), data.begin(), data.end());
    return ok();
  }

  Result<void> finish() override {
    HandlerResult verdict;
    try {
      verdict = (*handler_)(info_, std::span<const std::byte>(bytes_));
    } catch (const std::exception& e) {
      verdict = HandlerResult::retry(std::string("handler threw: ") + e.what());
    } catch (...) {
      verdict = HandlerResult::retry("handler threw a non-standard exception");
    }
    switch (verdict.outcome) {
      case HandlerOutcome::Processed: return ok();
      case HandlerOutcome::Rejected:
        return fail(ErrorCode::InvalidArgument, kOrigin, "handler rejected: " + verdict.reason);
      case HandlerOutcome::Retry: break;
    }
    return fail(ErrorCode::Unavailable, kOrigin, "handler asked to retry: " + verdict.reason);
  }

  static std::string too_large(std::uint64_t size, std::uint64_t max) {
    return "payload of " + std::to_string(size) + " bytes is larger than the in-memory handler's limit of " +
           std::to_string(max) + " bytes";
  }

 private:
  std::shared_ptr<const PayloadHandler> handler_;
  PayloadInfo info_;
  std::uint64_t max_;
  std::vector<std::byte> bytes_;
};

}  // namespace

SinkFactory handler_sink_factory(PayloadHandler handler, std::uint64_t max_bytes) {
  auto shared = std::make_shared<const PayloadHandler>(std::move(handler));
  return [shared, max_bytes](const PayloadInfo& info) -> Result<std::unique_ptr<ByteSink>> {
    if (!*shared) return fail(ErrorCode::InvalidArgument, kOrigin, "no handler given");
    if (info.size_raw > max_bytes)
      return fail(ErrorCode::InvalidArgument, kOrigin, HandlerSink::too_large(info.size_raw, max_bytes));
    return std::unique_ptr<ByteSink>(std::make_unique<HandlerSink>(shared, info, max_bytes));
  };
}

}  // namespace claimcheck
