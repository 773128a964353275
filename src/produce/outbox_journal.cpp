// The outbox's journal — see outbox_journal.h.
#include "produce/outbox_journal.h"

#include <fcntl.h>
#include "claimcheck/core/log.h"
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <system_error>

#include "claimcheck/core/base64.h"
#include "claimcheck/core/file_io.h"
#include "claimcheck/core/sha256.h"
#include "claimcheck/core/time.h"
#include "claimcheck/core/ids.h"
#include "detail/fd.h"
#include "detail/posix_error.h"

namespace claimcheck {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxRecordBytes = 1 << 20;

std::string_view phase_name(OutboxRecord::Phase p) {
  switch (p) {
    case OutboxRecord::Phase::Sending: return "sending";
    case OutboxRecord::Phase::Stored: return "stored";
    case OutboxRecord::Phase::Done: return "done";
  }
  return "sending";
}

Result<OutboxRecord::Phase> parse_phase(const std::string& s) {
  if (s == "sending") return OutboxRecord::Phase::Sending;
  if (s == "stored") return OutboxRecord::Phase::Stored;
  if (s == "done") return OutboxRecord::Phase::Done;
  return fail(ErrorCode::InvalidArgument, Origin::Io, "unknown phase '" + s + "'");
}

Result<OutboxRecord> parse_record(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(ErrorCode::InvalidArgument, Origin::Io, "not a JSON object");
  try {
    OutboxRecord r;
    CC_TRY(phase, parse_phase(j.at("phase").get<std::string>()));
    r.phase = *phase;
    CC_TRY(name, base64_decode(j.at("name_b64").get<std::string>()));
    r.name = std::move(*name);
    r.pointer_id = j.at("pointer_id").get<std::string>();
    CC_TRY(created, parse_rfc3339(j.at("created_at").get<std::string>()));
    r.created_at = *created;
    r.pointer_json = j.value("pointer", std::string());
    if (!is_uuid(r.pointer_id)) return fail(ErrorCode::InvalidArgument, Origin::Io, "pointer_id is not a UUID");
    return r;
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::InvalidArgument, Origin::Io, std::string("bad record: ") + e.what());
  }
}

}  // namespace

Result<void> sync_directory(const fs::path& dir) {
  detail::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return detail::fail_errno(errno, "open directory", dir.string());
  if (::fsync(fd.get()) != 0) return detail::fail_errno(errno, "fsync directory", dir.string());
  return ok();
}

Recovery recovery_for(const OutboxRecord& r, bool file_present, bool expiring) noexcept {
  switch (r.phase) {
    case OutboxRecord::Phase::Sending:
      // Nothing was published for it: the same id again, or a new one if it would expire (or no file).
      if (!file_present) return Recovery::Clear;
      return expiring ? Recovery::Renew : Recovery::Resend;
    case OutboxRecord::Phase::Stored:
      // The store record was confirmed: the object exists (until the coordinator deletes it) whatever
      // happened to the file; recipients deduplicate re-sent pointers by pointer_id.
      if (!expiring) return Recovery::Resume;
      return file_present ? Recovery::Renew : Recovery::Clear;
    case OutboxRecord::Phase::Done:
      return file_present ? Recovery::Finish : Recovery::Clear;
  }
  return Recovery::Clear;
}

Result<OutboxJournal> OutboxJournal::open(const fs::path& outbox) {
  const fs::path dir = outbox / ".claimcheck-outbox";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::PermissionDenied, Origin::Io, "cannot create '" + dir.string() + "': " + ec.message());
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.starts_with(".")) fs::remove(e.path(), ec);  // an AtomicFileSink temp file of a crashed write
  }
  if (ec) return fail(ErrorCode::PermissionDenied, Origin::Io, "cannot read '" + dir.string() + "': " + ec.message());
  return OutboxJournal(dir);
}

fs::path OutboxJournal::path_of(const std::string& name) const {
  return dir_ / (sha256_hex(name).substr(0, 32) + ".json");
}

Result<std::vector<OutboxRecord>> OutboxJournal::load() const {
  std::vector<OutboxRecord> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    if (e.path().extension() != ".json") continue;
    auto text = read_file(e.path(), kMaxRecordBytes);
    if (!text) return fail(std::move(text).error());
    auto r = parse_record(*text);
    if (!r) {
      logger().error("outbox: journal record {} skipped (left in place): {}", e.path().string(), r.error().message);
      continue;
    }
    out.push_back(std::move(*r));
  }
  if (ec) return fail(ErrorCode::PermissionDenied, Origin::Io, "cannot read '" + dir_.string() + "': " + ec.message());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Result<void> OutboxJournal::put(const OutboxRecord& r) const {
  nlohmann::json j;
  j["phase"] = phase_name(r.phase);
  j["name_b64"] = base64_encode(r.name);  // raw bytes (names need not be UTF-8)
  j["pointer_id"] = r.pointer_id;
  j["created_at"] = format_rfc3339(r.created_at);
  if (!r.pointer_json.empty()) j["pointer"] = r.pointer_json;
  AtomicFileOptions opt;
  opt.mode = 0600;
  opt.create_parents = false;
  return write_file_atomic(path_of(r.name), j.dump() + "\n", opt);
}

Result<void> OutboxJournal::clear(const std::string& name) const {
  const fs::path p = path_of(name);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) return detail::fail_errno(errno, "remove journal record", p.string());
  return sync_directory(dir_);
}

}  // namespace claimcheck
