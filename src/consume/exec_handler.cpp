// The `consume --exec CMD` handler — see include/claimcheck/consume/exec_handler.h.
#include "claimcheck/consume/exec_handler.h"
#include "claimcheck/core/ids.h"
#include "claimcheck/core/retry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "claimcheck/core/log.h"

#include <algorithm>
#include <optional>
#include <thread>

#include "detail/child_process.h"
#include "detail/fd.h"
#include "detail/posix_error.h"
#include "consume/run_receipts.h"

namespace claimcheck {

using detail::fail_errno;
using detail::UniqueFd;

namespace {

constexpr std::string_view kEnvNames[] = {"CLAIMCHECK_POINTER_ID", "CLAIMCHECK_NAME",        "CLAIMCHECK_SIZE_RAW",
                                          "CLAIMCHECK_SIZE_STORED", "CLAIMCHECK_CONTENT_TYPE", "CLAIMCHECK_PRODUCER_ID",
                                          "CLAIMCHECK_RECIPIENT",  "CLAIMCHECK_FILE"};

/// What every sink of one factory shares (read-only after creation).
struct ExecShared {
  ExecHandlerConfig cfg;
  UniqueFd staging;  // stdin mode: the staging dir
  std::string staging_shown;
  std::optional<detail::RunReceipts> receipts;  // with cfg.receipt_dir
};

/// The child's environment: cfg.env without our names, then ours.
std::vector<std::string> child_env(const ExecShared& sh, const PayloadInfo& info, const std::string& file) {
  std::vector<std::string> env;
  for (const auto& e : sh.cfg.env) {
    const std::string_view name = std::string_view(e).substr(0, e.find('='));
    if (std::find(std::begin(kEnvNames), std::end(kEnvNames), name) == std::end(kEnvNames)) env.push_back(e);
  }
  env.push_back("CLAIMCHECK_POINTER_ID=" + info.pointer_id);
  if (info.name) env.push_back("CLAIMCHECK_NAME=" + *info.name);
  env.push_back("CLAIMCHECK_SIZE_RAW=" + std::to_string(info.size_raw));
  env.push_back("CLAIMCHECK_SIZE_STORED=" + std::to_string(info.size_stored));
  env.push_back("CLAIMCHECK_CONTENT_TYPE=" + info.content_type);
  env.push_back("CLAIMCHECK_PRODUCER_ID=" + info.producer_id);
  env.push_back("CLAIMCHECK_RECIPIENT=" + sh.cfg.recipient);
  if (!file.empty()) env.push_back("CLAIMCHECK_FILE=" + file);
  return env;
}

/// The outcome `code` (an exit code) means for the payload: ok, a refusal, or nullopt (a failure).
std::optional<Result<void>> exit_verdict(const ExecHandlerConfig& cfg, int code, const std::string& tail) {
  if (code == 0) return Result<void>(ok());
  const auto& codes = cfg.reject_exit_codes;
  if (std::find(codes.begin(), codes.end(), code) == codes.end()) return std::nullopt;
  return Result<void>(fail(ErrorCode::InvalidArgument, Origin::Exec,
                           "command rejected the payload (exit " + std::to_string(code) + "): " + tail,
                           "exit=" + std::to_string(code)));
}

/// One run of the command (under the receipt wrapper when there are receipts). Returns the verdict, or
/// nullopt with `last` set to why it failed.
std::optional<Result<void>> run_once(const ExecShared& sh, const PayloadInfo& info, const detail::ChildSpec& spec,
                                     std::string& last) {
  if (sh.receipts) sh.receipts->clear(info.pointer_id);
  auto out = detail::run_child(spec);
  if (!out) {
    last = out.error().message;
    return std::nullopt;
  }
  std::string tail = out->stderr_tail;
  if (sh.receipts) {
    std::string own = sh.receipts->stderr_tail(info.pointer_id, sh.cfg.stderr_limit);
    if (!own.empty()) tail = std::move(own);
  }
  if (out->exited) {
    if (auto v = exit_verdict(sh.cfg, out->exit_code, tail)) return v;
  }
  last = detail::describe(*out) + (tail.empty() ? "" : ": " + tail);
  return std::nullopt;
}

/// The outcome a previous consumer life's run recorded for this payload, if it finished (receipts only).
std::optional<Result<void>> recorded_outcome(const ExecShared& sh, const PayloadInfo& info) {
  auto code = sh.receipts->recorded_exit(info.pointer_id);
  if (!code) return std::nullopt;
  auto v = exit_verdict(sh.cfg, *code, sh.receipts->stderr_tail(info.pointer_id, sh.cfg.stderr_limit));
  if (v) logger().info("exec: {} already ran before a restart (exit {}): not run again", info.pointer_id, *code);
  return v;
}

/// Runs the command up to retry.max_attempts times. `stdin_fd` (-1 = /dev/null) is rewound before each run.
Result<void> run_command(const ExecShared& sh, const PayloadInfo& info, int stdin_fd, const std::string& file) {
  const auto& cfg = sh.cfg;
  detail::ChildSpec spec;
  spec.argv = cfg.argv;
  spec.env = child_env(sh, info, file);
  spec.stdin_fd = stdin_fd;
  spec.timeout = cfg.timeout;
  spec.kill_grace = cfg.kill_grace;
  spec.stderr_limit = cfg.stderr_limit;
  detail::UniqueFd lock;
  if (sh.receipts) {
    CC_TRY(l, sh.receipts->lock(info.pointer_id, cfg.timeout + cfg.kill_grace + std::chrono::seconds(5)));
    lock = std::move(*l);
    if (auto v = recorded_outcome(sh, info)) return std::move(*v);
    spec.fd3 = lock.get();
    spec.argv = sh.receipts->wrap(info.pointer_id, cfg.argv);
  }
  std::string last;
  bool final = false;  // the outcome is the command's verdict (or a local error), not a failed run
  RetryHooks hooks;
  hooks.retryable = [&](const Error&) { return !final; };
  auto r = retry(cfg.retry, [&](int attempt) -> Result<void> {
    final = true;
    if (stdin_fd >= 0 && ::lseek(stdin_fd, 0, SEEK_SET) != 0)
      return fail_errno(errno, "cannot rewind the staged payload of", info.pointer_id);
    if (auto v = run_once(sh, info, spec, last)) return std::move(*v);
    final = false;
    logger().warn("exec: {} attempt {}/{} failed: {}", info.pointer_id, attempt, cfg.retry.max_attempts, last);
    return fail(ErrorCode::Unavailable, Origin::Exec, last);
  }, hooks);
  if (r || final) return r;
  return fail(ErrorCode::Unavailable, Origin::Exec,
              "command failed " + std::to_string(cfg.retry.max_attempts) + " time(s), last: " + last);
}

/// Stdin mode: bytes go to an unlinked staging file; finish() runs the command with it on stdin.
class StagedExecSink : public ByteSink {
 public:
  StagedExecSink(std::shared_ptr<const ExecShared> sh, PayloadInfo info, UniqueFd file)
      : sh_(std::move(sh)), info_(std::move(info)), file_(std::move(file)) {}
  Result<void> write(std::span<const std::byte> data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(file_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail_errno(errno, "cannot write the staging file in", sh_->staging_shown);
      }
      data = data.subspan(static_cast<std::size_t>(n));
    }
    return ok();
  }
  Result<void> finish() override { return run_command(*sh_, info_, file_.get(), ""); }

 private:
  std::shared_ptr<const ExecShared> sh_;
  PayloadInfo info_;
  UniqueFd file_;
};

/// File mode: bytes go to the out dir's sink; finish() commits the file, then runs the command on it.
class FileExecSink : public ByteSink {
 public:
  FileExecSink(std::shared_ptr<const ExecShared> sh, PayloadInfo info, std::unique_ptr<ByteSink> inner,
               std::string path)
      : sh_(std::move(sh)), info_(std::move(info)), inner_(std::move(inner)), path_(std::move(path)) {}
  Result<void> write(std::span<const std::byte> data) override { return inner_->write(data); }
  Result<void> finish() override {
    CC_TRY_VOID(inner_->finish());
    return run_command(*sh_, info_, -1, path_);
  }

 private:
  std::shared_ptr<const ExecShared> sh_;
  PayloadInfo info_;
  std::unique_ptr<ByteSink> inner_;
  std::string path_;
};

/// An unnamed file in the staging dir (O_TMPFILE; else a named one unlinked at once).
Result<UniqueFd> staged_file(const ExecShared& sh) {
  UniqueFd f(::openat(sh.staging.get(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (f.valid()) return f;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    return fail_errno(errno, "cannot create a staging file in", sh.staging_shown);
  const std::string name = ".exec.tmp." + new_uuid_v4();
  f = UniqueFd(::openat(sh.staging.get(), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!f.valid()) return fail_errno(errno, "cannot create a staging file in", sh.staging_shown);
  ::unlinkat(sh.staging.get(), name.c_str(), 0);
  return f;
}

}  // namespace

Result<void> ExecHandlerConfig::validate() const {
  auto bad = [](std::string m) { return fail(ErrorCode::InvalidArgument, Origin::Config, "exec: " + std::move(m)); };
  if (argv.empty() || argv[0].find('/') == std::string::npos) return bad("argv[0] must be a path to the program");
  if (!out_dir && staging_dir.empty()) return bad("staging_dir is required without an out dir");
  for (int c : reject_exit_codes)
    if (c < 1 || c > 255) return bad("reject exit codes must be 1..255");
  if (timeout.count() <= 0 || kill_grace.count() < 0) return bad("timeout must be > 0, kill grace >= 0");
  if (stderr_limit < 64 || stderr_limit > 64 * 1024) return bad("stderr limit must be 64 B .. 64 KiB");
  return retry.validate();
}

Result<SinkFactory> exec_sink_factory(ExecHandlerConfig cfg) {
  CC_TRY_VOID(cfg.validate());
  auto sh = std::make_shared<ExecShared>();
  if (!cfg.out_dir) {
    std::error_code ec;
    std::filesystem::create_directories(cfg.staging_dir, ec);
    if (ec) return fail_errno(ec.value(), "cannot create the exec staging directory", cfg.staging_dir.string());
    ::chmod(cfg.staging_dir.c_str(), 0700);
    sh->staging = UniqueFd(::open(cfg.staging_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!sh->staging.valid()) return fail_errno(errno, "cannot open", cfg.staging_dir.string());
    sh->staging_shown = cfg.staging_dir.string();
  }
  if (!cfg.receipt_dir.empty()) {
    CC_TRY(r, detail::RunReceipts::open(cfg.receipt_dir, cfg.receipt_retention));
    sh->receipts.emplace(std::move(*r));
  }
  sh->cfg = std::move(cfg);
  return SinkFactory([sh = std::shared_ptr<const ExecShared>(std::move(sh))](
                         const PayloadInfo& info) -> Result<std::unique_ptr<ByteSink>> {
    if (sh->cfg.out_dir) {
      const std::string name = info.name.value_or(info.pointer_id);
      CC_TRY(inner, sh->cfg.out_dir->create(name));
      const std::string path = std::filesystem::absolute(sh->cfg.out_dir->root() / name).string();
      return std::unique_ptr<ByteSink>(std::make_unique<FileExecSink>(sh, info, std::move(*inner), path));
    }
    CC_TRY(file, staged_file(*sh));
    return std::unique_ptr<ByteSink>(std::make_unique<StagedExecSink>(sh, info, std::move(*file)));
  });
}

}  // namespace claimcheck
