#pragma once
// The CLI's small HTTP server (DESIGN.md §6: process concerns live in apps/claimcheck, the library opens no
// port): the coordinator's --http-addr serves /metrics, / and /api/status through it. civetweb underneath
// (a Debian package prometheus-cpp already pulls in), GET and HEAD on exact paths only, no files served.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "claimcheck/core/result.h"

struct mg_context;

namespace claimcheck::cli {

/// One response: status code, Content-Type and body.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

/// Builds the response of one route; runs on a server thread (must be thread-safe). An exception becomes a
/// 500 with a generic body (its text is logged, never sent).
using HttpHandler = std::function<HttpResponse()>;

/// An HTTP/1.1 server bound to one address, serving `routes` (exact paths, e.g. "/", "/metrics") with GET
/// and HEAD; any other path is 404, any other method 405. Responses carry Cache-Control: no-store,
/// X-Content-Type-Options: nosniff and, for HTML, a Content-Security-Policy that allows no script.
/// Thread safety: handlers run on up to 4 server threads at once. The destructor stops the server and waits
/// for running handlers. Move-only (held by unique_ptr).
class HttpServer {
 public:
  /// Binds `listen_addr` ("HOST:PORT", e.g. "127.0.0.1:9464"; "0.0.0.0:PORT" for every interface) and starts
  /// serving. Errors: InvalidArgument (Origin::Http) when it is not HOST:PORT; Unavailable when it cannot be
  /// bound (port taken, unknown address) — the message names the address.
  [[nodiscard]] static Result<std::unique_ptr<HttpServer>> start(const std::string& listen_addr,
                                                                 std::map<std::string, HttpHandler> routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// The address it listens on, as given.
  [[nodiscard]] const std::string& listen_addr() const noexcept { return addr_; }

  /// Dispatches one request (method, path without query) to a response: the routing logic, without sockets.
  [[nodiscard]] HttpResponse respond(const std::string& method, const std::string& path) const;

 private:
  HttpServer(std::string addr, std::map<std::string, HttpHandler> routes);
  std::string addr_;
  std::map<std::string, HttpHandler> routes_;
  mg_context* ctx_ = nullptr;
};

}  // namespace claimcheck::cli
