// claimcheck CLI: produce, consume, coordinator, status. (skeleton; filled in by the pipeline work)
#include <CLI/CLI.hpp>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"claimcheck: claim-check messaging for RabbitMQ with reference-counted S3 cleanup"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
