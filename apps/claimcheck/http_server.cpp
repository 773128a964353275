// HttpServer on civetweb: one catch-all request handler that dispatches on the exact path.
#include "http_server.h"

#include <civetweb.h>
#include <spdlog/spdlog.h>

#include <exception>
#include <mutex>

namespace claimcheck::cli {

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    default: return "Internal Server Error";
  }
}

void write_response(mg_connection* conn, const HttpResponse& r, bool head) {
  const bool html = r.content_type.rfind("text/html", 0) == 0;
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n%s%sConnection: close\r\n\r\n",
            r.status, reason_phrase(r.status), r.content_type.c_str(), r.body.size(),
            html ? "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'\r\n"
                 : "",
            r.status == 405 ? "Allow: GET, HEAD\r\n" : "");
  if (!head && !r.body.empty()) mg_write(conn, r.body.data(), r.body.size());
}

int on_request(mg_connection* conn, void* cbdata) {
  const auto* self = static_cast<const HttpServer*>(cbdata);
  const mg_request_info* ri = mg_get_request_info(conn);
  const std::string method = ri && ri->request_method ? ri->request_method : "";
  const std::string path = ri && ri->local_uri ? ri->local_uri : "";
  const HttpResponse r = self->respond(method, path);
  write_response(conn, r, method == "HEAD");
  return r.status;
}

int on_log(const mg_connection*, const char* message) {
  spdlog::debug("http: {}", message ? message : "");
  return 1;  // handled: civetweb writes nothing itself
}

}  // namespace

HttpServer::HttpServer(std::string addr, std::map<std::string, HttpHandler> routes)
    : addr_(std::move(addr)), routes_(std::move(routes)) {}

HttpServer::~HttpServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

HttpResponse HttpServer::respond(const std::string& method, const std::string& path) const {
  if (method != "GET" && method != "HEAD") return {405, "text/plain; charset=utf-8", "method not allowed\n"};
  auto it = routes_.find(path);
  if (it == routes_.end()) return {404, "text/plain; charset=utf-8", "not found\n"};
  try {
    return it->second();
  } catch (const std::exception& e) {
    spdlog::error("http: GET {} failed: {}", path, e.what());
    return {500, "text/plain; charset=utf-8", "internal error\n"};
  }
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen_addr,
                                                      std::map<std::string, HttpHandler> routes) {
  const auto colon = listen_addr.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen_addr.size() ||
      listen_addr.find_first_not_of("0123456789", colon + 1) != std::string::npos)
    return fail(ErrorCode::InvalidArgument, Origin::Http, "HTTP address '" + listen_addr + "' must be HOST:PORT");
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });
  std::unique_ptr<HttpServer> server(new HttpServer(listen_addr, std::move(routes)));
  mg_callbacks callbacks{};
  callbacks.log_message = on_log;
  const char* options[] = {"listening_ports", listen_addr.c_str(), "num_threads", "4", "request_timeout_ms", "10000",
                           nullptr};
  mg_init_data init_data{&callbacks, server.get(), options};
  char text[256] = "";
  mg_error_data err{nullptr, text, sizeof text};
  server->ctx_ = mg_start2(&init_data, &err);
  if (server->ctx_ == nullptr)
    return fail(ErrorCode::Unavailable, Origin::Http,
                "cannot serve HTTP on " + listen_addr + " (port taken or address invalid): " + text);
  mg_set_request_handler(server->ctx_, "/", on_request, server.get());
  return server;
}

}  // namespace claimcheck::cli
