#pragma once
/// The library's logger (DESIGN.md §6: process concerns live in the program, the library takes a logger).
///
/// Every claimcheck layer writes its log lines through logger(), never through spdlog's free functions. By
/// default that is spdlog's default logger, so a program that configures spdlog configures the library too;
/// set_logger() gives the library a logger of its own (other sinks, level or pattern) without touching the
/// program's default logger. Log lines never contain secrets (S3 secret key, AMQP/database passwords).
///
/// Example — library lines to their own file, at warn level:
///
///     auto lib = spdlog::basic_logger_mt("claimcheck", "/var/log/claimcheck-lib.log");
///     lib->set_level(spdlog::level::warn);
///     claimcheck::set_logger(lib);          // before any Producer/Consumer/Coordinator is created
///     claimcheck::logger().info("ready");   // what the library does internally

#include <memory>

#include <spdlog/logger.h>

namespace claimcheck {

/// The logger the library writes to: the one given to set_logger(), else spdlog's default logger.
/// Thread-safe (spdlog loggers are; the reference stays valid until the next set_logger()).
spdlog::logger& logger() noexcept;

/// Gives the library `l` as its logger; nullptr goes back to spdlog's default logger. Call it before the
/// library's objects are created (not concurrently with their threads).
void set_logger(std::shared_ptr<spdlog::logger> l);

}  // namespace claimcheck
