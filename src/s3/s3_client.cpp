// S3Client: libcurl easy handle + CURLOPT_AWS_SIGV4, streaming put/get, retries.
#include "claimcheck/s3/s3_client.h"

#include <curl/curl.h>
#include <strings.h>
#include "claimcheck/core/log.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <mutex>
#include <thread>

#include "claimcheck/s3/presign.h"
#include "claimcheck/core/codec.h"
#include "claimcheck/core/io.h"
#include "claimcheck/core/retry.h"
#include "claimcheck/core/time.h"
#include "claimcheck/core/sha256.h"
#include "s3/s3_internal.h"

namespace claimcheck::s3 {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;        // error responses kept for XML parsing
constexpr std::size_t kMaxResponseBody = 64 * 1024 * 1024;  // XML responses (list pages, delete results)
constexpr int kMaxParts = 10000;
constexpr std::size_t kDeleteBatch = 1000;
constexpr long kSmallBuffer = 16L * 1024;       // libcurl buffer of the direction that carries no payload (its minimum)
constexpr long kDownloadBuffer = 256L * 1024;   // receive buffer of a GET into a sink (fewer write callbacks)
constexpr long kUploadBuffer = 128L * 1024;     // send buffer of a request body over 16 KiB

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::uint64_t parse_u64(std::string_view s, std::uint64_t def = 0) {
  std::uint64_t v = 0;
  if (s.empty()) return def;
  for (char c : s) {
    if (c < '0' || c > '9') return def;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

/// A ByteSource over memory (for the string_view put_object overload).
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::string_view data) : data_(data) {}
  Result<std::size_t> read(std::span<std::byte> buf) override {
    std::size_t n = std::min(buf.size(), data_.size() - pos_);
    std::memcpy(buf.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

}  // namespace

/// One HTTP exchange: request description, body, and the response collected by the callbacks.
struct Exchange {
  // Request.
  const char* method = "GET";
  std::string bucket, key, query;
  std::vector<std::string> headers;  // "Name: value"; x-amz-content-sha256 added by perform()
  std::span<const std::byte> body;   // PUT/POST body
  std::string body_sha256;           // hex; computed from body when empty
  std::string presigned_url;         // GET a presigned URL as is: no SigV4 of ours, no x-amz-content-sha256
  // Streaming download (GET): bytes go to sink while the response status is 2xx.
  ByteSink* sink = nullptr;
  std::uint64_t skip = 0;   // bytes to drop from the start of this response (server ignored Range)
  std::uint64_t limit = UINT64_MAX;  // max bytes to deliver in total
  std::uint64_t delivered = 0;       // bytes delivered to the sink so far (over all attempts)
  std::uint64_t attempt_delivered = 0;  // of which by the last attempt (progress: retry() starts over)
  std::uint64_t resume_from = 0;     // absolute offset this attempt asked for
  bool skip_decided = false;
  const std::function<Result<void>(const ObjectInfo&)>* on_response = nullptr;  // GetOptions::on_response
  std::optional<Error> sink_error;   // sink failure or inconsistent response: returned, never retried
  // Response of the current attempt.
  long status = 0;
  std::map<std::string, std::string> resp_headers;  // lowercase names
  std::string resp_body;
  std::size_t upload_pos = 0;
  bool body_overflow = false;
  int attempts_used = 0;

  [[nodiscard]] std::string header(const std::string& name) const {
    auto it = resp_headers.find(name);
    return it == resp_headers.end() ? std::string() : it->second;
  }
  [[nodiscard]] bool ok_status() const { return status >= 200 && status <= 299; }
  [[nodiscard]] std::string what() const {
    std::string s = std::string(method) + " " + bucket;
    if (!key.empty()) s += "/" + key;
    if (!query.empty()) s += "?" + query.substr(0, query.find('&'));
    return s;
  }
};

namespace {
/// A bucket sub-resource request whose body is an XML document (`?delete`, `?lifecycle`): Content-Type
/// application/xml and the Content-MD5 S3 requires for both. `xml` must outlive the exchange.
Exchange xml_exchange(const char* method, const std::string& bucket, const char* query, const std::string& xml) {
  Exchange ex;
  ex.method = method;
  ex.bucket = bucket;
  ex.query = query;
  ex.body = detail::as_bytes(xml);
  ex.headers.emplace_back("Content-Type: application/xml");
  ex.headers.push_back("Content-MD5: " + detail::md5_base64(ex.body));
  return ex;
}

/// The object's properties from the response headers of `ex`.
ObjectInfo info_from_headers(const Exchange& ex) {
  ObjectInfo info;
  info.etag = detail::unquote_etag(ex.header("etag"));
  info.content_type = ex.header("content-type");
  info.content_encoding = ex.header("content-encoding");
  info.version_id = ex.header("x-amz-version-id");
  info.last_modified = detail::parse_http_date(ex.header("last-modified"));
  info.size = parse_u64(ex.header("content-length"));
  if (auto cr = ex.header("content-range"); !cr.empty()) {  // "bytes a-b/total"
    if (auto slash = cr.rfind('/'); slash != std::string::npos) info.size = parse_u64(cr.substr(slash + 1));
  }
  for (const auto& [name, value] : ex.resp_headers) {
    if (name.starts_with("x-amz-meta-")) info.metadata[name.substr(11)] = value;
  }
  return info;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::size_t len = size * n;
  std::string_view line(data, len);
  if (line.starts_with("HTTP/")) {
    // A new response (also after "100 Continue"): reset what we collected.
    ex->resp_headers.clear();
    auto sp = line.find(' ');
    ex->status = sp == std::string_view::npos ? 0 : static_cast<long>(parse_u64(line.substr(sp + 1, 3)));
    return len;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    ex->resp_headers[lower(trim(line.substr(0, colon)))] = std::string(trim(line.substr(colon + 1)));
  }
  return len;
}

std::size_t on_write(char* data, std::size_t size, std::size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::size_t len = size * n;
  if (ex->sink != nullptr && ex->ok_status()) {
    if (!ex->skip_decided) {
      ex->skip_decided = true;
      if (ex->status == 206) {
        // The server honoured Range: the body must start exactly at the offset we asked for.
        auto cr = ex->header("content-range");  // "bytes a-b/total"
        auto sp = cr.find(' ');
        auto dash = cr.find('-');
        if (sp == std::string::npos || dash == std::string::npos ||
            parse_u64(std::string_view(cr).substr(sp + 1, dash - sp - 1), UINT64_MAX) != ex->resume_from) {
          ex->sink_error = make_error(ErrorCode::Internal, Origin::S3, ex->what() + ": unexpected Content-Range '" + cr + "'");
          return 0;
        }
        ex->skip = 0;
      } else {
        ex->skip = ex->resume_from;  // 200: the whole object; drop what is before the wanted offset
      }
      if (ex->on_response != nullptr && *ex->on_response) {
        Result<void> r = ok();
        try {
          r = (*ex->on_response)(info_from_headers(*ex));
        } catch (const std::exception& e) {
          r = fail(ErrorCode::Internal, Origin::S3, std::string("on_response threw: ") + e.what());
        }
        if (!r) {
          ex->sink_error = std::move(r).error();
          return 0;
        }
      }
    }
    std::span<const std::byte> chunk(reinterpret_cast<const std::byte*>(data), len);
    if (ex->skip > 0) {
      auto drop = static_cast<std::size_t>(std::min<std::uint64_t>(ex->skip, chunk.size()));
      chunk = chunk.subspan(drop);
      ex->skip -= drop;
    }
    if (ex->limit != UINT64_MAX) {
      auto room = ex->limit - ex->delivered;
      if (chunk.size() > room) chunk = chunk.first(static_cast<std::size_t>(room));
    }
    if (!chunk.empty()) {
      Result<void> r = ok();
      try {
        r = ex->sink->write(chunk);
      } catch (const std::exception& e) {
        r = fail(ErrorCode::Internal, Origin::S3, std::string("sink threw: ") + e.what());
      } catch (...) {
        r = fail(ErrorCode::Internal, Origin::S3, "sink threw an unknown exception");
      }
      if (!r) {
        ex->sink_error = std::move(r).error();
        return 0;  // aborts the transfer with CURLE_WRITE_ERROR
      }
      ex->delivered += chunk.size();
    }
    return len;
  }
  const std::size_t cap = ex->ok_status() ? kMaxResponseBody : kMaxErrorBody;
  if (ex->resp_body.size() + len > cap) {
    ex->body_overflow = true;
    if (ex->ok_status()) return 0;
    ex->resp_body.append(data, cap - std::min(cap, ex->resp_body.size()));
    return len;
  }
  ex->resp_body.append(data, len);
  return len;
}

std::size_t on_read(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  std::size_t room = size * n;
  std::size_t left = ex->body.size() - ex->upload_pos;
  std::size_t k = std::min(room, left);
  std::memcpy(buf, ex->body.data() + ex->upload_pos, k);
  ex->upload_pos += k;
  return k;
}

int on_seek(void* user, curl_off_t offset, int origin) {
  auto* ex = static_cast<Exchange*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<std::uint64_t>(offset) > ex->body.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  ex->upload_pos = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

}  // namespace

struct S3Client::Impl {
  S3Config cfg;
  detail::Endpoint ep;
  CurlPtr curl;
  std::string sigv4;
  S3Stats stats;
  char curl_error[CURL_ERROR_SIZE] = {};  // curl's detail of the last failed attempt (CURLOPT_ERRORBUFFER)

  /// Appends curl's own detail (e.g. "SSL certificate problem: unable to get local issuer certificate"; it names
  /// hosts and ports, never credentials or query strings) and, for a refused TLS certificate, what to check.
  void add_curl_detail(Error& err, CURLcode rc) const {
    if (curl_error[0] != '\0') err.message += " (" + std::string(curl_error) + ")";
    if (rc == CURLE_PEER_FAILED_VERIFICATION) {
      err.message += ": the server's TLS certificate was not accepted; is it issued for the endpoint's host by a CA in " +
                     (cfg.ca_bundle.empty() ? std::string("the system CA bundle") : cfg.ca_bundle) +
                     "? see --s3-ca-bundle";
    }
  }

  /// Certificate and host verification (and the CA bundle) by the request's own scheme: a presigned url may be
  /// https while the configured endpoint is not.
  void set_tls_options(CURL* c, const std::string& url) const {
    if (::strncasecmp(url.c_str(), "https://", 8) != 0) return;
    if (!cfg.ca_bundle.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, cfg.ca_bundle.c_str());
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, cfg.verify_tls ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, cfg.verify_tls ? 2L : 0L);
  }

  /// One attempt. Returns the CURLcode.
  CURLcode perform_once(Exchange& ex) {
    CURL* c = curl.get();
    curl_easy_reset(c);  // keeps the connection cache
    curl_error[0] = '\0';
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error);
    ex.status = 0;
    ex.resp_headers.clear();
    ex.resp_body.clear();
    ex.upload_pos = 0;
    ex.body_overflow = false;

    const bool presigned = !ex.presigned_url.empty();
    const std::string url =
        presigned ? ex.presigned_url : detail::build_url(ep, cfg.path_style, ex.bucket, ex.key, ex.query);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, cfg.proxy.c_str());  // "" = no proxy, ignore env
    if (!presigned) {  // a presigned URL carries its signature in the query
      curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
      curl_easy_setopt(c, CURLOPT_USERNAME, cfg.access_key.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, cfg.secret_key.c_str());
    }
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(cfg.connect_timeout.count()));
    // A transfer that makes progress is never failed for taking long: only the low-speed limit bounds it.
    const bool transfer = ex.sink != nullptr || ex.body.size() > kMiB;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, transfer ? 0L : static_cast<long>(cfg.request_timeout.count()));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(cfg.low_speed_limit));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(cfg.stall_timeout).count()));
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
    // libcurl allocates both buffers for every transfer: a large one only in the direction that moves the
    // payload. 256 KiB download + 512 KiB upload on every request was 768 KiB per worker, 12 MiB of the
    // producer's peak RSS at --concurrency 16 (issue 10 item 7).
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, ex.sink != nullptr ? kDownloadBuffer : kSmallBuffer);
    curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, ex.body.size() > kSmallBuffer ? kUploadBuffer : kSmallBuffer);
    set_tls_options(c, url);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &ex);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);

    const std::string_view m = ex.method;
    if (m == "GET") {
      curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (m == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (m == "PUT") {
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_READFUNCTION, &on_read);
      curl_easy_setopt(c, CURLOPT_READDATA, &ex);
      curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, &on_seek);
      curl_easy_setopt(c, CURLOPT_SEEKDATA, &ex);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(ex.body.size()));
    } else if (m == "POST") {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, reinterpret_cast<const char*>(ex.body.data()));
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(ex.body.size()));
    } else {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, ex.method);
    }

    curl_slist* raw = nullptr;
    for (const auto& h : ex.headers) raw = curl_slist_append(raw, h.c_str());
    // libcurl 7.88 does not add x-amz-content-sha256 itself and RGW requires it (INFRA-NOTES.md).
    // A presigned URL signs only `host`: an unsigned x-amz-* header would make S3 refuse it.
    const std::string sha = "x-amz-content-sha256: " + ex.body_sha256;
    if (!presigned) raw = curl_slist_append(raw, sha.c_str());
    SlistPtr headers(raw);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

    return curl_easy_perform(c);
  }

  /// Runs `ex` with retries. On success (2xx) returns ok; otherwise the mapped error.
  /// `before_attempt(attempt)` adjusts headers for resumable GETs.
  Result<void> execute(Exchange& ex, const std::function<void(Exchange&, int)>& before_attempt = {}) {
    if (ex.presigned_url.empty() && !cfg.has_credentials()) {
      return fail(ErrorCode::InvalidArgument, Origin::Config,
                  ex.what() + ": no S3 credentials configured (this client can only GET presigned urls)");
    }
    if (ex.body_sha256.empty()) ex.body_sha256 = sha256_hex(ex.body);
    ++stats.requests;
    int stalled = 0;      // failed attempts in a row that delivered no byte (progress resets it)
    bool final = false;   // the attempt's outcome is not an S3/transport failure: never retried
    RetryHooks hooks;
    hooks.retryable = [&](const Error& e) { return !final && e.is_retryable(); };
    hooks.progressed = [&] {
      const bool progress = ex.attempt_delivered > 0;
      stalled = progress ? 0 : stalled + 1;
      return progress;
    };
    hooks.before_retry = [&](const Error& e, int, std::chrono::milliseconds) {
      ++stats.retries;
      logger().debug("s3 retrying: {}", e.to_string());
    };
    auto r = retry(cfg.retry, [&](int attempt) { return attempt_once(ex, attempt, before_attempt, final); }, hooks);
    if (!r && !final && r.error().is_retryable()) {
      Error err = std::move(r).error();
      if (cfg.retry.max_attempts > 1)
        err.message += " (after " + std::to_string(ex.attempts_used) + " attempts, " + std::to_string(stalled) +
                       " without progress)";
      logger().warn("s3 giving up: {}", err.to_string());
      return fail(std::move(err));
    }
    return r;
  }

  /// One attempt of `ex`: ok on 2xx, else the mapped error. Sets `final` when the error is not the server's
  /// or the transport's (the sink failed, a body over the limit): retry() must not repeat it.
  Result<void> attempt_once(Exchange& ex, int attempt, const std::function<void(Exchange&, int)>& before_attempt,
                            bool& final) {
    ++stats.attempts;
    ex.attempts_used = attempt;
    if (before_attempt) before_attempt(ex, attempt);
    const auto t0 = Clock::now();
    const auto delivered_before = ex.delivered;
    CURLcode rc = perform_once(ex);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    ex.attempt_delivered = ex.delivered - delivered_before;
    stats.bytes_received += ex.attempt_delivered;
    long new_connects = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_NUM_CONNECTS, &new_connects);
    stats.connects += static_cast<std::uint64_t>(new_connects);
    logger().debug("s3 {} {}/{} -> {} curl={} sent={}B recv={}B {}ms attempt {}/{}", ex.method, ex.bucket, ex.key,
                  ex.status, static_cast<int>(rc), ex.body.size(), ex.attempt_delivered + ex.resp_body.size(), ms,
                  attempt, cfg.retry.max_attempts);
    final = true;
    if (ex.sink_error) return fail(std::move(*ex.sink_error));
    if (rc != CURLE_OK) {
      final = false;
      Error err = map_curl_error(static_cast<int>(rc), ex.what());
      add_curl_detail(err, rc);
      err.http_status = static_cast<int>(ex.status);
      err.request_id = ex.header("x-amz-request-id");
      return fail(std::move(err));
    }
    if (ex.ok_status()) {
      if (ex.body_overflow) return fail(ErrorCode::Internal, Origin::S3, ex.what() + ": response body larger than the limit");
      stats.bytes_sent += ex.body.size();
      return ok();
    }
    final = false;
    Error err = map_s3_error(ex.status, ex.resp_body, ex.header("x-amz-request-id"));
    err.message = ex.what() + ": " + err.message;
    return fail(std::move(err));
  }

  Result<void> check_target(const std::string& bucket, const std::string& key) const {
    CC_TRY_VOID(detail::check_bucket(bucket));
    return detail::check_key(key);
  }

  /// Everything a PUT checks before sending: bucket, key, metadata, header values without CR/LF.
  Result<void> check_put(const std::string& bucket, const std::string& key, const PutOptions& opts) const {
    CC_TRY_VOID(check_target(bucket, key));
    CC_TRY_VOID(detail::check_metadata(opts.metadata));
    for (const auto* h : {&opts.content_type, &opts.content_encoding}) {
      if (h->find_first_of("\r\n") != std::string::npos)
        return fail(ErrorCode::InvalidArgument, Origin::S3, "content_type/content_encoding must not contain CR or LF");
    }
    const auto& h = opts.body_sha256;
    if (!h.empty() && !is_sha256_hex(h))
      return fail(ErrorCode::InvalidArgument, Origin::S3, "body_sha256 must be 64 lowercase hex digits");
    return ok();
  }

  // ---- put ----

  Result<PutResult> put_single(const std::string& bucket, const std::string& key, std::span<const std::byte> data,
                               const PutOptions& opts) {
    Exchange ex;
    ex.method = "PUT";
    ex.bucket = bucket;
    ex.key = key;
    ex.body = data;
    ex.body_sha256 = opts.body_sha256;  // the caller's hash of this very body, or "" (execute() computes it)
    add_object_headers(ex, opts);
    if (opts.if_none_match) ex.headers.emplace_back("If-None-Match: *");
    auto r = execute(ex);
    if (!r) {
      Error e = std::move(r).error();
      // A retried conditional PUT can fail with 412 because our own earlier attempt succeeded but its response
      // was lost. Recognise that case by the ETag (MD5 of the body) and report success.
      if (opts.if_none_match && e.code == ErrorCode::FailedPrecondition && ex.attempts_used > 1) {
        auto head = head_object_impl(bucket, key);
        if (head && head->size == data.size() && head->etag == detail::md5_hex(data)) {
          return PutResult{head->etag, data.size(), false, head->version_id};
        }
      }
      return fail(std::move(e));
    }
    return PutResult{detail::unquote_etag(ex.header("etag")), data.size(), false, ex.header("x-amz-version-id")};
  }

  void add_object_headers(Exchange& ex, const PutOptions& opts) const {
    if (!opts.content_type.empty()) ex.headers.push_back("Content-Type: " + opts.content_type);
    if (!opts.content_encoding.empty()) ex.headers.push_back("Content-Encoding: " + opts.content_encoding);
    for (const auto& [name, value] : opts.metadata) ex.headers.push_back("x-amz-meta-" + name + ": " + value);
  }

  Result<std::string> create_multipart(const std::string& bucket, const std::string& key, const PutOptions& opts) {
    Exchange ex;
    ex.method = "POST";
    ex.bucket = bucket;
    ex.key = key;
    ex.query = "uploads=";
    PutOptions o = opts;
    if (o.content_type.empty()) o.content_type = "application/octet-stream";  // replaces curl's form default
    add_object_headers(ex, o);
    CC_TRY_VOID(execute(ex));
    return detail::parse_initiate(ex.resp_body);
  }

  Result<std::string> upload_part(const std::string& bucket, const std::string& key, const std::string& upload_id,
                                  int part_number, std::span<const std::byte> data) {
    Exchange ex;
    ex.method = "PUT";
    ex.bucket = bucket;
    ex.key = key;
    ex.query = "partNumber=" + std::to_string(part_number) + "&uploadId=" + detail::uri_encode(upload_id, false);
    ex.body = data;
    CC_TRY_VOID(execute(ex));
    auto etag = detail::unquote_etag(ex.header("etag"));
    if (etag.empty()) return fail(ErrorCode::Internal, Origin::S3, ex.what() + ": UploadPart response has no ETag");
    return etag;
  }

  Result<std::string> complete_multipart(const std::string& bucket, const std::string& key,
                                         const std::string& upload_id, const std::vector<std::string>& etags,
                                         bool if_none_match, std::string& version_id) {
    const std::string xml = detail::build_complete_xml(etags);
    Exchange ex;
    ex.method = "POST";
    ex.bucket = bucket;
    ex.key = key;
    ex.query = "uploadId=" + detail::uri_encode(upload_id, false);
    ex.body = detail::as_bytes(xml);
    ex.headers.emplace_back("Content-Type: application/xml");
    if (if_none_match) ex.headers.emplace_back("If-None-Match: *");
    // CompleteMultipartUpload can answer 200 and carry an <Error> body: retry those too (execute() has
    // retried its own failures already).
    bool error_body = false;
    RetryHooks hooks;
    hooks.retryable = [&](const Error& e) { return error_body && e.is_retryable(); };
    return retry(cfg.retry, [&](int) -> Result<std::string> {
      error_body = false;
      CC_TRY_VOID(execute(ex));
      version_id = ex.header("x-amz-version-id");
      auto etag = detail::parse_complete(ex.resp_body, ex.header("x-amz-request-id"));
      if (!etag) {
        error_body = true;
        return etag;
      }
      if (etag->empty()) {
        // RGW 16 answers <ETag></ETag>; fall back to the response header, then to a HEAD.
        *etag = detail::unquote_etag(ex.header("etag"));
        if (etag->empty()) {
          CC_TRY(head, head_object_impl(bucket, key));
          *etag = head->etag;
        }
      }
      return etag;
    }, hooks);
  }

  /// FailedPrecondition when bucket/key exists (HEAD), ok when NotFound, other errors as is.
  Result<void> require_absent(const std::string& bucket, const std::string& key) {
    auto head = head_object_impl(bucket, key);
    if (head) {
      Error e = make_error(ErrorCode::FailedPrecondition, Origin::S3,
                           "PUT " + bucket + "/" + key + ": object already exists (If-None-Match: *)",
                           "PreconditionFailed");
      e.http_status = 412;
      return fail(std::move(e));
    }
    if (head.error().code != ErrorCode::NotFound) return fail(std::move(head).error());
    return ok();
  }

  /// GET `ex` (bucket/key, or presigned_url, already set) streamed into `out` from `opts.offset` to `last`
  /// (or the end), resuming after the last delivered byte on retries (Range), pinned to opts.if_match or
  /// else to the first response's ETag (If-Match); get_object()'s contract.
  Result<ObjectInfo> get(Exchange& ex, ByteSink& out, const GetOptions& opts, std::optional<std::uint64_t> last) {
    if (opts.if_match.find_first_of("\r\n\"") != std::string::npos)
      return fail(ErrorCode::InvalidArgument, Origin::S3, "if_match: must not contain quotes, CR or LF");
    ex.method = "GET";
    ex.sink = &out;
    ex.on_response = &opts.on_response;
    const std::uint64_t start = opts.offset;
    if (last) ex.limit = *last - start + 1;
    std::string etag = opts.if_match;  // pins resumed attempts to the same object version
    auto before = [&](Exchange& e, int /*attempt*/) {
      // e.resp_headers still hold the previous attempt's response here.
      if (etag.empty() && e.ok_status()) etag = detail::unquote_etag(e.header("etag"));
      e.headers.clear();
      e.resume_from = start + e.delivered;
      e.skip_decided = false;
      e.skip = 0;
      if (last || e.resume_from > 0) {
        std::string h = "Range: bytes=" + std::to_string(e.resume_from) + "-";
        if (last) h += std::to_string(*last);
        e.headers.push_back(std::move(h));
      }
      if ((e.delivered > 0 || !opts.if_match.empty()) && !etag.empty()) e.headers.push_back("If-Match: \"" + etag + "\"");
    };
    auto r = execute(ex, before);
    if (!r) {
      Error e = std::move(r).error();
      if (e.code == ErrorCode::FailedPrecondition && (ex.delivered > 0 || !opts.if_match.empty()))
        e.message += " (object changed since the download began)";
      return fail(std::move(e));
    }
    ObjectInfo info = info_from_headers(ex);
    CC_TRY_VOID(out.finish());
    return info;
  }

  Result<ObjectInfo> head_object_impl(const std::string& bucket, const std::string& key) {
    Exchange ex;
    ex.method = "HEAD";
    ex.bucket = bucket;
    ex.key = key;
    CC_TRY_VOID(execute(ex));
    return info_from_headers(ex);
  }
};

S3Client::S3Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3Client::S3Client(S3Client&&) noexcept = default;
S3Client& S3Client::operator=(S3Client&&) noexcept = default;
S3Client::~S3Client() = default;

Result<S3Client> S3Client::create(S3Config cfg) {
  CC_TRY_VOID(cfg.validate());
  global_init_once();
  auto impl = std::make_unique<Impl>();
  CC_TRY(ep, detail::parse_endpoint(cfg.endpoint));
  impl->ep = std::move(*ep);
  impl->sigv4 = "aws:amz:" + cfg.region + ":s3";
  impl->cfg = std::move(cfg);
  impl->curl.reset(curl_easy_init());
  if (!impl->curl) return fail(ErrorCode::Internal, Origin::Curl, "curl_easy_init failed");
  return S3Client(std::move(impl));
}

S3Stats S3Client::stats() const noexcept { return impl_->stats; }
const S3Config& S3Client::config() const noexcept { return impl_->cfg; }

Result<PutResult> S3Client::put_object(const std::string& bucket, const std::string& key, std::string_view body,
                                       const PutOptions& opts) {
  if (body.size() > static_cast<std::size_t>(impl_->cfg.part_size)) {
    MemorySource src(body);
    return put_object(bucket, key, src, opts);
  }
  // Fits one part: sent straight from the caller's bytes (no part buffer, no copy).
  CC_TRY_VOID(impl_->check_put(bucket, key, opts));
  return impl_->put_single(bucket, key, std::as_bytes(std::span<const char>(body.data(), body.size())), opts);
}

namespace {

/// Reads a source one part at a time into the one part buffer of an upload, with one byte read ahead so
/// that the last part is known as such (single PUT vs multipart is decided on the first part).
class PartReader {
 public:
  PartReader(ByteSource& body, std::size_t part_size)
      : body_(body), size_(part_size), buf_(new std::byte[part_size]) {}

  /// Fills the buffer (starting with the carried byte); returns the bytes filled, `eof` = the source ended.
  Result<std::size_t> fill(bool& eof) {
    std::size_t n = 0;
    if (carry_) {
      buf_[0] = *carry_;
      carry_.reset();
      n = 1;
    }
    eof = false;
    while (n < size_) {
      CC_TRY(got, body_.read(std::span<std::byte>(buf_.get() + n, size_ - n)));
      if (*got == 0) {
        eof = true;
        return n;
      }
      n += *got;
    }
    std::byte one[1];
    CC_TRY(got, body_.read(std::span<std::byte>(one, 1)));
    if (*got == 0) {
      eof = true;
    } else {
      carry_ = one[0];
    }
    return n;
  }

  /// The first `n` bytes of the buffer (valid until the next fill()).
  [[nodiscard]] std::span<const std::byte> part(std::size_t n) const { return {buf_.get(), n}; }

 private:
  ByteSource& body_;
  std::size_t size_;
  std::unique_ptr<std::byte[]> buf_;
  std::optional<std::byte> carry_;  // one byte read ahead to detect the end of the source
};

}  // namespace

Result<PutResult> S3Client::put_object(const std::string& bucket, const std::string& key, ByteSource& body,
                                       const PutOptions& opts) {
  CC_TRY_VOID(impl_->check_put(bucket, key, opts));
  PartReader parts(body, static_cast<std::size_t>(impl_->cfg.part_size));
  bool eof = false;
  CC_TRY(first, parts.fill(eof));
  if (eof) return impl_->put_single(bucket, key, parts.part(*first), opts);

  // Multipart. Measured: RGW 16 ignores If-None-Match on CompleteMultipartUpload (it overwrites), so
  // check with HEAD before creating the upload and again right before completing it (the remaining race
  // window is the Complete round trip). The header is still sent on Complete for servers that honour it.
  if (opts.if_none_match) CC_TRY_VOID(impl_->require_absent(bucket, key));
  CC_TRY(upload_id, impl_->create_multipart(bucket, key, opts));
  auto abort_with = [&](Error e) -> Result<PutResult> {
    auto a = abort_multipart_upload(bucket, key, *upload_id);
    if (!a) logger().warn("s3 abort of multipart upload {}/{} failed: {}", bucket, key, a.error().to_string());
    return fail(std::move(e));
  };
  std::vector<std::string> etags;
  std::uint64_t total = 0;
  std::size_t n = *first;
  for (;;) {
    if (static_cast<int>(etags.size()) >= kMaxParts) {
      return abort_with(make_error(ErrorCode::InvalidArgument, Origin::S3,
                                   "object needs more than 10000 parts: raise part_size"));
    }
    auto etag = impl_->upload_part(bucket, key, *upload_id, static_cast<int>(etags.size() + 1), parts.part(n));
    if (!etag) return abort_with(std::move(etag).error());
    etags.push_back(std::move(*etag));
    total += n;
    if (eof) break;
    auto next = parts.fill(eof);
    if (!next) return abort_with(std::move(next).error());
    n = *next;
    if (n == 0) break;  // cannot happen (carry guarantees >= 1 byte) but keeps parts non-empty
  }
  if (opts.if_none_match) {
    if (auto absent = impl_->require_absent(bucket, key); !absent) return abort_with(std::move(absent).error());
  }
  std::string version_id;
  auto etag = impl_->complete_multipart(bucket, key, *upload_id, etags, opts.if_none_match, version_id);
  if (!etag) return abort_with(std::move(etag).error());
  return PutResult{std::move(*etag), total, true, std::move(version_id)};
}

Result<ObjectInfo> S3Client::get_object(const std::string& bucket, const std::string& key, ByteSink& out,
                                        std::optional<std::pair<std::uint64_t, std::uint64_t>> range) {
  if (range && range->first > range->second) {
    return fail(ErrorCode::InvalidArgument, Origin::S3, "range: first byte must be <= last byte");
  }
  CC_TRY_VOID(impl_->check_target(bucket, key));
  GetOptions opts;
  if (range) opts.offset = range->first;
  Exchange ex;
  ex.bucket = bucket;
  ex.key = key;
  return impl_->get(ex, out, opts, range ? std::optional<std::uint64_t>(range->second) : std::nullopt);
}

Result<ObjectInfo> S3Client::get_object(const std::string& bucket, const std::string& key, ByteSink& out,
                                        const GetOptions& opts) {
  CC_TRY_VOID(impl_->check_target(bucket, key));
  Exchange ex;
  ex.bucket = bucket;
  ex.key = key;
  return impl_->get(ex, out, opts, std::nullopt);
}

Result<ObjectInfo> S3Client::get_presigned(const std::string& url, const std::string& bucket, const std::string& key,
                                           ByteSink& out, const GetOptions& opts) {
  CC_TRY_VOID(impl_->check_target(bucket, key));
  CC_TRY(parsed, parse_presigned_url(url));
  CC_TRY_VOID(check_presigned_target(*parsed, impl_->cfg.endpoint, bucket, key));
  logger().debug("s3 GET {}/{} via presigned url on {}:{}", bucket, key, parsed->host, parsed->port);
  Exchange ex;
  ex.bucket = bucket;
  ex.key = key;
  ex.presigned_url = url;
  auto r = impl_->get(ex, out, opts, std::nullopt);
  if (r || r.error().http_status != 403) return r;
  Error e = std::move(r).error();
  if (std::chrono::system_clock::now() >= parsed->expires_at()) {
    e.detail_code = std::string(kPresignedUrlExpired);
    e.message = ex.what() + ": presigned url expired at " + format_rfc3339_seconds(parsed->expires_at()) +
                " (S3 answered 403)";
  } else if (e.detail_code == "SignatureDoesNotMatch") {
    e.detail_code = std::string(kPresignedUrlRejected);
    e.message += " (presigned url altered or signed with other credentials)";
  }
  return fail(std::move(e));
}

Result<ObjectInfo> S3Client::head_object(const std::string& bucket, const std::string& key) {
  CC_TRY_VOID(impl_->check_target(bucket, key));
  return impl_->head_object_impl(bucket, key);
}

Result<void> S3Client::delete_object(const std::string& bucket, const std::string& key) {
  CC_TRY_VOID(impl_->check_target(bucket, key));
  Exchange ex;
  ex.method = "DELETE";
  ex.bucket = bucket;
  ex.key = key;
  auto r = impl_->execute(ex);
  if (!r && r.error().detail_code == "NoSuchKey") return ok();
  return r;
}

Result<std::vector<std::string>> S3Client::delete_objects(const std::string& bucket,
                                                          const std::vector<std::string>& keys) {
  std::vector<ObjectVersion> objects;
  objects.reserve(keys.size());
  for (const auto& k : keys) objects.push_back({k, ""});
  return delete_object_versions(bucket, objects);
}

Result<std::vector<std::string>> S3Client::delete_object_versions(const std::string& bucket,
                                                                  const std::vector<ObjectVersion>& objects) {
  CC_TRY_VOID(detail::check_bucket(bucket));
  for (const auto& o : objects) {
    CC_TRY_VOID(detail::check_key(o.key));
    if (std::any_of(o.version_id.begin(), o.version_id.end(), [](char c) { return c <= ' ' || c >= 0x7f; }))
      return fail(ErrorCode::InvalidArgument, Origin::S3, "version id of " + o.key + " must be printable ASCII");
  }
  std::vector<std::string> failed;
  for (std::size_t i = 0; i < objects.size(); i += kDeleteBatch) {
    auto chunk = std::span<const ObjectVersion>(objects).subspan(i, std::min(kDeleteBatch, objects.size() - i));
    const std::string xml = detail::build_delete_xml(chunk);
    Exchange ex = xml_exchange("POST", bucket, "delete=", xml);
    CC_TRY_VOID(impl_->execute(ex));
    CC_TRY(errors, detail::parse_delete_result(ex.resp_body));
    for (auto& f : *errors) {
      if (f.code == "NoSuchKey" || f.code == "NoSuchVersion") continue;
      logger().warn("s3 DeleteObjects {}/{} failed: {} {}", bucket, f.key, f.code, f.message);
      failed.push_back(std::move(f.key));
    }
  }
  return failed;
}

Result<ListPage> S3Client::list_objects_v2(const std::string& bucket, const std::string& prefix,
                                           const std::string& continuation_token, int max_keys) {
  CC_TRY_VOID(detail::check_bucket(bucket));
  if (max_keys < 1 || max_keys > 1000) return fail(ErrorCode::InvalidArgument, Origin::S3, "max_keys must be 1..1000");
  // Parameters sorted by name and pre-encoded: curl 7.88 signs the query as written.
  std::string q;
  if (!continuation_token.empty()) q += "continuation-token=" + detail::uri_encode(continuation_token, false) + "&";
  q += "list-type=2&max-keys=" + std::to_string(max_keys) + "&prefix=" + detail::uri_encode(prefix, false);
  Exchange ex;
  ex.method = "GET";
  ex.bucket = bucket;
  ex.query = std::move(q);
  CC_TRY_VOID(impl_->execute(ex));
  return detail::parse_list_v2(ex.resp_body);
}

Result<std::vector<MultipartUpload>> S3Client::list_multipart_uploads(const std::string& bucket,
                                                                      const std::string& prefix) {
  CC_TRY_VOID(detail::check_bucket(bucket));
  Exchange ex;
  ex.method = "GET";
  ex.bucket = bucket;
  ex.query = "prefix=" + detail::uri_encode(prefix, false) + "&uploads=";
  CC_TRY_VOID(impl_->execute(ex));
  return detail::parse_list_uploads(ex.resp_body);
}

Result<void> S3Client::create_bucket(const std::string& bucket) {
  CC_TRY_VOID(detail::check_bucket(bucket));
  Exchange ex;
  ex.method = "PUT";
  ex.bucket = bucket;
  auto r = impl_->execute(ex);
  if (!r && r.error().detail_code == "BucketAlreadyOwnedByYou") return ok();
  return r;
}

Result<std::vector<LifecycleRule>> S3Client::get_bucket_lifecycle(const std::string& bucket) {
  CC_TRY_VOID(detail::check_bucket(bucket));
  Exchange ex;
  ex.method = "GET";
  ex.bucket = bucket;
  ex.query = "lifecycle=";
  auto r = impl_->execute(ex);
  if (!r) {
    if (r.error().detail_code == "NoSuchLifecycleConfiguration") return std::vector<LifecycleRule>{};
    return fail(std::move(r).error());
  }
  return detail::parse_lifecycle(ex.resp_body);
}

Result<void> S3Client::put_bucket_lifecycle(const std::string& bucket, const std::vector<LifecycleRule>& rules) {
  CC_TRY_VOID(detail::check_bucket(bucket));
  CC_TRY_VOID(detail::check_lifecycle_rules(rules));
  const std::string xml = detail::build_lifecycle_xml(rules);
  Exchange ex = xml_exchange("PUT", bucket, "lifecycle=", xml);
  return impl_->execute(ex);
}

Result<void> S3Client::ensure_lifecycle_rule(const std::string& bucket, const LifecycleRule& rule) {
  CC_TRY_VOID(detail::check_bucket(bucket));
  Exchange get;
  get.method = "GET";
  get.bucket = bucket;
  get.query = "lifecycle=";
  std::string existing;
  if (auto r = impl_->execute(get); r) {
    existing = std::move(get.resp_body);
  } else if (r.error().detail_code != "NoSuchLifecycleConfiguration") {
    return fail(std::move(r).error());
  }
  CC_TRY(xml, detail::merge_lifecycle_xml(existing, rule));
  Exchange ex = xml_exchange("PUT", bucket, "lifecycle=", *xml);
  return impl_->execute(ex);
}

Result<void> S3Client::abort_multipart_upload(const std::string& bucket, const std::string& key,
                                              const std::string& upload_id) {
  CC_TRY_VOID(impl_->check_target(bucket, key));
  Exchange ex;
  ex.method = "DELETE";
  ex.bucket = bucket;
  ex.key = key;
  ex.query = "uploadId=" + detail::uri_encode(upload_id, false);
  auto r = impl_->execute(ex);
  if (!r && r.error().detail_code == "NoSuchUpload") return ok();
  return r;
}

}  // namespace claimcheck::s3
