#pragma once
/// Test helper: LogCapture replaces the default spdlog logger (level debug) while alive, keeps the last 256
/// lines formatted as "<level> <message>" and restores the previous logger on destruction. Header-only,
/// tests only. Thread-safe for the threads that log (ringbuffer_sink_mt); create and read it on one thread.
///
/// Usage:
///   test::LogCapture logs;
///   run_something();
///   EXPECT_EQ(logs.count("warning", "exists with arguments that differ"), 1U);

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <memory>
#include <string>

namespace claimcheck::test {

class LogCapture {
 public:
  LogCapture()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)), previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::debug);
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  /// Number of captured lines of `level` ("warning", "debug", ...) that contain `needle`.
  [[nodiscard]] std::size_t count(const std::string& level, const std::string& needle) const {
    std::size_t n = 0;
    for (const auto& l : sink_->last_formatted()) {
      if (l.rfind(level + " ", 0) == 0 && l.find(needle) != std::string::npos) ++n;
    }
    return n;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace claimcheck::test
