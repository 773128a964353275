// The coordinator's status snapshot without HTTP: recipient_lag, query_status on SQLite, the HTML and JSON
// renderers (escaping of attacker-controlled values) and the status gauges of CoordinatorMetrics.
#include <gtest/gtest.h>

#include "claimcheck/coordinate/status.h"
#include "claimcheck/coordinate/metrics.h"
#include "prometheus_text.h"
#include "claimcheck/refstore/ref_store.h"

namespace claimcheck {
namespace {

using namespace std::chrono_literals;
using refstore::ObjectState;
using refstore::RecipientBacklog;
using refstore::TimePoint;

const TimePoint kNow = TimePoint(std::chrono::seconds(1'900'000'000));
const std::string kEvil = "<script>alert('x')</script>&\"";

RecipientBacklog backlog(std::string id, std::int64_t pending, std::optional<TimePoint> oldest, std::int64_t rejected = 0) {
  return RecipientBacklog{std::move(id), pending, rejected, oldest};
}

StatusSnapshot sample_snapshot() {
  StatusSnapshot s;
  s.queried_at = kNow - 2s;
  s.lag_warn = 60s;
  s.counts = {{ObjectState::Placeholder, 1}, {ObjectState::Pending, 7}, {ObjectState::Complete, 0},
              {ObjectState::Expired, 2}, {ObjectState::Deleted, 40}};
  s.recipients = recipient_lag({backlog("branch1", 0, std::nullopt), backlog(kEvil, 7, kNow - 125s, 1)}, kNow - 2s, 60s);
  refstore::RefusalAudit a;
  a.rule = "ack_user_id";
  a.sender = "mallory<b>";
  a.count = 3;
  a.last_at = kNow - 10s;
  a.last_reason = "ack for recipient '\"><img src=x onerror=alert(1)>' published by user 'mallory'";
  s.refused = {a};
  s.health.started_at = kNow - 3725s;
  s.health.last_batch_at = kNow - 4s;
  s.health.broker_connected = true;
  s.health.store_reachable = true;
  s.health.deliveries = 11;
  s.health.batches = 5;
  s.health.dead_lettered = 3;
  s.health.refused = 3;
  return s;
}

TEST(RecipientLag, AgesThresholdAndOrder) {
  auto lag = recipient_lag({backlog("a", 2, kNow - 30s), backlog("b", 1, kNow - 301s), backlog("c", 0, std::nullopt, 4),
                            backlog("d", 1, kNow - 300s), backlog("e", 1, kNow + 20s)},
                           kNow, 300s);
  ASSERT_EQ(lag.size(), 5u);
  EXPECT_EQ(lag[0].recipient_id, "b");  // the only lagging one comes first
  EXPECT_TRUE(lag[0].lagging);
  EXPECT_EQ(lag[0].oldest_pending_age, std::optional<std::chrono::seconds>(301s));
  EXPECT_EQ(lag[1].recipient_id, "a");
  EXPECT_EQ(lag[1].oldest_pending_age, std::optional<std::chrono::seconds>(30s));
  EXPECT_FALSE(lag[1].lagging);
  EXPECT_EQ(lag[2].recipient_id, "c");
  EXPECT_FALSE(lag[2].oldest_pending_age.has_value());
  EXPECT_EQ(lag[2].rejected, 4);
  EXPECT_EQ(lag[3].recipient_id, "d");  // exactly at the threshold: not yet lagging
  EXPECT_FALSE(lag[3].lagging);
  EXPECT_EQ(lag[4].recipient_id, "e");  // created "in the future" (producer clock ahead): age 0
  EXPECT_EQ(lag[4].oldest_pending_age, std::optional<std::chrono::seconds>(0s));
}

TEST(QueryStatus, ReadsCountsBacklogAndRecentRefusalsFromTheStore) {
  refstore::RefStoreConfig cfg;
  cfg.dsn = "sqlite::memory:";
  auto store = refstore::open_ref_store(cfg);
  ASSERT_TRUE(store) << store.error().to_string();
  refstore::StoreInput in;
  in.pointer_id = "p1";
  in.bucket = "b";
  in.key = "claimcheck/p1";
  in.recipients = {"r1", "r2"};
  in.sha256 = std::string(64, 'a');
  in.created_at = kNow - 90s;
  in.expires_at = kNow + 1h;
  refstore::AckInput ack;
  ack.pointer_id = "p1";
  ack.recipient_id = "r1";
  ack.processed_at = kNow - 80s;
  ASSERT_TRUE((*store)->apply_batch({in, ack}, kNow - 80s));
  std::vector<refstore::RefusalAudit> audit(3);
  for (int i = 0; i < 3; ++i) {
    audit[i].rule = "invalid";
    audit[i].sender = "u" + std::to_string(i);
    audit[i].count = 1;
    audit[i].last_at = kNow - std::chrono::seconds(100 - 10 * i);  // u2 is the most recent
    audit[i].last_reason = "bad " + std::to_string(i);
  }
  ASSERT_TRUE((*store)->record_refusals(audit));
  auto s = query_status(**store, kNow, 60s, /*max_refused=*/2);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_EQ(s->queried_at, std::optional<TimePoint>(kNow));
  EXPECT_EQ(s->counts[ObjectState::Pending], 1);
  EXPECT_EQ(s->counts[ObjectState::Deleted], 0);
  ASSERT_EQ(s->recipients.size(), 2u);
  EXPECT_EQ(s->recipients[0].recipient_id, "r2");
  EXPECT_EQ(s->recipients[0].pending, 1);
  EXPECT_EQ(s->recipients[0].oldest_pending_age, std::optional<std::chrono::seconds>(90s));
  EXPECT_TRUE(s->recipients[0].lagging);
  EXPECT_EQ(s->recipients[1].recipient_id, "r1");
  EXPECT_EQ(s->recipients[1].pending, 0);
  ASSERT_EQ(s->refused.size(), 2u);
  EXPECT_EQ(s->refused[0].sender, "u2");
  EXPECT_EQ(s->refused[1].sender, "u1");
}

TEST(HtmlEscape, EscapesTheFiveSpecialCharactersOnly) {
  EXPECT_EQ(html_escape(R"(<a href="x" title='y'>&amp;</a>)"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
  EXPECT_EQ(html_escape("branch-1 ünï €"), "branch-1 ünï €");
  EXPECT_EQ(html_escape(""), "");
}

TEST(HumanDuration, TwoUnitsAtMost) {
  EXPECT_EQ(human_duration(0s), "0s");
  EXPECT_EQ(human_duration(-5s), "0s");
  EXPECT_EQ(human_duration(59s), "59s");
  EXPECT_EQ(human_duration(125s), "2m 5s");
  EXPECT_EQ(human_duration(3725s), "1h 2m");
  EXPECT_EQ(human_duration(90061s), "1d 1h");
}

TEST(RenderStatusHtml, ShowsTheNumbersAndEscapesEveryMessageValue) {
  const std::string html = render_status_html(sample_snapshot(), kNow, 10s);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find(R"(<meta http-equiv="refresh" content="10">)"), std::string::npos);
  EXPECT_NE(html.find("<title>claimcheck coordinator: 1 lagging</title>"), std::string::npos) << html;
  // Nothing from a message survives unescaped: no tag, no attribute break-out.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("mallory<b>"), std::string::npos);
  const std::string evil = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;";
  EXPECT_NE(html.find(R"(<tr class="recipient lagging" data-recipient=")" + evil +
                      R"(" data-pending="7" data-age-seconds="123"><td>)" + evil + "</td>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find(R"(<tr class="recipient" data-recipient="branch1" data-pending="0"><td>branch1</td>)"),
            std::string::npos);
  EXPECT_NE(html.find("<td>2m 3s</td><td>LAGGING</td>"), std::string::npos);
  EXPECT_NE(html.find("&#39;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&#39;"), std::string::npos);
  EXPECT_NE(html.find("mallory&lt;b&gt;"), std::string::npos);
  EXPECT_NE(html.find(R"(<td class="n" data-state="PENDING">7</td>)"), std::string::npos);
  EXPECT_NE(html.find(R"(<td id="uptime">1h 2m</td>)"), std::string::npos);
  EXPECT_NE(html.find(R"(<td class="ok">connected</td>)"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST(RenderStatusHtml, UnreachableStoreAndNoData) {
  StatusSnapshot s;
  s.health.store_error = "Unavailable (sqlite): <disk> gone";
  const std::string html = render_status_html(s, kNow, 0s);
  EXPECT_NE(html.find(R"(content="1")"), std::string::npos) << "refresh is at least 1 s";
  EXPECT_NE(html.find(R"(<td class="bad">UNREACHABLE</td>)"), std::string::npos);
  EXPECT_NE(html.find(R"(<td class="bad">DISCONNECTED</td>)"), std::string::npos);
  EXPECT_NE(html.find("&lt;disk&gt; gone"), std::string::npos);
  EXPECT_NE(html.find("database read never"), std::string::npos);
  EXPECT_NE(html.find(R"(<td id="uptime">not running</td>)"), std::string::npos);
  EXPECT_NE(html.find("No pending objects."), std::string::npos);
}

TEST(RenderStatusJson, SameNumbersRawStrings) {
  const auto j = render_status_json(sample_snapshot(), kNow);
  EXPECT_EQ(j["lag_warn_seconds"], 60);
  EXPECT_EQ(j["counts"]["PENDING"], 7);
  EXPECT_EQ(j["counts"]["DELETED"], 40);
  EXPECT_EQ(j["not_deleted"], 10);
  ASSERT_EQ(j["recipients"].size(), 2u);
  EXPECT_EQ(j["recipients"][0]["recipient_id"], kEvil);  // JSON carries the raw text (escaped by the encoder)
  EXPECT_EQ(j["recipients"][0]["pending"], 7);
  EXPECT_EQ(j["recipients"][0]["rejected"], 1);
  EXPECT_EQ(j["recipients"][0]["oldest_pending_age_seconds"], 123);
  EXPECT_EQ(j["recipients"][0]["lagging"], true);
  EXPECT_TRUE(j["recipients"][1]["oldest_pending_age_seconds"].is_null());
  EXPECT_EQ(j["lagging"], nlohmann::json::array({kEvil}));
  EXPECT_EQ(j["refused"][0]["count"], 3);
  EXPECT_EQ(j["refused"][0]["sender"], "mallory<b>");
  EXPECT_EQ(j["health"]["uptime_seconds"], 3725);
  EXPECT_EQ(j["health"]["broker_connected"], true);
  EXPECT_EQ(j["health"]["batches"], 5);
  EXPECT_EQ(j["queried_at"], "2030-03-17T17:46:38.000Z");
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
  EXPECT_TRUE(render_status_json(StatusSnapshot{}, kNow)["health"]["started_at"].is_null());
}

TEST(CoordinatorMetricsStatus, GaugesPerRecipientFollowTheSnapshot) {
  prometheus::Registry registry;
  auto m = CoordinatorMetrics::create(registry);
  ASSERT_TRUE(m);
  refstore::ApplyResult r;
  r.acks_new = 3;
  r.acks_foreign = 1;
  r.completed = {"x"};
  (*m)->record_batch(r, 4, 0.002);
  auto s = sample_snapshot();
  s.recipients = recipient_lag({backlog("branch1", 0, std::nullopt), backlog("branch\"2", 7, kNow - 125s)}, kNow, 60s);
  (*m)->record_status(s);
  std::string text = claimcheck::test::prometheus_text(registry);
  EXPECT_NE(text.find("claimcheck_coordinator_acks_applied_total{result=\"new\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("claimcheck_coordinator_objects_completed_total 1"), std::string::npos);
  EXPECT_NE(text.find("claimcheck_recipient_pending_objects{recipient=\"branch1\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("claimcheck_recipient_pending_objects{recipient=\"branch\\\"2\"} 7"), std::string::npos);
  EXPECT_NE(text.find("claimcheck_recipient_oldest_pending_seconds{recipient=\"branch\\\"2\"} 125"), std::string::npos);
  EXPECT_NE(text.find("claimcheck_recipient_lagging{recipient=\"branch\\\"2\"} 1"), std::string::npos);
  EXPECT_NE(text.find("claimcheck_coordinator_objects{state=\"PENDING\"} 7"), std::string::npos);
  EXPECT_NE(text.find("claimcheck_coordinator_broker_connected 1"), std::string::npos);
  EXPECT_NE(text.find("claimcheck_coordinator_start_time_seconds 1899996275"), std::string::npos) << text;
  // branch"2 caught up and left the snapshot: its series go; the store became unreachable.
  s.recipients = recipient_lag({backlog("branch1", 2, kNow - 5s)}, kNow, 60s);
  s.health.store_reachable = false;
  (*m)->record_status(s);
  text = claimcheck::test::prometheus_text(registry);
  EXPECT_EQ(text.find("branch\\\"2"), std::string::npos) << text;
  EXPECT_NE(text.find("claimcheck_recipient_pending_objects{recipient=\"branch1\"} 2"), std::string::npos);
  EXPECT_NE(text.find("claimcheck_recipient_lagging{recipient=\"branch1\"} 0"), std::string::npos);
  EXPECT_NE(text.find("claimcheck_coordinator_store_reachable 0"), std::string::npos);
}

}  // namespace
}  // namespace claimcheck
