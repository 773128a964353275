#pragma once
// Settings of the example apps, from the environment (the library itself never reads it: an application
// fills the config structs, as these examples do). Same names as the claimcheck CLI:
//   AMQP_URL                      amqp://user:pass@host:5672/%2F (a comma-separated list fails over)
//   S3_ENDPOINT, S3_REGION        http(s)://host:port of the S3 API; SigV4 region (default us-east-1)
//   S3_ACCESS_KEY, S3_SECRET_KEY  keys (the consumer may have none: it then uses the presigned url)
//   S3_BUCKET                     bucket (default 1c-exchange)
//   CLAIMCHECK_LOG_LEVEL          trace|debug|info|warn|error (logs go to stderr)
//   CLAIMCHECK_NAMESPACE          optional prefix of every exchange and queue name ("t1" → t1.ex.msg, t1.q.R)
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

#include "claimcheck/amqp/types.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/protocol/topology.h"
#include "claimcheck/core/credentials.h"

namespace example {

/// The value of `name`, or `fallback` when it is unset or empty.
inline std::string env_or(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

/// The library logs through spdlog's default logger (stdout unless the application sets one): send its
/// lines to stderr at CLAIMCHECK_LOG_LEVEL (default info), so that stdout holds only the app's result line.
inline void log_to_stderr() {
  spdlog::set_default_logger(spdlog::stderr_color_mt("claimcheck"));
  spdlog::set_level(spdlog::level::from_str(env_or("CLAIMCHECK_LOG_LEVEL", "info")));
}

/// S3 settings from S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY, S3_SECRET_KEY.
inline claimcheck::s3::S3Config s3_config() {
  claimcheck::s3::S3Config c;
  c.endpoint = env_or("S3_ENDPOINT", "http://127.0.0.1:7480");
  c.region = env_or("S3_REGION", "us-east-1");
  c.access_key = env_or("S3_ACCESS_KEY");
  c.secret_key = env_or("S3_SECRET_KEY");
  return c;
}

/// RabbitMQ settings from AMQP_URL.
inline claimcheck::amqp::AmqpConfig amqp_config(const std::string& connection_name) {
  claimcheck::amqp::AmqpConfig c;
  c.urls = claimcheck::split_url_list(env_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"));
  c.connection_name = connection_name;
  return c;
}

/// The default topology names (DESIGN.md §3), each prefixed with "$CLAIMCHECK_NAMESPACE." when it is set.
inline claimcheck::TopologyNames topology_names() {
  claimcheck::TopologyNames n;
  const std::string ns = env_or("CLAIMCHECK_NAMESPACE");
  if (ns.empty()) return n;
  for (std::string* name : {&n.msg_exchange, &n.ack_exchange, &n.ack_queue, &n.dlx, &n.dead_queue, &n.queue_prefix})
    *name = ns + "." + *name;
  return n;
}

}  // namespace example
