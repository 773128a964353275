#include "claimcheck/protocol/topology.h"

namespace claimcheck {

namespace {
amqp::QueueSpec dead_queue_spec(const TopologyNames& n) {
  amqp::QueueSpec q;
  q.name = n.dead_queue;
  q.quorum = true;
  return q;
}
}  // namespace

amqp::Topology recipient_topology(const TopologyNames& n, const std::vector<std::string>& recipients) {
  amqp::Topology t;
  t.exchanges.push_back({n.msg_exchange, "direct"});
  t.exchanges.push_back({n.dlx, "fanout"});
  for (const auto& r : recipients) {
    amqp::QueueSpec q;
    q.name = n.queue_prefix + r;
    q.quorum = true;
    q.dead_letter_exchange = n.dlx;
    q.delivery_limit = n.delivery_limit;
    t.queues.push_back(q);
    t.bindings.push_back({q.name, n.msg_exchange, r});
  }
  t.queues.push_back(dead_queue_spec(n));
  t.bindings.push_back({n.dead_queue, n.dlx, ""});
  return t;
}

amqp::Topology coordinator_topology(const TopologyNames& n) {
  amqp::Topology t;
  t.exchanges.push_back({n.ack_exchange, "direct"});
  t.exchanges.push_back({n.dlx, "fanout"});
  amqp::QueueSpec q;
  q.name = n.ack_queue;
  q.quorum = true;
  q.dead_letter_exchange = n.dlx;
  q.delivery_limit = n.delivery_limit;
  q.single_active_consumer = true;
  t.queues.push_back(q);
  t.queues.push_back(dead_queue_spec(n));
  t.bindings.push_back({n.ack_queue, n.ack_exchange, n.ack_routing_key});
  t.bindings.push_back({n.ack_queue, n.ack_exchange, n.store_routing_key});
  t.bindings.push_back({n.dead_queue, n.dlx, ""});
  return t;
}

}  // namespace claimcheck
