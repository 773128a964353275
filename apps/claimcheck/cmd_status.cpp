// `claimcheck status [POINTER_ID]`: one object's refcount state, or counts per state and the oldest pending.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "claimcheck/refstore/ref_store.h"
#include "claimcheck/core/time.h"
#include "cli_common.h"

namespace claimcheck::cli {

namespace {

struct StatusOptions {
  DbOptions db;
  LogOptions log;
  std::string pointer_id;
  bool json = false;
  std::size_t oldest = 10;
};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

nlohmann::json object_json(const refstore::ObjectStatus& o) {
  nlohmann::json j;
  j["pointer_id"] = o.pointer_id;
  j["state"] = std::string(refstore::to_string(o.state));
  j["bucket"] = o.bucket;
  j["key"] = o.key;
  j["recipients"] = o.recipients;
  j["missing"] = o.missing;
  j["created_at"] = format_rfc3339(o.created_at);
  j["expires_at"] = format_rfc3339(o.expires_at);
  j["completed_at"] = o.completed_at ? nlohmann::json(format_rfc3339(*o.completed_at)) : nlohmann::json(nullptr);
  j["deleted_at"] = o.deleted_at ? nlohmann::json(format_rfc3339(*o.deleted_at)) : nlohmann::json(nullptr);
  j["delete_attempts"] = o.delete_attempts;
  j["last_error"] = o.last_error;
  auto acks = nlohmann::json::array();
  for (const auto& a : o.acks) {
    nlohmann::json aj;
    aj["recipient_id"] = a.recipient_id;
    aj["status"] = a.processed ? "processed" : "rejected";
    if (!a.reason.empty()) aj["reason"] = a.reason;
    aj["processed_at"] = format_rfc3339(a.processed_at);
    aj["received_at"] = format_rfc3339(a.received_at);
    aj["foreign"] = a.foreign;
    acks.push_back(std::move(aj));
  }
  j["acks"] = std::move(acks);
  return j;
}

void print_object(const refstore::ObjectStatus& o) {
  std::cout << "pointer_id:  " << o.pointer_id << "\n"
            << "state:       " << refstore::to_string(o.state) << "\n";
  if (!o.bucket.empty()) std::cout << "object:      " << o.bucket << "/" << o.key << "\n";
  if (o.state != refstore::ObjectState::Placeholder) {
    std::cout << "created_at:  " << format_rfc3339(o.created_at) << "\n"
              << "expires_at:  " << format_rfc3339(o.expires_at) << "\n";
  }
  if (o.completed_at) std::cout << "completed_at: " << format_rfc3339(*o.completed_at) << "\n";
  if (o.deleted_at) std::cout << "deleted_at:  " << format_rfc3339(*o.deleted_at) << "\n";
  std::cout << "recipients:  " << (o.recipients.empty() ? "(unknown: no store record yet)" : join(o.recipients)) << "\n"
            << "missing:     " << (o.missing.empty() ? "-" : join(o.missing)) << "\n"
            << "acks:        " << o.acks.size() << "\n";
  for (const auto& a : o.acks) {
    std::cout << "  " << a.recipient_id << "  " << (a.processed ? "processed" : "rejected") << "  at "
              << format_rfc3339(a.processed_at) << " (received " << format_rfc3339(a.received_at) << ")";
    if (a.foreign) std::cout << "  FOREIGN (not an expected recipient; not counted)";
    if (!a.reason.empty()) std::cout << "  reason: " << a.reason;
    std::cout << "\n";
  }
  if (o.delete_attempts > 0)
    std::cout << "delete attempts: " << o.delete_attempts << " (last error: " << o.last_error << ")\n";
}

std::int64_t not_deleted(const refstore::Summary& sum) {
  std::int64_t n = 0;
  for (auto s : {refstore::ObjectState::Placeholder, refstore::ObjectState::Pending, refstore::ObjectState::Complete,
                 refstore::ObjectState::Expired}) {
    auto it = sum.counts.find(s);
    if (it != sum.counts.end()) n += it->second;
  }
  return n;
}

nlohmann::json summary_json(const refstore::Summary& sum, const std::vector<refstore::RefusalAudit>& refused) {
  nlohmann::json j;
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [state, n] : sum.counts) counts[std::string(refstore::to_string(state))] = n;
  j["counts"] = counts;
  j["not_deleted"] = not_deleted(sum);
  auto oldest = nlohmann::json::array();
  for (const auto& p : sum.oldest_pending) oldest.push_back(object_json(p));
  j["oldest_pending"] = std::move(oldest);
  auto audit = nlohmann::json::array();
  for (const auto& r : refused)
    audit.push_back({{"rule", r.rule}, {"sender", r.sender}, {"count", r.count},
                     {"last_at", format_rfc3339(r.last_at)}, {"last_reason", r.last_reason}});
  j["refused"] = std::move(audit);
  return j;
}

void print_summary(const refstore::Summary& sum, const std::vector<refstore::RefusalAudit>& refused) {
  std::cout << "objects per state:\n";
  for (auto s : {refstore::ObjectState::Placeholder, refstore::ObjectState::Pending, refstore::ObjectState::Complete,
                 refstore::ObjectState::Expired, refstore::ObjectState::Deleted}) {
    auto it = sum.counts.find(s);
    std::cout << "  " << refstore::to_string(s) << ": " << (it == sum.counts.end() ? 0 : it->second) << "\n";
  }
  std::cout << "not yet deleted: " << not_deleted(sum) << "\n";
  if (!sum.oldest_pending.empty()) {
    std::cout << "oldest pending:\n";
    for (const auto& p : sum.oldest_pending)
      std::cout << "  " << p.pointer_id << "  created " << format_rfc3339(p.created_at) << "  expires "
                << format_rfc3339(p.expires_at) << "  missing [" << join(p.missing) << "]\n";
  }
  std::cout << "refused messages (dead-lettered, per rule and sender): " << (refused.empty() ? "none" : "") << "\n";
  for (const auto& r : refused)
    std::cout << "  " << r.rule << "  " << (r.sender.empty() ? "(no user_id)" : r.sender) << "  " << r.count
              << "  last " << format_rfc3339(r.last_at) << ": " << r.last_reason << "\n";
}

int run_status(StatusOptions& o) {
  o.log.apply();
  refstore::RefStoreConfig cfg;
  cfg.dsn = o.db.dsn;
  auto store = refstore::open_ref_store(cfg);
  if (!store) {
    spdlog::error("{}", store.error().to_string());
    return exit_code_for(store.error());
  }
  const auto now = refstore::Clock::now();
  if (!o.pointer_id.empty()) {
    auto got = (*store)->get(o.pointer_id);
    if (!got) {
      spdlog::error("{}", got.error().to_string());
      return exit_code_for(got.error());
    }
    if (!got->has_value()) {
      std::cerr << "claimcheck status: unknown pointer_id '" << o.pointer_id
                << "' (no store record or ack recorded in this database)\n";
      return kExitFailed;
    }
    if (o.json) {
      std::cout << object_json(**got).dump(2) << "\n";
    } else {
      print_object(**got);
    }
    return kExitOk;
  }
  auto sum = (*store)->summary(o.oldest, now);
  if (!sum) {
    spdlog::error("{}", sum.error().to_string());
    return exit_code_for(sum.error());
  }
  auto refused = (*store)->refusals();
  if (!refused) {
    spdlog::error("{}", refused.error().to_string());
    return exit_code_for(refused.error());
  }
  if (o.json) {
    std::cout << summary_json(*sum, *refused).dump(2) << "\n";
  } else {
    print_summary(*sum, *refused);
  }
  return kExitOk;
}

}  // namespace

void register_status(CLI::App& app, RunFn& run) {
  auto opts = std::make_shared<StatusOptions>();
  auto* sub = app.add_subcommand(
      "status",
      "Show one object's refcount state (expected recipients, who acked and when, who is missing), or without\n"
      "POINTER_ID the number of objects per state and the oldest pending ones. Unknown POINTER_ID → exit 1.");
  opts->db.add_to(*sub);
  opts->log.add_to(*sub);
  sub->add_option("POINTER_ID", opts->pointer_id, "object to show (UUID)");
  sub->add_flag("--json", opts->json, "print JSON instead of text");
  sub->add_option("--oldest", opts->oldest, "how many oldest pending objects to list")->capture_default_str();
  sub->callback([opts, &run] { run = [opts] { return run_status(*opts); }; });
}

}  // namespace claimcheck::cli
