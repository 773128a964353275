// claimcheck-example-consumer RECIPIENT [EXPECTED_TEXT]: receives one payload of RECIPIENT through
// claimcheck::Consumer with an in-process handler (a C++ callback, handler_sink_factory) and prints it.
// With EXPECTED_TEXT the handler rejects any other payload (dead-lettered, ack `rejected`) and the app
// exits 1. Gives up after 30 s without a message (exit 1). Settings from the environment: see
// ../common/example_env.h; CLAIMCHECK_ALLOWED_PRODUCERS (comma-separated broker users) restricts senders.
#include <chrono>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>

#include "claimcheck/consume/consumer.h"
#include "claimcheck/core/text.h"
#include "example_env.h"

namespace {

/// One recipient's settings: the environment's servers, at most one message, 30 s of patience.
claimcheck::ConsumerConfig consumer_config(const std::string& recipient) {
  claimcheck::ConsumerConfig cfg;
  cfg.s3 = example::s3_config();
  cfg.amqp = example::amqp_config("claimcheck-example-consumer");
  cfg.names = example::topology_names();
  cfg.recipient = recipient;
  cfg.limits.allowed_buckets = {example::env_or("S3_BUCKET", "1c-exchange")};
  cfg.allowed_producers = claimcheck::split_comma_list(example::env_or("CLAIMCHECK_ALLOWED_PRODUCERS"));
  cfg.concurrency = 1;
  cfg.max_messages = 1;
  cfg.idle_exit = std::chrono::seconds(30);
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " RECIPIENT [EXPECTED_TEXT]\n";
    return 2;
  }
  example::log_to_stderr();
  const std::optional<std::string> expected = argc > 2 ? std::optional<std::string>(argv[2]) : std::nullopt;
  claimcheck::ConsumerConfig cfg = consumer_config(argv[1]);

  // The in-process handler: called on a worker thread with the verified bytes of one payload.
  std::mutex mu;
  std::string received;
  cfg.sink_factory = claimcheck::handler_sink_factory(
      [&](const claimcheck::PayloadInfo& info, std::span<const std::byte> bytes) {
        const std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        if (expected && text != *expected) return claimcheck::HandlerResult::rejected("unexpected payload");
        std::ostringstream line;
        line << "received pointer_id=" << info.pointer_id << " name=" << info.name.value_or("")
             << " bytes=" << bytes.size() << " text=" << text;
        std::lock_guard lock(mu);
        received = line.str();
        return claimcheck::HandlerResult::processed();
      });

  auto consumer = claimcheck::Consumer::create(std::move(cfg));
  if (!consumer) {
    std::cerr << "config: " << consumer.error().to_string() << "\n";
    return 2;
  }
  claimcheck::ConsumeReport report;
  if (auto r = consumer->run({}, &report); !r) {
    std::cerr << "consume: " << r.error().to_string() << "\n";
    return 3;
  }
  std::lock_guard lock(mu);
  if (report.processed != 1) {
    std::cerr << "no payload processed (rejected=" << report.rejected << ", stop: " << report.stop_reason << ")\n";
    return 1;
  }
  std::cout << received << "\n";
  return 0;
}
