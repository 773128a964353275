// The claim-check topology of DESIGN.md §3 (protocol/topology.h): names and what each role declares.
#include <gtest/gtest.h>

#include "claimcheck/protocol/topology.h"

using namespace claimcheck;

TEST(AmqpTopology, RecipientTopologyMatchesDesign) {
  TopologyNames n;
  auto t = recipient_topology(n, {"a", "b"});
  ASSERT_EQ(t.exchanges.size(), 2U);
  EXPECT_EQ(t.exchanges[0].name, "ex.msg");
  EXPECT_EQ(t.exchanges[0].type, "direct");
  EXPECT_EQ(t.exchanges[1].name, "ex.dlx");
  EXPECT_EQ(t.exchanges[1].type, "fanout");
  ASSERT_EQ(t.queues.size(), 3U);
  EXPECT_EQ(t.queues[0].name, "q.a");
  EXPECT_TRUE(t.queues[0].quorum);
  EXPECT_EQ(t.queues[0].dead_letter_exchange, "ex.dlx");
  EXPECT_EQ(t.queues[0].delivery_limit, 20);
  EXPECT_FALSE(t.queues[0].single_active_consumer);
  EXPECT_EQ(t.queues[1].name, "q.b");
  EXPECT_EQ(t.queues[2].name, "q.dead");
  EXPECT_TRUE(t.queues[2].dead_letter_exchange.empty());
  ASSERT_EQ(t.bindings.size(), 3U);
  EXPECT_EQ(t.bindings[0].queue, "q.a");
  EXPECT_EQ(t.bindings[0].exchange, "ex.msg");
  EXPECT_EQ(t.bindings[0].routing_key, "a");
  EXPECT_EQ(t.bindings[1].routing_key, "b");
  EXPECT_EQ(t.bindings[2].queue, "q.dead");
  EXPECT_EQ(t.bindings[2].exchange, "ex.dlx");
}

TEST(AmqpTopology, CoordinatorTopologyMatchesDesign) {
  TopologyNames n;
  n.ack_queue = "acks";
  n.delivery_limit = 5;
  auto t = coordinator_topology(n);
  ASSERT_EQ(t.exchanges.size(), 2U);
  EXPECT_EQ(t.exchanges[0].name, "ex.ack");
  ASSERT_EQ(t.queues.size(), 2U);
  EXPECT_EQ(t.queues[0].name, "acks");
  EXPECT_TRUE(t.queues[0].single_active_consumer);
  EXPECT_TRUE(t.queues[0].quorum);
  EXPECT_EQ(t.queues[0].delivery_limit, 5);
  EXPECT_EQ(t.queues[0].dead_letter_exchange, "ex.dlx");
  ASSERT_EQ(t.bindings.size(), 3U);
  EXPECT_EQ(t.bindings[0].routing_key, "ack");
  EXPECT_EQ(t.bindings[1].routing_key, "store");
  EXPECT_EQ(t.bindings[0].queue, "acks");
  EXPECT_EQ(t.bindings[2].queue, "q.dead");
}
