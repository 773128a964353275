#pragma once
/// The claim-check topology of DESIGN.md §3: its configurable names (exchanges, queues, routing keys)
/// and the amqp::Topology each role declares at start.

#include <cstdint>
#include <string>
#include <vector>

#include "claimcheck/amqp/types.h"

namespace claimcheck {

/// Configurable names of the DESIGN.md §3 topology, with its defaults.
struct TopologyNames {
  std::string msg_exchange = "ex.msg";
  std::string ack_exchange = "ex.ack";
  std::string ack_queue = "q.ack";
  std::string dlx = "ex.dlx";
  std::string dead_queue = "q.dead";
  std::string queue_prefix = "q.";
  std::string ack_routing_key = "ack";
  std::string store_routing_key = "store";
  std::int64_t delivery_limit = 20;
};

/// Producer/consumer side of DESIGN.md §3: `msg_exchange` (direct) and, per recipient r, the quorum queue
/// `queue_prefix + r` (DLX `dlx`, delivery limit) bound with routing key r; plus `dlx` (fanout) → `dead_queue`.
/// Pure function, thread-safe. Recipients are used as given (validate them before).
amqp::Topology recipient_topology(const TopologyNames& names, const std::vector<std::string>& recipients);

/// Coordinator side of DESIGN.md §3: `ack_exchange` (direct) → `ack_queue` (quorum, single active consumer,
/// DLX, delivery limit) bound with `ack_routing_key` and `store_routing_key`; plus `dlx` (fanout) → `dead_queue`.
/// Pure function, thread-safe.
amqp::Topology coordinator_topology(const TopologyNames& names);

}  // namespace claimcheck
