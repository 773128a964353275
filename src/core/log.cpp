#include "claimcheck/core/log.h"

#include <spdlog/spdlog.h>

namespace claimcheck {

namespace {
std::shared_ptr<spdlog::logger>& installed() {
  static std::shared_ptr<spdlog::logger> l;
  return l;
}
}  // namespace

spdlog::logger& logger() noexcept {
  const auto& l = installed();
  return l ? *l : *spdlog::default_logger_raw();
}

void set_logger(std::shared_ptr<spdlog::logger> l) { installed() = std::move(l); }

}  // namespace claimcheck
