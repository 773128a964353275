// Verification of amqps:// connections (see tls.h): OpenSSL's X509_VERIFY_PARAM checks the host, a verify
// callback records the first failure for the error message.
#include "amqp/tls.h"

#include <amqp_ssl_socket.h>
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace claimcheck::amqp::detail {

namespace {

thread_local std::string t_verify_error;

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Records the first failure and lets the handshake finish: rabbitmq-c then reads SSL_get_verify_result(),
// which keeps the error, and fails the connect with AMQP_STATUS_SSL_PEER_VERIFY_FAILED before sending anything.
int on_verify(int preverify_ok, X509_STORE_CTX* ctx) {
  if (preverify_ok == 0 && t_verify_error.empty()) {
    const int err = X509_STORE_CTX_get_error(ctx);
    t_verify_error = std::string(X509_verify_cert_error_string(err)) + " (depth " +
                     std::to_string(X509_STORE_CTX_get_error_depth(ctx)) + ")";
  }
  return 1;
}

}  // namespace

Result<void> configure_tls(amqp_socket_t* sock, const std::string& host, const std::string& ca_file, bool verify) {
  t_verify_error.clear();
  amqp_ssl_socket_set_verify_peer(sock, verify ? 1 : 0);
  if (!verify) {
    amqp_ssl_socket_set_verify_hostname(sock, 0);
    return {};
  }
  if (amqp_ssl_socket_set_cacert(sock, ca_file.c_str()) != AMQP_STATUS_OK) {
    return fail(ErrorCode::InvalidArgument, Origin::Config, "cannot load CA certificate file " + ca_file);
  }
  auto* ctx = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(sock));
  if (ctx == nullptr) return fail(ErrorCode::Internal, Origin::Amqp, "TLS socket without an OpenSSL context");
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  const bool ip = is_ip_literal(host);
  const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                    : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (ok != 1) return fail(ErrorCode::Internal, Origin::Amqp, "OpenSSL refused the host name to verify: " + host);
  // rabbitmq-c's own check knows DNS names only; OpenSSL's (above) covers both.
  amqp_ssl_socket_set_verify_hostname(sock, ip ? 0 : 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &on_verify);
  return {};
}

std::string take_verify_error() {
  std::string e;
  e.swap(t_verify_error);
  return e;
}

}  // namespace claimcheck::amqp::detail
