// The producer's publish bookkeeping — see produce_jobs.h.
#include "produce/produce_jobs.h"

#include <utility>

namespace claimcheck {

ProduceJobs::ProduceJobs(std::size_t count, std::vector<std::string> recipients)
    : recipients_(std::move(recipients)) {
  for (std::size_t i = 0; i < count; ++i) jobs_.emplace_hint(jobs_.end(), i, Job{});
}

void ProduceJobs::add(std::size_t job) { jobs_.emplace(job, Job{}); }

void ProduceJobs::forget(std::size_t job) {
  std::erase_if(by_publish_id_, [job](const auto& kv) { return kv.second.job == job; });
  jobs_.erase(job);
}

void ProduceJobs::store_sent(std::size_t job, std::uint64_t publish_id, Clock::time_point deadline, bool deletable) {
  Job& j = jobs_.at(job);
  j.published = true;
  j.has_object = true;
  j.deletable = deletable;
  j.deadline = deadline;
  by_publish_id_[publish_id] = Sent{job, std::nullopt};
}

void ProduceJobs::resumed(std::size_t job, Clock::time_point deadline) {
  Job& j = jobs_.at(job);
  j.published = true;
  j.has_object = true;
  j.store_confirmed = true;  // confirmed by an earlier run
  j.deletable = false;
  j.deadline = deadline;
}

void ProduceJobs::inline_started(std::size_t job, Clock::time_point deadline) {
  Job& j = jobs_.at(job);
  j.published = true;
  j.store_confirmed = true;  // nothing to confirm first: the messages are the payload
  j.deadline = deadline;
}

void ProduceJobs::pointer_sent(std::size_t job, const std::string& recipient, std::uint64_t publish_id) {
  jobs_.at(job).waiting[recipient] = publish_id;
  by_publish_id_[publish_id] = Sent{job, recipient};
}

std::optional<ProduceAction> ProduceJobs::pointer_refused(std::size_t job, const std::string& recipient,
                                                          const std::string& reason) {
  if (finished(job)) return std::nullopt;
  return recipient_refused(job, recipient, reason);
}

ProduceAction ProduceJobs::failed(std::size_t job, const std::string& reason, bool object_left) {
  Job& j = jobs_.at(job);
  j.has_object = j.has_object || object_left;
  return finish(job, false, reason);
}

ProduceAction ProduceJobs::finished_unpublished(std::size_t job) {
  jobs_.at(job).has_object = true;
  return finish(job, true, {});
}

std::optional<ProduceAction> ProduceJobs::confirmed(std::uint64_t publish_id) {
  auto it = by_publish_id_.find(publish_id);
  if (it == by_publish_id_.end()) return std::nullopt;
  const Sent s = it->second;
  by_publish_id_.erase(it);
  if (finished(s.job)) return std::nullopt;
  Job& j = jobs_.at(s.job);
  if (!s.recipient) {
    j.store_confirmed = true;
    ProduceAction a;
    a.kind = ProduceAction::Kind::PublishPointers;
    a.job = s.job;
    return a;
  }
  j.waiting.erase(*s.recipient);
  ++j.delivered;
  return settle_if_done(s.job);
}

std::optional<ProduceAction> ProduceJobs::refused(std::uint64_t publish_id, const std::string& reason) {
  auto it = by_publish_id_.find(publish_id);
  if (it == by_publish_id_.end()) return std::nullopt;
  const Sent s = it->second;
  by_publish_id_.erase(it);
  if (finished(s.job)) return std::nullopt;
  if (!s.recipient) return finish(s.job, false, "store record not accepted by the broker: " + reason);
  return recipient_refused(s.job, *s.recipient, reason);
}

std::vector<ProduceAction> ProduceJobs::expire(Clock::time_point now) {
  std::vector<ProduceAction> out;
  for (const auto& [i, j] : jobs_) {
    if (!j.published || j.finished || now <= j.deadline) continue;
    out.push_back(give_up(i, "no publisher confirm within the publish timeout"));
  }
  return out;
}

std::vector<ProduceAction> ProduceJobs::abandon(const std::string& reason) {
  std::vector<ProduceAction> out;
  for (const auto& [i, j] : jobs_)
    if (j.published && !j.finished) out.push_back(give_up(i, reason));
  return out;
}

ProduceAction ProduceJobs::give_up(std::size_t job, const std::string& reason) {
  Job& j = jobs_.at(job);
  if (!j.store_confirmed) return finish(job, false, "store record: " + reason);
  for (const auto& [recipient, id] : j.waiting) j.refused[recipient] = reason;
  j.waiting.clear();
  if (auto a = settle_if_done(job)) return *a;
  return finish(job, false, reason);  // not every pointer was published yet
}

std::optional<ProduceAction> ProduceJobs::recipient_refused(std::size_t job, const std::string& recipient,
                                                            const std::string& reason) {
  Job& j = jobs_.at(job);
  j.waiting.erase(recipient);
  j.refused[recipient] = reason;
  return settle_if_done(job);
}

std::optional<ProduceAction> ProduceJobs::settle_if_done(std::size_t job) {
  const Job& j = jobs_.at(job);
  if (!j.waiting.empty() || j.delivered + j.refused.size() < recipients_.size()) return std::nullopt;
  if (j.refused.empty()) return finish(job, true, {});
  std::string error;
  for (const auto& [recipient, why] : j.refused) {
    if (!error.empty()) error += "; ";
    error += "not delivered to recipient '" + recipient + "': " + why;
  }
  if (j.has_object) error += " (the object stays until the coordinator deletes or expires it)";
  return finish(job, false, std::move(error));
}

ProduceAction ProduceJobs::finish(std::size_t job, bool ok, std::string error) {
  Job& j = jobs_.at(job);
  j.finished = true;
  j.waiting.clear();
  std::erase_if(by_publish_id_, [job](const auto& kv) { return kv.second.job == job; });
  ProduceAction a;
  a.kind = ProduceAction::Kind::Finished;
  a.job = job;
  a.ok = ok;
  a.error = std::move(error);
  a.delete_object = j.has_object && !j.store_confirmed && j.deletable;  // invariant S3
  return a;
}

}  // namespace claimcheck
