// Integration tests of the pointer flow (Producer → RabbitMQ → Consumer) against the local RabbitMQ and
// Ceph RGW (`make up`). Every test uses its own topology names (t<random>), so runs never collide with each
// other, with the coordinator's tests or with a running demo.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_data.h"
#include "claimcheck/amqp/client.h"
#include "claimcheck/consume/consumer.h"
#include "claimcheck/consume/exec_handler.h"
#include "claimcheck/core/file_io.h"
#include "claimcheck/produce/producer.h"
#include "claimcheck/protocol/messages.h"
#include "claimcheck/s3/presign.h"
#include "claimcheck/s3/s3_client.h"
#include "claimcheck/core/codec.h"
#include "claimcheck/core/io.h"
#include "claimcheck/core/time.h"
#include "claimcheck/protocol/topology.h"
#include "claimcheck/core/credentials.h"
#include "log_capture.h"
#include "rabbitmq_mgmt.h"
#include "test_env.h"
#include "test_topology.h"
#include "throttle_proxy.h"

namespace fs = std::filesystem;
using namespace claimcheck;

using claimcheck::test::slurp;
using claimcheck::test::random_bytes;
namespace {

/// `n` bytes of multi-byte UTF-8 text: "é" (2 bytes) repeated, padded with one ASCII letter if n is odd.
std::string utf8_text(std::size_t n) {
  std::string s;
  while (s.size() + 2 <= n) s += "\xc3\xa9";
  if (s.size() < n) s += "a";
  return s;
}

class PipelineFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tag_ = claimcheck::test::unique_name("t");
    names_ = claimcheck::test::test_topology(tag_);
    s3_.endpoint = test::require_env("S3_ENDPOINT");
    s3_.region = test::env_value("S3_REGION").value_or("us-east-1");
    s3_.access_key = test::require_env("S3_ACCESS_KEY");
    s3_.secret_key = test::require_env("S3_SECRET_KEY");
    s3_.part_size = 5 * s3::kMiB;
    bucket_ = test::require_env("S3_BUCKET");
    amqp_.urls = split_url_list(test::require_env("AMQP_URL"));
    amqp_.connect_timeout = std::chrono::milliseconds(5000);
    ASSERT_FALSE(HasFailure());
    work_ = fs::temp_directory_path() / ("claimcheck-flow-" + tag_);
    fs::create_directories(work_);
    // The admin connection is used only between the steps of a test, which under a sanitizer can run for
    // more than two heartbeat intervals without a poll(): the broker then closed it and drain()'s basic.get
    // failed with a socket error (seen under TSan). No heartbeat for this one connection.
    amqp::AmqpConfig admin_cfg = amqp_;
    admin_cfg.heartbeat = std::chrono::seconds(0);
    admin_ = std::make_unique<amqp::Client>(admin_cfg);
    ASSERT_TRUE(admin_->connect().has_value());
    // q.ack is single-active-consumer (no basic.get): tap the ack exchange with our own classic queue.
    ack_tap_ = "q.acktap." + tag_;
    amqp::Topology tap;
    tap.exchanges.push_back({names_.ack_exchange, "direct"});
    tap.queues.push_back({ack_tap_, false, "", 0, false});
    tap.bindings.push_back({ack_tap_, names_.ack_exchange, names_.ack_routing_key});
    tap.bindings.push_back({ack_tap_, names_.ack_exchange, names_.store_routing_key});
    auto d = admin_->declare(tap);
    ASSERT_TRUE(d.has_value()) << d.error().to_string();
    queues_.insert(ack_tap_);
  }

  void TearDown() override {
    if (admin_) {
      for (const auto& q : queues_) (void)admin_->delete_queue(q);
      (void)admin_->delete_queue(names_.ack_queue);
      (void)admin_->delete_queue(names_.dead_queue);
      for (const auto& e : {names_.msg_exchange, names_.ack_exchange, names_.dlx}) (void)admin_->delete_exchange(e);
      admin_->close();
    }
    std::error_code ec;
    fs::remove_all(work_, ec);
  }

  ProducerConfig producer_config(std::vector<std::string> recipients) {
    ProducerConfig c;
    c.s3 = s3_;
    c.amqp = amqp_;
    c.names = names_;
    c.bucket = bucket_;
    c.key_prefix = "test-" + tag_;
    c.recipients = std::move(recipients);
    c.producer_id = "flow-test";
    for (const auto& r : c.recipients) queues_.insert(names_.queue_prefix + r);
    return c;
  }

  ConsumerConfig consumer_config(const std::string& recipient) {
    ConsumerConfig c;
    c.s3 = s3_;
    c.amqp = amqp_;
    c.names = names_;
    c.recipient = recipient;
    c.limits.allowed_buckets = {bucket_};
    c.idle_exit = std::chrono::milliseconds(30000);
    c.requeue.initial = std::chrono::milliseconds(100);
    queues_.insert(names_.queue_prefix + recipient);
    return c;
  }

  /// Every message currently in `queue` (basic.get, auto-ack).
  std::vector<amqp::Envelope> drain(const std::string& queue) {
    std::vector<amqp::Envelope> out;
    for (;;) {
      auto g = admin_->basic_get(queue);
      EXPECT_TRUE(g.has_value()) << (g ? "" : g.error().to_string());
      if (!g || !*g) break;
      out.push_back(std::move(**g));
    }
    return out;
  }

  std::string tag_;
  TopologyNames names_;
  s3::S3Config s3_;
  amqp::AmqpConfig amqp_;
  std::string bucket_;
  fs::path work_;
  std::unique_ptr<amqp::Client> admin_;
  std::set<std::string> queues_;
  std::string ack_tap_;
  std::vector<std::string> keys_;  // objects a test must remove itself (no coordinator runs here)
};

/// Runs consumers for `recipients` in threads until each settled `expected` messages (or went idle).
std::vector<ConsumeReport> run_consumers(std::vector<ConsumerConfig> cfgs) {
  std::vector<ConsumeReport> reports(cfgs.size());
  std::vector<std::thread> threads;
  std::vector<std::string> errors(cfgs.size());
  for (std::size_t i = 0; i < cfgs.size(); ++i) {
    threads.emplace_back([&, i] {
      auto c = Consumer::create(cfgs[i]);
      if (!c) { errors[i] = c.error().to_string(); return; }
      auto r = c->run({}, &reports[i]);
      if (!r) errors[i] = r.error().to_string();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  return reports;
}

TEST_F(PipelineFlowTest, ThreeRecipientsWriteIdenticalCopiesWithEveryCodec) {
  const std::vector<std::string> recipients{"a", "b", "c"};
  const std::uint64_t threshold = 1000;
  struct Case { std::string name; std::string data; bool inline_run; };
  std::vector<Case> cases{
      {"empty", "", false},
      {"one", "x", false},
      {"mib", random_bytes(1 << 20, 1), false},
      {"part-plus-one", random_bytes(5 * s3::kMiB + 1, 2), false},
      {"big64", random_bytes(64 * s3::kMiB, 3), false},
      {"thr-minus-1", utf8_text(threshold - 1), true},
      {"thr-equal", utf8_text(threshold), true},
      {"thr-plus-1", utf8_text(threshold + 1), true},
  };
  fs::path in_dir = work_ / "in";
  for (const auto& c : cases) {
    fs::create_directories(in_dir);
    std::ofstream(in_dir / c.name, std::ios::binary) << c.data;
  }
  // Multi-byte check: 999 bytes is ~500 characters; the threshold counts bytes.
  ASSERT_EQ(cases[6].data.size(), threshold);

  std::map<std::string, ProduceOutcome> outcomes;  // "<codec>/<case>" → outcome
  std::size_t offloaded = 0;
  for (Encoding enc : {Encoding::Zstd, Encoding::Gzip, Encoding::Identity}) {
    const std::string codec(to_string(enc));
    for (bool inline_run : {false, true}) {
      auto cfg = producer_config(recipients);
      cfg.encoding = enc;
      cfg.inline_threshold = inline_run ? threshold : 0;
      cfg.verify = true;
      std::vector<PayloadInput> inputs;
      for (const auto& c : cases)
        if (c.inline_run == inline_run) inputs.push_back(file_input((in_dir / c.name).string(), codec + "/" + c.name));
      auto p = Producer::create(cfg);
      ASSERT_TRUE(p.has_value()) << p.error().to_string();
      auto rep = p->run(inputs);
      ASSERT_TRUE(rep.has_value()) << rep.error().to_string();
      ASSERT_EQ(rep->failed, 0u);
      for (const auto& o : rep->outcomes) {
        outcomes[o.name] = o;
        if (!o.inlined) ++offloaded;
      }
    }
  }
  // Inline decision: threshold-1 and threshold inline, threshold+1 offloaded; everything in the offload run
  // (threshold 0) offloaded, including the empty payload.
  for (const std::string codec : {"zstd", "gzip", "identity"}) {
    EXPECT_TRUE(outcomes[codec + "/thr-minus-1"].inlined);
    EXPECT_TRUE(outcomes[codec + "/thr-equal"].inlined);
    EXPECT_FALSE(outcomes[codec + "/thr-plus-1"].inlined);
    EXPECT_FALSE(outcomes[codec + "/empty"].inlined);
    EXPECT_TRUE(outcomes[codec + "/mib"].verified);
  }
  // Multipart object: metadata intact.
  {
    auto c = s3::S3Client::create(s3_);
    ASSERT_TRUE(c.has_value());
    const auto& o = outcomes["identity/part-plus-one"];
    auto h = c->head_object(bucket_, o.key);
    ASSERT_TRUE(h.has_value()) << h.error().to_string();
    EXPECT_EQ(h->size, 5 * s3::kMiB + 1);
    EXPECT_NE(h->etag.find('-'), std::string::npos) << "expected a multipart ETag, got " << h->etag;
    EXPECT_EQ(h->metadata["pointer-id"], o.pointer_id);
    const auto& oz = outcomes["zstd/mib"];
    auto hz = c->head_object(bucket_, oz.key);
    ASSERT_TRUE(hz.has_value());
    EXPECT_EQ(hz->content_encoding, "zstd");
    auto pz = parse_pointer(oz.pointer_json, {});
    ASSERT_TRUE(pz.has_value());
    EXPECT_EQ(hz->metadata["sha256"], pz->sha256);
  }

  const std::size_t per_recipient = outcomes.size();
  std::vector<ConsumerConfig> cfgs;
  for (const auto& r : recipients) {
    auto cc = consumer_config(r);
    cc.sink_factory = out_dir_sink_factory(work_ / ("out-" + r));
    cc.max_messages = per_recipient;
    cfgs.push_back(cc);
  }
  auto reports = run_consumers(cfgs);
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    EXPECT_EQ(reports[i].processed, per_recipient) << recipients[i];
    EXPECT_EQ(reports[i].dead_lettered, 0u) << recipients[i];
    EXPECT_EQ(reports[i].stop_reason, "max-messages");
    for (const auto& [name, o] : outcomes) {
      std::string want = slurp(in_dir / fs::path(name).filename());
      fs::path got = work_ / ("out-" + recipients[i]) / name;
      ASSERT_TRUE(fs::exists(got)) << got;
      EXPECT_EQ(fs::file_size(got), want.size()) << got;
      EXPECT_TRUE(slurp(got) == want) << got << " differs";
    }
  }
  // Exactly one `processed` ack per (pointer, recipient) for offloaded payloads; one store record each.
  std::map<std::string, int> acks;
  std::size_t stores = 0;
  for (const auto& env : drain(ack_tap_)) {
    if (env.message.type == kSchemaStore) { ++stores; continue; }
    auto a = parse_ack(env.message.body);
    ASSERT_TRUE(a.has_value()) << env.message.body;
    EXPECT_EQ(a->status, AckStatus::Processed);
    EXPECT_EQ(env.message.message_id, a->pointer_id + ":" + a->recipient_id);
    ++acks[a->pointer_id + ":" + a->recipient_id];
  }
  EXPECT_EQ(stores, offloaded);
  EXPECT_EQ(acks.size(), offloaded * recipients.size());
  for (const auto& [k, n] : acks) EXPECT_EQ(n, 1) << k;
  for (const auto& [name, o] : outcomes) {
    if (o.inlined) continue;
    for (const auto& r : recipients) EXPECT_EQ(acks[o.pointer_id + ":" + r], 1) << name << " " << r;
  }
  // No coordinator runs here: remove the objects ourselves.
  auto c = s3::S3Client::create(s3_);
  ASSERT_TRUE(c.has_value());
  for (const auto& [name, o] : outcomes) {
    if (!o.key.empty()) {
      EXPECT_TRUE(c->delete_object(bucket_, o.key).has_value()) << name;
    }
  }
}

// Regression (issue 8, data loss): `r\xe9.txt` (A) and `r\xe8.txt` (B), Latin-1 names that are not valid
// UTF-8, both arrived as `r\uFFFD.txt`: one file holding A, and B lost. Offloaded and inline alike, each
// must arrive under exactly its original bytes with its own content.
TEST_F(PipelineFlowTest, NonUtf8FileNamesArriveAsTwoDistinctFiles) {
  fs::path in_dir = work_ / "in-latin1";
  fs::create_directories(in_dir / "sub\xe4");
  const std::map<std::string, std::string> files{{"r\xe9.txt", "payload A " + random_bytes(3000, 7)},
                                                 {"r\xe8.txt", "payload B " + random_bytes(3000, 8)},
                                                 {"sub\xe4/x.bin", "payload C"}};
  for (const auto& [name, data] : files) std::ofstream(in_dir / name, std::ios::binary) << data;
  std::size_t sent = 0;
  for (std::uint64_t threshold : {std::uint64_t{0}, std::uint64_t{100000}}) {  // offloaded, then inline
    auto inputs = directory_inputs(in_dir.string(), threshold == 0 ? "off/" : "inl/");
    ASSERT_TRUE(inputs.has_value()) << inputs.error().to_string();
    ASSERT_EQ(inputs->size(), files.size());
    auto cfg = producer_config({"a"});
    cfg.inline_threshold = threshold;
    auto p = Producer::create(cfg);
    ASSERT_TRUE(p.has_value()) << p.error().to_string();
    auto rep = p->run(*inputs);
    ASSERT_TRUE(rep.has_value()) << rep.error().to_string();
    ASSERT_EQ(rep->failed, 0u);
    for (const auto& o : rep->outcomes) {
      EXPECT_EQ(o.inlined, threshold != 0) << o.name;
      if (!o.key.empty()) keys_.push_back(o.key);
    }
    sent += rep->outcomes.size();
  }
  auto cc = consumer_config("a");
  cc.sink_factory = out_dir_sink_factory(work_ / "out");
  cc.max_messages = sent;
  auto reports = run_consumers({cc});
  EXPECT_EQ(reports[0].processed, sent);
  EXPECT_EQ(reports[0].dead_lettered, 0u);
  std::size_t found = 0;
  for (const auto& e : fs::recursive_directory_iterator(work_ / "out"))
    if (e.is_regular_file()) ++found;
  EXPECT_EQ(found, sent) << "every input arrives as its own file, none merged";
  for (const std::string prefix : {"off/", "inl/"}) {
    for (const auto& [name, data] : files) {
      fs::path got = work_ / "out" / (prefix + name);
      ASSERT_TRUE(fs::exists(got)) << got;
      EXPECT_TRUE(slurp(got) == data) << got << " differs";
    }
  }
  auto c = s3::S3Client::create(s3_);
  ASSERT_TRUE(c.has_value());
  for (const auto& k : keys_) EXPECT_TRUE(c->delete_object(bucket_, k).has_value()) << k;
}

// Regression (issue 8, data loss b): recipient b's queue refuses publishes (policy max-length 0,
// reject-publish). The producer used to re-send everything 11 times (a got the pointer 11 times) and then
// delete the object that a still needed. Now: the payload fails naming b only, a gets exactly one pointer
// and writes the payload, and the object stays in S3 for the coordinator to expire (invariant S3).
TEST_F(PipelineFlowTest, RecipientRefusingPublishesIsNamedAndTheObjectStays) {
  const std::string policy = "cc-reject-" + tag_;
  std::string pattern = "^" + names_.queue_prefix + "b$";
  for (std::size_t at = 0; (at = pattern.find('.', at)) != std::string::npos; at += 3) pattern.replace(at, 1, "\\\\.");
  auto put = test::mgmt("PUT", "/api/policies/%2F/" + policy,
                        R"({"pattern":")" + pattern + R"(","apply-to":"queues","priority":100,)"
                        R"("definition":{"max-length":0,"overflow":"reject-publish"}})");
  ASSERT_TRUE(put.status == 201 || put.status == 204) << put.status << " " << put.body;
  struct PolicyGuard {
    std::string name;
    ~PolicyGuard() { test::mgmt("DELETE", "/api/policies/%2F/" + name); }
  } guard{policy};
  // A quorum queue rejects publishes once it is over its max-length: one message already there.
  auto cfg = producer_config({"a", "b"});
  ASSERT_TRUE(admin_->declare(recipient_topology(names_, {"b"})).has_value());
  amqp::Message filler;
  filler.body = "filler";
  ASSERT_TRUE(admin_->publish(names_.msg_exchange, "b", filler, true).has_value());
  ASSERT_TRUE(admin_->wait_confirms(std::chrono::seconds(10)).has_value());

  cfg.amqp.reconnect.initial = std::chrono::milliseconds(20);
  cfg.amqp.reconnect.max = std::chrono::milliseconds(200);
  PayloadInput in = file_input("-", "refused.bin");
  const std::string data = random_bytes(200000, 11);
  in.open = [data]() -> Result<std::unique_ptr<ByteSource>> {
    return std::unique_ptr<ByteSource>(std::make_unique<MemorySource>(data));
  };
  auto p = Producer::create(cfg);
  ASSERT_TRUE(p.has_value()) << p.error().to_string();
  auto rep = p->run({in});
  ASSERT_TRUE(rep.has_value()) << rep.error().to_string();
  ASSERT_EQ(rep->outcomes.size(), 1u);
  const ProduceOutcome& o = rep->outcomes[0];
  EXPECT_EQ(rep->failed, 1u);
  EXPECT_NE(o.error.find("not delivered to recipient 'b'"), std::string::npos) << o.error;
  EXPECT_EQ(o.error.find("recipient 'a'"), std::string::npos) << o.error;
  EXPECT_FALSE(o.deleted);
  ASSERT_FALSE(o.key.empty());
  keys_.push_back(o.key);
  auto s3c = s3::S3Client::create(s3_);
  ASSERT_TRUE(s3c.has_value());
  EXPECT_TRUE(s3c->head_object(bucket_, o.key).has_value()) << "the producer deleted an object a still needs";

  auto cc = consumer_config("a");
  cc.sink_factory = out_dir_sink_factory(work_ / "out-a");
  cc.idle_exit = std::chrono::milliseconds(3000);
  auto reports = run_consumers({cc});
  EXPECT_EQ(reports[0].processed, 1u) << "a receives the pointer exactly once";
  EXPECT_EQ(reports[0].dead_lettered, 0u);
  EXPECT_TRUE(slurp(work_ / "out-a" / "refused.bin") == data);
  for (const auto& k : keys_) EXPECT_TRUE(s3c->delete_object(bucket_, k).has_value()) << k;
}

// Issue 8: a consumer SIGKILLed after its ack was confirmed but before basic.ack gets the pointer again,
// often after the coordinator deleted the object; it used to dead-letter it as "object not found". With
// the journal the redelivery only re-sends the recorded ack: no download, no handler run, no dead letter.
TEST_F(PipelineFlowTest, RedeliveredProcessedPointerOnlyResendsItsAck) {
  auto p = Producer::create(producer_config({"a"}));
  ASSERT_TRUE(p.has_value());
  auto rep = p->run(synthetic_inputs(1, 50000, 5, "j/"));
  ASSERT_TRUE(rep.has_value() && rep->failed == 0u);
  const ProduceOutcome o = rep->outcomes[0];
  auto cc = consumer_config("a");
  cc.state_dir = work_ / "state";
  cc.sink_factory = out_dir_sink_factory(work_ / "out");
  cc.max_messages = 1;
  auto first = run_consumers({cc});
  ASSERT_EQ(first[0].processed, 1u);
  EXPECT_TRUE(fs::exists(work_ / "state" / "journal-a.db"));

  // The same pointer again (a redelivery), and the object is already gone.
  auto s3c = s3::S3Client::create(s3_);
  ASSERT_TRUE(s3c.has_value());
  ASSERT_TRUE(s3c->delete_object(bucket_, o.key).has_value());
  fs::remove(work_ / "out" / "j" / "msg-1.json");
  amqp::Message again;
  again.body = o.pointer_json;
  again.type = std::string(kSchemaPointer);
  again.message_id = o.pointer_id;
  ASSERT_TRUE(admin_->publish(names_.msg_exchange, "a", again, true).has_value());
  ASSERT_TRUE(admin_->wait_confirms(std::chrono::seconds(10)).has_value());
  auto second = run_consumers({cc});
  EXPECT_EQ(second[0].already_processed, 1u);
  EXPECT_EQ(second[0].processed, 0u);
  EXPECT_EQ(second[0].dead_lettered, 0u);
  EXPECT_EQ(second[0].s3_requests, 0u) << "no download for a journaled pointer";
  EXPECT_FALSE(fs::exists(work_ / "out" / "j" / "msg-1.json")) << "the handler did not run again";
  int acks = 0;
  for (const auto& env : drain(ack_tap_)) {
    if (env.message.type != kSchemaAck) continue;
    auto a = parse_ack(env.message.body);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->status, AckStatus::Processed);
    EXPECT_EQ(a->pointer_id, o.pointer_id);
    ++acks;
  }
  EXPECT_EQ(acks, 2) << "the first ack and its re-send";
  EXPECT_TRUE(drain(names_.dead_queue).empty());
}

// Issue 8 item 9: a queue the reference demo declared (quorum, no dead-letter arguments) is used as it is: the
// producer and the consumer get 406 on their declare, warn once each naming the queue, and the payload
// arrives.
TEST_F(PipelineFlowTest, ReferenceDemoQueueWithoutDeadLetteringIsConsumedWithOneWarning) {
  const std::string q = names_.queue_prefix + "ref";
  amqp::Topology reference;
  reference.queues.push_back({q, true, "", 0, false});
  ASSERT_TRUE(admin_->declare(reference).has_value());
  auto p = Producer::create(producer_config({"ref"}));
  ASSERT_TRUE(p.has_value());
  auto rep = p->run(synthetic_inputs(1, 3000, 11, "ref/"));
  ASSERT_TRUE(rep.has_value() && rep->failed == 0u);
  ASSERT_EQ(rep->outcomes.size(), 1u);
  keys_.push_back(rep->outcomes[0].key);
  auto cc = consumer_config("ref");
  cc.sink_factory = out_dir_sink_factory(work_ / "out");
  cc.max_messages = 1;
  test::LogCapture logs;
  auto reports = run_consumers({cc});
  EXPECT_EQ(reports[0].processed, 1u);
  EXPECT_EQ(reports[0].dead_lettered, 0u);
  EXPECT_EQ(logs.count("warning", "queue '" + q + "' exists with arguments that differ"), 1U);
  EXPECT_EQ(logs.count("warning", "exists with arguments that differ"), 1U) << "only the reference queue";
  EXPECT_TRUE(fs::exists(work_ / "out" / "ref" / "msg-1.json"));
  auto s3c = s3::S3Client::create(s3_);
  ASSERT_TRUE(s3c.has_value());
  for (const auto& k : keys_) EXPECT_TRUE(s3c->delete_object(bucket_, k).has_value()) << k;
}

// Issue 9: a recipient accepts pointers only from its allowed producers (by the AMQP user_id RabbitMQ
// verified). A pointer published by another user — here the administrator — is dead-lettered naming the
// user, writes nothing and sends no ack (a forged pointer must not touch the coordinator's count).
TEST_F(PipelineFlowTest, PointerFromAUserNotAllowedIsDeadLetteredWithoutAck) {
  auto p = Producer::create(producer_config({"a"}));
  ASSERT_TRUE(p.has_value());
  auto rep = p->run(synthetic_inputs(1, 2000, 9, "forged/"));
  ASSERT_TRUE(rep.has_value() && rep->failed == 0u);
  keys_.push_back(rep->outcomes[0].key);
  auto cc = consumer_config("a");
  cc.allowed_producers = {"producer"};
  cc.sink_factory = out_dir_sink_factory(work_ / "out");
  cc.max_messages = 1;
  auto reports = run_consumers({cc});
  EXPECT_EQ(reports[0].processed, 0u);
  EXPECT_EQ(reports[0].dead_lettered, 1u);
  EXPECT_EQ(reports[0].rejected, 0u);
  EXPECT_EQ(reports[0].s3_requests, 0u);
  EXPECT_FALSE(fs::exists(work_ / "out" / "forged" / "msg-1.json"));
  auto dead = drain(names_.dead_queue);
  ASSERT_EQ(dead.size(), 1u);
  const std::string admin = amqp::url_user(amqp_.urls[0]);
  EXPECT_EQ(dead[0].message.headers.at(std::string(kHeaderError)),
            "published by user '" + admin + "', not an allowed producer (allowed: producer)");
  for (const auto& env : drain(ack_tap_)) EXPECT_NE(env.message.type, kSchemaAck) << "no ack for a forged pointer";
  auto s3c = s3::S3Client::create(s3_);
  ASSERT_TRUE(s3c.has_value());
  for (const auto& k : keys_) EXPECT_TRUE(s3c->delete_object(bucket_, k).has_value()) << k;
}

// An unreachable object store: each delivery is requeued, and each requeue counts towards the queue's
// delivery limit (20). With a fixed retry delay the pointer reached the limit within seconds (about a
// minute with the default 1 s) and the broker dead-lettered it; the delay now doubles per failure in a row.
TEST_F(PipelineFlowTest, S3OutageDoesNotBurnTheDeliveryLimit) {
  auto p = Producer::create(producer_config({"a"}));
  ASSERT_TRUE(p.has_value());
  PayloadInput in;
  in.label = "outage";
  in.open = []() -> Result<std::unique_ptr<ByteSource>> {
    return std::unique_ptr<ByteSource>(std::make_unique<MemorySource>(random_bytes(1000, 7)));
  };
  auto rep = p->run({in});
  ASSERT_TRUE(rep.has_value());
  ASSERT_EQ(rep->succeeded, 1u);

  auto cfg = consumer_config("a");
  cfg.s3.endpoint = "http://127.0.0.1:1";  // nothing listens: connection refused, transient
  cfg.s3.retry.max_attempts = 1;                  // each delivery fails at once: the consumer's delay alone paces it
  cfg.requeue.initial = std::chrono::milliseconds(100);
  auto c = Consumer::create(cfg);
  ASSERT_TRUE(c.has_value());
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  ConsumeReport cr;
  auto r = c->run([&] { return std::chrono::steady_clock::now() >= until; }, &cr);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(cr.processed, 0u);
  EXPECT_GE(cr.requeued, 3u) << "the consumer kept retrying";
  EXPECT_LE(cr.requeued, 10u) << "8 s of outage used up half the delivery limit";
  EXPECT_TRUE(drain(names_.dead_queue).empty()) << "the pointer was dead-lettered by the delivery limit";
}

// Issue 8 item 6: an output dir that cannot be written (immutable; we run as root, where mode bits do not
// stop writes) is a local error naming the path: requeued with backoff, never "S3 refused access", and after
// max_local_errors in a row the run stops with an "io" error (exit 4 in the CLI), the pointer still queued.
TEST_F(PipelineFlowTest, UnwritableOutputDirIsALocalErrorNotAnS3Refusal) {
  auto p = Producer::create(producer_config({"a"}));
  ASSERT_TRUE(p.has_value());
  PayloadInput in;
  in.label = "ro";
  in.name = "ro/x.bin";
  const std::string data = random_bytes(2000, 21);
  in.open = [data]() -> Result<std::unique_ptr<ByteSource>> {
    return std::unique_ptr<ByteSource>(std::make_unique<MemorySource>(data));
  };
  auto rep = p->run({in});
  ASSERT_TRUE(rep.has_value());
  ASSERT_EQ(rep->succeeded, 1u);
  for (const auto& o : rep->outcomes) keys_.push_back(o.key);
  const fs::path out = work_ / "out-ro";
  fs::create_directories(out / "ro");
  ASSERT_EQ(std::system(("chattr +i '" + (out / "ro").string() + "'").c_str()), 0) << "chattr +i is needed";
  auto cfg = consumer_config("a");
  cfg.sink_factory = out_dir_sink_factory(out);
  cfg.requeue.initial = std::chrono::milliseconds(20);
  cfg.max_local_errors = 3;
  auto c = Consumer::create(cfg);
  ASSERT_TRUE(c.has_value());
  ConsumeReport cr;
  auto r = c->run({}, &cr);
  (void)std::system(("chattr -i '" + (out / "ro").string() + "'").c_str());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().origin, claimcheck::Origin::Io);
  EXPECT_EQ(cr.stop_reason, "local-error");
  EXPECT_EQ(cr.local_errors, 3u);
  EXPECT_GE(cr.requeued, 3u);  // + a redelivery returned unprocessed at shutdown
  EXPECT_EQ(cr.dead_lettered, 0u);
  EXPECT_NE(r.error().message.find((out / "ro/x.bin").string()), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("S3 refused"), std::string::npos) << r.error().message;
  // Writable again: the same pointer (still queued) is processed.
  auto cfg2 = consumer_config("a");
  cfg2.sink_factory = out_dir_sink_factory(out);
  cfg2.max_messages = 1;
  auto reports = run_consumers({cfg2});
  EXPECT_EQ(reports[0].processed, 1u);
  EXPECT_TRUE(slurp(out / "ro/x.bin") == data);
  EXPECT_TRUE(drain(names_.dead_queue).empty());
}

const std::string kOversizedId = "0b3c7f0e-4a55-4b8e-9a57-2f7d3f1f9a11";

TEST_F(PipelineFlowTest, BadMessagesAreDeadLetteredWithReasonAndInvalidOnesMakeNoS3Call) {
  // Two real objects: one corrupted afterwards, one deleted afterwards.
  auto cfg = producer_config({"a"});
  cfg.encoding = Encoding::Zstd;
  auto p = Producer::create(cfg);
  ASSERT_TRUE(p.has_value());
  std::vector<PayloadInput> inputs;
  for (int i = 0; i < 3; ++i) {
    PayloadInput in;
    in.label = "mem" + std::to_string(i);
    in.open = [i]() -> Result<std::unique_ptr<ByteSource>> {
      return std::unique_ptr<ByteSource>(std::make_unique<MemorySource>(random_bytes(4096, 10 + static_cast<std::uint64_t>(i))));
    };
    inputs.push_back(in);
  }
  auto rep = p->run(inputs);
  ASSERT_TRUE(rep.has_value());
  ASSERT_EQ(rep->succeeded, 3u);
  auto s3c = s3::S3Client::create(s3_);
  ASSERT_TRUE(s3c.has_value());
  const auto& corrupted = rep->outcomes[0];
  const auto& deleted = rep->outcomes[1];
  ASSERT_TRUE(s3c->put_object(bucket_, corrupted.key, std::string_view("not zstd at all")).has_value());
  ASSERT_TRUE(s3c->delete_object(bucket_, deleted.key).has_value());

  // Hand-made invalid pointers, derived from the third (valid) one; each must be refused without S3.
  auto base = nlohmann::json::parse(rep->outcomes[2].pointer_json);
  struct Bad { std::string id; std::function<void(nlohmann::json&)> mutate; std::string want; };
  std::vector<Bad> bad{
      {"schema", [](auto& j) { j["schema"] = "s3-pointer-v9"; }, "field 'schema'"},
      {"pointer_id", [](auto& j) { j["pointer_id"] = "not-a-uuid"; }, "field 'pointer_id'"},
      {"bucket", [](auto& j) { j["bucket"] = "Bad_Bucket"; }, "field 'bucket'"},
      {"foreign-bucket", [](auto& j) { j["bucket"] = "some-other-bucket"; }, "field 'bucket'"},
      {"key", [](auto& j) { j["key"] = "a/../b"; }, "field 'key'"},
      {"encoding", [](auto& j) { j["encoding"] = "lz4"; }, "field 'encoding'"},
      {"size_raw", [](auto& j) { j["size_raw"] = -1; }, "field 'size_raw'"},
      {"size_stored", [](auto& j) { j["size_stored"] = "12"; }, "field 'size_stored'"},
      {"sha256", [](auto& j) { j["sha256"] = "ABC"; }, "field 'sha256'"},
      {"recipients", [](auto& j) { j["recipients"] = nlohmann::json::array(); }, "field 'recipients'"},
      {"recipients_total", [](auto& j) { j["recipients_total"] = 5; }, "field 'recipients_total'"},
      {"created_at", [](auto& j) { j["created_at"] = "yesterday"; }, "field 'created_at'"},
      {"expires_at", [](auto& j) { j.erase("expires_at"); }, "field 'expires_at'"},
      {"name-dotdot", [](auto& j) { j["name"] = "../escape"; }, "field 'name'"},
      {"not-json", nullptr, "message"},
      // Over the 1 MiB cap: refused before parsing, and no `rejected` ack is built from it (issue 8.8).
      {"oversized",
       [](auto& j) {
         j["pointer_id"] = kOversizedId;
         j["padding"] = std::string(1536 * 1024, 'x');
       },
       "message: body larger than 1 MiB"},
  };
  auto consumer_cfg = consumer_config("a");
  consumer_cfg.max_messages = 2 + bad.size() + 1;  // corrupted, deleted, bad ones, foreign recipient
  // Publish the bad ones directly to the recipient queue.
  for (const auto& b : bad) {
    amqp::Message m;
    if (b.mutate) {
      auto j = base;
      b.mutate(j);
      m.body = j.dump();
    } else {
      m.body = "{not json";
    }
    m.type = std::string(kSchemaPointer);
    m.message_id = "case-" + b.id;
    ASSERT_TRUE(admin_->publish(names_.msg_exchange, "a", m, true).has_value());
  }
  {
    auto j = base;
    j["recipients"] = {"zz"};
    amqp::Message m;
    m.body = j.dump();
    m.type = std::string(kSchemaPointer);
    m.message_id = "case-foreign-recipient";
    ASSERT_TRUE(admin_->publish(names_.msg_exchange, "a", m, true).has_value());
  }
  ASSERT_TRUE(admin_->wait_confirms(std::chrono::seconds(10)).has_value());
  // The valid third pointer is still queued first; drop it so the consumer only sees the cases.
  // (It was published before the bad ones; take it off the queue by hand.)
  auto first3 = drain(names_.queue_prefix + "a");
  std::size_t republished = 0;
  for (auto& env : first3) {
    if (env.message.message_id == rep->outcomes[2].pointer_id) continue;  // drop the valid one
    ASSERT_TRUE(admin_->publish(names_.msg_exchange, "a", env.message, true).has_value());
    ++republished;
  }
  ASSERT_TRUE(admin_->wait_confirms(std::chrono::seconds(10)).has_value());
  ASSERT_EQ(republished, consumer_cfg.max_messages);

  auto reports = run_consumers({consumer_cfg});
  const auto& cr = reports[0];
  EXPECT_EQ(cr.processed, 0u);
  EXPECT_EQ(cr.dead_lettered, consumer_cfg.max_messages);
  EXPECT_EQ(cr.s3_requests, 2u) << "only the corrupted and the deleted pointer may reach S3";

  std::map<std::string, std::string> reasons;  // message_id → reason
  for (const auto& env : drain(names_.dead_queue)) {
    auto it = env.message.headers.find(std::string(kHeaderError));
    ASSERT_NE(it, env.message.headers.end());
    reasons[env.message.message_id] = it->second;
    EXPECT_EQ(env.message.headers.at(std::string(kHeaderRecipient)), "a");
    EXPECT_EQ(env.message.headers.at(std::string(kHeaderSourceQueue)), names_.queue_prefix + "a");
  }
  for (const auto& b : bad) {
    ASSERT_TRUE(reasons.count("case-" + b.id)) << b.id;
    EXPECT_NE(reasons["case-" + b.id].find(b.want), std::string::npos) << b.id << ": " << reasons["case-" + b.id];
  }
  EXPECT_NE(reasons["case-foreign-recipient"].find("recipients"), std::string::npos);
  EXPECT_NE(reasons[corrupted.pointer_id].find("DataLoss"), std::string::npos) << reasons[corrupted.pointer_id];
  EXPECT_NE(reasons[deleted.pointer_id].find("not found"), std::string::npos) << reasons[deleted.pointer_id];

  // Rejected acks for the corrupted and the deleted object (valid ids), none processed.
  std::set<std::string> rejected;
  for (const auto& env : drain(ack_tap_)) {
    if (env.message.type != kSchemaAck) continue;
    auto a = parse_ack(env.message.body);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->status, AckStatus::Rejected);
    rejected.insert(a->pointer_id);
  }
  EXPECT_TRUE(rejected.count(corrupted.pointer_id));
  EXPECT_TRUE(rejected.count(deleted.pointer_id));
  EXPECT_FALSE(rejected.count(kOversizedId)) << "an oversized body is never parsed, not even for a rejected ack";
  (void)s3c->delete_object(bucket_, corrupted.key);
  (void)s3c->delete_object(bucket_, rep->outcomes[2].key);
}

// Recipients without S3 credentials (issue 9 item 3): the producer presigns each pointer's `url`; a consumer
// with NO S3 keys downloads and verifies through it. An altered signature gets 403 from RGW and is
// dead-lettered; a url for another host, or none at all, is dead-lettered without any request; an expired
// url is dead-lettered naming its expiry.
TEST_F(PipelineFlowTest, RecipientWithoutS3KeysDownloadsThroughThePresignedUrl) {
  auto cfg = producer_config({"a"});
  cfg.ttl = std::chrono::hours(1);
  auto p = Producer::create(cfg);
  ASSERT_TRUE(p.has_value()) << p.error().to_string();
  const std::string data = random_bytes(3 * s3::kMiB + 5, 77);
  PayloadInput in;
  in.label = "presigned";
  in.name = "presigned.bin";
  in.open = [&data]() -> Result<std::unique_ptr<ByteSource>> {
    return std::unique_ptr<ByteSource>(std::make_unique<MemorySource>(data));
  };
  auto rep = p->run({in});
  ASSERT_TRUE(rep.has_value()) << rep.error().to_string();
  ASSERT_EQ(rep->succeeded, 1u);
  const ProduceOutcome& o = rep->outcomes[0];
  auto pointer = parse_pointer(o.pointer_json, {});
  ASSERT_TRUE(pointer.has_value());
  ASSERT_TRUE(pointer->url.has_value()) << o.pointer_json;
  auto parsed = s3::parse_presigned_url(*pointer->url);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
  EXPECT_LE(parsed->expires_at(), pointer->expires_at);
  EXPECT_EQ(parsed->expires, std::chrono::seconds(3600));
  ASSERT_EQ(drain(names_.queue_prefix + "a").size(), 1u);  // the producer's own copy; re-sent below

  // The producer's pointer, then variants of it (same pointer_id, their own message_id).
  std::string tampered = *pointer->url;
  const auto sig = tampered.find("X-Amz-Signature=") + 16;
  tampered[sig] = tampered[sig] == '0' ? '1' : '0';
  s3::S3Config other = s3_;
  other.endpoint = "http://127.0.0.2:9";
  auto foreign = s3::presign_get(other, bucket_, o.key, std::chrono::seconds(600), utc_now());
  auto expired = s3::presign_get(s3_, bucket_, o.key, std::chrono::seconds(60), utc_now() - std::chrono::hours(2));
  ASSERT_TRUE(foreign.has_value() && expired.has_value());
  std::map<std::string, std::optional<std::string>> cases{
      {o.pointer_id, pointer->url}, {"case-tampered", tampered}, {"case-foreign", *foreign},
      {"case-expired", *expired}, {"case-no-url", std::nullopt}};
  for (const auto& [id, url] : cases) {
    Pointer v = *pointer;
    v.url = url;
    amqp::Message m;
    m.body = to_json(v);
    m.type = std::string(kSchemaPointer);
    m.message_id = id;
    ASSERT_TRUE(admin_->publish(names_.msg_exchange, "a", m, true).has_value());
  }
  ASSERT_TRUE(admin_->wait_confirms(std::chrono::seconds(10)).has_value());

  auto cc = consumer_config("a");
  cc.s3.access_key.clear();
  cc.s3.secret_key.clear();
  cc.sink_factory = out_dir_sink_factory(work_ / "out-a");
  cc.max_messages = cases.size();
  auto reports = run_consumers({cc});
  EXPECT_EQ(reports[0].processed, 1u);
  EXPECT_EQ(reports[0].dead_lettered, cases.size() - 1);
  EXPECT_EQ(reports[0].s3_requests, 3u) << "the foreign and the url-less pointer must make no request";
  EXPECT_TRUE(slurp(work_ / "out-a" / "presigned.bin") == data);

  std::map<std::string, std::string> reasons;
  for (const auto& env : drain(names_.dead_queue)) {
    reasons[env.message.message_id] = env.message.headers.at(std::string(kHeaderError));
  }
  EXPECT_NE(reasons["case-tampered"].find(s3::kPresignedUrlRejected), std::string::npos) << reasons["case-tampered"];
  EXPECT_NE(reasons["case-tampered"].find("403"), std::string::npos) << reasons["case-tampered"];
  EXPECT_NE(reasons["case-foreign"].find("not at the configured S3 endpoint"), std::string::npos)
      << reasons["case-foreign"];
  EXPECT_NE(reasons["case-expired"].find("presigned url expired at"), std::string::npos) << reasons["case-expired"];
  EXPECT_NE(reasons["case-no-url"].find("has no 'url'"), std::string::npos) << reasons["case-no-url"];
  for (const auto& [id, reason] : reasons) EXPECT_EQ(reason.find("X-Amz-Signature"), std::string::npos) << id;
  auto c = s3::S3Client::create(s3_);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->delete_object(bucket_, o.key).has_value());
}

// ---- issue 8 item 5: slow links ----

/// The local S3 endpoint's port ("http://127.0.0.1:7480" → 7480).
std::uint16_t endpoint_port(const std::string& endpoint) {
  return static_cast<std::uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
}

double env_number(const char* name, double def) {
  auto v = test::env_value(name);
  return v ? std::stod(*v) : def;
}

/// Produces one payload of `data` for recipient "a" and returns its outcome.
ProduceOutcome produce_one(ProducerConfig cfg, const std::string& name, const std::string& data) {
  auto p = Producer::create(std::move(cfg));
  EXPECT_TRUE(p.has_value());
  PayloadInput in;
  in.label = name;
  in.name = name;
  in.open = [&data]() -> Result<std::unique_ptr<ByteSource>> {
    return std::unique_ptr<ByteSource>(std::make_unique<MemorySource>(data));
  };
  auto rep = p->run({in});
  EXPECT_TRUE(rep.has_value() && rep->succeeded == 1u);
  return rep->outcomes.at(0);
}

// A 64 MiB payload over a throttled link that drops every connection every few seconds arrives intact,
// and at most 1.1 × its size crosses the link: every retry resumes after the last byte received.
// Defaults keep the test short (16 MiB/s, a drop every 2 s); the issue's acceptance figure is
// CLAIMCHECK_PROXY_RATE=1048576 CLAIMCHECK_PROXY_DROP_S=10 (over a minute).
TEST_F(PipelineFlowTest, SlowFlakyLinkDeliversIntactWithAtMostTenPercentOverhead) {
  const double rate = env_number("CLAIMCHECK_PROXY_RATE", 16.0 * 1024 * 1024);
  const double drop_s = env_number("CLAIMCHECK_PROXY_DROP_S", 2);
  const auto size = static_cast<std::size_t>(env_number("CLAIMCHECK_PROXY_SIZE", 64.0 * 1024 * 1024));
  const std::string data = random_bytes(size, 99);
  const ProduceOutcome o = produce_one(producer_config({"a"}), "slow/big.bin", data);
  keys_.push_back(o.key);
  test::ThrottleProxy proxy({"127.0.0.1", endpoint_port(s3_.endpoint), rate,
                             std::chrono::milliseconds(static_cast<long long>(drop_s * 1000))});
  auto cc = consumer_config("a");
  cc.s3.endpoint = proxy.endpoint();
  cc.s3.retry.max_attempts = 2;                           // attempts WITHOUT progress: drops after progress are free
  cc.s3.stall_timeout = std::chrono::seconds(10);
  cc.s3.retry.initial = std::chrono::milliseconds(50);
  cc.s3.retry.max = std::chrono::milliseconds(200);
  cc.state_dir = work_ / "state";
  cc.sink_factory = out_dir_sink_factory(work_ / "out");
  cc.max_messages = 1;
  const auto t0 = std::chrono::steady_clock::now();
  auto reps = run_consumers({cc});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(reps[0].processed, 1u);
  EXPECT_EQ(reps[0].requeued, 0u) << "progress was made on every connection: no failure reached the consumer";
  EXPECT_TRUE(slurp(work_ / "out" / "slow/big.bin") == data) << "payload differs";
  EXPECT_GE(proxy.drops(), 1u);
  EXPECT_LE(static_cast<double>(proxy.bytes_down()), 1.1 * static_cast<double>(o.size_stored));
  EXPECT_TRUE(fs::is_empty(work_ / "state" / "downloads-a")) << "the staged download is removed once handled";
  std::printf("slow link: %zu bytes (stored %llu) at %.0f B/s, drop every %.1f s: %.1f s, %llu bytes over the link "
              "(%.3f x), %llu connections, %llu drops\n",
              size, static_cast<unsigned long long>(o.size_stored), rate, drop_s, secs,
              static_cast<unsigned long long>(proxy.bytes_down()),
              static_cast<double>(proxy.bytes_down()) / static_cast<double>(o.size_stored),
              static_cast<unsigned long long>(proxy.connections()), static_cast<unsigned long long>(proxy.drops()));
  EXPECT_TRUE(drain(names_.dead_queue).empty());
}

// A redelivery (or a restarted consumer) continues from the staged partial file: only the missing bytes
// cross the link, and the payload still verifies end to end.
TEST_F(PipelineFlowTest, RedeliveryResumesFromTheStagedPartialFile) {
  const std::string data = random_bytes(4 * 1024 * 1024, 5);
  auto pc = producer_config({"a"});
  pc.encoding = Encoding::Identity;
  const ProduceOutcome o = produce_one(pc, "resume.bin", data);
  keys_.push_back(o.key);
  // What an interrupted earlier delivery left: the first 3 MiB and the ETag they belong to.
  auto s3c = s3::S3Client::create(s3_);
  ASSERT_TRUE(s3c.has_value());
  StringSink head;
  auto info = s3c->get_object(bucket_, o.key, head, std::pair<std::uint64_t, std::uint64_t>{0, 3 * 1024 * 1024 - 1});
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  const fs::path staged = work_ / "state" / "downloads-a";
  fs::create_directories(staged);
  std::ofstream(staged / (o.pointer_id + ".part"), std::ios::binary) << head.str();
  std::ofstream(staged / (o.pointer_id + ".etag")) << info->etag << "\n";

  test::ThrottleProxy proxy({"127.0.0.1", endpoint_port(s3_.endpoint), 0, std::chrono::milliseconds(0)});
  auto cc = consumer_config("a");
  cc.s3.endpoint = proxy.endpoint();
  cc.state_dir = work_ / "state";
  cc.sink_factory = out_dir_sink_factory(work_ / "out");
  cc.max_messages = 1;
  auto reps = run_consumers({cc});
  EXPECT_EQ(reps[0].processed, 1u);
  EXPECT_TRUE(slurp(work_ / "out" / "resume.bin") == data);
  EXPECT_LT(proxy.bytes_down(), 1024u * 1024u + 64u * 1024u) << "only the missing 1 MiB (+ headers) was fetched";
  EXPECT_FALSE(fs::exists(staged / (o.pointer_id + ".part")));
}

// A partial file whose object changed (its ETag no longer matches) is not stitched: If-Match fails and the
// download starts again from byte 0.
TEST_F(PipelineFlowTest, StagedPartialOfAnotherVersionIsNotStitched) {
  const std::string data = random_bytes(2 * 1024 * 1024, 6);
  const ProduceOutcome o = produce_one(producer_config({"a"}), "changed.bin", data);
  keys_.push_back(o.key);
  const fs::path staged = work_ / "state" / "downloads-a";
  fs::create_directories(staged);
  std::ofstream(staged / (o.pointer_id + ".part"), std::ios::binary) << std::string(1024 * 1024, 'x');
  std::ofstream(staged / (o.pointer_id + ".etag")) << "0123456789abcdef0123456789abcdef\n";
  auto cc = consumer_config("a");
  cc.state_dir = work_ / "state";
  cc.sink_factory = out_dir_sink_factory(work_ / "out");
  cc.max_messages = 1;
  auto reps = run_consumers({cc});
  EXPECT_EQ(reps[0].processed, 1u);
  EXPECT_EQ(reps[0].dead_lettered, 0u);
  EXPECT_TRUE(slurp(work_ / "out" / "changed.bin") == data);
}

// ---- issue 8 item 3: --exec through the consumer ----

/// An exec handler running `script` (sh) with the payload on stdin; T is the test's work dir.
SinkFactory exec_factory(const fs::path& work, const std::string& script, std::chrono::milliseconds timeout) {
  ExecHandlerConfig ec;
  ec.argv = {"/bin/sh", "-c", script};
  ec.env = {"PATH=/usr/bin:/bin", "T=" + work.string()};
  ec.staging_dir = work / "exec-staging";
  ec.recipient = "a";
  ec.timeout = timeout;
  ec.kill_grace = std::chrono::milliseconds(200);
  ec.retry.max_attempts = 1;
  auto f = exec_sink_factory(std::move(ec));
  EXPECT_TRUE(f.has_value()) << (f ? "" : f.error().to_string());
  return f ? *f : SinkFactory{};
}

// A failing command (exit 1), then one killed by its timeout, are requeued — not dead-lettered — and the
// redelivery replays the staged download (no second GET of the object); the command's successful run is
// the only one that logged, once per pointer.
TEST_F(PipelineFlowTest, ExecFailureAndTimeoutAreRequeuedAndRunOnceSuccessfully) {
  const std::string data = random_bytes(300000, 8);
  const ProduceOutcome o = produce_one(producer_config({"a"}), "exec.bin", data);
  keys_.push_back(o.key);
  auto cc = consumer_config("a");
  cc.state_dir = work_ / "state";
  cc.max_messages = 3;  // run 1: exit 1; run 2: timeout; run 3: success
  cc.sink_factory = exec_factory(work_,
                                 "n=$(cat \"$T/runs\" 2>/dev/null || echo 0); echo $((n+1)) > \"$T/runs\"; "
                                 "if [ \"$n\" = 0 ]; then echo 'first fails' >&2; exit 1; fi; "
                                 "if [ \"$n\" = 1 ]; then sleep 30; fi; "
                                 "echo \"$CLAIMCHECK_POINTER_ID $(wc -c)\" >> \"$T/exec.log\"",
                                 std::chrono::milliseconds(500));
  auto reps = run_consumers({cc});
  EXPECT_EQ(reps[0].processed, 1u);
  EXPECT_EQ(reps[0].requeued, 2u);
  EXPECT_EQ(reps[0].dead_lettered, 0u);
  EXPECT_EQ(slurp(work_ / "exec.log"), o.pointer_id + " " + std::to_string(data.size()) + "\n");
  EXPECT_EQ(reps[0].s3_requests, 1u) << "the redeliveries replayed the staged download";
  EXPECT_TRUE(drain(names_.dead_queue).empty());
}

// A reject exit code dead-letters the pointer with the command's stderr and acks it `rejected`.
TEST_F(PipelineFlowTest, ExecRejectCodeDeadLettersWithItsStderr) {
  const ProduceOutcome o = produce_one(producer_config({"a"}), "reject.bin", random_bytes(1000, 9));
  keys_.push_back(o.key);
  auto cc = consumer_config("a");
  cc.state_dir = work_ / "state";
  cc.max_messages = 1;
  cc.sink_factory = exec_factory(work_, "cat >/dev/null; echo \"no such customer in $CLAIMCHECK_NAME\" >&2; exit 65",
                                 std::chrono::milliseconds(10000));
  auto reps = run_consumers({cc});
  EXPECT_EQ(reps[0].rejected, 1u);
  auto dead = drain(names_.dead_queue);
  ASSERT_EQ(dead.size(), 1u);
  const std::string reason = dead[0].message.headers[std::string(kHeaderError)];
  EXPECT_NE(reason.find("no such customer in reject.bin"), std::string::npos) << reason;
  EXPECT_FALSE(fs::exists(work_ / "state" / "downloads-a" / (o.pointer_id + ".part")));
  bool rejected_ack = false;
  for (const auto& env : drain(ack_tap_)) {
    if (env.message.type != kSchemaAck) continue;
    auto a = parse_ack(env.message.body);
    rejected_ack = rejected_ack || (a && a->status == AckStatus::Rejected && a->reason &&
                                    a->reason->find("no such customer") != std::string::npos);
  }
  EXPECT_TRUE(rejected_ack);
}

// ---- in-process handler (handler_sink_factory) ----

// A C++ callback as the handler: Retry requeues (the redelivery gets the same verified bytes), Rejected
// dead-letters with its reason and acks `rejected`, Processed acks `processed`; each verdict is counted.
TEST_F(PipelineFlowTest, InProcessHandlerRetriesRejectsAndProcesses) {
  const std::string good = random_bytes(200000, 10);
  const ProduceOutcome ok_out = produce_one(producer_config({"a"}), "good.bin", good);
  const ProduceOutcome bad_out = produce_one(producer_config({"a"}), "bad.bin", random_bytes(500, 11));
  keys_.insert(keys_.end(), {ok_out.key, bad_out.key});
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> seen;  // name -> payload bytes of each call
  auto cc = consumer_config("a");
  cc.state_dir = work_ / "state";
  cc.max_messages = 3;  // good.bin: retry, then processed; bad.bin: rejected
  cc.sink_factory = handler_sink_factory([&](const PayloadInfo& info, std::span<const std::byte> bytes) {
    const std::string name = info.name.value_or("");
    std::lock_guard lock(mu);
    auto& calls = seen[name];
    calls.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    if (name == "bad.bin") return HandlerResult::rejected("bad.bin is not for us");
    if (calls.size() == 1) return HandlerResult::retry("database busy");
    return HandlerResult::processed();
  });
  auto reps = run_consumers({cc});
  EXPECT_EQ(reps[0].processed, 1u);
  EXPECT_EQ(reps[0].rejected, 1u);
  EXPECT_EQ(reps[0].requeued, 1u);
  ASSERT_EQ(seen["good.bin"].size(), 2u);
  EXPECT_TRUE(seen["good.bin"][0] == good && seen["good.bin"][1] == good) << "the handler got the verified bytes";
  EXPECT_EQ(seen["bad.bin"].size(), 1u);
  auto dead = drain(names_.dead_queue);
  ASSERT_EQ(dead.size(), 1u);
  const std::string reason = dead[0].message.headers[std::string(kHeaderError)];
  EXPECT_NE(reason.find("handler rejected: bad.bin is not for us"), std::string::npos) << reason;
  std::map<std::string, AckStatus> acks;
  for (const auto& env : drain(ack_tap_)) {
    if (env.message.type != kSchemaAck) continue;
    if (auto a = parse_ack(env.message.body)) acks[a->pointer_id] = a->status;
  }
  EXPECT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[ok_out.pointer_id], AckStatus::Processed);
  EXPECT_EQ(acks[bad_out.pointer_id], AckStatus::Rejected);
}

}  // namespace
