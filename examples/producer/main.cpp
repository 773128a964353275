// claimcheck-example-producer RECIPIENT TEXT [NAME]: sends TEXT as one payload (named NAME, default
// "hello.txt") to RECIPIENT through claimcheck::Producer: stored in S3, a pointer on RabbitMQ.
// Settings from the environment: see ../common/example_env.h. Prints "sent pointer_id=<uuid> ...".
#include <iostream>
#include <memory>
#include <string>

#include "claimcheck/core/file_io.h"
#include "claimcheck/produce/producer.h"
#include "example_env.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " RECIPIENT TEXT [NAME]\n";
    return 2;
  }
  example::log_to_stderr();
  const std::string recipient = argv[1];
  const std::string text = argv[2];
  const std::string name = argc > 3 ? argv[3] : "hello.txt";

  claimcheck::ProducerConfig cfg;
  cfg.s3 = example::s3_config();
  cfg.amqp = example::amqp_config("claimcheck-example-producer");
  cfg.names = example::topology_names();
  cfg.bucket = example::env_or("S3_BUCKET", "1c-exchange");
  cfg.recipients = {recipient};
  cfg.producer_id = "example-producer";
  auto producer = claimcheck::Producer::create(cfg);
  if (!producer) {
    std::cerr << "config: " << producer.error().to_string() << "\n";
    return 2;
  }

  claimcheck::PayloadInput input;
  input.label = name;
  input.name = name;
  input.content_type = "text/plain";
  input.key_ext = ".txt";
  input.open = [text]() -> claimcheck::Result<std::unique_ptr<claimcheck::ByteSource>> {
    return std::unique_ptr<claimcheck::ByteSource>(std::make_unique<claimcheck::MemorySource>(text));
  };
  auto report = producer->run({input});
  if (!report) {
    std::cerr << "produce: " << report.error().to_string() << "\n";
    return 3;
  }
  const claimcheck::ProduceOutcome& out = report->outcomes.at(0);
  if (!out.ok) {
    std::cerr << "produce " << out.label << ": " << out.error << "\n";
    return 1;
  }
  std::cout << "sent pointer_id=" << out.pointer_id << " name=" << out.name << " bytes=" << out.size_raw
            << " key=" << out.key << "\n";
  return 0;
}
