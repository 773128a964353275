#pragma once
/// Test helper: the DESIGN.md §3 topology names of one test's namespace on the shared broker — every name
/// carries the test's unique tag, so tests running side by side (and earlier runs' leftovers) never meet.
/// Header-only; pure.

#include <string>

#include "claimcheck/protocol/topology.h"

namespace claimcheck::test {

/// TopologyNames for tag `tag` (see unique_name()): ex.msg.<tag>, ex.ack.<tag>, q.ack.<tag>, ex.dlx.<tag>,
/// q.dead.<tag> and queue prefix q.<tag>. (so recipient r's queue is q.<tag>.r); routing keys and the
/// delivery limit keep their defaults.
inline TopologyNames test_topology(const std::string& tag) {
  TopologyNames n;
  n.msg_exchange = "ex.msg." + tag;
  n.ack_exchange = "ex.ack." + tag;
  n.ack_queue = "q.ack." + tag;
  n.dlx = "ex.dlx." + tag;
  n.dead_queue = "q.dead." + tag;
  n.queue_prefix = "q." + tag + ".";
  return n;
}

}  // namespace claimcheck::test
