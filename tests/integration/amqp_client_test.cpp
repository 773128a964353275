// Integration tests of claimcheck::amqp::Client against the local RabbitMQ (`make up`).
// Queue and exchange names carry a unique suffix and are deleted at the end of each test.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "claimcheck/amqp/client.h"
#include "claimcheck/protocol/topology.h"
#include "claimcheck/core/credentials.h"
#include "log_capture.h"
#include "rabbitmq_mgmt.h"
#include "test_env.h"
#include "test_topology.h"

using namespace claimcheck;
using namespace claimcheck::amqp;
using namespace std::chrono_literals;

namespace {

using test::mgmt;
using test::unique_suffix;
using test::url_encode;

// Closes the broker connection whose client-provided name is `connection_name` (server side, 320
// CONNECTION_FORCED). Waits for the management plugin to list it. Returns true when deleted.
bool close_connection_from_server(const std::string& connection_name) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto body = mgmt("GET", "/api/connections?columns=name,client_properties").body;
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_array()) {
      for (const auto& c : j) {
        auto cp = c.value("client_properties", nlohmann::json::object());
        if (cp.value("connection_name", "") == connection_name) {
          mgmt("DELETE", "/api/connections/" + url_encode(c.value("name", "")));
          return true;
        }
      }
    }
    std::this_thread::sleep_for(500ms);
  }
  return false;
}

class AmqpClientIT : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = test::require_env("AMQP_URL");
    ASSERT_FALSE(url_.empty());
    sfx_ = unique_suffix();
    cfg_.urls = split_url_list(url_);
    cfg_.connection_name = "cc-amqp-it-" + sfx_;
    cfg_.heartbeat = 10s;
    cfg_.reconnect.initial = 100ms;
    cfg_.reconnect.max = 1000ms;
    client_ = std::make_unique<Client>(cfg_);
    auto r = client_->connect();
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
  }
  void TearDown() override {
    if (!client_) return;
    if (!client_->connected()) (void)client_->poll(2s);
    for (const auto& q : queues_) {
      auto r = client_->delete_queue(q);
      EXPECT_TRUE(r.has_value()) << r.error().to_string();
    }
    for (const auto& x : exchanges_) (void)client_->delete_exchange(x);
    client_->close();
  }

  // Names with the test's suffix; registered for cleanup.
  TopologyNames names() {
    TopologyNames n = claimcheck::test::test_topology("it" + sfx_);
    exchanges_.insert(exchanges_.end(), {n.msg_exchange, n.ack_exchange, n.dlx});
    queues_.insert(queues_.end(), {n.ack_queue, n.dead_queue});
    return n;
  }
  Topology declare_recipients(const TopologyNames& n, const std::vector<std::string>& rs) {
    for (const auto& r : rs) queues_.push_back(n.queue_prefix + r);
    auto t = recipient_topology(n, rs);
    auto d = client_->declare(t);
    EXPECT_TRUE(d.has_value()) << d.error().to_string();
    return t;
  }

  static Message msg(const std::string& body) {
    Message m;
    m.body = body;
    m.type = "test-v1";
    m.message_id = body;
    return m;
  }

  // Polls until `done()` or timeout, appending every event.
  template <typename F>
  bool poll_until(F done, std::chrono::milliseconds timeout, std::vector<Event>& all) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      auto ev = client_->poll(50ms);
      EXPECT_TRUE(ev.has_value()) << ev.error().to_string();
      if (!ev) return false;
      for (auto& e : *ev) all.push_back(std::move(e));
    }
    return true;
  }

  static std::size_t count(const std::vector<Event>& ev, Event::Kind k) {
    return static_cast<std::size_t>(std::count_if(ev.begin(), ev.end(), [k](const Event& e) { return e.kind == k; }));
  }

  std::string url_;
  std::string sfx_;
  AmqpConfig cfg_;
  std::unique_ptr<Client> client_;
  std::vector<std::string> queues_;
  std::vector<std::string> exchanges_;
};

TEST_F(AmqpClientIT, DeclareIsIdempotentAndMismatchedQueueIsUsedAsItIs) {
  auto n = names();
  auto t = declare_recipients(n, {"a", "b"});
  auto again = client_->declare(t);
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  auto coord = client_->declare(coordinator_topology(n));
  ASSERT_TRUE(coord.has_value()) << coord.error().to_string();
  auto qc = client_->queue_message_count(n.queue_prefix + "a");
  ASSERT_TRUE(qc.has_value()) << qc.error().to_string();
  EXPECT_EQ(*qc, 0U);

  // Same queue name, other arguments (classic instead of quorum): 406 on channel 2 only, then a passive
  // check; one warning naming the queue, none on the next declare.
  const auto epoch = client_->epoch();
  Topology bad;
  bad.queues.push_back(QueueSpec{n.queue_prefix + "a", false, "", 0, false});
  test::LogCapture logs;
  auto r = client_->declare(bad);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  ASSERT_TRUE(client_->declare(bad).has_value());
  EXPECT_EQ(logs.count("warning", "queue '" + n.queue_prefix + "a' exists with arguments that differ"), 1U);
  EXPECT_TRUE(client_->connected());
  EXPECT_EQ(client_->epoch(), epoch);

  // The client stays usable: a publish is confirmed and lands in the queue.
  auto id = client_->publish(n.msg_exchange, "a", msg("after-406"), true);
  ASSERT_TRUE(id.has_value());
  std::vector<Event> ev;
  auto w = client_->wait_confirms(10s, &ev);
  ASSERT_TRUE(w.has_value()) << w.error().to_string();
  ASSERT_EQ(count(ev, Event::Kind::Confirmed), 1U);
  EXPECT_EQ(ev[0].publish_id, *id);
  auto c2 = client_->queue_message_count(n.queue_prefix + "a");
  ASSERT_TRUE(c2.has_value());
  EXPECT_EQ(*c2, 1U);

  auto missing = client_->queue_message_count("it.no-such-queue." + sfx_);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
}

// Issue 8 item 9: the reference demo declared the recipients' quorum queues without dead-letter arguments.
// claimcheck's declare (with x-dead-letter-exchange, x-delivery-limit) gets 406, warns once naming the queue,
// and the consumer consumes from the queue as it is.
TEST_F(AmqpClientIT, PreDeclaredQueueWithOtherArgumentsIsConsumedWithOneWarning) {
  auto n = names();
  const std::string q = n.queue_prefix + "ref";
  queues_.push_back(q);
  Topology reference;
  reference.queues.push_back(QueueSpec{q, true, "", 0, false});
  ASSERT_TRUE(client_->declare(reference).has_value());

  test::LogCapture logs;
  auto t = recipient_topology(n, {"ref"});
  auto d = client_->declare(t);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  EXPECT_EQ(logs.count("warning", "queue '" + q + "' exists with arguments that differ"), 1U);
  EXPECT_EQ(logs.count("warning", "dead-lettering"), 1U);
  EXPECT_EQ(logs.count("warning", "x-dead-letter-exchange"), 1U) << "the broker's reason names the argument";

  ASSERT_TRUE(client_->publish(n.msg_exchange, "ref", msg("to-reference-queue"), true).has_value());
  ASSERT_TRUE(client_->wait_confirms(10s).has_value());
  ASSERT_TRUE(client_->consume(q, 1).has_value());
  std::vector<Event> ev;
  ASSERT_TRUE(poll_until([&] { return count(ev, Event::Kind::Delivery) >= 1; }, 10s, ev));
  const auto it = std::find_if(ev.begin(), ev.end(), [](const Event& e) { return e.kind == Event::Kind::Delivery; });
  EXPECT_EQ(it->delivery.message.body, "to-reference-queue");
  ASSERT_TRUE(client_->ack(it->delivery).has_value());
  ASSERT_TRUE(client_->declare(t).has_value());  // re-declare: still one warning
  EXPECT_EQ(logs.count("warning", "exists with arguments that differ"), 1U);
}

// DESIGN.md §9 without configure or bind rights: a user that may only read its queue and publish to the
// ack exchange declares its topology passively (403 → passive check on a re-opened channel), its bindings
// are assumed (and not made: the broker refused them), and it consumes and publishes. A missing object it
// may not declare is NotFound naming the administrator.
TEST_F(AmqpClientIT, WithoutConfigureRightsDeclareVerifiesPassively) {
  auto n = names();
  auto t = declare_recipients(n, {"r"});
  ASSERT_TRUE(client_->declare(coordinator_topology(n)).has_value());
  const std::string q = n.queue_prefix + "r";
  test::BrokerUser user("cc-it-least-" + sfx_);
  auto re = [](const std::string& s) {
    std::string out = "^";
    for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) != 0 ? std::string(1, c) : std::string("\\") + c);
    return out + "$";
  };
  user.set_permissions("^$", re(n.ack_exchange), re(q));
  AmqpConfig uc = cfg_;
  uc.urls = {user.url()};
  uc.connection_name = "cc-amqp-it-least-" + sfx_;
  Client uclient(uc);
  ASSERT_TRUE(uclient.connect().has_value());
  test::LogCapture logs;
  Topology spy = t;
  spy.bindings.push_back(BindingSpec{q, n.msg_exchange, "someone-else"});
  auto d = uclient.declare(spy);
  ASSERT_TRUE(d.has_value()) << d.error().to_string();
  ASSERT_TRUE(uclient.declare(coordinator_topology(n)).has_value());
  EXPECT_TRUE(uclient.connected());
  EXPECT_GE(logs.count("debug", "verifying it passively"), 2U);
  EXPECT_GE(logs.count("debug", "assumed to exist"), 1U);
  EXPECT_EQ(logs.count("warning", ""), 0U);
  auto bindings = mgmt("GET", "/api/bindings/%2F/e/" + url_encode(n.msg_exchange) + "/q/" + url_encode(q)).body;
  EXPECT_EQ(bindings.find("someone-else"), std::string::npos) << "the broker refused the bind: " << bindings;

  ASSERT_TRUE(client_->publish(n.msg_exchange, "r", msg("for-r"), true).has_value());
  ASSERT_TRUE(client_->wait_confirms(10s).has_value());
  ASSERT_TRUE(uclient.consume(q, 1).has_value());
  auto id = uclient.publish(n.ack_exchange, "ack", msg("an-ack"), false);
  ASSERT_TRUE(id.has_value());
  std::vector<Event> ev;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (count(ev, Event::Kind::Delivery) + count(ev, Event::Kind::Confirmed) < 2 &&
         std::chrono::steady_clock::now() < deadline) {
    auto got = uclient.poll(50ms);
    ASSERT_TRUE(got.has_value()) << got.error().to_string();
    for (auto& e : *got) ev.push_back(std::move(e));
  }
  ASSERT_EQ(count(ev, Event::Kind::Delivery), 1U);
  ASSERT_EQ(count(ev, Event::Kind::Confirmed), 1U);
  for (auto& e : ev) {
    if (e.kind == Event::Kind::Delivery) {
      ASSERT_TRUE(uclient.ack(e.delivery).has_value());
    }
  }

  Topology absent;
  absent.queues.push_back(QueueSpec{"it.q.absent." + sfx_, true, "", 0, false});
  auto m = uclient.declare(absent);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, ErrorCode::NotFound) << m.error().to_string();
  EXPECT_NE(m.error().message.find("administrator"), std::string::npos) << m.error().message;
  uclient.close();
}

TEST_F(AmqpClientIT, PublishManyAllConfirmed) {
  auto n = names();
  declare_recipients(n, {"r"});
  constexpr int kN = 300;
  std::set<std::uint64_t> ids;
  for (int i = 0; i < kN; ++i) {
    auto id = client_->publish(n.msg_exchange, "r", msg("m" + std::to_string(i)), true);
    ASSERT_TRUE(id.has_value()) << id.error().to_string();
    ids.insert(*id);
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kN));
  std::vector<Event> ev;
  auto w = client_->wait_confirms(30s, &ev);
  ASSERT_TRUE(w.has_value()) << w.error().to_string();
  EXPECT_EQ(client_->unconfirmed(), 0U);
  std::set<std::uint64_t> confirmed;
  for (const auto& e : ev) {
    EXPECT_EQ(e.kind, Event::Kind::Confirmed) << to_string(e.kind) << " " << e.reason;
    confirmed.insert(e.publish_id);
  }
  EXPECT_EQ(confirmed, ids);
  auto c = client_->queue_message_count(n.queue_prefix + "r");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(*c, static_cast<std::uint32_t>(kN));
}

TEST_F(AmqpClientIT, MandatoryUnroutableFailsWithNoRouteOthersConfirm) {
  auto n = names();
  declare_recipients(n, {"r"});
  auto ok1 = client_->publish(n.msg_exchange, "r", msg("routable-1"), true);
  auto bad = client_->publish(n.msg_exchange, "nobody", msg("unroutable"), true);
  auto ok2 = client_->publish(n.msg_exchange, "r", msg("routable-2"), true);
  auto loose = client_->publish(n.msg_exchange, "nobody", msg("unroutable-not-mandatory"), false);
  ASSERT_TRUE(ok1 && bad && ok2 && loose);
  std::vector<Event> ev;
  auto w = client_->wait_confirms(10s, &ev);
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().code, ErrorCode::FailedPrecondition);
  EXPECT_NE(w.error().message.find("NO_ROUTE"), std::string::npos) << w.error().message;
  std::map<std::uint64_t, Event> by_id;
  for (const auto& e : ev) by_id[e.publish_id] = e;
  ASSERT_EQ(by_id.size(), 4U);
  EXPECT_EQ(by_id[*ok1].kind, Event::Kind::Confirmed);
  EXPECT_EQ(by_id[*ok2].kind, Event::Kind::Confirmed);
  EXPECT_EQ(by_id[*loose].kind, Event::Kind::Confirmed);
  EXPECT_EQ(by_id[*bad].kind, Event::Kind::Failed);
  EXPECT_NE(by_id[*bad].reason.find("NO_ROUTE"), std::string::npos) << by_id[*bad].reason;
  EXPECT_NE(by_id[*bad].reason.find("312"), std::string::npos) << by_id[*bad].reason;
}

TEST_F(AmqpClientIT, PublishToMissingExchangeFailsWithoutReconnectLoop) {
  auto id = client_->publish("it.no-such-exchange." + sfx_, "x", msg("lost"), true);
  ASSERT_TRUE(id.has_value());
  std::vector<Event> ev;
  auto w = client_->wait_confirms(10s, &ev);
  ASSERT_FALSE(w.has_value());
  ASSERT_EQ(ev.size(), 1U);
  EXPECT_EQ(ev[0].kind, Event::Kind::Failed);
  EXPECT_EQ(ev[0].publish_id, *id);
  EXPECT_NE(ev[0].reason.find("NOT_FOUND"), std::string::npos) << ev[0].reason;
  EXPECT_TRUE(client_->connected());
  EXPECT_EQ(client_->epoch(), 1U);
}

TEST_F(AmqpClientIT, PrefetchBoundsUnackedAndPropertiesRoundTrip) {
  auto n = names();
  declare_recipients(n, {"r"});
  constexpr int kN = 8;
  for (int i = 0; i < kN; ++i) {
    Message m = msg("p" + std::to_string(i));
    m.headers["x-claimcheck-test"] = "v" + std::to_string(i);
    m.timestamp = 1700000000 + i;
    ASSERT_TRUE(client_->publish(n.msg_exchange, "r", m, true).has_value());
  }
  ASSERT_TRUE(client_->wait_confirms(10s).has_value());
  ASSERT_TRUE(client_->consume(n.queue_prefix + "r", 2).has_value());
  ASSERT_TRUE(client_->consume(n.queue_prefix + "r", 2).has_value());  // no-op, not a second consumer

  std::vector<Event> held;
  // Without acking, at most 2 deliveries arrive however long we wait.
  auto deadline = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < deadline) {
    auto ev = client_->poll(100ms);
    ASSERT_TRUE(ev.has_value());
    for (auto& e : *ev) held.push_back(std::move(e));
  }
  ASSERT_EQ(held.size(), 2U);
  const Envelope& first = held[0].delivery;
  EXPECT_EQ(held[0].kind, Event::Kind::Delivery);
  EXPECT_EQ(first.message.body, "p0");
  EXPECT_EQ(first.message.message_id, "p0");
  EXPECT_EQ(first.message.type, "test-v1");
  EXPECT_EQ(first.message.content_type, "application/json");
  EXPECT_TRUE(first.message.persistent);
  EXPECT_EQ(first.message.timestamp, 1700000000);
  EXPECT_EQ(first.message.headers.at("x-claimcheck-test"), "v0");
  EXPECT_EQ(first.message.headers.count("x-claimcheck-publish-id"), 0U);
  EXPECT_EQ(first.exchange, n.msg_exchange);
  EXPECT_EQ(first.routing_key, "r");
  EXPECT_FALSE(first.redelivered);
  EXPECT_EQ(first.epoch, client_->epoch());
  EXPECT_EQ(held[1].delivery.message.body, "p1");

  // Acking frees the window: everything arrives, never more than 2 unacked at once.
  std::vector<std::string> bodies;
  for (auto& e : held) {
    bodies.push_back(e.delivery.message.body);
    ASSERT_TRUE(client_->ack(e.delivery).has_value());
  }
  deadline = std::chrono::steady_clock::now() + 10s;
  while (bodies.size() < static_cast<std::size_t>(kN) && std::chrono::steady_clock::now() < deadline) {
    auto ev = client_->poll(100ms);
    ASSERT_TRUE(ev.has_value());
    ASSERT_LE(ev->size(), 2U);
    for (auto& e : *ev) {
      bodies.push_back(e.delivery.message.body);
      ASSERT_TRUE(client_->ack(e.delivery).has_value());
    }
  }
  ASSERT_EQ(bodies.size(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(bodies[static_cast<std::size_t>(i)], "p" + std::to_string(i));
  ASSERT_TRUE(client_->cancel_consume(n.queue_prefix + "r").has_value());
  ASSERT_TRUE(client_->cancel_consume(n.queue_prefix + "r").has_value());  // idempotent
}

// DESIGN.md §2/§9: a delivery carries the user_id of the user that published it — the administrator's for
// client_, a second real broker user's for its own connection — and Message::user_id cannot forge it.
TEST_F(AmqpClientIT, DeliveryCarriesThePublishersUserId) {
  auto n = names();
  declare_recipients(n, {"r"});
  test::BrokerUser other("cc-it-user-" + sfx_);
  AmqpConfig oc = cfg_;
  oc.urls = {other.url()};
  oc.connection_name = "cc-amqp-it-other-" + sfx_;
  Client oclient(oc);
  ASSERT_TRUE(oclient.connect().has_value());
  Message forged = msg("from-other");
  forged.user_id = test::admin_user();  // ignored: the client sends the user it authenticated as
  ASSERT_TRUE(oclient.publish(n.msg_exchange, "r", forged, true).has_value());
  auto oc_confirmed = oclient.wait_confirms(10s);
  ASSERT_TRUE(oc_confirmed.has_value()) << oc_confirmed.error().to_string();
  oclient.close();
  ASSERT_TRUE(client_->publish(n.msg_exchange, "r", msg("from-admin"), true).has_value());
  ASSERT_TRUE(client_->wait_confirms(10s).has_value());

  std::map<std::string, std::string> user_of;  // body → user_id
  for (int i = 0; i < 2; ++i) {
    auto env = client_->basic_get(n.queue_prefix + "r");
    ASSERT_TRUE(env.has_value() && env->has_value()) << "message " << i << " missing";
    user_of[(*env)->message.body] = (*env)->message.user_id;
    ASSERT_TRUE(client_->ack(**env).has_value());
  }
  EXPECT_EQ(user_of["from-other"], other.name());
  EXPECT_EQ(user_of["from-admin"], test::admin_user());
  EXPECT_FALSE(test::admin_user().empty());
}

TEST_F(AmqpClientIT, NackRequeueIsRedeliveredWithDeliveryCount) {
  auto n = names();
  declare_recipients(n, {"r"});
  ASSERT_TRUE(client_->publish(n.msg_exchange, "r", msg("again"), true).has_value());
  ASSERT_TRUE(client_->wait_confirms(10s).has_value());
  ASSERT_TRUE(client_->consume(n.queue_prefix + "r", 1).has_value());
  std::vector<Event> ev;
  ASSERT_TRUE(poll_until([&] { return count(ev, Event::Kind::Delivery) >= 1; }, 10s, ev));
  EXPECT_FALSE(ev[0].delivery.redelivered);
  EXPECT_EQ(ev[0].delivery.delivery_count, 0);
  ASSERT_TRUE(client_->nack(ev[0].delivery, true).has_value());
  ASSERT_TRUE(poll_until([&] { return count(ev, Event::Kind::Delivery) >= 2; }, 10s, ev));
  EXPECT_EQ(ev[1].delivery.message.body, "again");
  EXPECT_TRUE(ev[1].delivery.redelivered);
  EXPECT_EQ(ev[1].delivery.delivery_count, 1);
  EXPECT_EQ(ev[1].delivery.message.headers.at("x-delivery-count"), "1");
  ASSERT_TRUE(client_->reject(ev[1].delivery, true).has_value());
  ASSERT_TRUE(poll_until([&] { return count(ev, Event::Kind::Delivery) >= 3; }, 10s, ev));
  EXPECT_TRUE(ev[2].delivery.redelivered);
  EXPECT_EQ(ev[2].delivery.delivery_count, 2);
  ASSERT_TRUE(client_->ack(ev[2].delivery).has_value());
  ASSERT_TRUE(client_->cancel_consume(n.queue_prefix + "r").has_value());
  std::this_thread::sleep_for(200ms);
  auto c = client_->queue_message_count(n.queue_prefix + "r");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(*c, 0U);
}

TEST_F(AmqpClientIT, RejectWithoutRequeueDeadLetters) {
  auto n = names();
  declare_recipients(n, {"r"});
  Message m = msg("poison");
  m.headers["x-claimcheck-error"] = "bad pointer";
  ASSERT_TRUE(client_->publish(n.msg_exchange, "r", m, true).has_value());
  ASSERT_TRUE(client_->wait_confirms(10s).has_value());
  ASSERT_TRUE(client_->consume(n.queue_prefix + "r", 1).has_value());
  std::vector<Event> ev;
  ASSERT_TRUE(poll_until([&] { return count(ev, Event::Kind::Delivery) >= 1; }, 10s, ev));
  ASSERT_TRUE(client_->reject(ev[0].delivery, false).has_value());

  std::optional<Envelope> dead;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!dead && std::chrono::steady_clock::now() < deadline) {
    auto g = client_->basic_get(n.dead_queue);
    ASSERT_TRUE(g.has_value()) << g.error().to_string();
    if (*g) dead = std::move(**g);
    else std::this_thread::sleep_for(100ms);
    (void)client_->poll(0ms);
  }
  ASSERT_TRUE(dead.has_value());
  EXPECT_EQ(dead->message.body, "poison");
  EXPECT_EQ(dead->message.headers.at("x-claimcheck-error"), "bad pointer");
  EXPECT_EQ(dead->message.headers.at("x-first-death-queue"), n.queue_prefix + "r");
  EXPECT_EQ(dead->message.headers.at("x-first-death-reason"), "rejected");
  EXPECT_EQ(dead->message.headers.count("x-death"), 0U);  // an array: skipped
  auto empty = client_->basic_get(n.dead_queue);
  ASSERT_TRUE(empty.has_value());
  EXPECT_FALSE(empty->has_value());
}

TEST_F(AmqpClientIT, ServerSideCloseReconnectsResumesAndLosesNothing) {
  auto n = names();
  declare_recipients(n, {"r"});
  ASSERT_TRUE(client_->consume(n.queue_prefix + "r", 10).has_value());
  constexpr int kN = 200;
  std::set<std::string> received;
  std::vector<Envelope> stale;
  std::size_t reconnects = 0;
  std::size_t confirmed = 0;
  int next = 0;
  bool closed_once = false;
  auto deadline = std::chrono::steady_clock::now() + 90s;
  while ((received.size() < static_cast<std::size_t>(kN) || client_->unconfirmed() > 0) &&
         std::chrono::steady_clock::now() < deadline) {
    // Publish in bursts of 20 so that some are in flight when the connection is closed.
    for (int i = 0; i < 20 && next < kN; ++i, ++next) {
      auto id = client_->publish(n.msg_exchange, "r", msg("c" + std::to_string(next)), true);
      ASSERT_TRUE(id.has_value()) << id.error().to_string();
    }
    if (!closed_once && next >= kN / 2) {
      closed_once = true;
      ASSERT_TRUE(close_connection_from_server(cfg_.connection_name)) << "connection not found in mgmt API";
      // Not polled since the last burst: these are in flight on the closed connection and must be re-sent.
      EXPECT_GT(client_->unconfirmed(), 0U);
    }
    auto ev = client_->poll(50ms);
    ASSERT_TRUE(ev.has_value()) << ev.error().to_string();
    for (auto& e : *ev) {
      switch (e.kind) {
        case Event::Kind::Delivery:
          received.insert(e.delivery.message.body);
          if (stale.empty()) stale.push_back(e.delivery);
          ASSERT_TRUE(client_->ack(e.delivery).has_value());
          break;
        case Event::Kind::Confirmed: ++confirmed; break;
        case Event::Kind::Reconnected: ++reconnects; break;
        case Event::Kind::Failed: FAIL() << "publish " << e.publish_id << " failed: " << e.reason;
        default: break;
      }
    }
  }
  EXPECT_GE(reconnects, 1U);
  EXPECT_GE(client_->epoch(), 2U);
  EXPECT_EQ(client_->unconfirmed(), 0U);
  EXPECT_EQ(confirmed, static_cast<std::size_t>(kN));
  ASSERT_EQ(received.size(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(received.count("c" + std::to_string(i)), 1U) << i;
  // Acking an envelope from the previous connection generation is a harmless no-op.
  ASSERT_FALSE(stale.empty());
  EXPECT_LT(stale[0].epoch, client_->epoch());
  EXPECT_TRUE(client_->ack(stale[0]).has_value());
  EXPECT_TRUE(client_->connected());
}

TEST_F(AmqpClientIT, DeletedQueueCancelsConsumerAndInterruptWakesPoll) {
  auto n = names();
  declare_recipients(n, {"gone"});
  const std::string q = n.queue_prefix + "gone";
  ASSERT_TRUE(client_->consume(q, 1).has_value());
  ASSERT_TRUE(client_->delete_queue(q).has_value());
  std::vector<Event> ev;
  ASSERT_TRUE(poll_until([&] { return count(ev, Event::Kind::Cancelled) >= 1; }, 10s, ev));
  auto it = std::find_if(ev.begin(), ev.end(), [](const Event& e) { return e.kind == Event::Kind::Cancelled; });
  EXPECT_EQ(it->reason, q);
  EXPECT_TRUE(client_->connected());
  EXPECT_EQ(client_->epoch(), 1U);

  bool wake = false;
  client_->set_interrupt_check([&] { return wake; });
  wake = true;
  auto start = std::chrono::steady_clock::now();
  auto r = client_->poll(5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  client_->set_interrupt_check({});
}

TEST(AmqpClientHeartbeatIT, PollingKeepsConnectionNotPollingLosesItThenReconnects) {
  AmqpConfig cfg;
  cfg.urls = split_url_list(test::require_env("AMQP_URL"));
  ASSERT_FALSE(cfg.urls.empty());
  cfg.heartbeat = 1s;
  cfg.reconnect.initial = 50ms;
  Client client(cfg);
  ASSERT_TRUE(client.connect().has_value());
  // Polling services heartbeats: 4 s (4 heartbeat intervals) without traffic keeps the connection.
  auto until = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < until) {
    auto ev = client.poll(50ms);
    ASSERT_TRUE(ev.has_value());
    EXPECT_TRUE(ev->empty());
  }
  EXPECT_EQ(client.epoch(), 1U);
  // Not polling for 5 s: the broker (and the library) declare the peer dead; the next polls reconnect.
  std::this_thread::sleep_for(5s);
  std::vector<Event> ev;
  until = std::chrono::steady_clock::now() + 10s;
  while (client.epoch() < 2 && std::chrono::steady_clock::now() < until) {
    auto r = client.poll(50ms);
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    for (auto& e : *r) ev.push_back(std::move(e));
  }
  EXPECT_EQ(client.epoch(), 2U);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev[0].kind, Event::Kind::Reconnected);
  EXPECT_FALSE(ev[0].reason.empty());
}

TEST(AmqpClientAuthIT, BadPasswordIsPermissionDeniedWithoutRetryLoop) {
  std::string url = test::require_env("AMQP_URL");
  ASSERT_FALSE(url.empty());
  auto s = url.find("://");
  auto at = url.find('@');
  auto colon = url.find(':', s + 3);
  ASSERT_TRUE(at != std::string::npos && colon < at);
  std::string bad = url.substr(0, colon + 1) + "definitely-wrong-password" + url.substr(at);
  AmqpConfig cfg;
  cfg.urls = {bad};
  cfg.connect_attempts = 50;  // must not be used up: auth failures are final
  cfg.reconnect.initial = 1000ms;
  cfg.reconnect.max = 1000ms;
  Client client(cfg);
  auto start = std::chrono::steady_clock::now();
  auto r = client.connect();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::PermissionDenied) << r.error().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(r.error().to_string().find("definitely-wrong-password"), std::string::npos);
  EXPECT_FALSE(client.connected());
}

}  // namespace
