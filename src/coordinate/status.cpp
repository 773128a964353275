// The coordinator's status snapshot (query_status) and its pure HTML / JSON renderers.
#include "claimcheck/coordinate/status.h"

#include <algorithm>
#include <sstream>

#include "claimcheck/core/time.h"

namespace claimcheck {

namespace {

using refstore::ObjectState;
using refstore::TimePoint;

constexpr ObjectState kStates[] = {ObjectState::Placeholder, ObjectState::Pending, ObjectState::Complete,
                                   ObjectState::Expired, ObjectState::Deleted};

std::int64_t count_of(const StatusSnapshot& s, ObjectState st) {
  auto it = s.counts.find(st);
  return it == s.counts.end() ? 0 : it->second;
}

std::int64_t not_deleted(const StatusSnapshot& s) {
  std::int64_t n = 0;
  for (ObjectState st : kStates)
    if (st != ObjectState::Deleted) n += count_of(s, st);
  return n;
}

std::size_t lagging_count(const StatusSnapshot& s) {
  return static_cast<std::size_t>(
      std::count_if(s.recipients.begin(), s.recipients.end(), [](const RecipientLag& r) { return r.lagging; }));
}

nlohmann::json time_or_null(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(format_rfc3339(*t)) : nlohmann::json(nullptr);
}

std::int64_t seconds_between(TimePoint from, TimePoint to) {
  return std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(to - from).count());
}

}  // namespace

std::vector<RecipientLag> recipient_lag(const std::vector<refstore::RecipientBacklog>& backlog, TimePoint now,
                                        std::chrono::seconds lag_warn) {
  std::vector<RecipientLag> out;
  out.reserve(backlog.size());
  for (const auto& b : backlog) {
    RecipientLag r;
    r.recipient_id = b.recipient_id;
    r.pending = b.pending;
    r.rejected = b.rejected;
    if (b.pending > 0 && b.oldest_pending_created_at) {
      r.oldest_pending_age = std::chrono::seconds(seconds_between(*b.oldest_pending_created_at, now));
      r.lagging = *r.oldest_pending_age > lag_warn;
    }
    out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(), [](const RecipientLag& a, const RecipientLag& b) {
    if (a.lagging != b.lagging) return a.lagging;
    return a.recipient_id < b.recipient_id;
  });
  return out;
}

Result<StatusSnapshot> query_status(refstore::RefStore& store, TimePoint now, std::chrono::seconds lag_warn,
                                    std::size_t max_refused) {
  StatusSnapshot s;
  s.lag_warn = lag_warn;
  CC_TRY(sum, store.summary(0, now));
  s.counts = std::move(sum->counts);
  CC_TRY(backlog, store.recipient_backlog());
  s.recipients = recipient_lag(*backlog, now, lag_warn);
  CC_TRY(refused, store.refusals());
  s.refused = std::move(*refused);
  std::stable_sort(s.refused.begin(), s.refused.end(),
                   [](const auto& a, const auto& b) { return a.last_at > b.last_at; });
  if (s.refused.size() > max_refused) s.refused.resize(max_refused);
  s.queried_at = now;
  return s;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string human_duration(std::chrono::seconds d) {
  const std::int64_t s = std::max<std::int64_t>(0, d.count());
  const std::int64_t days = s / 86400, hours = s % 86400 / 3600, mins = s % 3600 / 60, secs = s % 60;
  auto two = [](std::int64_t a, const char* ua, std::int64_t b, const char* ub) {
    return std::to_string(a) + ua + " " + std::to_string(b) + ub;
  };
  if (days > 0) return two(days, "d", hours, "h");
  if (hours > 0) return two(hours, "h", mins, "m");
  if (mins > 0) return two(mins, "m", secs, "s");
  return std::to_string(secs) + "s";
}

nlohmann::json render_status_json(const StatusSnapshot& s, TimePoint now) {
  nlohmann::json j;
  j["generated_at"] = format_rfc3339(now);
  j["queried_at"] = time_or_null(s.queried_at);
  j["lag_warn_seconds"] = s.lag_warn.count();
  nlohmann::json counts = nlohmann::json::object();
  for (ObjectState st : kStates) counts[std::string(refstore::to_string(st))] = count_of(s, st);
  j["counts"] = std::move(counts);
  j["not_deleted"] = not_deleted(s);
  auto recipients = nlohmann::json::array();
  auto lagging = nlohmann::json::array();
  for (const auto& r : s.recipients) {
    recipients.push_back({{"recipient_id", r.recipient_id},
                          {"pending", r.pending},
                          {"rejected", r.rejected},
                          {"oldest_pending_age_seconds", r.oldest_pending_age ? nlohmann::json(r.oldest_pending_age->count())
                                                                              : nlohmann::json(nullptr)},
                          {"lagging", r.lagging}});
    if (r.lagging) lagging.push_back(r.recipient_id);
  }
  j["recipients"] = std::move(recipients);
  j["lagging"] = std::move(lagging);
  auto refused = nlohmann::json::array();
  for (const auto& r : s.refused)
    refused.push_back({{"rule", r.rule}, {"sender", r.sender}, {"count", r.count},
                       {"last_at", format_rfc3339(r.last_at)}, {"last_reason", r.last_reason}});
  j["refused"] = std::move(refused);
  const auto& h = s.health;
  j["health"] = {{"started_at", time_or_null(h.started_at)},
                 {"uptime_seconds", h.started_at ? nlohmann::json(seconds_between(*h.started_at, now))
                                                 : nlohmann::json(nullptr)},
                 {"last_batch_at", time_or_null(h.last_batch_at)},
                 {"broker_connected", h.broker_connected},
                 {"store_reachable", h.store_reachable},
                 {"store_error", h.store_error},
                 {"deliveries", h.deliveries},
                 {"batches", h.batches},
                 {"dead_lettered", h.dead_lettered},
                 {"refused", h.refused}};
  return j;
}

namespace {

constexpr const char* kCss =
    "body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin-bottom:1.5em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}td.n{text-align:right}"
    "tr.lagging td{background:#fdd;font-weight:bold}.ok{color:#070}.bad{color:#b00;font-weight:bold}"
    "small{color:#666}";

const char* yes_no(bool ok, const char* yes, const char* no) { return ok ? yes : no; }

void health_section(std::ostringstream& o, const StatusSnapshot& s, TimePoint now) {
  const auto& h = s.health;
  auto flag = [&](bool ok, const char* yes, const char* no) {
    o << "<td class=\"" << yes_no(ok, "ok", "bad") << "\">" << yes_no(ok, yes, no) << "</td>";
  };
  o << "<h2>Coordinator</h2><table id=\"health\">";
  o << "<tr><th>uptime</th><td id=\"uptime\">"
    << (h.started_at ? human_duration(std::chrono::seconds(seconds_between(*h.started_at, now))) : "not running")
    << "</td></tr>";
  o << "<tr><th>last batch applied</th><td id=\"last-batch\">"
    << (h.last_batch_at ? html_escape(format_rfc3339_seconds(*h.last_batch_at)) + " (" +
                              human_duration(std::chrono::seconds(seconds_between(*h.last_batch_at, now))) + " ago)"
                        : std::string("none yet"))
    << "</td></tr>";
  o << "<tr><th>broker</th>";
  flag(h.broker_connected, "connected", "DISCONNECTED");
  o << "</tr><tr><th>database</th>";
  flag(h.store_reachable, "reachable", "UNREACHABLE");
  o << "</tr>";
  if (!h.store_error.empty()) o << "<tr><th>database error</th><td>" << html_escape(h.store_error) << "</td></tr>";
  o << "<tr><th>since start</th><td>" << h.deliveries << " deliveries, " << h.batches << " batches, "
    << h.dead_lettered << " dead-lettered (" << h.refused << " refused)</td></tr></table>";
}

void counts_section(std::ostringstream& o, const StatusSnapshot& s) {
  o << "<h2>Objects per state</h2><table id=\"counts\"><tr>";
  for (ObjectState st : kStates) o << "<th>" << refstore::to_string(st) << "</th>";
  o << "<th>not deleted</th></tr><tr>";
  for (ObjectState st : kStates)
    o << "<td class=\"n\" data-state=\"" << refstore::to_string(st) << "\">" << count_of(s, st) << "</td>";
  o << "<td class=\"n\">" << not_deleted(s) << "</td></tr></table>";
}

void recipients_section(std::ostringstream& o, const StatusSnapshot& s) {
  o << "<h2>Recipients</h2><p>" << lagging_count(s) << " lagging (oldest pending object older than "
    << human_duration(s.lag_warn) << ")</p>";
  if (s.recipients.empty()) {
    o << "<p>No pending objects.</p>";
    return;
  }
  o << "<table id=\"recipients\"><tr><th>recipient</th><th>pending</th><th>rejected</th>"
       "<th>oldest pending</th><th>status</th></tr>";
  for (const auto& r : s.recipients) {
    const std::string id = html_escape(r.recipient_id);
    o << "<tr class=\"recipient" << (r.lagging ? " lagging" : "") << "\" data-recipient=\"" << id
      << "\" data-pending=\"" << r.pending << "\"";
    if (r.oldest_pending_age) o << " data-age-seconds=\"" << r.oldest_pending_age->count() << "\"";
    o << "><td>" << id << "</td><td class=\"n\">" << r.pending << "</td><td class=\"n\">" << r.rejected
      << "</td><td>" << (r.oldest_pending_age ? human_duration(*r.oldest_pending_age) : "-") << "</td><td>"
      << (r.lagging ? "LAGGING" : "ok") << "</td></tr>";
  }
  o << "</table>";
}

void refused_section(std::ostringstream& o, const StatusSnapshot& s) {
  o << "<h2>Recently refused (dead-lettered) messages</h2>";
  if (s.refused.empty()) {
    o << "<p>None.</p>";
    return;
  }
  o << "<table id=\"refused\"><tr><th>last</th><th>rule</th><th>sender</th><th>count</th><th>last reason</th></tr>";
  for (const auto& r : s.refused)
    o << "<tr><td>" << html_escape(format_rfc3339_seconds(r.last_at)) << "</td><td>" << html_escape(r.rule)
      << "</td><td>" << (r.sender.empty() ? std::string("(no user_id)") : html_escape(r.sender))
      << "</td><td class=\"n\">" << r.count << "</td><td>" << html_escape(r.last_reason) << "</td></tr>";
  o << "</table>";
}

}  // namespace

std::string render_status_html(const StatusSnapshot& s, TimePoint now, std::chrono::seconds refresh) {
  std::ostringstream o;
  const std::size_t lagging = lagging_count(s);
  o << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<meta http-equiv=\"refresh\" content=\"" << std::max<std::int64_t>(1, refresh.count()) << "\">"
    << "<title>claimcheck coordinator: " << (lagging > 0 ? std::to_string(lagging) + " lagging" : std::string("ok"))
    << "</title><style>" << kCss << "</style></head><body><h1>claimcheck coordinator</h1><p><small>page "
    << format_rfc3339_seconds(now) << "; database read "
    << (s.queried_at ? format_rfc3339_seconds(*s.queried_at) : std::string("never"))
    << "; <a href=\"api/status\">JSON</a>, <a href=\"metrics\">metrics</a></small></p>";
  health_section(o, s, now);
  counts_section(o, s);
  recipients_section(o, s);
  refused_section(o, s);
  o << "</body></html>\n";
  return o.str();
}

}  // namespace claimcheck
